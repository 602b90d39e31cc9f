"""The loner plugin with the scheduler (a scheduled unique job), the retry
plugin (one lock across the retries) and the cleaner (a requeue respects
uniqueness)."""

from __future__ import annotations

import loner_jobs as jobs
import pytest
import resqplug_scheduler
import together_jobs as tj
from loner_helpers import QUEUE, holder, queued_ids, wait_for
from resqplug_cleaner import Cleaner, Filter

import resqplug
from resqplug.delayed import DelayedSet
from resqplug.plugins import DISABLE_ENV
from resqplug.testing import drain


class DuplicateRecorder:
    """A test plugin: every ``duplicate_skipped`` the loner plugin fired."""

    def __init__(self) -> None:
        self.skipped: list[tuple[resqplug.Job, str | None]] = []

    @resqplug.hookimpl(optionalhook=True)
    def duplicate_skipped(self, job: resqplug.Job, existing_id: str | None) -> None:
        self.skipped.append((job, existing_id))


@pytest.fixture
def recorder(default_client: resqplug.Resq) -> DuplicateRecorder:
    rec = DuplicateRecorder()
    resqplug.register(rec, name="loner-test-recorder")
    return rec


def finished(client: resqplug.Resq, job_id: str) -> bool:
    return job_id in jobs.ids(client, "done")


# --- scheduler ----------------------------------------------------------------


def test_enqueue_in_twice_schedules_one_job_that_runs_once(default_client, recorder, spawn):
    first = resqplug_scheduler.enqueue_in(0.5, jobs.Unique, 1)
    assert first is not None
    assert resqplug_scheduler.enqueue_in(0.5, jobs.Unique, 1) is None
    assert resqplug.enqueue(jobs.Unique, 1) is None  # unique while scheduled, too
    assert resqplug_scheduler.delayed_count() == 1
    assert default_client.size(QUEUE) == 0
    assert holder(jobs.Unique, 1) == first
    assert [e for _, e in recorder.skipped] == [first, first]

    spawn("--no-fork", "-q", QUEUE)  # its heartbeat moves the due job (same id: allowed)
    wait_for(lambda: finished(default_client, first), 10, "the scheduled job to run")
    wait_for(lambda: holder(jobs.Unique, 1) is None, 5, "the lock to be released")
    assert jobs.ids(default_client, "done") == [first]
    assert resqplug_scheduler.delayed_count() == 0
    assert default_client.size(QUEUE) == 0
    assert resqplug_scheduler.enqueue_in(0.5, jobs.Unique, 1) is not None


def test_scheduled_job_whose_copy_was_enqueued_meanwhile_is_dropped_at_the_move(
    default_client, recorder
):
    """The lock expired while the job waited and a copy was enqueued: moving the
    scheduled job finds the guard held by the copy and drops it."""
    scheduled = resqplug_scheduler.enqueue_in(0.2, jobs.ShortLock, 1)
    delayed = DelayedSet(default_client, "scheduler")
    wait_for(lambda: holder(jobs.ShortLock, 1) is None, 3, "the 0.5 s lock to expire")
    copy = resqplug.enqueue(jobs.ShortLock, 1)
    assert copy is not None and copy != scheduled
    assert delayed.move_due() == 0
    assert delayed.count() == 0
    assert queued_ids(default_client) == [copy]
    assert [(j.id, e) for j, e in recorder.skipped] == [(scheduled, copy)]


# --- retry --------------------------------------------------------------------


def test_retry_is_not_blocked_by_its_own_lock(default_client, recorder):
    job_id = resqplug.enqueue(tj.RetryOnce, 1)
    assert drain(default_client, QUEUE, limit=1) == 1  # attempt 1 fails, retry queued
    assert queued_ids(default_client) == [job_id]  # the retry: same id, not refused
    assert default_client.peek(QUEUE)[0]["meta"]["attempt"] == 2
    assert holder(tj.RetryOnce, 1) == job_id
    assert resqplug.enqueue(tj.RetryOnce, 1) is None  # still unique while retrying
    assert [e for _, e in recorder.skipped] == [job_id]

    assert drain(default_client, QUEUE) == 1  # attempt 2 succeeds
    assert [(r["event"], r["attempt"]) for r in jobs.runs(default_client)] == [
        ("start", 1),
        ("fail", 1),
        ("start", 2),
        ("done", 2),
    ]
    assert default_client.failures.count() == 0
    assert holder(tj.RetryOnce, 1) is None
    assert resqplug.enqueue(tj.RetryOnce, 1) is not None


@pytest.mark.parametrize("delay_mode", ["scheduler", "own-set"])
def test_delayed_retry_keeps_the_lock_and_completes(
    default_client, recorder, spawn, delay_mode, monkeypatch: pytest.MonkeyPatch
):
    """The retry waits 0.8 s in the scheduler's delayed set (moved through the
    enqueue guards) or, without the scheduler, the retry plugin's own set."""
    extra = {DISABLE_ENV: "scheduler"} if delay_mode == "own-set" else {}
    if extra:
        monkeypatch.setenv(DISABLE_ENV, "scheduler")
        resqplug.plugins.reset_plugins()
        resqplug.register(recorder, name="loner-test-recorder")
    assert ("scheduler" in resqplug.get_plugins().names()) == (delay_mode == "scheduler")
    spawn("--no-fork", "-q", QUEUE, env=extra)
    job_id = resqplug.enqueue(tj.RetryOnceDelayed, 1)
    waiting = DelayedSet(default_client, "scheduler" if delay_mode == "scheduler" else "retry")
    wait_for(waiting.count, 15, "attempt 1 to fail and its retry to wait")
    assert holder(tj.RetryOnceDelayed, 1) == job_id  # the retry waits 0.8 s: still held
    assert resqplug.enqueue(tj.RetryOnceDelayed, 1) is None
    wait_for(lambda: finished(default_client, job_id), 10, "attempt 2 to succeed")
    wait_for(lambda: holder(tj.RetryOnceDelayed, 1) is None, 5, "the lock to be released")
    assert waiting.count() == 0 and default_client.size(QUEUE) == 0
    assert [r["attempt"] for r in jobs.runs(default_client, "start")] == [1, 2]
    assert default_client.failures.count() == 0
    assert [e for _, e in recorder.skipped] == [job_id]


def test_lock_released_when_the_retries_are_exhausted(default_client):
    job_id = resqplug.enqueue(tj.RetryAlwaysFails, 1)
    assert drain(default_client, QUEUE) == 2  # the run and its one retry
    assert [r["id"] for r in jobs.runs(default_client, "fail")] == [job_id, job_id]
    record = default_client.failures.get(job_id)
    assert record is not None and record["error"] == "attempt 2"
    assert holder(tj.RetryAlwaysFails, 1) is None
    assert resqplug.enqueue(tj.RetryAlwaysFails, 1) is not None


def test_retry_that_also_records_its_failures_keeps_the_lock(default_client):
    job_id = resqplug.enqueue(tj.RetryOnceRecorded, 1)
    assert drain(default_client, QUEUE, limit=1) == 1  # attempt 1 fails, retry queued
    assert queued_ids(default_client) == [job_id]
    assert default_client.failures.get(job_id) is not None  # recorded, as configured
    assert holder(tj.RetryOnceRecorded, 1) == job_id
    assert resqplug.enqueue(tj.RetryOnceRecorded, 1) is None


# --- cleaner -----------------------------------------------------------------------


def test_cleaner_requeue_respects_uniqueness(default_client, recorder):
    cleaner = Cleaner(default_client)
    only = Filter(job_class="loner_tests.Failing")
    blocked = resqplug.enqueue(jobs.Failing, 1)
    freed = resqplug.enqueue(jobs.Failing, 2)
    assert drain(default_client, QUEUE) == 2
    copy = resqplug.enqueue(jobs.Failing, 1)  # a copy of the first is queued again

    outcome = cleaner.requeue(only)
    assert (outcome.matched, outcome.requeued) == (2, 1)
    assert queued_ids(default_client) == [copy, freed]  # not the duplicate of `copy`
    assert holder(jobs.Failing, 1) == copy
    assert holder(jobs.Failing, 2) == freed
    assert "retried_at" not in default_client.failures.get(blocked)
    assert "retried_at" in default_client.failures.get(freed)
    assert [(j.id, e) for j, e in recorder.skipped] == [(blocked, copy)]
