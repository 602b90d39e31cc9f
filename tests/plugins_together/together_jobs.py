"""Job classes of the cross-plugin suite that set options of two plugins (run
in-process with ``drain`` and by worker processes: ``--app together_jobs``).
Each records its runs through the job module of the plugin suite it came from,
which this module also imports so a worker knows those modules' classes too."""

from __future__ import annotations

import builtins
from typing import Any

import cleaner_jobs
import loner_jobs
import resqplug_status
import retry_jobs  # noqa: F401 - its classes, for workers started with --app together_jobs
import scheduler_jobs
import status_jobs

import resqplug

# --- status with retry, status with loner --------------------------------------------


class StatusRetry(resqplug.Job):
    """Fails with ValueError until attempt ``succeed_on``; retried after a delay."""

    queue = "status"
    retry_exceptions = (ValueError,)
    retry_limit = 1
    retry_delay = 0.3

    def perform(self, succeed_on: int) -> int:
        status_jobs.record(self, "started")
        if self.attempt < succeed_on:
            raise ValueError(f"attempt {self.attempt} fails")
        return self.attempt


class StatusRetryNow(StatusRetry):
    """Retried at once (``retry_delay = 0``, the retry plugin's default)."""

    retry_delay = 0


class StatusKillSelfRetried(resqplug.Job):
    """Asks for its own kill, then ticks (JobKilled); its retry policy covers
    every Exception."""

    queue = "status"
    retry_exceptions = (Exception,)
    retry_limit = 1
    retry_delay = 0

    def perform(self) -> str:
        status_jobs.record(self, "started")
        resqplug_status.kill(self.id)
        self.tick("about to be killed")
        status_jobs.record(self, "finished")
        return "not killed"


class StatusUnique(resqplug.Job):
    queue = "status"
    unique = True

    def perform(self, n: int) -> int:
        return n


# --- loner with retry ------------------------------------------------------------------


class RetryOnce(resqplug.Job):
    """Unique; attempt 1 fails with a retried exception, attempt 2 succeeds."""

    name = "together.RetryOnce"
    queue = loner_jobs.QUEUE
    unique = True
    retry_exceptions = (builtins.ConnectionError,)
    retry_limit = 2

    def perform(self, *args: Any) -> None:
        loner_jobs.record(self, "start")
        if self.attempt == 1:
            loner_jobs.record(self, "fail")
            raise builtins.ConnectionError("attempt 1")
        loner_jobs.record(self, "done")


class RetryOnceDelayed(RetryOnce):
    """As RetryOnce, the retry after 0.8 s (in a delayed set)."""

    name = "together.RetryOnceDelayed"
    retry_exceptions = {builtins.ConnectionError: 0.8}


class RetryOnceRecorded(RetryOnce):
    """As RetryOnce, also recording each failed attempt."""

    name = "together.RetryOnceRecorded"
    retry_record_failures = True


class RetryAlwaysFails(resqplug.Job):
    """Unique; fails on every attempt: one retry, then a final failure."""

    name = "together.RetryAlwaysFails"
    queue = loner_jobs.QUEUE
    unique = True
    retry_exceptions = (builtins.ConnectionError,)
    retry_limit = 1

    def perform(self, *args: Any) -> None:
        loner_jobs.record(self, "fail")
        raise builtins.ConnectionError(f"attempt {self.attempt}")


# --- scheduler with retry, cleaner with loner ----------------------------------------------

UNIQUE_QUEUE = "cleaner-unique"


class SchedFlaky(resqplug.Job):
    """Fails its first attempt with ValueError; the retry plugin retries it after 1 s."""

    queue = "sched"
    retry_exceptions = (ValueError,)
    retry_limit = 2
    retry_delay = 1.0

    def perform(self, *args: Any) -> None:
        scheduler_jobs.record(self)
        if self.attempt == 1:
            raise ValueError("first attempt fails")


class CJUnique(resqplug.Job):
    """A unique job that times out until fixed (cleaner_jobs.fix)."""

    name = "together.CleanerUnique"
    queue = UNIQUE_QUEUE
    unique = True

    def perform(self, n: int) -> None:
        cleaner_jobs.run_or_fail(self, TimeoutError(f"unique {n} timed out"))
