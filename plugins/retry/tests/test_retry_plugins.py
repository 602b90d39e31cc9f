"""The retry plugin with every other installed plugin loaded at once (the
scheduler's delayed set for delays, the loner's locks across retries)."""

from __future__ import annotations

import builtins
from importlib.metadata import entry_points

import pytest
import retry_jobs as rj
from retry_helpers import promote_due, run_until_idle, scheduler_set, wait_for, waiting_set

import resqplug
from resqplug.testing import drain

Q = "retry"


def installed() -> set[str]:
    return {e.name for e in entry_points(group="resqplug")}


def need(name: str) -> None:
    if name not in installed():
        pytest.skip(f"resqplug-{name} is not installed")


class RetryUnique(rj.Flaky):
    name = "retry_tests.plugins.RetryUnique"
    unique = True
    retry_exceptions = {builtins.ConnectionError: 0.3}


class RetryUniqueAtOnce(rj.Flaky):
    name = "retry_tests.plugins.RetryUniqueAtOnce"
    unique = True
    retry_exceptions = (builtins.ConnectionError,)


class RetryUniqueRecordAll(rj.Flaky):
    name = "retry_tests.plugins.RetryUniqueRecordAll"
    unique = True
    retry_exceptions = {builtins.ConnectionError: 0.3}
    retry_record_failures = True


def test_every_installed_plugin_is_loaded_with_it(default_client, recorder):
    names = set(resqplug.get_plugins().names())
    assert installed() <= names
    assert "retry" in names
    quick = default_client.enqueue(rj.RetryFlaky, 2)
    delayed = default_client.enqueue(rj.RetryDelayList, 2, "TimeoutError")
    run_until_idle(default_client, Q)
    assert rj.done(default_client, quick) and rj.done(default_client, delayed)
    assert [r["attempt"] for r in rj.events(default_client, delayed, "start")] == [1, 2, 3]
    assert default_client.failures.count() == 0


def test_with_the_scheduler_delays_go_to_its_delayed_set(default_client, recorder):
    need("scheduler")
    job_id = default_client.enqueue(rj.RetryDelayed, 1)
    drain(default_client, Q)
    assert waiting_set(default_client).key == scheduler_set(default_client).key
    item = scheduler_set(default_client).find(job_id)
    assert item is not None and item.payload["meta"]["attempt"] == 2
    wait_for(lambda: promote_due(default_client), 5, "the scheduler's set to move the retry")
    drain(default_client, Q)
    assert rj.done(default_client, job_id)
    # The move went through before_enqueue again (the scheduler's contract).
    attempts = [e["attempt"] for e in recorder.enqueued if e["id"] == job_id]
    assert attempts[0] == 1 and attempts[-1] == 2


@pytest.mark.parametrize("job_class", [RetryUnique, RetryUniqueAtOnce], ids=["delayed", "at-once"])
def test_a_unique_job_keeps_its_lock_while_retried(default_client, job_class):
    need("loner")
    import resqplug_loner

    job_id = default_client.enqueue(job_class, 1)
    assert job_id is not None
    if job_class is RetryUnique:
        drain(default_client, Q)
        assert waiting_set(default_client).find(job_id) is not None
        # A pending retry is not a duplicate of itself, but holds the lock.
        assert resqplug_loner.holder(job_class, 1) == job_id
        assert default_client.enqueue(job_class, 1) is None
    run_until_idle(default_client, Q)
    assert [e["attempt"] for e in rj.events(default_client, job_id, "start")] == [1, 2]
    assert rj.done(default_client, job_id)
    assert default_client.failures.count() == 0
    # Done: the lock is released.
    assert resqplug_loner.holder(job_class, 1) is None
    assert default_client.enqueue(job_class, 1) is not None


def test_a_unique_job_recording_every_failure_keeps_its_lock_while_retried(default_client):
    need("loner")
    import resqplug_loner

    job_id = default_client.enqueue(RetryUniqueRecordAll, 1)
    drain(default_client, Q)
    assert waiting_set(default_client).find(job_id) is not None
    assert default_client.failures.get(job_id)["error"] == "flaky 1"
    assert resqplug_loner.holder(RetryUniqueRecordAll, 1) == job_id
    assert default_client.enqueue(RetryUniqueRecordAll, 1) is None
