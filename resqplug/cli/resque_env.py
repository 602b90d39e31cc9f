"""Resque's environment variables, so a Resque user's Procfile keeps working:
``VERBOSE``/``VVERBOSE`` (like -v/-vv), ``QUEUE``/``QUEUES`` (``--queues``,
read in work.py), ``COUNT`` (``workers --count``), ``INTERVAL`` (how long an
idle worker's blocking wait lasts: it takes a new job at once either way),
``PIDFILE`` (the worker's pid, written at start, removed at exit) and
``BACKGROUND`` (detach from the terminal first)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError

INTERVAL_RANGE = (0.1, 5.0)  # seconds a blocking wait may last


def verbosity(flags: int) -> int:
    """-v flags, else VVERBOSE (2) or VERBOSE (1) when set to anything but empty."""
    if flags:
        return flags
    return 2 if os.environ.get("VVERBOSE") else 1 if os.environ.get("VERBOSE") else 0


def interval() -> float | None:
    """INTERVAL in seconds, clamped to INTERVAL_RANGE; None when unset."""
    text = os.environ.get("INTERVAL", "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"invalid INTERVAL {text!r}: give seconds, e.g. INTERVAL=5") from None
    if value != value or value < 0:  # NaN, negative
        raise ConfigError(f"invalid INTERVAL {text!r}: give seconds, e.g. INTERVAL=5")
    return min(max(value, INTERVAL_RANGE[0]), INTERVAL_RANGE[1])


def background() -> None:
    """BACKGROUND set: detach (fork, new session, stdin from /dev/null) like
    Resque's ``Process.daemon(true)``: the parent exits 0 at once."""
    if not os.environ.get("BACKGROUND"):
        return
    if os.fork():
        os._exit(0)
    os.setsid()
    with open(os.devnull, "rb") as devnull:
        os.dup2(devnull.fileno(), sys.stdin.fileno())


@contextlib.contextmanager
def pidfile() -> Iterator[None]:
    """PIDFILE set: this process's pid in it while the block runs."""
    path = os.environ.get("PIDFILE")
    if not path:
        yield
        return
    target = Path(path)
    try:
        target.write_text(f"{os.getpid()}\n")
    except OSError as exc:
        raise ConfigError(f"cannot write PIDFILE {path!r}: {exc.strerror}") from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if target.read_text().strip() == str(os.getpid()):
                target.unlink()
