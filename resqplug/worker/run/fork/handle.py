"""The fork-mode parent's handle on one job child: its pid, pipes and claim
pipe, and how to kill and reap it (it may be a child of the fork server)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
from typing import TYPE_CHECKING

from ....wake import close_fds
from .link import ForkServer, ForkServerGone
from .protocol import take_token

if TYPE_CHECKING:
    from ....job import Job
    from ...taken import Taken


class ChildHandle:
    """The parent's handle on one job child: its pid, pipes and claim pipe."""

    def __init__(
        self,
        pid: int,
        to_child: int,
        from_child: int,
        claims: tuple[int, int],
        server: ForkServer | None = None,
    ) -> None:
        self.pid, self.to_child, self.from_child = pid, to_child, from_child
        self.server = server  # the fork server that forked it, if any
        self.claim_r, self.claim_w = claims
        self.jobs = 0
        self.ahead: tuple[Taken, Job] | None = None  # handed over, not yet awaited
        self.bound: tuple[Taken, Job] | None = None  # the job it was forked for, if any
        self.handovers = True  # off once a hand-over was taken back

    def take_back(self) -> bool:
        """Take back the handed-over job, if the child has not claimed it."""
        if self.ahead is None or not take_token(self.claim_r):
            return False
        self.ahead, self.handovers = None, False  # its frame still waits in the pipe
        return True

    def ended_meanwhile(self) -> bool:
        """Asked before killing the child for its current job: whether that job
        ended meanwhile (its outcome waits in the pipe; a child claims a
        hand-over only after answering the job before it). Otherwise the
        hand-over, if any, is taken back first: the kill then cannot hit the
        next job, which runs later in a new child."""
        if self.ahead is not None and not self.take_back():
            return True
        return bool(select.select([self.from_child], [], [], 0)[0])

    def kill(self) -> None:
        """SIGKILL the child's process group (the job's own subprocesses too)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def close_pipes(self) -> None:
        close_fds(self.to_child, self.from_child, self.claim_r, self.claim_w)
        self.to_child = self.from_child = self.claim_r = self.claim_w = -1

    def server_alive(self) -> bool:
        """False if the fork server that forked it died (and killed it)."""
        return self.server is None or self.server.alive()

    def exited(self) -> bool:
        """Whether a child that has not been sent a job is gone (end of file on
        its pipe: it writes nothing before its first job)."""
        return bool(select.select([self.from_child], [], [], 0)[0])

    def reap(self) -> int:
        """Close the pipes and wait for the child; returns its wait status."""
        self.close_pipes()
        if self.server is not None:
            try:
                return self.server.status(self.pid)
            except ForkServerGone:
                return signal.SIGKILL  # its server died, and took it along (PDEATHSIG)
        try:
            return os.waitpid(self.pid, 0)[1]
        except ChildProcessError:
            return 0


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"killed by signal {sig} ({signal.Signals(sig).name})"
    return f"exited with status {os.WEXITSTATUS(status)}"
