"""Execution models: in-process, fork (a child per job, or per K jobs), threads.

They share the semantics of runner.run and Processor; they differ only in
where the job runs and how a timeout, a kill or a shutdown reaches it.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections import Counter
from types import FrameType
from typing import TYPE_CHECKING, Protocol

from ..errors import DirtyExit, JobTimeout
from ..runner import inside_run
from .control import Abandon
from .taken import Ack, Taken

if TYPE_CHECKING:
    from ..job import Job
    from .options import JobSide
    from .worker import Worker

log = logging.getLogger("resqplug.worker")
RETRY_S = 0.01  # a stop that landed outside the job's run is tried again this soon


class Executor(Protocol):
    # Whether the heartbeat thread gives back the batch's queued jobs while a
    # job is slow (else the executor's own supervising loop does).
    watch_slow_jobs: bool

    def run(self) -> None: ...
    def close(self) -> None: ...
    def on_signal(self, signum: int, frame: FrameType | None) -> None: ...
    def idle(self, wait: float) -> float: ...
    def started_ahead(self, upcoming: list[Taken]) -> int: ...


def make_executor(worker: Worker) -> Executor:
    mode = worker.options.mode
    if mode == "nofork":
        return InProcess(worker)
    if mode == "fork":
        from .forking import Forking

        return Forking(worker)
    if mode == "threads":
        return Threaded(worker)
    from ..errors import ConfigError

    raise ConfigError(f"unknown worker mode {mode!r}: use fork, nofork or threads")


def job_timeout(worker: JobSide, job: Job) -> float | None:
    return type(job).timeout or worker.options.job_timeout


class InProcess:
    """Runs jobs in the worker process (``--no-fork``). A timeout, USR1 or the
    end of the shutdown wait interrupts the job with an exception raised from a
    signal handler; a job stuck inside C code cannot be interrupted this way.
    The exception is raised only where the signal interrupted the job's run
    (its code and hooks); one that lands in the worker's own work around it
    (loading the job, logging or building its outcome) is tried again a moment
    later, and dropped once the run is over: a job that is done stays done."""

    watch_slow_jobs = True  # the main thread is busy with the job

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.in_job = False
        self.job_deadline: float | None = None
        self.armed = False
        self.job_id = ""
        self.timeout: float | None = None
        self.kill_due = False  # a USR1 for the current job, not raised into it yet

    def run(self) -> None:
        signal.signal(signal.SIGALRM, self._alarm)
        self.worker.loop(self.run_one)

    def close(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)

    def idle(self, wait: float) -> float:
        return wait

    def started_ahead(self, upcoming: list[Taken]) -> int:
        return 0  # one job at a time

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self.in_job:
            return
        control = self.worker.control
        if signum == signal.SIGUSR1:
            self.kill_due = self.kill_due or control.take_kill(self.job_id)
        if self.kill_due or control.deadline is not None:
            self._interrupt(frame)

    def _alarm(self, signum: int, frame: FrameType | None) -> None:
        if self.in_job:
            self._interrupt(frame)

    def _interrupt(self, frame: FrameType | None) -> None:
        """Raise into the job what stops it now, if the signal landed in its run."""
        stop = self._due()
        if stop is None:
            self._arm()
        elif not inside_run(frame):
            self._arm(RETRY_S)  # the worker's own code: again in a moment
        else:
            self.kill_due = False
            raise stop

    def _due(self) -> BaseException | None:
        if self.worker.control.abandon_due():
            return Abandon()
        if self.kill_due:
            return DirtyExit("job killed by USR1")
        if self.job_deadline is not None and time.monotonic() >= self.job_deadline:
            return JobTimeout(f"job ran longer than its timeout of {self.timeout}s")
        return None

    def _arm(self, delay: float | None = None) -> None:
        if delay is None:
            due = [d for d in (self.job_deadline, self.worker.control.deadline) if d is not None]
            if not due:
                return
            delay = max(min(due) - time.monotonic(), 0.001)
        signal.setitimer(signal.ITIMER_REAL, delay)
        self.armed = True

    def run_one(self, taken: Taken, upcoming: Taken | None) -> Ack | None:
        w = self.worker
        loaded = w.processor.load(taken)
        if isinstance(loaded, Ack):
            return loaded
        w.current, w.current_started = taken, time.time()
        w.control.forget_kill()  # a kill meant for an earlier job must not hit this one
        self.job_id, self.kill_due = loaded.id, False
        self.timeout = job_timeout(w, loaded)
        self.job_deadline = time.monotonic() + self.timeout if self.timeout else None
        try:
            self.in_job = True
            self._arm()
            return w.processor.run_loaded(taken, loaded)
        except Abandon:
            w.put_back(taken, loaded)
            return None
        except (DirtyExit, JobTimeout) as exc:  # raised where the run could not catch it
            return w.processor.fail_here(taken, loaded, exc)
        finally:
            self.in_job = False
            if self.armed:
                signal.setitimer(signal.ITIMER_REAL, 0)
                self.armed = False
            if self.kill_due:
                log.info("USR1 came after the run of job %s: nothing to kill", loaded.id)
            w.current = None


class Threaded:
    """N jobs at once on N threads in one process (``--threads N``), for I/O-bound
    jobs. One fetcher keeps at most 2N jobs in flight and acknowledges in
    batches. When every thread has been busy for SLOW_JOB_S, the jobs waiting
    for a thread go back to their queues (for other workers) and the fetcher
    takes no more until a thread is free. A running thread cannot be stopped:
    timeouts and USR1 are not enforced in this mode, and at the end of the
    shutdown wait unfinished jobs are put back at the front of their queues and
    the process exits."""

    watch_slow_jobs = False  # no batches: threads take jobs one by one

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.todo: queue.Queue[Taken | None] = queue.Queue()
        self.done: queue.Queue[Ack] = queue.Queue()
        self.threads: list[threading.Thread] = []
        # In-flight entries handed to the threads and not yet acknowledged.
        self.held: Counter[bytes] = Counter()
        self.busy = 0  # threads running a job
        self.last_start = 0.0  # when a thread last started one
        self.busy_lock = threading.Lock()

    def idle(self, wait: float) -> float:
        return wait

    def started_ahead(self, upcoming: list[Taken]) -> int:
        return 0  # its own fetch loop never gives back what a thread took

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGUSR1:
            log.warning("USR1: a running thread cannot be killed in threads mode")

    def _thread(self) -> None:
        while True:
            taken = self.todo.get()
            if taken is None:
                return
            with self.busy_lock:
                self.busy += 1
                self.last_start = time.monotonic()
            self.worker.current, self.worker.current_started = taken, time.time()
            try:
                self.done.put(self.worker.processor.process(taken))
            finally:
                with self.busy_lock:
                    self.busy -= 1

    def collect(self, wait: float) -> None:
        try:
            ack = self.done.get(timeout=wait) if wait > 0 else self.done.get_nowait()
        except queue.Empty:
            return
        acks = [ack]
        while True:
            try:
                acks.append(self.done.get_nowait())
            except queue.Empty:
                break
        self.held -= Counter(ack.entry for ack in acks)  # drops entries at zero
        for ack in acks:
            self.worker.add_pending(ack)
        self.worker.outcomes.write_soon()  # while the threads go on

    def run(self) -> None:
        from .control import Backoff
        from .worker import REDIS_DOWN

        w, n = self.worker, self.worker.options.threads
        self.threads = [
            threading.Thread(target=self._thread, daemon=True, name=f"job-{i}") for i in range(n)
        ]
        for t in self.threads:
            t.start()
        idle, backoff = False, Backoff()
        while not w.control.stopping:
            self.collect(0)
            w.hold_while_paused(lambda: self.collect(0.05))  # threads finish meanwhile
            room = 2 * n - self.held.total()
            if self.stalled():
                self.give_back_waiting()
                room = 0  # every thread is on a slow job: take no more for now
            batch: list[Taken] = []
            try:
                if room > 0:
                    batch = w.inflight.fetch(min(room, w.options.max_batch))
                if not batch and not self.held:
                    waited = w.when_empty(first=not idle)
                    if waited is None:
                        break
                    idle = True
                    if not waited:
                        continue
                    batch = waited
            except REDIS_DOWN as exc:
                backoff.wait(w.control, exc)
                w.recover_orphans(self.held)
                continue
            idle = False
            for taken in batch:
                self.todo.put(taken)
            self.held.update(taken.entry for taken in batch)
            self.collect(0.01 if room > len(batch) else 0.05)
        self.drain()

    def stalled(self) -> bool:
        """Every thread has been busy with a job for SLOW_JOB_S."""
        from .worker import SLOW_JOB_S

        with self.busy_lock:
            full = self.busy >= len(self.threads)
            return full and time.monotonic() - self.last_start > SLOW_JOB_S

    def give_back_waiting(self) -> None:
        """Jobs waiting for a thread go back to the front of their queues (one
        try: if Redis is away, they wait here for a thread after all)."""
        waiting = self.take_waiting()
        kept = self.worker.give_back_once(waiting)
        for taken in kept:
            self.todo.put(taken)
        self.held -= Counter(taken.entry for taken in waiting[len(kept) :])

    def take_waiting(self) -> list[Taken]:
        waiting: list[Taken] = []
        while True:
            try:
                item = self.todo.get_nowait()
            except queue.Empty:
                return waiting
            if item is None:  # not expected while running; keep it for a thread
                self.todo.put(None)
                return waiting
            waiting.append(item)

    def drain(self) -> None:
        w = self.worker
        unstarted = self.take_waiting()
        self.held -= Counter(taken.entry for taken in unstarted)
        w.give_back(unstarted)
        for _ in self.threads:
            self.todo.put(None)
        while self.held and not w.control.abandon_due():
            self.collect(0.05)
        self.collect(0)  # outcomes that came at the deadline are recorded too

    def close(self) -> None:
        # Jobs still running on threads stay in the in-flight list; Worker._leave
        # puts them back at the front when the worker is stopping. What finished
        # is recorded first, as late as can be: it must not go back.
        self.collect(0)
