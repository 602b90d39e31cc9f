"""The reaper, in-process against real Redis: dead workers are built by hand (an
in-flight list filled with ``fetch`` and a lease in the past) and recovered.

Covers REFERENCE.md section D scenarios 2 (recovery after a worker died), 5
(poison pills), 9 (same host:pid, different nonce), 14 (late ack after
recovery) and 30 (leases compared with Redis TIME, not the local clock).
"""

from __future__ import annotations

import json
import logging
import time

import pytest

import resqplug
import resqplug.worker.processor
from resqplug.worker.inflight import InFlight
from resqplug.worker.reaper import Reaper
from resqplug.worker.registry import WorkerRegistry, redis_time
from resqplug.worker.taken import Ack

DEAD = "deadhost:1-abc:work"


class ReapedJob(resqplug.Job):
    name = "test_reaper.ReapedJob"
    queue = "work"

    def perform(self, n: int) -> None:
        pass


class Recorder:
    def __init__(self) -> None:
        self.recovered: list[tuple[str, str, dict]] = []
        self.failures: list[tuple[str, BaseException]] = []

    @resqplug.hookimpl
    def job_recovered(self, job, worker_id):
        self.recovered.append((job.id, worker_id, dict(job.meta)))

    @resqplug.hookimpl
    def on_failure(self, job, exc):
        self.failures.append((job.id, exc))


@pytest.fixture
def recorder() -> Recorder:
    rec = Recorder()
    resqplug.register(rec, name="test_reaper_recorder")
    return rec


def enqueue(resq: resqplug.Resq, n: int, queue: str = "work") -> list[str]:
    return [resq.enqueue_to(queue, ReapedJob, i) for i in range(n)]


def queued(resq: resqplug.Resq, queue: str = "work") -> list[dict]:
    return [json.loads(x) for x in resq.redis.lrange(resq.keys.queue(queue), 0, -1)]


def queued_ids(resq: resqplug.Resq, queue: str = "work") -> list[str]:
    return [doc["id"] for doc in queued(resq, queue)]


def register(resq: resqplug.Resq, worker_id: str, lease: float) -> None:
    """Register ``worker_id`` the way a worker does, then set its lease expiry."""
    WorkerRegistry(resq.redis, resq.keys, worker_id, 60.0).register({"pid": 1})
    resq.redis.set(resq.keys.stat_processed_of(worker_id), 5)
    resq.redis.zadd(resq.keys.leases, {worker_id: lease})


def dead_worker(resq: resqplug.Resq, take: int, worker_id: str = DEAD) -> InFlight:
    """A worker that took ``take`` jobs from 'work' and died (lease expired long ago)."""
    inflight = InFlight(resq, worker_id, ["work"])
    assert len(inflight.fetch(take)) == take
    register(resq, worker_id, 0)
    return inflight


def reaper(resq: resqplug.Resq, max_recoveries: int = 3) -> Reaper:
    return Reaper(resq, "reaper-1", max_recoveries=max_recoveries)


def test_dead_workers_jobs_go_back_to_the_front_of_their_queue(resq):
    ids = enqueue(resq, 4)
    inflight = dead_worker(resq, 3)

    assert reaper(resq).reap() == 3

    assert set(queued_ids(resq)[:3]) == set(ids[:3])
    assert queued_ids(resq)[3] == ids[3]
    assert inflight.pending() == []


def test_recovered_jobs_keep_their_original_order(resq):
    ids = enqueue(resq, 4)
    dead_worker(resq, 3)

    reaper(resq).reap()

    assert queued_ids(resq) == ids


def test_recovered_job_keeps_its_id_and_counts_the_recovery(resq):
    (job_id,) = enqueue(resq, 1)
    dead_worker(resq, 1)

    reaper(resq).reap()

    (doc,) = queued(resq)
    assert doc["id"] == job_id
    assert doc["class"] == "test_reaper.ReapedJob"
    assert doc["args"] == [0]
    assert doc["meta"]["recoveries"] == 1


def test_recovery_is_counted_again_on_each_death(resq):
    (job_id,) = enqueue(resq, 1)
    for n in range(1, 4):
        dead_worker(resq, 1, worker_id=f"deadhost:{n}-abc:work")
        assert reaper(resq).reap() == 1
        (doc,) = queued(resq)
        assert (doc["id"], doc["meta"]["recoveries"]) == (job_id, n)


def test_reaped_worker_is_unregistered(resq):
    enqueue(resq, 2)
    dead_worker(resq, 2)
    k, r = resq.keys, resq.redis

    reaper(resq).reap()

    assert not r.sismember(k.workers, DEAD)
    assert r.hget(k.heartbeats, DEAD) is None
    assert r.zscore(k.leases, DEAD) is None
    assert not r.exists(
        k.worker_started(DEAD),
        k.worker(DEAD),
        k.stat_processed_of(DEAD),
        k.worker_info(DEAD),
        k.inflight(DEAD),
    )


def test_dead_worker_without_jobs_is_unregistered(resq):
    register(resq, DEAD, 0)

    assert reaper(resq).reap() == 0

    assert not resq.redis.sismember(resq.keys.workers, DEAD)
    assert resq.redis.zscore(resq.keys.leases, DEAD) is None


def test_late_ack_from_a_reaped_worker_does_not_remove_the_redelivered_copy(resq):
    (job_id,) = enqueue(resq, 1)
    dead = dead_worker(resq, 1)
    (taken,) = dead.pending()
    reaper(resq).reap()

    assert dead.ack([Ack(taken.entry, job_id)]) == [0]

    assert queued_ids(resq) == [job_id]
    assert resq.redis.get(resq.keys.stat_processed) is None


def test_late_ack_does_not_touch_the_new_workers_in_flight_copy(resq):
    (job_id,) = enqueue(resq, 1)
    dead = dead_worker(resq, 1)
    (old,) = dead.pending()
    reaper(resq).reap()
    live = InFlight(resq, "livehost:2-def:work", ["work"])
    (new,) = live.fetch(1)

    assert dead.ack([Ack(old.entry, job_id, "failure record")]) == [0]

    assert live.pending() == [new]
    assert resq.failures.count() == 0
    assert live.ack([Ack(new.entry, job_id)]) == [1]


def test_job_recovered_hook_gets_the_job_and_the_dead_worker_id(resq, recorder):
    (job_id,) = enqueue(resq, 1)
    dead_worker(resq, 1)

    reaper(resq).reap()

    assert [(i, w) for i, w, _meta in recorder.recovered] == [(job_id, DEAD)]
    assert recorder.failures == []


def test_job_recovered_hook_sees_the_recovery_count(resq, recorder):
    enqueue(resq, 1)
    dead_worker(resq, 1)

    reaper(resq).reap()

    assert [meta for _i, _w, meta in recorder.recovered] == [{"recoveries": 1}]


def test_job_over_max_recoveries_is_failed_as_a_poison_pill(resq, recorder):
    (job_id,) = enqueue(resq, 1)
    for n in range(1, 5):
        dead_worker(resq, 1, worker_id=f"deadhost:{n}-abc:work")
        assert reaper(resq, max_recoveries=3).reap() == 1

    assert queued(resq) == []
    record = resq.failures.get(job_id)
    assert record is not None
    assert record["exception"] == "DirtyExit"
    assert "exceeded max recoveries" in record["error"]
    assert record["queue"] == "work"
    assert record["worker"] == "deadhost:4-abc:work"
    assert record["payload"]["id"] == job_id
    assert resq.failures.count() == 1
    assert resq.redis.get(resq.keys.stat_failed) == b"1"
    assert [(i, type(e).__name__) for i, e in recorder.failures] == [(job_id, "DirtyExit")]
    assert [r[0] for r in recorder.recovered] == [job_id] * 3
    assert not resq.redis.sismember(resq.keys.workers, "deadhost:4-abc:work")


def test_max_recoveries_zero_fails_at_the_first_death(resq, recorder):
    (job_id,) = enqueue(resq, 1)
    dead_worker(resq, 1)

    reaper(resq, max_recoveries=0).reap()

    assert queued(resq) == []
    assert resq.failures.get(job_id)["exception"] == "DirtyExit"
    assert len(recorder.failures) == 1
    assert recorder.recovered == []


def test_live_worker_is_not_touched(resq):
    ids = enqueue(resq, 2)
    live = InFlight(resq, "livehost:2-def:work", ["work"])
    live.fetch(2)
    register(resq, live.worker_id, redis_time(resq.redis) + 60)

    assert reaper(resq).reap() == 0

    assert [json.loads(t.raw)["id"] for t in live.pending()] == ids
    assert queued(resq) == []
    assert resq.redis.sismember(resq.keys.workers, live.worker_id)
    assert resq.redis.zscore(resq.keys.leases, live.worker_id) is not None


def test_stale_identity_does_not_touch_a_new_worker_with_the_same_host_and_pid(resq):
    """Scenario 9: a container restarted with the same host:pid gets a new nonce."""
    old_ids = enqueue(resq, 2)
    old = dead_worker(resq, 2, worker_id="samehost:7-aaaaaa:work")
    new_ids = enqueue(resq, 2)
    new = InFlight(resq, "samehost:7-bbbbbb:work", ["work"])
    new.fetch(2)
    register(resq, new.worker_id, redis_time(resq.redis) + 60)

    assert reaper(resq).reap() == 2

    assert set(queued_ids(resq)) == set(old_ids)
    assert old.pending() == []
    assert [json.loads(t.raw)["id"] for t in new.pending()] == new_ids
    assert resq.redis.sismember(resq.keys.workers, new.worker_id)
    assert not resq.redis.sismember(resq.keys.workers, old.worker_id)


def test_only_one_reaper_runs_at_a_time(resq):
    enqueue(resq, 1)
    dead = dead_worker(resq, 1)
    resq.redis.set(resq.keys.reaper_lock, "another-reaper", px=60_000)

    assert reaper(resq).reap() == 0

    assert len(dead.pending()) == 1
    assert resq.redis.get(resq.keys.reaper_lock) == b"another-reaper"
    resq.redis.delete(resq.keys.reaper_lock)
    assert reaper(resq).reap() == 1


def test_reaper_releases_its_lock(resq):
    enqueue(resq, 1)
    dead_worker(resq, 1)

    reaper(resq).reap()

    assert not resq.redis.exists(resq.keys.reaper_lock)


def test_jobs_from_several_queues_go_back_to_their_own_queue(resq):
    a = resq.enqueue_to("alpha", ReapedJob, 1)
    b = resq.enqueue_to("beta", ReapedJob, 2)
    dead = "deadhost:1-abc:alpha,beta"
    inflight = InFlight(resq, dead, ["alpha", "beta"])
    inflight.fetch(1)
    inflight.fetch(1)
    register(resq, dead, 0)

    assert reaper(resq).reap() == 2

    assert queued_ids(resq, "alpha") == [a]
    assert queued_ids(resq, "beta") == [b]


def test_ruby_payload_keeps_its_derived_id_through_recovery(resq):
    raw = '{"class":"test_reaper.ReapedJob","args":[1]}'
    resq.redis.rpush(resq.keys.queue("work"), raw)
    resq.redis.sadd(resq.keys.queues, "work")
    dead = dead_worker(resq, 1)
    derived = resqplug.payload.decode(dead.pending()[0].raw)["id"]

    reaper(resq).reap()

    (doc,) = queued(resq)
    assert doc["id"] == derived
    assert (doc["class"], doc["args"], doc["meta"]) == (
        "test_reaper.ReapedJob",
        [1],
        {"recoveries": 1},
    )


def test_unreadable_in_flight_payload_is_failed_not_lost(resq):
    resq.redis.rpush(resq.keys.queue("work"), b"{not json")
    resq.redis.sadd(resq.keys.queues, "work")
    dead_worker(resq, 1)

    assert reaper(resq).reap() == 1

    assert queued(resq) == []
    (record,) = resq.failures.list()
    assert record["payload"] == {"raw": "{not json"}
    assert record["queue"] == "work"
    assert not resq.redis.sismember(resq.keys.workers, DEAD)


def test_lease_expiry_is_judged_by_redis_time_not_the_local_clock(resq, monkeypatch):
    """Scenario 30: a local clock five minutes fast must not reap a live worker,
    and one five minutes slow must still reap a dead one."""
    enqueue(resq, 2)
    live = InFlight(resq, "livehost:2-def:work", ["work"])
    live.fetch(1)
    register(resq, live.worker_id, redis_time(resq.redis) + 30)
    dead = InFlight(resq, DEAD, ["work"])
    dead.fetch(1)
    register(resq, DEAD, redis_time(resq.redis) - 1)
    real_time = time.time

    monkeypatch.setattr(time, "time", lambda: real_time() + 300)
    assert reaper(resq).dead_workers() == [DEAD]
    monkeypatch.setattr(time, "time", lambda: real_time() - 300)
    assert reaper(resq).reap() == 1

    assert len(live.pending()) == 1
    assert dead.pending() == []


def test_worker_lease_is_written_in_redis_time(resq, monkeypatch):
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 300)

    WorkerRegistry(resq.redis, resq.keys, DEAD, 1.5).register({"pid": 1})

    lease = resq.redis.zscore(resq.keys.leases, DEAD)
    assert abs(lease - (redis_time(resq.redis) + 1.5)) < 1.0


# --- one entry, one worker at a time: nothing an entry holds stops the pass ---------


class UnbuildableJob(resqplug.Job):
    name = "test_reaper.UnbuildableJob"
    queue = "work"

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("this job cannot be built")


def dead_worker_holding(resq: resqplug.Resq, worker_id: str, *entries: str | bytes) -> None:
    """A dead worker whose in-flight list holds exactly ``entries``."""
    resq.redis.rpush(resq.keys.inflight(worker_id), *entries)
    register(resq, worker_id, 0)


def payload_text(job_id: str, meta: dict | None = None, cls: str = "test_reaper.ReapedJob") -> str:
    return json.dumps({"class": cls, "args": [1], "id": job_id, "meta": meta or {}})


def one_line_logs_only(caplog: pytest.LogCaptureFixture) -> bool:
    return all(r.exc_info is None for r in caplog.records if r.levelno >= logging.WARNING)


@pytest.mark.parametrize("recoveries", ["abc", None, -1, True, 1.5, [1], 2**63])
def test_entry_with_a_bad_recovery_count_is_failed_and_the_others_recovered(
    resq, caplog, recoveries
):
    bad = payload_text("bad", {"recoveries": recoveries})
    dead_worker_holding(resq, DEAD, payload_text("a"), bad, payload_text("b"))
    dead_worker_holding(resq, "deadhost:2-abc:work", payload_text("c"))

    assert reaper(resq).reap() == 4

    assert sorted(queued_ids(resq)) == ["a", "b", "c"]
    record = resq.failures.get(resqplug.worker.processor.raw_job_id(bad.encode()))
    assert record["payload"] == {"raw": bad}
    assert record["exception"] == "PayloadError"
    assert "meta.recoveries" in record["error"]
    assert not resq.redis.sismember(resq.keys.workers, DEAD)
    assert one_line_logs_only(caplog)


def test_entry_whose_job_cannot_be_built_is_failed_with_its_payload(resq, caplog):
    text = payload_text("unbuildable", cls="test_reaper.UnbuildableJob")
    dead_worker_holding(resq, DEAD, payload_text("a"), text)

    assert reaper(resq).reap() == 2

    assert queued_ids(resq) == ["a"]
    record = resq.failures.get("unbuildable")
    assert (record["exception"], record["error"]) == ("RuntimeError", "this job cannot be built")
    assert record["payload"]["class"] == "test_reaper.UnbuildableJob"
    assert any("cannot recover job unbuildable" in r.getMessage() for r in caplog.records)
    assert one_line_logs_only(caplog)


def test_entry_with_an_invalid_queue_is_failed_not_requeued(resq):
    dead = "deadhost:1-abc:work,other"
    dead_worker_holding(
        resq, dead, "no such queue\t" + payload_text("x"), "work\t" + payload_text("y")
    )

    assert reaper(resq).reap() == 2

    assert queued_ids(resq) == ["y"]
    assert resq.queues() == ["work"]
    assert resq.failures.get("x")["exception"] == "QueueNameError"


def test_entry_redis_refuses_to_move_stays_for_the_next_pass(resq, caplog):
    resq.redis.set(resq.keys.queue("blocked"), "not a list")
    dead = "deadhost:1-abc:work,blocked"
    stuck = "blocked\t" + payload_text("stuck")
    dead_worker_holding(resq, dead, stuck, "work\t" + payload_text("moved"))
    dead_worker_holding(resq, "deadhost:2-abc:work", payload_text("other"))

    assert reaper(resq).reap() == 2

    assert sorted(queued_ids(resq)) == ["moved", "other"]
    assert resq.redis.lrange(resq.keys.inflight(dead), 0, -1) == [stuck.encode()]
    assert resq.failures.count() == 0
    assert one_line_logs_only(caplog)
    resq.redis.delete(resq.keys.queue("blocked"))
    assert reaper(resq).reap() == 1
    assert queued_ids(resq, "blocked") == ["stuck"]
    assert not resq.redis.sismember(resq.keys.workers, dead)


def test_dead_worker_that_cannot_be_reaped_does_not_stop_the_others(resq, caplog):
    resq.redis.set(resq.keys.inflight(DEAD), "not a list")
    register(resq, DEAD, 0)
    dead_worker_holding(resq, "deadhost:2-abc:work", payload_text("other"))

    assert reaper(resq).reap() == 1

    assert queued_ids(resq) == ["other"]
    assert any(f"could not reap dead worker {DEAD!r}" in r.getMessage() for r in caplog.records)
    assert one_line_logs_only(caplog)
