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
from .child import die_with_parent
from .options import WorkerOptions
from .worker import Worker

log = logging.getLogger("resqplug.supervisor")

FORWARDED = (
    signal.SIGTERM,
    signal.SIGQUIT,
    signal.SIGINT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGCONT,
)
RESTART_DELAY_S = 0.5


class Supervisor:
    def __init__(self, count: int, options: WorkerOptions) -> None:
        self.count = count
        self.options = options
        self.children: dict[int, int] = {}  # pid -> slot
        self.stopping = False

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        if signum in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT):
            self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def spawn(self, slot: int) -> None:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for sig in FORWARDED:
                    signal.signal(sig, signal.SIG_DFL)
                die_with_parent(os.getppid(), signal.SIGTERM)
                config.forget_client()
                code = Worker(config.default_client(), self.options).work()
            except BaseException:
                log.exception("worker crashed")
            finally:
                os._exit(code)
        self.children[pid] = slot
        log.info("started worker %d (pid %d)", slot, pid)

    def run(self) -> int:
        for sig in FORWARDED:
            signal.signal(sig, self._forward)
        for slot in range(self.count):
            self.spawn(slot)
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
        return 0
