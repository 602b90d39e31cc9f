"""A running worker (a real process, fork mode) keeps Resque's registry keys, so
resque-web and Ruby tools see it, and removes them all when it stops."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator

import pytest
import redis
import worker_jobs
from helpers import WorkerProcess, registered_workers, wait_for

from resqplug.worker.registry import WorkerRegistry, redis_time

WORKER_ID = re.compile(r"^(?P<host>[^:+]+)\+(?P<nonce>[0-9a-f]{6}):(?P<pid>\d+):(?P<queues>.+)$")
RUBY_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000$")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
RUN_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def worker(
    redis_url: str, namespace: str, client: redis.Redis
) -> Iterator[tuple[WorkerProcess, str]]:
    proc = WorkerProcess(redis_url, namespace, "-q", "work,other", "--fork")
    try:
        ids = wait_for(lambda: registered_workers(client, namespace), what="worker registered")
        assert len(ids) == 1
        yield proc, ids[0]
    finally:
        proc.stop()


def test_worker_id_is_host_pid_nonce_queues(worker):
    proc, wid = worker
    m = WORKER_ID.match(wid)
    assert m, wid
    assert int(m["pid"]) == proc.pid
    assert m["queues"] == "work,other"


def test_started_key_is_ruby_time(worker, client, namespace):
    _proc, wid = worker
    started = client.get(f"{namespace}:worker:{wid}:started")
    assert started is not None
    assert RUBY_TIME.match(started.decode()), started


def test_heartbeat_is_iso_redis_time_and_renewed(worker, client, namespace):
    _proc, wid = worker
    key = f"{namespace}:workers:heartbeat"
    first = client.hget(key, wid).decode()
    assert ISO_UTC.match(first), first
    wait_for(lambda: client.hget(key, wid).decode() != first, what="heartbeat renewed")
    lease = client.zscore(f"{namespace}:resqplug:leases", wid)
    assert lease > redis_time(client)


def test_current_job_is_published_while_it_runs(worker, resq, client, namespace):
    _proc, wid = worker
    job_id = resq.enqueue(worker_jobs.WSleep, 1.5)
    key = f"{namespace}:worker:{wid}"

    raw = wait_for(lambda: client.get(key), what="worker:<id> record")

    doc = json.loads(raw)
    assert doc["queue"] == "work"
    assert RUN_AT.match(doc["run_at"]), doc["run_at"]
    assert doc["payload"]["class"] == "WSleep"
    assert doc["payload"]["args"] == [1.5]
    assert doc["payload"]["id"] == job_id
    done = resq.keys.plugin("test", "done")
    wait_for(lambda: client.lrange(done, 0, -1) == [job_id.encode()], what="job done")
    wait_for(lambda: not client.exists(key), what="worker:<id> cleared when idle")


def test_per_worker_stats_are_kept_while_running(worker, resq, client, namespace):
    _proc, wid = worker
    resq.enqueue(worker_jobs.WRecord, 1)
    resq.enqueue(worker_jobs.WFail, "boom")

    wait_for(
        lambda: client.get(f"{namespace}:stat:processed:{wid}") == b"2",
        what="per-worker processed stat",
    )
    assert client.get(f"{namespace}:stat:failed:{wid}") == b"1"
    assert client.get(f"{namespace}:stat:processed") == b"2"
    assert client.get(f"{namespace}:stat:failed") == b"1"


def test_term_removes_every_key_of_the_worker(worker, resq, client, namespace):
    proc, wid = worker
    resq.enqueue(worker_jobs.WRecord, 1)
    wait_for(lambda: client.get(f"{namespace}:stat:processed:{wid}"), what="job acknowledged")

    proc.signal(signal.SIGTERM)
    assert proc.wait(10) == 0

    assert registered_workers(client, namespace) == []
    assert client.hget(f"{namespace}:workers:heartbeat", wid) is None
    assert client.zscore(f"{namespace}:resqplug:leases", wid) is None
    left = [k.decode() for k in client.scan_iter(match=f"{namespace}:*", count=1000)]
    assert [k for k in left if wid in k] == []
    # Global stats outlive the worker, as in Resque.
    assert client.get(f"{namespace}:stat:processed") == b"1"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"class":"WSleep","args":[NaN],"id":"n"}',
        b'{"class":"WSleep","args":[],"meta":{"s":"\\udc80"},"id":"s"}',
        b"\xff not a payload",
    ],
    ids=["nan", "lone-surrogate", "not-utf8"],
)
def test_current_job_record_of_a_malformed_payload_is_its_text(resq, raw):
    registry = WorkerRegistry(resq.redis, resq.keys, "host:1-abc:work", 60.0)

    registry.set_current("work", raw, 0.0)

    doc = json.loads(resq.redis.get(resq.keys.worker("host:1-abc:work")))
    assert doc["payload"] == raw.decode("utf-8", "replace")
