"""The loner plugin and failures: a failed unique job retried from the failed
store, and locks released whatever other plugins' failure handling does (the
loner with the scheduler, retry and cleaner plugins: tests/plugins_together)."""

from __future__ import annotations

import loner_jobs as jobs
from loner_helpers import QUEUE, holder, queued_ids

import resqplug
from resqplug.testing import drain

# --- failure retry ------------------------------------------------------------------


def test_failure_retry_of_a_failed_unique_job(default_client, recorder):
    job_id = resqplug.enqueue(jobs.FailsFirstTime, "t5")
    assert drain(default_client, QUEUE) == 1
    assert default_client.failures.get(job_id) is not None
    assert holder(jobs.FailsFirstTime, "t5") is None

    assert default_client.failures.retry(job_id) == job_id
    assert queued_ids(default_client) == [job_id]
    assert holder(jobs.FailsFirstTime, "t5") == job_id
    assert resqplug.enqueue(jobs.FailsFirstTime, "t5") is None
    assert drain(default_client, QUEUE) == 1
    assert jobs.ids(default_client, "done") == [job_id]
    assert holder(jobs.FailsFirstTime, "t5") is None
    assert [e for _, e in recorder.skipped] == [job_id]


def test_failure_retry_respects_a_copy_already_queued(default_client, recorder):
    failed = resqplug.enqueue(jobs.Failing, 6)
    assert drain(default_client, QUEUE) == 1
    copy = resqplug.enqueue(jobs.Failing, 6)
    assert copy is not None

    assert resqplug.failures.retry(failed) is None
    assert queued_ids(default_client) == [copy]
    assert holder(jobs.Failing, 6) == copy
    record = default_client.failures.get(failed)
    assert record is not None and "retried_at" not in record  # not marked: not retried
    assert [(j.id, e) for j, e in recorder.skipped] == [(failed, copy)]


def test_failure_retried_twice_is_queued_once(default_client):
    failed = resqplug.enqueue(jobs.Failing, 7)
    assert drain(default_client, QUEUE) == 1
    assert resqplug.failures.retry(failed) == failed
    assert resqplug.failures.retry(failed) is None
    assert queued_ids(default_client) == [failed]


# --- other plugins' failure handling -------------------------------------------


class RaisingFailureHandler:
    """A plugin whose handle_failure raises: the core logs it and records the
    failure (hookspecs.handle_failure), so the job's failure is final."""

    @resqplug.hookimpl
    def handle_failure(self, job: resqplug.Job, exc: BaseException) -> str | None:
        raise RuntimeError("broken failure handler")


def test_lock_released_when_another_failure_handler_raises(default_client):
    resqplug.register(RaisingFailureHandler(), name="loner-test-raising")
    job_id = resqplug.enqueue(jobs.Failing, 8)
    assert drain(default_client, QUEUE) == 1
    assert default_client.failures.get(job_id) is not None  # recorded as final
    assert holder(jobs.Failing, 8) is None


class SkipEverything:
    """A plugin that skips every job (DontPerform from before_perform)."""

    @resqplug.hookimpl
    def before_perform(self, job: resqplug.Job) -> None:
        raise resqplug.DontPerform("skipped by the test")


def test_lock_released_when_the_job_is_skipped(default_client):
    resqplug.register(SkipEverything(), name="loner-test-skip")
    job_id = resqplug.enqueue(jobs.Unique, 9)
    assert holder(jobs.Unique, 9) == job_id
    assert drain(default_client, QUEUE) == 1
    assert jobs.runs(default_client) == []  # it did not run
    assert default_client.failures.count() == 0
    assert holder(jobs.Unique, 9) is None
    assert resqplug.enqueue(jobs.Unique, 9) is not None
