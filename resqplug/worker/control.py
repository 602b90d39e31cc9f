"""Signals and the flags they set; shared by every execution model.

QUIT: finish the current job, then exit. TERM: stop taking jobs, wait up to the
shutdown timeout, then kill the job and requeue it at the front. INT: TERM with
no wait. USR1: kill the current job (it is failed). USR2 / CONT: pause / resume.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from types import FrameType
from typing import Any

from ..errors import StopRun
from ..wake import Wake

log = logging.getLogger("resqplug.worker")

TICK = 0.1  # how often a waiting parent looks at the flags
RETRY_S = 0.01  # a stop that landed outside the job's run is tried again this soon
STOP_SIGNALS = (signal.SIGQUIT, signal.SIGTERM, signal.SIGINT)
WORKER_SIGNALS = (*STOP_SIGNALS, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT)


class Abandon(StopRun):
    """Raised inside an in-process job when the shutdown timeout ran out: the job
    goes back to its queue, with no outcome."""


class Control:
    """What the signals asked for."""

    def __init__(self, shutdown_timeout: float) -> None:
        self.shutdown_timeout = shutdown_timeout
        self.stopping = False
        self.deadline: float | None = None
        self.paused = False
        self.paused_all = False
        self.kill_requested = False
        self.kill_job_id: str | None = None  # set by Worker.kill_current
        self.exit_code = 0
        self.wake = Wake()

    def quit(self) -> None:
        self.stopping = True
        self.wake.set()

    def terminate(self, wait: float) -> None:
        self.stopping = True
        deadline = time.monotonic() + wait
        self.deadline = deadline if self.deadline is None else min(self.deadline, deadline)
        self.wake.set()

    def abandon_due(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def take_kill(self, job_id: str) -> bool:
        """Whether the pending USR1 kill is meant for ``job_id`` (any job when it
        came from outside); the request is used up either way."""
        if not self.kill_requested:
            return False
        target, self.kill_requested, self.kill_job_id = self.kill_job_id, False, None
        return target is None or target == job_id

    def forget_kill(self) -> None:
        self.kill_requested, self.kill_job_id = False, None

    @property
    def holding(self) -> bool:
        return self.paused or self.paused_all


class StartUp:
    """Holds the worker signals that arrive while a worker process starts (its
    imports, plugins, client): before the worker's handlers exist, their
    default actions would kill it (USR1, TERM) or dump core (QUIT). The CLI
    holds them first thing, and so does each ``resqplug workers`` child; the
    process that installs the real handlers takes what arrived meanwhile
    (``hand_over``), and a command that is not a worker gives the signals
    their default effect after all (``let_go``)."""

    def __init__(self) -> None:
        self.held: list[int] = []
        self.originals: dict[int, Any] = {}  # the handlers from before the hold

    def hold(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in WORKER_SIGNALS:
            self.originals.setdefault(sig, signal.signal(sig, self._remember))

    def _remember(self, signum: int, frame: FrameType | None) -> None:
        self.held.append(signum)

    def hand_over(self) -> tuple[list[int], dict[int, Any]]:
        """What arrived, in order, and the handlers from before the hold. Call
        it once the real handlers are installed (nothing arrives here then)."""
        held, originals = self.held, self.originals
        self.held, self.originals = [], {}
        return held, originals

    def release(self) -> list[int]:
        """Back to the handlers from before the hold; returns what arrived."""
        held, originals = self.hand_over()
        for sig, handler in originals.items():
            signal.signal(sig, handler)
        return held

    def let_go(self) -> None:
        """Not a worker after all: the handlers from before, and what arrived
        takes its default effect now."""
        for sig in self.release():
            os.kill(os.getpid(), sig)


startup = StartUp()  # one per process, as signal handlers are


class Signals:
    """Installs handlers that set ``Control`` flags. ``on_signal`` lets an
    execution model react at once (e.g. interrupt an in-process job); it gets
    the signal and the frame it interrupted. Signals
    held during start-up (``startup``) take effect once installed: a stop
    stops the worker before it takes a job, a pause pauses it; a USR1 is
    dropped (there is no job to kill yet)."""

    def __init__(self, control: Control, on_signal: Any = None) -> None:
        self.control = control
        self.on_signal = on_signal
        self.saved: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in WORKER_SIGNALS:
            self.saved[sig] = signal.signal(sig, self.handle)
        held, originals = startup.hand_over()
        self.saved.update(originals)  # restore() goes back to before the hold
        for signum in held:
            if signum == signal.SIGUSR1:
                log.info("received USR1 while starting: no job to kill")
            else:
                self.handle(signum, None)

    def restore(self) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        self.saved.clear()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        # Flags first: a handler can be interrupted by the next signal's handler
        # (Python runs it nested at any bytecode), so whatever this handler does
        # after setting its flag may run after a later signal's effect.
        c = self.control
        if signum == signal.SIGQUIT:
            c.quit()
        elif signum == signal.SIGTERM:
            c.terminate(c.shutdown_timeout)
        elif signum == signal.SIGINT:
            c.terminate(0.0)
        elif signum == signal.SIGUSR1:
            c.kill_requested = True  # kill_job_id, if set, says which job
        elif signum == signal.SIGUSR2:
            c.paused = True
        elif signum == signal.SIGCONT:
            c.paused = False
        c.wake.set()
        # logging's locks are reentrant, so logging here cannot deadlock.
        log.info("received %s", signal.Signals(signum).name)
        if self.on_signal is not None:
            self.on_signal(signum, frame)


class Notice:
    """A condition that may last (e.g. Redis out of memory): logged once when
    it starts and once when it is over, not at every try."""

    def __init__(self, starts: str, ends: str) -> None:
        self.starts, self.ends = starts, ends
        self.active = False

    def seen(self, reason: object) -> None:
        if not self.active:
            self.active = True
            log.warning("%s (%s)", self.starts, reason)

    def over(self) -> None:
        if self.active:
            self.active = False
            log.warning("%s", self.ends)


class Backoff:
    """Capped exponential backoff with jitter, for reconnecting to Redis."""

    def __init__(self, first: float = 0.05, cap: float = 2.0) -> None:
        self.first, self.cap, self.delay = first, cap, first

    def reset(self) -> None:
        self.delay = self.first

    def wait(self, control: Control | None = None, reason: object = "") -> None:
        pause = self.delay * (0.5 + random.random())
        log.warning("Redis unavailable (%s); retrying in %.2fs", reason, pause)
        if control is not None:
            control.wake.wait(pause)
        else:
            time.sleep(pause)
        self.delay = min(self.delay * 2, self.cap)
