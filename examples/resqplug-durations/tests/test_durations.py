"""resqplug-durations against a real Redis: runs in this process (``drain``)
and in real workers, forking and not, and its writes inside the core's ack."""

from __future__ import annotations

import subprocess
import threading
import uuid
from pathlib import Path
from types import TracebackType

import pytest
import redis
from durations_jobs import Broken, Nap
from resqplug_durations import stats

import resqplug
from resqplug.pytest_fixtures import child_env, resqplug_cmd
from resqplug.testing import drain

HERE = Path(__file__).resolve().parent


def run_worker(url: str, namespace: str, mode: str) -> None:
    """A real ``resqplug work --burst`` on queue durations, to its end."""
    cmd = resqplug_cmd(url, namespace, "work", "--app", "durations_jobs", "-q", "durations")
    done = subprocess.run(
        [*cmd, "--burst", mode], env=child_env(HERE), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def enqueue_workload(client: resqplug.Resq) -> None:
    """Two naps (0.05 s and 0.1 s) that succeed and one job that fails."""
    client.enqueue(Nap, 0.05)
    client.enqueue(Nap, 0.1)
    client.enqueue(Broken)


def test_drain_records_each_run_in_this_process(default_client: resqplug.Resq):
    enqueue_workload(default_client)
    assert drain(default_client, "durations") == 3
    naps, broken = stats("Nap"), stats("Broken")
    assert (naps["count"], naps["failed"], broken["count"], broken["failed"]) == (2, 0, 1, 1)
    assert 0.15 <= naps["total_seconds"] < 5
    assert 0.1 <= naps["max_seconds"] < naps["total_seconds"]
    assert stats("NeverRan") == dict.fromkeys(
        ("count", "failed", "total_seconds", "max_seconds"), 0
    )


@pytest.mark.parametrize("mode", ["--no-fork", "--fork"])
def test_workers_record_succeeded_and_failed_runs(redis_url: str, namespace: str, mode: str):
    client = resqplug.Resq(redis_url, namespace)
    enqueue_workload(client)
    run_worker(redis_url, namespace, mode)
    naps, broken = stats("Nap", client), stats("Broken", client)
    assert (naps["count"], naps["failed"], broken["count"], broken["failed"]) == (2, 0, 1, 1)
    assert 0.15 <= naps["total_seconds"] < 5
    assert 0.1 <= naps["max_seconds"] < naps["total_seconds"]
    assert 0.01 <= broken["total_seconds"] == broken["max_seconds"]


def test_the_cli_command_shows_a_class(redis_url: str, namespace: str):
    client = resqplug.Resq(redis_url, namespace)
    client.enqueue(Nap, 0.01)
    client.enqueue(Broken)
    run_worker(redis_url, namespace, "--no-fork")
    cmd = resqplug_cmd(redis_url, namespace, "durations", "Nap", "Broken")
    shown = subprocess.run(cmd, env=child_env(HERE), capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert [line.split(", total_seconds")[0] for line in lines] == [
        "Nap: count 1, failed 0",
        "Broken: count 1, failed 1",
    ]


class Monitor:
    """Every command the server runs while the block runs (Redis MONITOR), as
    (came from a script, command name, arguments)."""

    def __init__(self, url: str) -> None:
        self.url, self.end = url, f"durations-test-end-{uuid.uuid4().hex}"
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


@pytest.mark.parametrize("mode", ["--no-fork", "--fork"])
def test_its_writes_travel_only_inside_the_core_ack(own_redis: str, namespace: str, mode: str):
    client = resqplug.Resq(own_redis, namespace)
    enqueue_workload(client)
    with Monitor(own_redis) as monitor:
        run_worker(own_redis, namespace, mode)
    ours = client.keys.plugin("durations")
    touching = [
        (lua, name, args) for lua, name, args in monitor.seen if any(ours in a for a in args)
    ]
    in_scripts = [name for lua, name, _ in touching if lua]
    assert in_scripts.count("hincrbyfloat") == 3
    calls = [(name, args) for lua, name, args in touching if not lua]
    assert calls, "the worker's ack carried the writes"
    for name, args in calls:  # each is the ack: it carries the worker's in-flight list and stats
        assert name == "evalsha", (name, args)
        assert client.keys.stat_processed in args
        assert any(a.startswith(client.keys.own_prefix + "inflight:") for a in args)
    assert stats("Nap", client)["count"] == 2
