"""In-process mode (``--no-fork``): jobs run in the worker process, one at a
time, from the feed's batches. Same semantics as the other modes (runner.run
and Processor); a timeout, a kill or a shutdown reaches the job as an
exception raised from a signal handler."""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

from ...errors import DirtyExit, JobTimeout
from ...runner import inside_run
from ..control import RETRY_S, Abandon
from ..feed import JobFeed
from ..options import JobSettings, job_timeout
from ..taken import Ack, Taken

log = logging.getLogger("resqplug.worker")


class InProcess:
    """Runs jobs in the worker process (``--no-fork``). A timeout, USR1 or the
    end of the shutdown wait interrupts the job with an exception raised from a
    signal handler; a job stuck inside C code cannot be interrupted this way.
    The exception is raised only where the signal interrupted the job's run
    (its code and hooks); one that lands in the worker's own work around it
    (loading the job, logging or building its outcome) is tried again a moment
    later, and dropped once the run is over: a job that is done stays done."""

    watch_slow_jobs = True  # the main thread is busy with the job

    def __init__(self, feed: JobFeed, settings: JobSettings) -> None:
        self.feed, self.settings = feed, settings
        self.control = feed.control
        self.processor = settings.processor
        self.in_job = False
        self.job_deadline: float | None = None
        self.armed = False
        self.job_id = ""
        self.timeout: float | None = None
        self.kill_due = False  # a USR1 for the current job, not raised into it yet

    def run(self) -> None:
        signal.signal(signal.SIGALRM, self._alarm)
        self.feed.run_batches(self)

    def close(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)

    def idle(self, wait: float) -> float:
        return wait

    def started_ahead(self, upcoming: list[Taken]) -> int:
        return 0  # one job at a time

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self.in_job:
            return
        control = self.control
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
        if self.control.abandon_due():
            return Abandon()
        if self.kill_due:
            return DirtyExit("job killed by USR1")
        if self.job_deadline is not None and time.monotonic() >= self.job_deadline:
            return JobTimeout(f"job ran longer than its timeout of {self.timeout}s")
        return None

    def _arm(self, delay: float | None = None) -> None:
        if delay is None:
            due = [d for d in (self.job_deadline, self.control.deadline) if d is not None]
            if not due:
                return
            delay = max(min(due) - time.monotonic(), 0.001)
        signal.setitimer(signal.ITIMER_REAL, delay)
        self.armed = True

    def run_one(self, taken: Taken, upcoming: Taken | None) -> Ack | None:
        feed, processor = self.feed, self.processor
        loaded = processor.load(taken)
        if isinstance(loaded, Ack):
            return loaded
        feed.current, feed.current_started = taken, time.time()
        self.control.forget_kill()  # a kill meant for an earlier job must not hit this one
        self.job_id, self.kill_due = loaded.id, False
        self.timeout = job_timeout(self.settings, loaded)
        self.job_deadline = time.monotonic() + self.timeout if self.timeout else None
        try:
            self.in_job = True
            self._arm()
            return processor.run_loaded(taken, loaded)
        except Abandon:
            feed.put_back(taken, loaded)
            return None
        except (DirtyExit, JobTimeout) as exc:  # raised where the run could not catch it
            return processor.fail_here(taken, loaded, exc)
        finally:
            self.in_job = False
            if self.armed:
                signal.setitimer(signal.ITIMER_REAL, 0)
                self.armed = False
            if self.kill_due:
                log.info("USR1 came after the run of job %s: nothing to kill", loaded.id)
            feed.current = None
