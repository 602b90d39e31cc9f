"""Statuses kept in the shared waiting and finals hashes (store.py's module
doc): a batch of jobs costs a few commands, not a hash per job, and reads
see the same statuses wherever they live. Real Redis; jobs run with
``resqplug.testing.drain`` (reliable fetch and batched acks, as a worker)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import resqplug_status
import status_jobs as sj
from resqplug_status import StatusStore
from resqplug_status.store import json_object

import resqplug
from resqplug.testing import drain

Q = "status"
DAY = 86_400


def own_hashes(store: StatusStore) -> list[bytes]:
    return list(store.client.redis.scan_iter(match=store.key("*"), count=1000))


def test_an_enqueue_many_batch_is_queued_without_a_hash_per_job(
    default_client: resqplug.Resq,
) -> None:
    store = StatusStore(default_client)
    ids = default_client.enqueue_many(sj.StatusRecord, [(n,) for n in range(1000)])
    assert store.count("queued") == 1000
    assert default_client.redis.hlen(store.waiting) == 1000
    assert own_hashes(store) == []
    status = resqplug_status.get(ids[7])  # type: ignore[arg-type]
    assert status is not None and status.status == "queued"
    assert (status.fields["class"], status.fields["queue"]) == ("StatusRecord", Q)
    assert json.loads(status.fields["args"]) == [7]
    assert status.created_at == status.enqueued_at == status.updated_at


def test_a_big_payload_is_kept_without_its_args(default_client: resqplug.Resq) -> None:
    store = StatusStore(default_client)
    job_id = default_client.enqueue(sj.StatusRecord, "x" * 10_000)
    assert job_id is not None
    record = default_client.redis.hget(store.waiting, job_id)
    assert record is not None and len(record) < 1000
    status = resqplug_status.get(job_id)
    assert status is not None and status.fields["class"] == "StatusRecord"
    assert json.loads(status.fields["args"])["truncated"] is True
    assert status.attempt == 1 and status.enqueued_at > 0


def test_long_args_read_as_truncated_with_their_size(default_client: resqplug.Resq) -> None:
    job_id = default_client.enqueue(sj.StatusRecord, "y" * 3000)
    status = resqplug_status.get(job_id)  # type: ignore[arg-type]
    assert status is not None
    assert json.loads(status.fields["args"]) == {
        "truncated": True,
        "size": len(json.dumps(["y" * 3000])),
    }


def final_message(client: resqplug.Resq, job_id: str, waiter: bool, timeout: float) -> Any:
    """The message published for the job's final state, if any, when it runs
    with (``waiter``) or without someone waiting on it."""
    store = StatusStore(client)
    pubsub = client.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(store.channel(job_id))
    try:
        if waiter:
            store.add_waiter(job_id, time.time() + 60)
        drain(client, Q)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = pubsub.get_message(timeout=left)  # None too for the subscription
            if message is not None:
                return message
        return None
    finally:
        pubsub.close()


def test_a_final_state_is_published_for_a_job_someone_waits_on_and_the_wait_ends(
    default_client: resqplug.Resq,
) -> None:
    job_id = default_client.enqueue(sj.StatusRecord, "w")
    assert job_id is not None
    message = final_message(default_client, job_id, waiter=True, timeout=10)
    assert message is not None and message["data"] == b"completed"
    assert default_client.redis.zcard(StatusStore(default_client).waiters) == 0


def test_no_final_state_is_published_for_a_job_nobody_waits_on(
    default_client: resqplug.Resq,
) -> None:
    job_id = default_client.enqueue(sj.StatusRecord, "n")
    assert job_id is not None
    assert final_message(default_client, job_id, waiter=False, timeout=0.3) is None


def test_waits_whose_time_passed_leave_the_waiters(default_client: resqplug.Resq) -> None:
    store = StatusStore(default_client)
    store.add_waiter("gone-waiter", time.time() - 1)
    default_client.enqueue(sj.StatusRecord, "p")
    drain(default_client, Q)
    assert default_client.redis.zcard(store.waiters) == 0


def test_a_run_that_ends_unseen_moves_to_the_finals_hash_with_what_it_was(
    default_client: resqplug.Resq,
) -> None:
    store = StatusStore(default_client)
    ids = default_client.enqueue_many(sj.StatusRecord, [("a",), ("b",)])
    drain(default_client, Q)
    assert default_client.redis.hlen(store.waiting) == 0
    assert default_client.redis.hlen(store.finals) == 2
    assert own_hashes(store) == []
    assert store.count("queued") == 0 and store.count("completed") == 2
    status = resqplug_status.get(ids[1])  # type: ignore[arg-type]
    assert status is not None and status.status == "completed"
    assert json.loads(status.fields["args"]) == ["b"]
    assert status.finished_at >= status.started_at >= status.enqueued_at
    assert status.result == {"args": ["b"]}


def test_a_failed_run_keeps_its_error_in_the_finals_hash(default_client: resqplug.Resq) -> None:
    job_id = resqplug.enqueue(sj.StatusFail, "boom")
    assert job_id is not None
    drain(default_client, Q)
    status = resqplug_status.get(job_id)
    assert status is not None and status.status == "failed"
    assert status.exception == "ValueError" and "boom" in status.error


def test_a_final_status_in_the_finals_hash_expires_and_is_pruned(
    default_client: resqplug.Resq,
) -> None:
    store = StatusStore(default_client)
    old = resqplug.enqueue(sj.StatusRecord, "old")
    assert old is not None
    drain(default_client, Q)
    # Make it a day and a minute old (the record's time and its index score).
    long_ago = time.time() - DAY - 60
    record = default_client.redis.hget(store.finals, old).decode()  # type: ignore[union-attr]
    state, _, rest = record.partition("\t")
    aged = f"{state}\t{long_ago}\t" + rest.split("\t", 1)[1]
    default_client.redis.hset(store.finals, old, aged)
    default_client.redis.zadd(store.state_index + "completed", {old: long_ago})
    assert store.get(old) is None  # expired, though still stored
    assert store.expires_in(old) is None

    assert resqplug.enqueue(sj.StatusRecord, "new") is not None
    drain(default_client, Q)  # the next final write of the state prunes it
    assert not default_client.redis.hexists(store.finals, old)
    assert default_client.redis.zscore(store.state_index + "completed", old) is None
    assert store.count("completed") == 1


def test_a_job_seen_running_gets_its_own_hash_with_what_it_was_enqueued_as(
    default_client: resqplug.Resq,
) -> None:
    store = StatusStore(default_client)
    job_id = resqplug.enqueue(sj.StatusRecord, "x")
    assert job_id is not None
    store.seen_running(job_id, worker="host:1:status")
    assert not default_client.redis.hexists(store.waiting, job_id)
    status = store.get(job_id)
    assert status is not None and status.status == "working"
    assert status.fields["class"] == "StatusRecord" and status.worker == "host:1:status"
    drain(default_client, Q)
    status = store.get(job_id)
    assert status is not None and status.status == "completed"
    assert status.result == {"args": ["x"]} and status.fields["class"] == "StatusRecord"
    assert not default_client.redis.hexists(store.finals, job_id)  # in its own hash
    assert 0 < (store.expires_in(job_id) or 0) <= store.expire_s


def test_a_failed_job_enqueued_again_is_queued_once_in_one_index(
    default_client: resqplug.Resq,
) -> None:
    store = StatusStore(default_client)
    job_id = resqplug.enqueue(sj.StatusFail, "boom")
    assert job_id is not None
    drain(default_client, Q)
    again = sj.StatusFail(["boom"], id=job_id, queue=Q)
    assert default_client.push(again) == job_id
    status = store.get(job_id)
    assert status is not None and status.status == "queued"
    assert "exception" not in status.fields  # the earlier run's record went
    assert store.count() == store.count("queued") == 1


def test_a_job_object_pushed_again_after_its_run_is_queued_once_in_one_index(
    default_client: resqplug.Resq,
) -> None:
    store = StatusStore(default_client)
    job = sj.StatusRecord(["x"], queue=Q)
    assert default_client.push(job) == job.id
    drain(default_client, Q)
    assert default_client.push(job) == job.id
    status = store.get(job.id)
    assert status is not None and status.status == "queued"
    assert store.count() == store.count("queued") == 1


def test_shared_records_written_by_another_tool_are_read_without_a_traceback(
    default_client: resqplug.Resq,
) -> None:
    store = StatusStore(default_client)
    r = default_client.redis
    r.hset(store.waiting, "w1", "queued")  # no tabs at all
    r.hset(store.waiting, "w2", b"queued\t\xff\tnot\ta\tnumber\tq\t{")
    r.hset(store.finals, "f1", "completed")
    r.hset(store.finals, "f2", f"completed\t{time.time()}\n\n[1, 2]")  # not an object
    r.hset(store.finals, "f3", f'failed\t{time.time()}\t{{"error": {{"deep": 1}}, "num": 3}}\nx')
    for job_id in ("w1", "w2", "f1", "f2", "f3"):
        status = store.get(job_id)
        assert status is not None, job_id
    f3 = store.get("f3")
    assert f3 is not None and f3.status == "failed" and f3.num == 3 and "error" not in f3.fields
    assert store.request_kill("w1") == ("queued", True)


@pytest.mark.parametrize(
    "fields",
    [
        {"started_at": 1.5, "attempt": 2, "worker": "h:1:q", "result": None},
        {"worker": 'quote " back \\ slash\nline\ttab \u2028 é 😀', "n": 0},
        {"flag": True, "huge": float("inf"), "list": [1, "a"]},  # json's own way
        {},
    ],
)
def test_a_runs_fields_are_stored_as_the_json_object_they_are(fields: dict[str, Any]) -> None:
    kept = {k: v for k, v in fields.items() if v is not None}
    assert json.loads(json_object(fields)) == kept


def test_a_malformed_waiting_record_does_not_cost_its_batch_their_statuses(
    default_client: resqplug.Resq,
) -> None:
    store = StatusStore(default_client)
    ids = default_client.enqueue_many(sj.StatusRecord, [("a",), ("b",), ("c",)])
    default_client.redis.hset(store.waiting, ids[1], "junk")  # type: ignore[arg-type]
    drain(default_client, Q)
    for job_id in ids:
        status = store.get(job_id)  # type: ignore[arg-type]
        assert status is not None and status.status == "completed", job_id
