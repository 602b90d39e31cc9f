"""The delayed-job API in one process, against a real Redis: ids, due times,
inspection, removal, the enqueue hooks at schedule and move time."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import resqplug_scheduler as scheduler
import scheduler_jobs as jobs
from scheduler_helpers import before_enqueue_calls, bulk_delay, delayed, key, server_time

import resqplug
from resqplug.delayed import DelayedSet


def due_of(job_id: str) -> float:
    item = next(d for d in scheduler.delayed_jobs(0, 1000) if d.payload["id"] == job_id)
    return item.due


def test_enqueue_at_aware_naive_and_epoch_give_ids_and_due_times(
    default_client: resqplug.Resq,
) -> None:
    base = 1_900_000_000.25
    aware = datetime.fromtimestamp(base, ZoneInfo("Asia/Tokyo"))
    naive_utc = datetime.fromtimestamp(base + 1, timezone.utc).replace(tzinfo=None)
    ids = [
        scheduler.enqueue_at(aware, jobs.SchedRecord, "aware"),
        scheduler.enqueue_at(naive_utc, jobs.SchedRecord, "naive"),
        scheduler.enqueue_at(base + 2, jobs.SchedRecord, "epoch-float"),
        scheduler.enqueue_at(int(base) + 3, jobs.SchedRecord, "epoch-int"),
    ]
    assert all(isinstance(i, str) and len(i) == 32 for i in ids)
    assert len(set(ids)) == 4
    assert due_of(ids[0]) == pytest.approx(base, abs=1e-3)
    assert due_of(ids[1]) == pytest.approx(base + 1, abs=1e-3)
    assert due_of(ids[2]) == pytest.approx(base + 2, abs=1e-3)
    assert due_of(ids[3]) == pytest.approx(int(base) + 3, abs=1e-3)
    assert scheduler.delayed_count() == 4
    # Nothing is in the queue yet, and each payload carries its job's id and args.
    assert default_client.size("sched") == 0
    items = scheduler.delayed_jobs(0, 10)
    assert [d.payload["id"] for d in items] == ids
    assert [d.payload["args"] for d in items] == [
        ["aware"],
        ["naive"],
        ["epoch-float"],
        ["epoch-int"],
    ]
    assert {d.queue for d in items} == {"sched"}


def test_enqueue_in_is_relative_to_redis_time(default_client: resqplug.Resq) -> None:
    before = server_time(default_client)
    a = scheduler.enqueue_in(30, jobs.SchedRecord, 1)
    b = scheduler.enqueue_in(timedelta(minutes=2), jobs.SchedRecord, 2)
    after = server_time(default_client)
    assert a and b
    assert before + 30 <= due_of(a) <= after + 30
    assert before + 120 <= due_of(b) <= after + 120


def test_enqueue_at_with_queue_and_function_jobs(default_client: resqplug.Resq) -> None:
    job_id = scheduler.enqueue_at_with_queue("elsewhere", 1_900_000_000, jobs.SchedRecord, "q")
    fn_id = scheduler.enqueue_in(60, jobs.sched_function, "f", 1)
    items = {d.payload["id"]: d for d in scheduler.delayed_jobs()}
    assert items[job_id].queue == "elsewhere"
    assert items[fn_id].queue == "sched"
    assert items[fn_id].payload["class"] == "sched_function"
    assert scheduler.remove_delayed(jobs.sched_function, "f", 1) == 1
    assert scheduler.delayed_count() == 1


@pytest.mark.parametrize("when", ["2030-01-01", True, None, [1]])
def test_enqueue_at_refuses_what_is_not_a_time(default_client: resqplug.Resq, when: object) -> None:
    with pytest.raises(resqplug.ConfigError):
        scheduler.enqueue_at(when, jobs.SchedRecord)
    assert scheduler.delayed_count() == 0


def test_bad_args_are_refused_at_schedule_time(default_client: resqplug.Resq) -> None:
    with pytest.raises(resqplug.PayloadError):
        scheduler.enqueue_in(10, jobs.SchedRecord, float("nan"))
    with pytest.raises(resqplug.PayloadError):
        scheduler.enqueue_in(10, jobs.SchedRecord, (1, 2))
    assert scheduler.delayed_count() == 0


def test_delayed_count_next_delayed_and_listing_order(default_client: resqplug.Resq) -> None:
    assert scheduler.delayed_count() == 0
    assert scheduler.next_delayed() is None
    assert scheduler.delayed_jobs() == []
    base = 1_900_000_000.0
    later = scheduler.enqueue_at(base + 30, jobs.SchedRecord, "30")
    first = scheduler.enqueue_at(base + 10, jobs.SchedRecord, "10")
    middle = scheduler.enqueue_at(base + 20, jobs.SchedOther, "20")
    assert scheduler.delayed_count() == 3
    assert scheduler.next_delayed() == pytest.approx(base + 10)
    listed = scheduler.delayed_jobs()
    assert [d.payload["id"] for d in listed] == [first, middle, later]
    assert [d.due for d in listed] == pytest.approx([base + 10, base + 20, base + 30])
    assert [d.payload["id"] for d in scheduler.delayed_jobs(1, 1)] == [middle]
    assert [d.payload["id"] for d in scheduler.delayed_jobs(2, 50)] == [later]
    assert scheduler.delayed_jobs(3, 50) == []
    # An explicit Scheduler on another client sees the same set.
    other = scheduler.Scheduler(resqplug.Resq(default_client.url, default_client.namespace))
    assert other.delayed_count() == 3
    assert other.next_delayed() == pytest.approx(base + 10)


def test_remove_delayed_exact_args_and_whole_class(default_client: resqplug.Resq) -> None:
    when = 1_900_000_000
    scheduler.enqueue_at(when, jobs.SchedRecord, 1, "a")
    scheduler.enqueue_at(when + 1, jobs.SchedRecord, 1, "a")
    scheduler.enqueue_at(when, jobs.SchedRecord, 1)
    scheduler.enqueue_at(when, jobs.SchedRecord, 1, "a", "b")
    scheduler.enqueue_at(when, jobs.SchedRecord, [1, "a"])
    scheduler.enqueue_at(when, jobs.SchedRecord, "ünï", {"k": 1})
    keep = scheduler.enqueue_at(when, jobs.SchedOther, 1, "a")
    assert scheduler.delayed_count() == 7

    assert scheduler.remove_delayed(jobs.SchedRecord, 1, "a") == 2
    assert scheduler.remove_delayed(jobs.SchedRecord, 1, "a") == 0
    assert scheduler.remove_delayed(jobs.SchedRecord, "ünï", {"k": 1}) == 1
    left = sorted(json.dumps(d.payload["args"]) for d in scheduler.delayed_jobs())
    assert left == sorted(["[1]", '[1, "a", "b"]', '[[1, "a"]]', '[1, "a"]'])

    assert scheduler.remove_delayed(jobs.SchedRecord) == 3
    assert [d.payload["id"] for d in scheduler.delayed_jobs()] == [keep]
    assert scheduler.remove_delayed(jobs.SchedRecord) == 0


def test_before_enqueue_runs_at_schedule_time_and_a_veto_schedules_nothing(
    default_client: resqplug.Resq,
) -> None:
    resqplug.register(jobs.CountEnqueues(), name="schedtest-count")

    class Veto:
        @resqplug.hookimpl
        def before_enqueue(self, job: resqplug.Job) -> None:
            if job.args == ["veto"]:
                raise resqplug.DontEnqueue("not this one")

    resqplug.register(Veto(), name="schedtest-veto")
    job_id = scheduler.enqueue_in(60, jobs.SchedRecord, "ok")
    assert job_id is not None
    assert len(before_enqueue_calls(default_client, job_id)) == 1
    assert scheduler.enqueue_in(60, jobs.SchedRecord, "veto") is None
    assert scheduler.delayed_count() == 1


def test_job_scheduled_hook_gets_the_job_and_due(default_client: resqplug.Resq) -> None:
    resqplug.register(jobs.ScheduledHook(), name="schedtest-scheduled")
    job_id = scheduler.enqueue_at(1_900_000_000.5, jobs.SchedRecord)
    raw = default_client.redis.hget(key(default_client, "job_scheduled"), job_id)
    assert raw is not None and float(raw) == pytest.approx(1_900_000_000.5)


def test_move_runs_before_enqueue_again_and_keeps_id_meta_and_queue(
    default_client: resqplug.Resq,
) -> None:
    resqplug.register(jobs.CountEnqueues(), name="schedtest-count")

    class StampMeta:
        @resqplug.hookimpl
        def before_enqueue(self, job: resqplug.Job) -> None:
            job.meta["stamps"] = job.meta.get("stamps", 0) + 1

    resqplug.register(StampMeta(), name="schedtest-stamp")
    now = server_time(default_client)
    due_now = scheduler.enqueue_at_with_queue("moved", now - 1, jobs.SchedRecord, "x")
    not_due = scheduler.enqueue_at(now + 3600, jobs.SchedRecord, "later")
    assert delayed(default_client).move_due() == 1
    [payload] = default_client.peek("moved", 0, 10)
    assert payload["id"] == due_now
    assert payload["args"] == ["x"]
    assert payload["meta"]["stamps"] == 2  # once when scheduled, once when moved
    assert len(before_enqueue_calls(default_client, due_now)) == 2
    assert [d.payload["id"] for d in scheduler.delayed_jobs()] == [not_due]
    assert delayed(default_client).move_due() == 0  # nothing else is due


def test_veto_at_move_time_removes_the_job(default_client: resqplug.Resq) -> None:
    job_id = scheduler.enqueue_at(server_time(default_client) - 1, jobs.SchedRecord, "v")

    class VetoLater:
        @resqplug.hookimpl
        def before_enqueue(self, job: resqplug.Job) -> None:
            raise resqplug.DontEnqueue("changed my mind")

    resqplug.register(VetoLater(), name="schedtest-veto-later")
    assert delayed(default_client).move_due() == 0
    assert scheduler.delayed_count() == 0
    assert default_client.size("sched") == 0
    assert default_client.failures.count() == 0
    assert job_id


def test_hook_raising_at_move_time_sends_the_job_to_the_failed_store(
    default_client: resqplug.Resq,
) -> None:
    now = server_time(default_client)
    boom = scheduler.enqueue_at(now - 1, jobs.SchedExplode, "b")
    fine = scheduler.enqueue_at(now - 1, jobs.SchedRecord, "f")
    jobs.install("explode")
    assert delayed(default_client).move_due() == 1
    assert [p["id"] for p in default_client.peek("sched", 0, 10)] == [fine]
    assert scheduler.delayed_count() == 0
    record = default_client.failures.get(boom)
    assert record is not None
    assert record["exception"] == "RuntimeError"
    assert "explode plugin" in record["error"]
    assert record["payload"]["class"] == "SchedExplode"
    assert record["payload"]["args"] == ["b"]
    assert record["queue"] == "sched"


def test_an_undecodable_delayed_member_goes_to_failed_and_does_not_block_others(
    default_client: resqplug.Resq,
) -> None:
    now = server_time(default_client)
    set_key = delayed(default_client).key
    default_client.redis.zadd(set_key, {"sched\tnot a payload": now - 10})
    good = scheduler.enqueue_at(now - 1, jobs.SchedRecord, "good")
    with contextlib.suppress(resqplug.PayloadError):
        delayed(default_client).move_due()
    assert [p["id"] for p in default_client.peek("sched", 0, 10)] == [good]
    assert default_client.failures.count() == 1
    assert scheduler.delayed_count() == 0


def test_bulk_helper_matches_enqueue_at_format(default_client: resqplug.Resq) -> None:
    """The tests' pipelined loader writes what enqueue_at writes."""
    [bulk] = bulk_delay(default_client, jobs.SchedRecord, [[1, "x"]], 1_900_000_000)
    api = scheduler.enqueue_at(1_900_000_000, jobs.SchedRecord, 1, "x")
    items = {d.payload["id"]: d for d in DelayedSet(default_client, "scheduler")}
    assert items[bulk].queue == items[api].queue
    assert items[bulk].due == items[api].due
    assert {k for k in items[bulk].payload if k != "id"} == {
        k for k in items[api].payload if k != "id"
    }
    assert scheduler.remove_delayed(jobs.SchedRecord, 1, "x") == 2
