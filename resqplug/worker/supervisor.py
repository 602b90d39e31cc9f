"""``resqplug workers --count N``: N worker processes under one supervisor that
restarts a worker that dies and forwards signals to all of them."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from types import FrameType

from .. import config
from .control import STOP_SIGNALS, WORKER_SIGNALS, startup
from .options import WorkerOptions
from .run.fork.child import die_with_parent
from .worker import Worker

log = logging.getLogger("resqplug.supervisor")
events = logging.getLogger(config.EVENTS_LOGGER)

FORWARDED = WORKER_SIGNALS
RESTART_DELAY_S = 0.5


class Supervisor:
    def __init__(self, count: int, options: WorkerOptions) -> None:
        self.count = count
        self.options = options
        self.children: dict[int, int] = {}  # pid -> slot
        self.stopping = False

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        if signum in STOP_SIGNALS:
            self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def spawn(self, slot: int) -> None:
        # Blocked from before the fork until the child holds them: a signal
        # forwarded at once must not meet the default action (or this
        # process's handler) in the child.
        before = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)
            raise
        if pid == 0:
            code = 1
            try:
                for sig in FORWARDED:
                    signal.signal(sig, signal.SIG_DFL)
                startup.hold()  # until the worker's own handlers are in
                signal.pthread_sigmask(signal.SIG_SETMASK, before)
                die_with_parent(os.getppid(), signal.SIGTERM)
                config.forget_client()
                code = Worker(config.default_client(), self.options).work()
            except BaseException:
                log.exception("worker crashed")
            finally:
                os._exit(code)
        self.children[pid] = slot  # before unblocking: what arrived meanwhile reaches it
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
        log.info("started worker %d (pid %d)", slot, pid)

    def run(self) -> int:
        for sig in FORWARDED:
            signal.signal(sig, self._forward)
        held, _ = startup.hand_over()  # what arrived while the command started
        self.stopping = any(signum in STOP_SIGNALS for signum in held)
        events.info("supervisor %d started: %d workers", os.getpid(), self.count)
        for slot in range(0 if self.stopping else self.count):
            self.spawn(slot)
        for signum in held:  # pause / resume (and USR1, which they drop) reach the workers
            if signum not in STOP_SIGNALS:
                self._forward(signum, None)
        while self.children:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if pid not in self.children:
                continue
            slot = self.children.pop(pid)
            clean = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            if self.stopping or (self.options.burst and clean):
                continue
            log.warning("worker %d (pid %d) exited (status %d); restarting", slot, pid, status)
            time.sleep(RESTART_DELAY_S)
            self.spawn(slot)
        events.info("supervisor %d stopped", os.getpid())
        return 0
