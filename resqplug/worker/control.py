"""Signals and the flags they set; shared by every execution model.

QUIT: finish the current job, then exit. TERM: stop taking jobs, wait up to the
shutdown timeout, then kill the job and requeue it at the front. INT: TERM with
no wait. USR1: kill the current job (it is failed). USR2 / CONT: pause / resume.
"""

from __future__ import annotations

import logging
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


class Signals:
    """Installs handlers that set ``Control`` flags. ``on_signal`` lets an
    execution model react at once (e.g. interrupt an in-process job)."""

    def __init__(self, control: Control, on_signal: Any = None) -> None:
        self.control = control
        self.on_signal = on_signal
        self.saved: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (
            signal.SIGQUIT,
            signal.SIGTERM,
            signal.SIGINT,
            signal.SIGUSR1,
            signal.SIGUSR2,
            signal.SIGCONT,
        ):
            self.saved[sig] = signal.signal(sig, self.handle)

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
            self.on_signal(signum)


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
