"""A unique job removed without running (``job_discarded``) gives up its lock,
whichever core path removed it: the same job can be enqueued again at once."""

from __future__ import annotations

import json

import loner_jobs as jobs
import pytest
from loner_helpers import QUEUE, holder, lock_key_of, run_cli

import resqplug
from resqplug import failure
from resqplug.runner import any_job
from resqplug.testing import drain
from resqplug.web import views


def as_failed(client: resqplug.Resq, job_id: str) -> None:
    """Move the queued job ``job_id`` to the failed store as a worker that could
    not release its lock would have (Redis away at the time, or a worker that
    did not know the class): the record is the job's last trace."""
    key = client.keys.queue(QUEUE)
    raw = next(r for r in client.redis.lrange(key, 0, -1) if json.loads(r)["id"] == job_id)
    client.redis.lrem(key, 1, raw)
    record = failure.build(
        json.loads(raw), RuntimeError("lost"), worker="w", queue=QUEUE, job_id=job_id
    )
    client.redis.rpush(client.keys.failed, record)
    client.redis.hset(client.keys.failed_index, job_id, record)


def test_dequeued_unique_job_can_be_enqueued_again_at_once(default_client):
    first = resqplug.enqueue(jobs.Unique, 1)
    assert resqplug.dequeue(jobs.Unique, 1) == 1
    second = resqplug.enqueue(jobs.Unique, 1)
    assert second not in (None, first) and holder(jobs.Unique, 1) == second


def test_unique_jobs_of_a_removed_queue_can_be_enqueued_again_at_once(default_client):
    for n in range(3):
        resqplug.enqueue(jobs.Unique, n)
    assert resqplug.remove_queue(QUEUE) == 3
    assert all(resqplug.enqueue(jobs.Unique, n) for n in range(3))


def test_unique_job_removed_from_the_dashboard_can_be_enqueued_again_at_once(default_client):
    first = resqplug.enqueue(jobs.Keyed, 5, {"a": 1})
    assert views.remove_queued(default_client, QUEUE, 0, first or "")
    assert resqplug.enqueue(jobs.Keyed, 5, {"b": 2}) is not None


@pytest.mark.parametrize("how", ["remove", "clear"])
def test_removed_failure_releases_the_lock_its_job_still_held(default_client, how):
    first = resqplug.enqueue(jobs.Unique, 2)
    assert first is not None
    as_failed(default_client, first)
    assert resqplug.enqueue(jobs.Unique, 2) is None  # the leak: no copy, still locked
    if how == "remove":
        resqplug.failures.remove(first)
    else:
        assert resqplug.failures.clear() == 1
    assert resqplug.enqueue(jobs.Unique, 2) is not None


def test_removed_failure_of_a_job_enqueued_again_keeps_its_lock(default_client):
    first = resqplug.enqueue(jobs.Failing, 3)
    drain(default_client, QUEUE)
    assert resqplug.failures.retry(first) == first  # queued again, same id, locked again
    assert resqplug.failures.clear() == 1
    assert holder(jobs.Failing, 3) == first and resqplug.enqueue(jobs.Failing, 3) is None


def test_a_discarded_job_never_releases_another_jobs_lock(default_client):
    resqplug.enqueue(jobs.Unique, 4)
    default_client.redis.set(lock_key_of(default_client, jobs.Unique, 4), "another-job")
    assert resqplug.dequeue(jobs.Unique, 4) == 1
    assert holder(jobs.Unique, 4) == "another-job"


def test_a_process_without_the_class_releases_the_lock_recorded_in_the_payload(
    default_client, redis_url, namespace
):
    """The identity comes from ``unique_key``, which only the app knows: the
    lock key recorded at enqueue lets the CLI (no --app) release it."""
    first = resqplug.enqueue(jobs.Keyed, 6, {"a": 1})
    assert first is not None
    as_failed(default_client, first)
    result = run_cli(redis_url, namespace, "failed", "remove", first)
    assert result.returncode == 0, result.stderr
    assert holder(jobs.Keyed, 6, {}) is None
    assert resqplug.enqueue(jobs.Keyed, 6, {"b": 2}) is not None


def test_a_malformed_recorded_lock_is_ignored(default_client):
    """meta.loner comes back from Redis: anything but a digest falls back to
    the class's identity."""
    for bad in ("../../not-a-digest", {"evil": True}, None):
        first = resqplug.enqueue(jobs.Unique, 7)
        queued = default_client.peek(QUEUE)[0]
        queued["meta"]["loner"] = bad
        resqplug.get_plugins().call_each("job_discarded", job=any_job(queued, QUEUE), reason="test")
        assert first is not None and holder(jobs.Unique, 7) is None
        default_client.remove_queue(QUEUE)
