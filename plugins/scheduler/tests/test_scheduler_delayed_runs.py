"""Delayed jobs with real ``resqplug work`` and ``resqplug scheduler`` processes:
they run at their time and not before (Redis time), keep their id, go through
before_enqueue twice, and fail into the failed store when a hook raises at move
time. Also ``resqplug delayed``. (Delayed retries of the retry plugin in the
scheduler's set: tests/plugins_together.)"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import resqplug_scheduler as scheduler
import scheduler_jobs as jobs
from scheduler_helpers import (
    ResqplugProcess,
    Spawn,
    before_enqueue_calls,
    run_cli,
    runs,
    server_time,
    started,
    wait_for,
)

import resqplug


def wait_workers(client: resqplug.Resq, count: int, *procs: ResqplugProcess) -> None:
    def up() -> bool:
        for p in procs:
            assert p.alive(), f"{p.cmd} exited early:\n{p.output()}"
        return client.redis.scard(client.keys.workers) >= count

    wait_for(up, timeout=15, what=f"{count} workers registered")


def wait_leader(client: resqplug.Resq, *procs: ResqplugProcess) -> str:
    leader_key = client.keys.plugin("scheduler", "leader")

    def leader() -> bytes | None:
        for p in procs:
            assert p.alive(), f"{p.cmd} exited early:\n{p.output()}"
        return client.redis.get(leader_key)

    return wait_for(leader, timeout=15, what="a scheduler leading").decode()


def due_of(job_id: str) -> float:
    return next(d.due for d in scheduler.delayed_jobs(0, 1000) if d.payload["id"] == job_id)


def test_delayed_jobs_run_at_their_time_not_before_with_a_worker(
    default_client: resqplug.Resq, spawn: Spawn
) -> None:
    resqplug.register(jobs.CountEnqueues(), name="schedtest-count")
    worker = spawn("work", "--no-fork", "-q", "*", plugins="count")
    wait_workers(default_client, 1, worker)

    now = server_time(default_client)
    ids = {
        "in": scheduler.enqueue_in(0.3, jobs.SchedRecord, "in"),
        "aware": scheduler.enqueue_at(
            datetime.fromtimestamp(now + 0.6, ZoneInfo("Europe/Paris")), jobs.SchedRecord, "aware"
        ),
        "naive": scheduler.enqueue_at(
            datetime.fromtimestamp(now + 0.8, timezone.utc).replace(tzinfo=None),
            jobs.SchedRecord,
            "naive",
        ),
        "epoch": scheduler.enqueue_at(now + 1.0, jobs.SchedRecord, "epoch"),
        "queue": scheduler.enqueue_at_with_queue("sched-b", now + 0.5, jobs.SchedOther, "q"),
    }
    dues = {name: due_of(job_id) for name, job_id in ids.items()}
    assert scheduler.delayed_count() == 5

    wait_for(lambda: len(runs(default_client)) == 5, timeout=15, what="5 delayed jobs to run")
    assert runs(default_client) == {job_id: 1 for job_id in ids.values()}  # ids kept, run once
    at = started(default_client)
    for name, job_id in ids.items():
        assert at[job_id] >= dues[name], f"{name} started {dues[name] - at[job_id]:.3f}s early"
        assert at[job_id] < dues[name] + 5, f"{name} started {at[job_id] - dues[name]:.3f}s late"
        calls = before_enqueue_calls(default_client, job_id)
        # before_enqueue: once here when scheduled, once in the worker when moved (at >= due).
        assert [pid for pid, _ in calls] == [os.getpid(), worker.pid], name
        assert calls[1][1] >= dues[name]
    assert scheduler.delayed_count() == 0
    assert scheduler.next_delayed() is None
    assert worker.alive()


def test_a_scheduler_process_moves_due_jobs_at_their_time(
    default_client: resqplug.Resq, spawn: Spawn
) -> None:
    sched = spawn("scheduler", "--interval", "0.1", plugins="count")
    wait_leader(default_client, sched)
    soon = scheduler.enqueue_in(0.5, jobs.SchedRecord, "soon")
    later = scheduler.enqueue_in(60, jobs.SchedRecord, "later")
    due = due_of(soon)

    def moved() -> bool:
        queued = default_client.peek("sched", 0, 10)
        if queued:
            assert server_time(default_client) >= due, "moved before its due time"
        return bool(queued)

    wait_for(moved, timeout=10, what="the scheduler to move the job")
    [payload] = default_client.peek("sched", 0, 10)
    assert payload["id"] == soon
    [(pid, at)] = before_enqueue_calls(default_client, soon)  # the test process has no hook
    assert pid == sched.pid
    assert at >= due
    assert [d.payload["id"] for d in scheduler.delayed_jobs()] == [later]

    worker = spawn("work", "--no-fork", "--burst", "-q", "sched")
    assert worker.wait(20) == 0, worker.output()
    assert runs(default_client) == {soon: 1}
    assert started(default_client)[soon] >= due
    assert sched.alive()


def test_hook_raising_at_move_time_in_a_worker_fails_the_job_not_drops_it(
    default_client: resqplug.Resq, spawn: Spawn
) -> None:
    worker = spawn("work", "--no-fork", "-q", "*", plugins="explode")
    wait_workers(default_client, 1, worker)
    boom = scheduler.enqueue_in(0.3, jobs.SchedExplode, "boom")  # no such hook here
    fine = scheduler.enqueue_in(0.3, jobs.SchedRecord, "fine")
    assert boom and fine

    wait_for(lambda: default_client.failures.count() == 1, timeout=10, what="a failure record")
    wait_for(lambda: fine in runs(default_client), timeout=10, what="the other job to run")
    record = default_client.failures.get(boom)
    assert record is not None
    assert record["exception"] == "RuntimeError"
    assert "explode plugin" in record["error"]
    assert record["payload"]["id"] == boom
    assert record["payload"]["class"] == "SchedExplode"
    assert record["queue"] == "sched"
    assert scheduler.delayed_count() == 0
    assert boom not in runs(default_client)
    # The failure can be retried like any other once the hook is gone.
    assert default_client.failures.retry(boom, remove=True) == boom
    wait_for(lambda: boom in runs(default_client), timeout=10, what="the retried job to run")


def test_cli_delayed_list_and_remove(
    default_client: resqplug.Resq, redis_url: str, namespace: str
) -> None:
    base = 1_900_000_000
    third = scheduler.enqueue_at(base + 300, jobs.SchedRecord, 1, "a")
    first = scheduler.enqueue_at(base + 100, jobs.SchedRecord, 2)
    second = scheduler.enqueue_at_with_queue("other", base + 200, jobs.SchedOther, "x")
    fourth = scheduler.enqueue_at(base + 400, jobs.SchedRecord, 1, "a", "b")

    out = run_cli(redis_url, namespace, "delayed", "list", "--count", "3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # by due time, each shown as local time and how far ahead
    assert [line.split(")  ", 1)[1].split()[2] for line in lines] == [first, second, third]
    local = datetime.fromtimestamp(base + 100).astimezone().isoformat(" ", "seconds")
    assert lines[0].startswith(f"{local} (in ")
    assert lines[0].split(")  ", 1)[1].startswith(f"sched  SchedRecord  {first}  [2]")
    assert "  other  SchedOther  " in lines[1]
    assert lines[2].endswith('[1, "a"]')
    assert "(4 delayed jobs)" in out.stderr

    out = run_cli(redis_url, namespace, "delayed", "remove", "SchedRecord", "1", '"a"')
    assert out.returncode == 0, out.stderr
    assert "removed 1 delayed jobs" in out.stdout
    assert [d.payload["id"] for d in scheduler.delayed_jobs()] == [first, second, fourth]

    out = run_cli(redis_url, namespace, "delayed", "remove", "SchedRecord")
    assert "removed 2 delayed jobs" in out.stdout
    assert [d.payload["id"] for d in scheduler.delayed_jobs()] == [second]
