"""The child side of fork mode: a job child runs each job its parent sends
and answers the outcome (protocol.py has the frames). Forked by the worker
(parent.py) or by its fork server (server.py); never imports redis-py."""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the C module under signal
import ctypes
import gc
import logging
import os
import signal
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from .... import config
from ....errors import JobTimeout
from ....job import Job
from ....runner import inside_run
from ...control import RETRY_S
from ...options import JobSettings, job_timeout
from ...processor import Processor
from ...taken import Ack, Taken, entry_to_taken
from .protocol import CLAIM, GO, outcome_frame, read_frame, take_token, write_frame

if TYPE_CHECKING:
    from ....client import Resq

log = logging.getLogger("resqplug.worker")
PR_SET_PDEATHSIG = 1
CHILD_DEFAULT_SIGNALS = tuple(
    int(s) for s in (signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT)
)


def _load_prctl() -> object | None:
    try:
        return ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl()  # loaded once in the parent, used in every child


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (no orphan
    keeps running unsupervised); elsewhere the closed pipe ends a job child."""
    if callable(_prctl):
        _prctl(PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent_pid:
        os._exit(1)


class ChildLoop:
    """The child side: run each job sent by the parent and answer its outcome."""

    def __init__(
        self,
        settings: JobSettings,
        parent: int,
        reader: int,
        writer: int,
        claims: int,
        client: Resq | None,
        bound: tuple[Taken, Job] | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.parent = parent
        self.reader, self.writer, self.claims = reader, writer, claims
        self.bound = bound
        self.quota = max(1, settings.options.max_jobs_per_child)
        # Asked here, in the parent, where pluggy's answer is warm already.
        self.after_fork = settings.plugins.implemented("after_fork")

    def setup(self) -> Processor:
        try:  # noqa: SIM105 - contextlib would be more code for the child to copy
            os.setpgid(0, 0)
        except OSError:
            pass  # the parent did it already
        die_with_parent(self.parent)
        # _signal, not signal: the enum wrappers would be the child's first use of
        # a lot of code, and every page a child first writes is copied.
        for sig in CHILD_DEFAULT_SIGNALS:
            _signal.signal(sig, _signal.SIG_DFL)
        _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
        _signal.signal(_signal.SIGALRM, self._alarm)
        # Connections are not shared with the parent: the worker's own client is
        # the parent's alone; jobs and plugins here get a client the parent built
        # for its children and never used (its pool connects anew here).
        # Forked by a fork server (no client given): the default client is the
        # one it built, unused, or is built on first use if a job needs it.
        if self.client is not None:
            config.use_client(self.client)
        return self.settings.processor

    def _alarm(self, signum: int, frame: FrameType | None) -> None:
        if inside_run(frame):
            raise JobTimeout(f"job ran longer than its timeout of {self.timeout}s")
        # Not in the job's run: it has not started yet (again in a moment), or
        # it is over and this child is writing its outcome (which must not be
        # lost: the job is done).
        signal.setitimer(signal.ITIMER_REAL, RETRY_S)

    def run(self) -> int:
        processor = self.setup()
        first, runs = True, 0
        while runs < self.quota:
            frame = read_frame(self.reader)
            if frame is None:
                return 0
            if frame == GO and self.bound is not None:
                (taken, job), self.bound = self.bound, None
                self.run_loaded(processor, taken, job, first)
            elif frame[:1] == CLAIM and not take_token(self.claims):
                continue  # taken back: the parent gave it back to its queue
            else:
                taken = entry_to_taken(frame[1:])
                self.run_job(processor, taken, first)
            first, runs = False, runs + 1
        # Quota done: the parent retires it on this outcome; waiting for the
        # pipe to close would cost a wake-up and keep a core from the next job.
        return 0

    def answer(self, ack: Ack) -> None:
        write_frame(self.writer, outcome_frame(ack))

    def run_job(self, processor: Processor, taken: Taken, first: bool) -> None:
        job = processor.load(taken)
        if isinstance(job, Ack):
            self.answer(job)
        else:
            self.run_loaded(processor, taken, job, first)

    def run_loaded(self, processor: Processor, taken: Taken, job: Job, first: bool) -> None:
        """Run the job and answer its outcome (before logging it)."""
        if first and self.after_fork:
            try:
                processor.plugins.hook.after_fork(worker=self.settings.hook_worker, job=job)
            except Exception as exc:
                self.answer(processor.fail_here(taken, job, exc))
                return
        self.timeout = job_timeout(self.settings, job)
        if self.timeout:
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
        try:
            processor.run_loaded(taken, job, report=self.answer)
        finally:
            if self.timeout:
                signal.setitimer(signal.ITIMER_REAL, 0)


def fork_child(
    loop: ChildLoop,
    job: Job | None,
    in_child: Callable[[], None],
    exit_code: Callable[[int], int] | None = None,
) -> int:
    """Fork a job child that runs ``loop`` (the worker and its fork server
    both fork this way): ``before_fork`` first, then, in the child,
    ``in_child`` (closing what the child must not hold) and the loop, whose
    result ``exit_code`` may change. Returns the child's pid."""
    settings = loop.settings
    settings.plugins.call_each("before_fork", worker=settings.hook_worker, job=job)
    gc.freeze()  # keep the collector from touching (and copying) inherited pages
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            in_child()
            code = loop.run()
            code = exit_code(code) if exit_code is not None else code
        except BaseException:
            log.exception("child crashed")
        finally:
            os._exit(code)
    try:  # noqa: SIM105 - the child may have done it, or exited
        os.setpgid(pid, pid)
    except OSError:
        pass
    return pid
