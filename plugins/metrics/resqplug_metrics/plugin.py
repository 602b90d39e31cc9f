"""The metrics plugin's hooks. Each enqueue and each ended run appends one
write to the job; the core applies it in the script it runs anyway (the
enqueue script, the worker's batched ack), where the batch's figures are
summed in Lua. Nothing here talks to Redis on the hot path."""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from typing import Any

import resqplug
from resqplug.ext import Job, hookimpl, redis_down

from .figures import RUNS, enqueued_write, fragments, run_write

log = logging.getLogger("resqplug.metrics")

STARTED = "_resqplug_metrics_started"  # time.time() at the start, on the job
MARK = "metrics"  # the plugin's part of a payload's meta: {"delayed": 1}, see before_enqueue


def outcome_of(action: str | None, exc: BaseException) -> str:
    """How a failed run ended, from the final answer of ``handle_failure``."""
    if action is not None and action.startswith("retried"):
        return "retried"
    if action == "killed" or isinstance(exc, resqplug.DirtyExit):
        return "killed"
    return "failed"


def count_run(job: Job, outcome: str) -> None:
    """Append the write of this run."""
    started = getattr(job, STARTED, None)
    if started is None:
        job.writes.append(run_write(job, outcome, None, None))
        return
    now = time.time()
    at = job.enqueued_at
    latency = started - at if isinstance(at, (int, float)) else None
    job.writes.append(run_write(job, outcome, now - started, latency))


def count_failed_run(job: Job, outcome: str) -> None:
    """Count a failed run, dropping a success counted for it already (an
    after_perform after ours failed the job)."""
    job.writes[:] = [w for w in job.writes if getattr(w, "script", None) != RUNS]
    count_run(job, outcome)


class MetricsPlugin:
    @hookimpl
    def write_scripts(self) -> dict[str, str]:
        return fragments()

    @hookimpl
    def before_enqueue(self, job: Job) -> None:
        """Count each job once when it is accepted: written to its queue, or to
        a delayed set (scheduled, a delayed retry). A job written to a delayed
        set is marked in its meta, so the move to its queue (through these
        hooks again, or without them) is not counted twice."""
        if job.due is not None:
            job.meta[MARK] = {"delayed": 1}
        elif job.meta.pop(MARK, None) is not None:
            return  # moved from a delayed set: counted when it was written there
        job.writes.append(enqueued_write(job))

    @hookimpl(tryfirst=True)
    def before_perform(self, job: Job) -> None:
        setattr(job, STARTED, time.time())
        if MARK in job.meta:  # moved without hooks: what is enqueued from this run is new
            del job.meta[MARK]

    @hookimpl(trylast=True)
    def after_perform(self, job: Job, result: Any) -> None:  # the spec's args: a direct call
        count_run(job, "succeeded")

    @hookimpl(wrapper=True, specname="handle_failure")
    def count_failure(self, job: Job, exc: BaseException) -> Generator[None, Any, Any]:
        try:
            action = yield
        except BaseException:  # the core records the failure
            count_failed_run(job, "failed")
            raise
        count_failed_run(job, outcome_of(action, exc))
        return action

    @hookimpl
    def job_recovered(self, job: Job) -> None:
        """Back in its queue unfinished: not on the hot path (a dead worker,
        a worker's own stop), so the write is applied in a round trip here."""
        try:
            resqplug.client_for(job).apply_writes([run_write(job, "recovered", None, None)])
        except Exception as exc:
            if not redis_down(exc):
                raise
            log.warning("recovered job %s not counted: %s", job.id, exc)

    @hookimpl
    def warm_up(self, job: Job) -> None:
        """A run's metrics code in the process that forks job children."""
        setattr(job, STARTED, time.time())
        run_write(job, "succeeded", 0.0, 0.0)
        enqueued_write(job)

    @hookimpl
    def dashboard_pages(self) -> list[Any]:
        from .web import ENDPOINT

        return [ENDPOINT]

    @hookimpl
    def add_cli_commands(self, cli: Any) -> None:
        from .cli import metrics_group

        cli.add_command(metrics_group)
