"""The retry plugin with the scheduler (delayed retries wait in the scheduler's
delayed set and are moved through before_enqueue again, in this process and by
a real worker) and with the loner (one lock across the retries), and with all
five plugins loaded at once."""

from __future__ import annotations

import builtins

import pytest
import resqplug_loner
import resqplug_scheduler
import retry_jobs as rj
import scheduler_helpers
import together_jobs as tj
from retry_helpers import (
    RetryRecorder,
    promote_due,
    redis_now,
    retry_set,
    run_until_idle,
    scheduler_set,
    wait_for,
    waiting_set,
)
from together_helpers import ALL_PLUGINS, Spawn

import resqplug
from resqplug.testing import drain

Q = "retry"
LATE_AT_MOST_S = 2.0  # a worker's heartbeat moves due delayed jobs every ~0.5 s


@pytest.fixture
def recorder(default_client: resqplug.Resq) -> RetryRecorder:
    rec = RetryRecorder()
    resqplug.register(rec, name="retry-test-recorder")
    return rec


class RetryUnique(rj.Flaky):
    name = "together.RetryUnique"
    unique = True
    retry_exceptions = {builtins.ConnectionError: 0.3}


class RetryUniqueAtOnce(rj.Flaky):
    name = "together.RetryUniqueAtOnce"
    unique = True
    retry_exceptions = (builtins.ConnectionError,)


class RetryUniqueRecordAll(rj.Flaky):
    name = "together.RetryUniqueRecordAll"
    unique = True
    retry_exceptions = {builtins.ConnectionError: 0.3}
    retry_record_failures = True


def test_all_five_plugins_are_loaded_and_a_retried_job_completes(default_client, recorder):
    names = set(resqplug.get_plugins().names())
    assert set(ALL_PLUGINS) | {"core"} <= names
    quick = default_client.enqueue(rj.RetryFlaky, 2)
    delayed = default_client.enqueue(rj.RetryDelayList, 2, "TimeoutError")
    run_until_idle(default_client, Q)
    assert rj.done(default_client, quick) and rj.done(default_client, delayed)
    assert [r["attempt"] for r in rj.events(default_client, delayed, "start")] == [1, 2, 3]
    assert default_client.failures.count() == 0


# --- retry with the scheduler: delays in its delayed set --------------------------------


def test_with_the_scheduler_delays_go_to_its_delayed_set(default_client, recorder):
    job_id = default_client.enqueue(rj.RetryDelayed, 1)
    drain(default_client, Q)
    assert waiting_set(default_client).key == scheduler_set(default_client).key
    item = scheduler_set(default_client).find(job_id)
    assert item is not None and item.payload["meta"]["attempt"] == 2
    assert retry_set(default_client).count() == 0
    wait_for(lambda: promote_due(default_client), 5, "the scheduler's set to move the retry")
    drain(default_client, Q)
    assert rj.done(default_client, job_id)
    # The move went through before_enqueue again (the scheduler's contract).
    attempts = [e["attempt"] for e in recorder.enqueued if e["id"] == job_id]
    assert attempts[0] == 1 and attempts[-1] == 2


def test_retry_scheduled_fires_per_retry_with_the_delay_in_the_scheduler_set(
    default_client, recorder
):
    job_id = default_client.enqueue(rj.RetryHookDelays, 99)
    run_until_idle(default_client, Q)
    assert [r["attempt"] for r in rj.events(default_client, job_id, "start")] == [1, 2, 3, 4]
    scheduled = [(s["id"], s["attempt"], str(s["exc"]), s["delay"]) for s in recorder.scheduled]
    assert scheduled == [
        (job_id, 1, "flaky 1", 0.05),
        (job_id, 2, "flaky 2", 0.1),
        (job_id, 3, "flaky 3", 0.15),
    ]
    assert [(e["id"], str(e["exc"])) for e in recorder.exhausted] == [(job_id, "flaky 4")]
    assert default_client.failures.get(job_id)["error"] == "flaky 4"


def test_a_delayed_retry_waits_in_the_scheduler_set_until_due(default_client, recorder):
    job_id = default_client.enqueue(rj.RetryClosest, 1, "ConnectionResetError")
    before = redis_now(default_client.redis)
    assert drain(default_client, Q) == 1
    # ConnectionError: [0.2] wins over OSError: 0.0 for a ConnectionResetError.
    assert [s["delay"] for s in recorder.scheduled] == [0.2]
    item = scheduler_set(default_client).find(job_id)
    assert item is not None and item.queue == Q and item.payload["id"] == job_id
    assert before + 0.2 <= item.due <= redis_now(default_client.redis) + 0.2
    assert default_client.size(Q) == 0
    wait_for(lambda: promote_due(default_client) == 1, 5, "the retry to be moved to its queue")
    assert redis_now(default_client.redis) >= item.due
    assert drain(default_client, Q) == 1
    assert rj.done(default_client, job_id)


@pytest.mark.parametrize(
    ("job_class", "delays"),
    [(rj.RetryDelayList, [0.2, 0.5]), (rj.RetryBackoffCallable, [0.2, 0.4])],
    ids=["per-exception-list", "backoff-callable"],
)
def test_delays_are_honoured_by_a_worker_through_the_scheduler_set(
    spawn: Spawn, default_client, job_class, delays
):
    job_id = default_client.enqueue(job_class, len(delays), "TimeoutError")
    with spawn("--queues", Q, "--no-fork", app="retry_jobs"):
        wait_for(lambda: rj.done(default_client, job_id), 20, "the job to succeed")
    starts = rj.events(default_client, job_id, "start")
    fails = rj.events(default_client, job_id, "fail")
    assert [s["attempt"] for s in starts] == [1, 2, 3]
    assert {s["id"] for s in starts} == {job_id}
    for n, delay in enumerate(delays, start=1):
        planned = starts[n]["next_at"] - fails[n - 1]["at"]
        assert delay - 1e-6 <= planned < delay + 0.25, (n, delay, planned)
        assert starts[n]["at"] >= starts[n]["next_at"] - 1e-6, (n, "ran before it was due")
        assert starts[n]["at"] - starts[n]["next_at"] < LATE_AT_MOST_S, (n, "ran too late")
    assert default_client.failures.count() == 0
    assert scheduler_set(default_client).count() == retry_set(default_client).count() == 0


def test_a_worker_moves_a_delayed_retry_from_the_scheduler_set(
    default_client: resqplug.Resq, spawn: Spawn
) -> None:
    spawn("--no-fork", "-q", "sched")
    job_id = resqplug.enqueue(tj.SchedFlaky, "r")

    wait_for(lambda: resqplug_scheduler.delayed_count() == 1, 10, "the retry to be delayed")
    [item] = resqplug_scheduler.delayed_jobs()
    assert item.payload["id"] == job_id
    assert item.payload["meta"]["attempt"] == 2
    assert item.queue == "sched"
    assert retry_set(default_client).count() == 0
    assert scheduler_helpers.ran(default_client) == [job_id]

    wait_for(lambda: len(scheduler_helpers.ran(default_client)) == 2, 10, "the retry to run")
    assert scheduler_helpers.ran(default_client) == [job_id, job_id]
    assert scheduler_helpers.started(default_client)[job_id] >= item.due
    assert resqplug_scheduler.delayed_count() == 0
    assert default_client.failures.count() == 0


# --- retry with the loner: one lock across the retries -------------------------------------


@pytest.mark.parametrize("job_class", [RetryUnique, RetryUniqueAtOnce], ids=["delayed", "at-once"])
def test_a_unique_job_keeps_its_lock_while_retried(default_client, job_class):
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
    job_id = default_client.enqueue(RetryUniqueRecordAll, 1)
    drain(default_client, Q)
    assert waiting_set(default_client).find(job_id) is not None
    assert default_client.failures.get(job_id)["error"] == "flaky 1"
    assert resqplug_loner.holder(RetryUniqueRecordAll, 1) == job_id
    assert default_client.enqueue(RetryUniqueRecordAll, 1) is None
