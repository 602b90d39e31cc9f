"""Malformed jobs in real worker processes: a job whose payload is bad (core
meta fields of the wrong type, NaN, ...) fails alone as a bad payload and never
runs; a dead worker's entry that cannot be recovered does not stop the workers
that reap it (issue 17, item 1)."""

from __future__ import annotations

import json

import pytest
import worker_jobs as wj
from helpers import CORE_ONLY, WorkerProcess, listed

import resqplug
from resqplug.delayed import DelayedSet
from resqplug.worker.processor import raw_job_id
from resqplug.worker.registry import WorkerRegistry

# (what the failure names, the payload's text)
BAD_PAYLOADS = [
    ("meta.recoveries", '{"class":"WRecord","args":[1],"id":"r1","meta":{"recoveries":"abc"}}'),
    ("meta.recoveries", '{"class":"WRecord","args":[2],"id":"r2","meta":{"recoveries":null}}'),
    ("meta.attempt", '{"class":"WRecord","args":[3],"id":"a1","meta":{"attempt":"zz"}}'),
    ("meta.attempt", '{"class":"WRecord","args":[4],"id":"a2","meta":{"attempt":0}}'),
    ("NaN", '{"class":"WRecord","args":[NaN],"id":"n1"}'),
    ("Infinity", '{"class":"WRecord","args":[1],"id":"n2","meta":{"x":Infinity}}'),
    ("int too long", '{"class":"WRecord","args":[' + "7" * 5000 + '],"id":"i1"}'),
]


def push_raw(resq: resqplug.Resq, queue: str, *texts: str) -> None:
    resq.redis.rpush(resq.keys.queue(queue), *texts)
    resq.redis.sadd(resq.keys.queues, queue)


def dead_worker_holding(resq: resqplug.Resq, worker_id: str, *entries: str) -> None:
    resq.redis.rpush(resq.keys.inflight(worker_id), *entries)
    WorkerRegistry(resq.redis, resq.keys, worker_id, 60.0).register({"pid": 1})
    resq.redis.zadd(resq.keys.leases, {worker_id: 0})


@pytest.mark.parametrize("mode", [[], ["--no-fork"], ["--threads", "2"]])
def test_jobs_with_malformed_payloads_fail_alone_and_never_run(resq, redis_url, namespace, mode):
    push_raw(resq, "work", *(text for _, text in BAD_PAYLOADS))
    good = resq.enqueue(wj.WRecord, 5)

    worker = WorkerProcess(
        redis_url, namespace, "-q", "work", "--burst", *mode, extra_env=CORE_ONLY
    )

    assert worker.wait(30) == 0
    assert listed(resq, "started") == [good]
    for named, text in BAD_PAYLOADS:
        record = resq.failures.get(raw_job_id(text.encode()))
        assert (record["exception"], record["payload"]) == ("PayloadError", {"raw": text[:4096]})
        assert named in record["error"]
    assert resq.failures.count() == len(BAD_PAYLOADS)
    assert "Traceback" not in worker.output()


def test_worker_recovers_other_dead_workers_past_an_entry_it_cannot_recover(
    resq, redis_url, namespace
):
    """The issue's fleet stop: a dead worker's job with meta.recoveries "abc"
    made every worker exit 1 at its start-up reap, and no other dead worker's
    job came back."""
    bad = json.dumps({"class": "WSleep", "args": [30], "id": "bad", "meta": {"recoveries": "abc"}})
    dead_worker_holding(resq, "deadhost:1-abc:work", bad)
    good = resqplug.payload.encode("WRecord", [1], "good", None, {})
    dead_worker_holding(resq, "deadhost:2-abc:other", good)

    worker = WorkerProcess(redis_url, namespace, "-q", "work,other", "--burst", extra_env=CORE_ONLY)

    assert worker.wait(30) == 0
    assert listed(resq, "done") == ["good"]
    record = resq.failures.get(raw_job_id(bad.encode()))
    assert "meta.recoveries" in record["error"]
    assert "Traceback" not in worker.output()


# --- delayed sets (scheduler, retry): one bad member never stops the others --------------


class UnbuildableDelayed(resqplug.Job):
    name = "test_malformed_jobs.UnbuildableDelayed"

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("this job cannot be built")


@pytest.mark.parametrize(
    ("member", "job_id", "named"),
    [
        (b"\xff\t" + b'{"class":"WRecord","args":[],"id":"q1"}', None, "invalid queue"),
        (b'no such queue\t{"class":"WRecord","args":[],"id":"q2"}', None, "invalid queue"),
        (b'work\t{"class":"WRecord","args":[],"id":"m1","meta":{"attempt":"zz"}}', None, "attempt"),
        (
            b'work\t{"class":"test_malformed_jobs.UnbuildableDelayed","args":[],"id":"u1"}',
            "u1",
            "built",
        ),
    ],
    ids=["queue-not-utf8", "queue-invalid", "bad-attempt", "unbuildable"],
)
def test_bad_delayed_member_is_failed_and_the_others_move(resq, member, job_id, named):
    delayed = DelayedSet(resq, "test")
    good = resqplug.payload.encode("WRecord", [], "good", None, {})
    resq.redis.zadd(delayed.key, {member: 1, f"work\t{good}": 2})

    assert delayed.move_due() == 1

    assert [doc["id"] for doc in resq.peek("work", 0, 10)] == ["good"]
    assert delayed.count() == 0
    (record,) = resq.failures.list()
    assert named in record["error"]
    if job_id:
        assert record["id"] == job_id
