"""Real ``resqplug work`` processes: runs counted in fork and no-fork modes,
a child that dies, a job recovered from a dead worker, and the plugin's
writes riding only the core's own scripts (watched with MONITOR)."""

from __future__ import annotations

import signal
import subprocess
import threading
import uuid
from pathlib import Path
from types import TracebackType

import pytest
import redis
from metrics_helpers import HERE, counters, run_worker
from metrics_jobs import QUEUE, Broken, Dies, Nap, Sleeper
from resqplug_metrics import read_counts

import resqplug
from resqplug.pytest_fixtures import child_env, resqplug_cmd, wait_for


@pytest.mark.parametrize("mode", ["--no-fork", "--fork"])
def test_workers_count_succeeded_and_failed_runs(redis_url: str, namespace: str, mode: str):
    client = resqplug.Resq(redis_url, namespace)
    client.enqueue_many(Nap, [(0.02,), (0,), (0,)])
    client.enqueue(Broken)
    run_worker(redis_url, namespace, mode)
    assert counters(client, QUEUE, "Nap") == {"enqueued": 3, "started": 3, "succeeded": 3}
    assert counters(client, QUEUE, "Broken") == {"enqueued": 1, "started": 1, "failed": 1}
    naps = read_counts(client)[(QUEUE, "Nap")].histograms
    assert naps["duration"].count == naps["latency"].count == 3
    assert 0.02 <= naps["duration"].sum < 5


def test_a_child_that_dies_counts_as_killed_without_times(redis_url: str, namespace: str):
    client = resqplug.Resq(redis_url, namespace)
    client.enqueue(Dies)
    run_worker(redis_url, namespace, "--fork")
    assert counters(client, QUEUE, "Dies") == {"enqueued": 1, "started": 1, "killed": 1}
    assert read_counts(client)[(QUEUE, "Dies")].histograms["duration"].count == 0


def test_a_job_recovered_from_a_dead_worker_is_counted(
    redis_url: str, namespace: str, tmp_path: Path
):
    client = resqplug.Resq(redis_url, namespace)
    flag = tmp_path / "started"
    client.enqueue(Sleeper, str(flag), 30)
    cmd = resqplug_cmd(redis_url, namespace, "work", "--app", "metrics_jobs", "-q", QUEUE)
    doomed = subprocess.Popen([*cmd, "--no-fork"], env=child_env(HERE))
    try:
        wait_for(flag.exists, 20, "the job to start")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        client.redis.delete(client.keys.queue(QUEUE))  # nothing else to run
        flag.unlink()
        client.enqueue(Nap, 0)  # the reaping worker's own job, so it keeps going a while
        reaper = subprocess.Popen([*cmd, "--no-fork"], env=child_env(HERE))
        try:
            wait_for(lambda: counters(client, QUEUE, "Sleeper").get("recovered"), 20, "recovery")
        finally:
            reaper.kill()
            reaper.wait(10)
    finally:
        doomed.kill()
        doomed.wait(10)
    assert counters(client, QUEUE, "Sleeper") == {"enqueued": 1, "started": 1, "recovered": 1}


class Monitor:
    """Every command the server runs while the block runs (Redis MONITOR), as
    (came from a script, command name, arguments)."""

    def __init__(self, url: str) -> None:
        self.url, self.end = url, f"metrics-test-end-{uuid.uuid4().hex}"
        self.seen: list[tuple[bool, str, list[str]]] = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def watch(self) -> None:
        with redis.Redis.from_url(self.url).monitor() as monitor:
            self.ready.set()
            for event in monitor.listen():
                name, *args = event["command"].split(" ")
                if args == [self.end]:
                    return
                self.seen.append((event["client_type"] == "lua", name.lower(), args))

    def __enter__(self) -> Monitor:
        self.thread.start()
        assert self.ready.wait(10)
        redis.Redis.from_url(self.url).ping()  # MONITOR is on once a command follows
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        redis.Redis.from_url(self.url).echo(self.end)
        self.thread.join(10)
        assert not self.thread.is_alive()

    def touching(self, key: str) -> list[tuple[bool, str, list[str]]]:
        return [(lua, name, args) for lua, name, args in self.seen if any(key in a for a in args)]


def test_a_batch_costs_a_few_commands_inside_the_core_scripts(own_redis: str, namespace: str):
    client = resqplug.Resq(own_redis, namespace)
    ours = client.keys.plugin("metrics")
    with Monitor(own_redis) as monitor:
        client.enqueue_many(Nap, [(0,)] * 200)
        run_worker(own_redis, namespace, "--no-fork")
    touching = monitor.touching(ours)
    increments = [args for lua, name, args in touching if lua and name == "hincrby"]
    # 200 enqueues in one enqueue_many: one increment; 200 runs: a few per ack batch
    assert [args[-1] for args in increments if "enqueued" in args[1]] == ["200"]
    assert len(increments) < 60
    calls = [(name, args) for lua, name, args in touching if not lua]
    assert {name for name, _ in calls} == {"evalsha"}  # only the core's scripts name our keys
    acks = [args for _, args in calls if client.keys.stat_processed in args]
    assert acks and len(acks) < len(calls)  # the rest are the enqueue scripts
    assert counters(client, QUEUE, "Nap") == {"enqueued": 200, "started": 200, "succeeded": 200}
