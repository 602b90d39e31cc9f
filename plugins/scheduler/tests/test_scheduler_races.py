"""Exactly once under races, with real processes: many schedulers and workers
moving the same due jobs, many schedulers firing an every-second schedule
(with a change of leader), and a scheduler SIGKILLed in the middle of a large
promotion."""

from __future__ import annotations

import itertools
import json
import math
import signal
import time
from collections import Counter

import resqplug_scheduler as scheduler
import scheduler_jobs as jobs
from resqplug_scheduler import ScheduleStore
from scheduler_helpers import (
    ResqplugProcess,
    Spawn,
    add_many,
    bulk_delay,
    delayed,
    only_our_plugins,
    prepare_many,
    ran,
    runs,
    scheduled_runs,
    server_time,
    wait_for,
)

import resqplug


def check_alive(*procs: ResqplugProcess) -> None:
    for p in procs:
        assert p.alive(), f"{p.cmd} exited early:\n{p.output()}"


def leader_token(client: resqplug.Resq) -> str | None:
    raw = client.redis.get(client.keys.plugin("scheduler", "leader"))
    return raw.decode() if raw else None


def test_thousand_due_jobs_three_schedulers_two_workers_each_runs_once(
    default_client: resqplug.Resq, spawn: Spawn
) -> None:
    procs = [spawn("scheduler", "--interval", "0.05") for _ in range(3)]
    procs += [spawn("work", "--no-fork", "-q", "sched") for _ in range(2)]

    def ready() -> bool:
        check_alive(*procs)
        workers = default_client.redis.scard(default_client.keys.workers)
        return workers == 2 and leader_token(default_client) is not None

    wait_for(ready, timeout=15, what="3 schedulers and 2 workers")
    prepared = prepare_many(default_client, jobs.SchedRecord, [[i] for i in range(1000)])
    due = server_time(default_client) + 1.0
    ids = add_many(default_client, prepared, due)
    assert scheduler.delayed_count() == 1000
    assert server_time(default_client) < due  # all were in place before any was due

    def all_ran() -> bool:
        check_alive(*procs)
        return len(runs(default_client)) >= 1000

    wait_for(all_ran, timeout=40, what="1,000 jobs to run")
    wait_for(lambda: default_client.size("sched") == 0, timeout=10, what="an empty queue")
    counts = runs(default_client)
    assert set(counts) == set(ids)
    assert Counter(counts.values()) == {1: 1000}
    assert scheduler.delayed_count() == 0
    for p in procs:  # stop the workers and schedulers: then nothing can still be in flight
        p.stop()
    assert len(ran(default_client)) == 1000
    assert default_client.size("sched") == 0
    assert default_client.failures.count() == 0


def test_every_second_schedule_with_three_schedulers_fires_each_tick_once(
    default_client: resqplug.Resq, spawn: Spawn
) -> None:
    ScheduleStore(default_client).set("tick", {"class": "SchedRecord", "every": 1, "args": ["t"]})
    scheds = [spawn("scheduler", "--interval", "0.1") for _ in range(3)]
    worker = spawn("work", "--no-fork", "-q", "sched")

    def first_tick() -> float | None:
        check_alive(*scheds, worker)
        fired = scheduled_runs(default_client, "tick")
        return fired[0]["tick"] if fired else None

    t0 = wait_for(first_tick, timeout=15, what="the first tick")

    # Halfway, the leader stops (SIGTERM: it resigns) and another one takes over.
    wait_for(lambda: server_time(default_client) >= t0 + 2.3, timeout=10, what="2 s of ticks")
    token = leader_token(default_client)
    assert token is not None
    leader_pid = int(token.rsplit(":", 2)[1])
    [leader] = [p for p in scheds if p.pid == leader_pid]
    assert leader.stop() == 0
    others = [p for p in scheds if p is not leader]
    wait_for(
        lambda: leader_token(default_client) not in (None, token),
        timeout=5,
        what="a new leader",
    )
    assert int(str(leader_token(default_client)).rsplit(":", 2)[1]) in {p.pid for p in others}

    wait_for(lambda: server_time(default_client) >= t0 + 4.5, timeout=10, what="4 s of ticks")
    before_stop = server_time(default_client)
    for p in others:
        assert p.stop() == 0
    after_stop = server_time(default_client)
    last_tick = float(
        default_client.redis.hget(default_client.keys.plugin("scheduler", "last"), "tick")
    )
    wait_for(lambda: default_client.size("sched") == 0, timeout=10, what="an empty queue")
    assert worker.stop() == 0  # finishes what it holds

    ticks = sorted(run["tick"] for run in scheduled_runs(default_client, "tick"))
    assert len(ticks) == len(set(ticks)), f"a tick fired twice: {ticks}"
    low = math.floor(before_stop - t0) + 1
    high = math.floor(after_stop - t0) + 1
    assert low - 1 <= len(ticks) <= high + 1, (ticks, before_stop - t0, after_stop - t0)
    steps = [b - a for a, b in itertools.pairwise(ticks)]
    assert all(abs(s - round(s)) < 0.002 and round(s) >= 1 for s in steps), steps
    assert sum(1 for s in steps if round(s) > 1) <= 1, f"ticks skipped: {steps}"
    assert ticks[-1] == last_tick
    assert Counter(runs(default_client).values()) == {1: len(ticks)}
    assert len(ran(default_client)) == len(ticks)


def test_scheduler_sigkilled_mid_promotion_loses_and_duplicates_nothing(
    default_client: resqplug.Resq, spawn: Spawn
) -> None:
    total = 20_000
    others = only_our_plugins()  # other plugins' per-job writes would only cost time
    now = server_time(default_client)
    ids = bulk_delay(default_client, jobs.SchedRecord, [[i] for i in range(total)], now - 1)
    assert scheduler.delayed_count() == total

    first = spawn("scheduler", "--interval", "0.05", disable=others)

    def moving() -> bool:
        check_alive(first)
        return default_client.size("sched") > 0

    wait_for(moving, timeout=15, what="the promotion to start")
    time.sleep(0.05)
    first.signal(signal.SIGKILL)
    assert first.wait(5) == -signal.SIGKILL
    at_kill = default_client.size("sched")
    assert 0 < at_kill < total, f"the kill came too late to be mid-promotion ({at_kill} moved)"
    assert at_kill + scheduler.delayed_count() == total  # each job is in one place

    second = spawn("scheduler", "--interval", "0.05", disable=others)

    def done() -> bool:
        check_alive(second)
        return delayed(default_client).count() == 0

    wait_for(done, timeout=60, what="the second scheduler to move the rest")
    raw = default_client.redis.lrange(default_client.keys.queue("sched"), 0, -1)
    queued = Counter(json.loads(item)["id"] for item in raw)
    assert len(raw) == total
    assert set(queued) == set(ids), "jobs were lost"
    assert max(queued.values()) == 1, "jobs were enqueued twice"
    assert default_client.failures.count() == 0
