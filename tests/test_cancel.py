"""Core cancellation (``Resq.cancel``): a job cancelled before a worker takes
it is dropped unrun by the fetch, announced once through ``job_discarded``
(reason "cancelled") unless its canceller announced it; the rest of its queue
runs; the id leaves the cancelled set when the job is taken or acked. Core
only: a plugin manager without entry points here, RESQPLUG_DISABLE_PLUGINS in
the workers."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import cancel_jobs as cj
import pytest
import redis
from helpers import CORE_ONLY, env

import resqplug
from resqplug.delayed import DelayedSet
from resqplug.errors import PayloadError
from resqplug.payload import decode
from resqplug.plugins import Plugins
from resqplug.pytest_fixtures import resqplug_cmd, wait_for
from resqplug.testing import drain
from resqplug.worker.inflight import InFlight

MODES = {"nofork": ["--no-fork"], "fork": ["--fork"], "threads": ["--threads", "2"]}


class Kept(resqplug.Job):
    name = "test_cancel.Kept"
    queue = "cq"

    def perform(self, *args: object) -> None:
        pass


class Heard:
    """A plugin recording every discarded job and why."""

    def __init__(self) -> None:
        self.jobs: list[resqplug.Job] = []
        self.reasons: list[str] = []

    @resqplug.hookimpl
    def job_discarded(self, job: resqplug.Job, reason: str) -> None:
        self.jobs.append(job)
        self.reasons.append(reason)

    @property
    def ids(self) -> list[str]:
        return [j.id for j in self.jobs]


@pytest.fixture
def heard() -> Heard:
    return Heard()


@pytest.fixture
def resq(redis_url: str, namespace: str, heard: Heard) -> resqplug.Resq:
    """A client whose plugins are the core and ``heard`` only."""
    pm = Plugins(load_entry_points=False)
    pm.register(heard, name="heard")
    return resqplug.Resq(redis_url, namespace, plugins=pm)


def cancelled(resq: resqplug.Resq) -> set[bytes]:
    return set(resq.redis.smembers(resq.keys.cancelled))


def recorded(resq: resqplug.Resq, name: str = "ran") -> list[str]:
    """What the jobs of cancel_jobs recorded (ids)."""
    return [x.decode() for x in resq.redis.lrange(resq.keys.plugin("test", name), 0, -1)]


def processed(resq: resqplug.Resq) -> int:
    return int(resq.redis.get(resq.keys.stat_processed) or 0)


def start_worker(redis_url: str, namespace: str, *args: str) -> subprocess.Popen[str]:
    cmd = resqplug_cmd(redis_url, namespace, "work", "--app", "cancel_jobs", *args)
    return subprocess.Popen(
        cmd, env=env(CORE_ONLY), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(worker: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Wait for a worker to exit; it must exit 0."""
    try:
        _out, err = worker.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        _out, err = worker.communicate()
        raise AssertionError(f"worker did not exit within {timeout}s; stderr:\n{err}") from None
    assert worker.returncode == 0, err


def burst(redis_url: str, namespace: str, *args: str) -> None:
    finish(start_worker(redis_url, namespace, "--burst", *args))


def blocked_in_blmove(r: redis.Redis, pid: int) -> bool:
    """Whether process ``pid`` has a connection blocked in BLMOVE now (its
    sockets' local ports, from /proc, matched against CLIENT LIST)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds}
    except OSError:
        return False
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if f"socket:[{fields[9]}]" in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return any(
        c.get("cmd") == "blmove" and int(c["addr"].rsplit(":", 1)[1]) in ports
        for c in r.client_list()
    )


# --- the fetch, in this process -------------------------------------------------------


@pytest.mark.parametrize("queues", [["cq"], ["other", "cq"]], ids=["one-queue", "several"])
def test_a_fetch_batch_keeps_the_jobs_around_cancelled_ones_in_order(
    resq: resqplug.Resq, heard: Heard, queues: list[str]
) -> None:
    a, dropped, b, quiet, c = (resq.enqueue(Kept, n) for n in range(5))
    assert dropped and quiet
    resq.cancel(dropped)
    resq.cancel(quiet, announced=True)
    taken = InFlight(resq, f"test+cancel:1:{','.join(queues)}", queues).fetch(5)
    assert [decode(t.raw)["id"] for t in taken] == [a, b, c]
    assert resq.redis.llen(resq.keys.inflight(f"test+cancel:1:{','.join(queues)}")) == 3
    assert heard.ids == [dropped] and heard.reasons == ["cancelled"]
    assert cancelled(resq) == set() and resq.size("cq") == 0


def test_a_fetch_looks_past_a_queue_of_only_cancelled_jobs(
    resq: resqplug.Resq, heard: Heard
) -> None:
    gone = [resq.enqueue_to("high", Kept, n) for n in range(5)]
    for job_id in gone:
        assert job_id
        resq.cancel(job_id)
    low = resq.enqueue_to("low", Kept, 9)
    taken = InFlight(resq, "test+cancel:1:high,low", ["high", "low"]).fetch(2)
    assert [decode(t.raw)["id"] for t in taken] == [low]
    assert heard.ids == gone and resq.size("high") == 0 and cancelled(resq) == set()


# --- job_discarded ----------------------------------------------------------------------


def test_job_discarded_fires_once_for_a_cancelled_job_with_its_id_class_and_args(
    resq: resqplug.Resq, heard: Heard
) -> None:
    before = resq.enqueue(Kept, 1)
    job_id = resq.enqueue(Kept, 2, "two", {"k": [3]})
    after = resq.enqueue(Kept, 4)
    assert job_id
    resq.cancel(job_id)
    resq.cancel(job_id)  # twice is once
    assert drain(resq, "cq") == 2 and drain(resq, "cq") == 0
    [job] = heard.jobs
    assert heard.reasons == ["cancelled"] and job.id == job_id and job.queue == "cq"
    assert job.class_name == "test_cancel.Kept" and job.args == [2, "two", {"k": [3]}]
    assert job.client is resq and before and after
    assert cancelled(resq) == set() and processed(resq) == 2


def test_a_cancel_the_caller_announced_drops_the_job_without_job_discarded(
    resq: resqplug.Resq, heard: Heard
) -> None:
    job_id = resq.enqueue(Kept, 1)
    assert job_id
    resq.cancel(job_id, announced=True)
    assert drain(resq, "cq") == 0
    assert heard.jobs == [] and resq.size("cq") == 0 and cancelled(resq) == set()
    assert processed(resq) == 0


def test_a_job_cancelled_both_ways_is_not_announced_again_and_leaves_the_set(
    resq: resqplug.Resq, heard: Heard
) -> None:
    job_id = resq.enqueue(Kept, 1)
    assert job_id
    resq.cancel(job_id)
    resq.cancel(job_id, announced=True)  # e.g. the status plugin's kill, which announced it
    assert drain(resq, "cq") == 0
    assert heard.jobs == [] and cancelled(resq) == set()


def test_cancel_of_an_invalid_job_id_raises_payload_error(resq: resqplug.Resq) -> None:
    bad_ids: list[Any] = ["", "has space", "!abc", "x" * 65, 7, None]
    for bad in bad_ids:
        with pytest.raises(PayloadError):
            resq.cancel(bad)
        with pytest.raises(PayloadError):
            resq.cancel(bad, announced=True)
    assert cancelled(resq) == set()


# --- delayed jobs -------------------------------------------------------------------------


def test_a_cancelled_delayed_job_is_dropped_once_moved_to_its_queue(
    resq: resqplug.Resq, heard: Heard
) -> None:
    delayed = DelayedSet(resq, "test")
    job = resq.build(Kept, [1])
    delayed.add("cq", resq.prepare(job) or "", 0)
    resq.cancel(job.id)
    assert delayed.move_due() == 1 and resq.size("cq") == 1
    assert drain(resq, "cq") == 0
    assert heard.ids == [job.id] and heard.reasons == ["cancelled"]
    assert cancelled(resq) == set() and resq.size("cq") == 0 and delayed.count() == 0


def test_an_idle_one_queue_worker_drops_a_cancelled_job_moved_in_from_a_delayed_set(
    resq: resqplug.Resq, redis_url: str, namespace: str
) -> None:
    if not redis_url.startswith("redis://"):
        pytest.skip("finds the worker's blocked connection by TCP port")
    worker = start_worker(redis_url, namespace, "-q", "cq", "--no-fork")
    try:
        wait_for(lambda: blocked_in_blmove(resq.redis, worker.pid), what="worker idle in BLMOVE")
        delayed = DelayedSet(resq, "test")
        job = resq.build(cj.CRecord, [1], queue="cq")
        delayed.add("cq", resq.prepare(job) or "", 0)
        resq.cancel(job.id)
        assert delayed.move_due() == 1
        marker = resq.enqueue_to("cq", cj.CRecord, 2)
        wait_for(lambda: marker in recorded(resq), what="the job after it ran")
        assert recorded(resq) == [marker] and cancelled(resq) == set()
    finally:
        worker.send_signal(signal.SIGQUIT)
        finish(worker)


# --- real workers -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_burst_worker_never_runs_cancelled_jobs_and_runs_the_rest(
    resq: resqplug.Resq, redis_url: str, namespace: str, mode: str
) -> None:
    ids = [i for i in resq.enqueue_many(cj.CRecord, [(n,) for n in range(16)], queue="cq") if i]
    assert len(ids) == 16
    gone = {ids[3], ids[4], ids[9]}  # in the batches the adaptive prefetch takes
    resq.cancel(ids[3])
    resq.cancel(ids[4], announced=True)
    resq.cancel(ids[9])
    burst(redis_url, namespace, "-q", "cq", *MODES[mode])
    kept = [i for i in ids if i not in gone]
    ran = recorded(resq)
    assert (sorted(ran) if mode == "threads" else ran) == (
        sorted(kept) if mode == "threads" else kept
    )
    assert cancelled(resq) == set() and resq.size("cq") == 0 and processed(resq) == 13


def test_a_burst_worker_drops_a_queue_of_cancelled_jobs_and_runs_a_lower_one(
    resq: resqplug.Resq, redis_url: str, namespace: str
) -> None:
    """End to end; the look-again itself is proved in this process above (a
    burst worker would also fetch again after its exit check sees "low")."""
    for n in range(3):
        job_id = resq.enqueue_to("high", cj.CRecord, n)
        assert job_id
        resq.cancel(job_id)
    low = resq.enqueue_to("low", cj.CRecord, 9)
    burst(redis_url, namespace, "-q", "high,low", "--no-fork")
    assert recorded(resq) == [low] and processed(resq) == 1
    assert resq.size("high") == 0 and resq.size("low") == 0 and cancelled(resq) == set()


def test_a_burst_worker_of_a_queue_of_only_cancelled_jobs_exits_0_with_it_empty(
    resq: resqplug.Resq, redis_url: str, namespace: str
) -> None:
    for n in range(3):
        job_id = resq.enqueue_to("cq", cj.CRecord, n)
        assert job_id
        resq.cancel(job_id, announced=n == 1)
    burst(redis_url, namespace, "-q", "cq", "--no-fork")
    assert recorded(resq) == [] and processed(resq) == 0
    assert resq.size("cq") == 0 and cancelled(resq) == set()


@pytest.mark.parametrize(("mode", "announced"), [("nofork", False), ("fork", True)])
def test_cancelling_a_running_job_does_not_stop_it_and_its_id_leaves_the_set_at_its_ack(
    resq: resqplug.Resq, redis_url: str, namespace: str, mode: str, announced: bool
) -> None:
    job_id = resq.enqueue_to("cq", cj.CGated)
    assert job_id
    worker = start_worker(redis_url, namespace, "-q", "cq", "--burst", *MODES[mode])
    try:
        wait_for(lambda: recorded(resq, "started") == [job_id], what="job started")
        resq.cancel(job_id, announced=announced)
        assert cancelled(resq) == {(f"!{job_id}" if announced else job_id).encode()}
        resq.redis.rpush(resq.keys.plugin("test", "gate"), "go")
    finally:
        finish(worker)
    assert recorded(resq) == [job_id] and processed(resq) == 1 and cancelled(resq) == set()


def test_payloads_without_a_string_id_beside_a_cancelled_job_fail_as_bad_payloads(
    resq: resqplug.Resq, redis_url: str, namespace: str
) -> None:
    key = resq.keys.queue("cq")
    gone = resq.enqueue_to("cq", cj.CRecord, 1)
    assert gone
    bad = [b"\xff not json", '{"class":cj.CRecord,"args":[],"id":7}', "[1]"]
    resq.redis.rpush(key, *bad)
    good = resq.enqueue_to("cq", cj.CRecord, 2)
    resq.cancel(gone)
    resq.cancel("7")  # the numeric id 7 is not this string: left alone
    burst(redis_url, namespace, "-q", "cq", "--no-fork")
    assert recorded(resq) == [good] and resq.size("cq") == 0
    assert resq.failures.count() == 3 and processed(resq) == 4
    assert cancelled(resq) == {b"7"}
