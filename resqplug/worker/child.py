"""The child side of fork mode, and the pipe protocol both sides speak.

A job frame is a 4-byte length and a body. From parent to child: ``R`` +
``queue\tpayload`` (run it), ``C`` + the same (run it if the claim token can
be taken: a hand-over), or ``G`` (run the job the child was forked with). From
child to parent: ``job id\nfailure JSON`` (empty failure: not failed).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the C module under signal
import ctypes
import functools
import gc
import logging
import os
import select
import signal
import struct
from collections.abc import Callable
from dataclasses import replace
from types import FrameType
from typing import TYPE_CHECKING

from .. import config, registry
from ..builtin import JOB_PERFORM_HOOKS, job_hook_methods
from ..errors import JobTimeout
from ..job import Job
from ..plugins import Plugins
from ..runner import inside_run
from ..wake import close_fds
from ..writes import Write, to_text
from .executors import RETRY_S, job_timeout
from .processor import Processor
from .taken import Ack, Taken, entry_to_taken

if TYPE_CHECKING:
    from ..client import Resq
    from .options import JobSide

log = logging.getLogger("resqplug.worker")
_LEN = struct.Struct(">I")
PR_SET_PDEATHSIG = 1
CHILD_DEFAULT_SIGNALS = tuple(
    int(s) for s in (signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT)
)
RUN, CLAIM = b"R", b"C"  # first byte of a job frame: run it; run it if the claim is won
GO = b"G"  # the frame that starts the job a child was forked for
TOKEN = b"!"
HANDOVER_MAX = select.PIPE_BUF - _LEN.size  # a hand-over is one atomic write
WARM_UP_RUNS = 10  # CPython 3.11 specialises a function's code after 8 calls


def write_frame(fd: int, data: bytes) -> None:
    """Write one frame, waiting for room if ``fd`` is non-blocking."""
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])


def try_write_frame(fd: int, data: bytes) -> bool:
    """Write a small frame whole, now, to a non-blocking ``fd``, or not at all."""
    try:
        os.write(fd, _LEN.pack(len(data)) + data)
        return True
    except BlockingIOError:
        return False


def take_token(fd: int) -> bool:
    try:
        return os.read(fd, 1) == TOKEN
    except BlockingIOError:
        return False


def read_frame(fd: int) -> bytes | None:
    """One frame, or None at end of file (the other side is gone)."""
    head = _read_exact(fd, _LEN.size)
    if head is None:
        return None
    return _read_exact(fd, _LEN.unpack(head)[0])


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


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


def outcome_frame(ack: Ack) -> bytes:
    """Job id, failure record and the plugins' writes, a line each (JSON
    strings hold no raw newline)."""
    return f"{ack.job_id}\n{ack.failure}\n{to_text(ack.writes)}".encode()


def job_frame(taken: Taken) -> bytes:
    """Queue and payload, whatever the form of the in-flight entry."""
    return taken.queue.encode() + b"\t" + taken.raw


class ChildLoop:
    """The child side: run each job sent by the parent and answer its outcome."""

    def __init__(
        self,
        worker: JobSide,
        parent: int,
        reader: int,
        writer: int,
        claims: int,
        client: Resq | None,
        bound: tuple[Taken, Job] | None = None,
    ) -> None:
        self.worker = worker
        self.client = client
        self.parent = parent
        self.reader, self.writer, self.claims = reader, writer, claims
        self.bound = bound
        self.quota = max(1, worker.options.max_jobs_per_child)
        # Asked here, in the parent, where pluggy's answer is warm already.
        self.after_fork = worker.plugins.implemented("after_fork")

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
        return self.worker.processor

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
                processor.plugins.hook.after_fork(worker=self.worker, job=job)
            except Exception as exc:
                self.answer(processor.fail_here(taken, job, exc))
                return
        self.timeout = job_timeout(self.worker, job)
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
    loop.worker.plugins.call_each("before_fork", worker=loop.worker, job=job)
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


@functools.cache
def _warm_up_job_class() -> type[Job]:
    """Defined on first use, not on import (importing this module must not
    build the plugin manager)."""

    class WarmUpJob(Job, announce=False):  # no plugin hears of it
        abstract = True  # never registered: no payload can name it

        def perform(self, *args: object) -> None:
            pass

    return WarmUpJob


WARM_UP_ID = "resqplug-warm-up"
WARM_UP_WRITES = (Write("warm-up", ("warm-up",), ("warm-up", 1, 1.5)),)  # checked, never applied


def _not_warm_up(record: logging.LogRecord) -> bool:
    """Drop the warm-up's own log lines only (other threads log meanwhile)."""
    return not (isinstance(record.args, tuple) and WARM_UP_ID in record.args)


def warm_up(worker: JobSide) -> None:
    """Run the child's side of a job here, in the parent, before the first fork,
    and fill the caches a child would otherwise fill for each job. The first runs
    of a function write to its code (CPython's warm-up counters and caches), and
    each page a child writes is copied: code that is warm already in the parent
    runs in a child without copies."""
    for job_class in registry.classes():
        for hook in JOB_PERFORM_HOOKS:
            job_hook_methods(job_class, hook)
    for hook in ("before_perform", "perform", "after_perform"):
        worker.plugins.caller(hook)
    # The core only: no plugin sees these runs.
    processor = Processor(Plugins(load_entry_points=False), worker.id)
    taken, job_class = Taken("warm-up", b"", b""), _warm_up_job_class()
    reader, writer = os.pipe()
    log.addFilter(_not_warm_up)  # no "done" lines for these runs with -v
    try:
        for _ in range(WARM_UP_RUNS):
            ack = processor.run_loaded(taken, job_class(id=WARM_UP_ID, queue="warm-up"))
            # With a write: plugins' writes cross in the outcome frame (to_text)
            # for every job a plugin writes for.
            write_frame(writer, outcome_frame(replace(ack, writes=WARM_UP_WRITES)))
            read_frame(reader)
        for _ in range(WARM_UP_RUNS):  # the plugins' per-job code, and their caches
            worker.plugins.call_each("warm_up", job=job_class(id=WARM_UP_ID, queue="warm-up"))
    finally:
        log.removeFilter(_not_warm_up)
        close_fds(reader, writer)
