"""The shared helper for tests that start real ``resqplug`` processes
(``resqplug_processes`` and its spawners, resqplug/pytest_fixtures.py), which
every plugin's suite and the cross-plugin suite use for their ``spawn``."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import resqplug
from resqplug.pytest_fixtures import Processes, ResqplugProcess, wait_for

TESTS = Path(__file__).resolve().parent


def test_a_spawner_starts_the_command_with_its_app_queue_and_environment(
    resqplug_processes: Processes, redis_url: str, namespace: str
) -> None:
    spawn = resqplug_processes.spawner(
        "worker_jobs", path=TESTS, queue="fx", options=["-v"], env={"FX_A": "1"}
    )
    worker = spawn("--no-fork", env={"FX_B": "2"}, log_env="FX_LOG")
    tail = worker.cmd[worker.cmd.index(namespace) + 1 :]
    assert tail == ["-v", "work", "--app", "worker_jobs", "-q", "fx", "--no-fork"]
    client = resqplug.Resq(redis_url, namespace)
    wait_for(lambda: client.redis.smembers(client.keys.workers), 20, "the worker to register")
    environ = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{worker.pid}/environ").read_text().split("\0")
        if "=" in item
    )
    assert environ["FX_A"] == "1" and environ["FX_B"] == "2"
    assert environ["FX_LOG"] == str(worker.log_path)
    assert str(TESTS) in environ["PYTHONPATH"].split(":")
    assert environ["RESQPLUG_HEARTBEAT_S"] == "0.2"  # short leases by default


def test_the_command_can_come_with_each_call_and_app_can_be_left_out(
    resqplug_processes: Processes,
) -> None:
    spawn = resqplug_processes.spawner("worker_jobs", path=TESTS, command=None)
    proc = spawn("--version", app=False)
    assert proc.wait(20) == 0
    assert proc.output().startswith("resqplug ")
    assert "--app" not in proc.cmd


def test_every_process_is_killed_at_the_end_and_with_ends_one(
    resqplug_processes: Processes,
) -> None:
    spawn = resqplug_processes.spawner("worker_jobs", path=TESTS, queue="fx")
    with spawn("--no-fork") as first:
        assert first.alive()
    assert not first.alive()
    assert first.proc.returncode == -signal.SIGKILL
    second = spawn("--no-fork")
    resqplug_processes.kill_all()  # what the fixture does when the test ends
    assert second.proc.returncode == -signal.SIGKILL
    assert isinstance(second.output(), str)  # the log stays readable


def test_stop_sends_term_and_returns_the_exit_code(
    resqplug_processes: Processes, redis_url: str, namespace: str
) -> None:
    spawn = resqplug_processes.spawner("worker_jobs", path=TESTS, queue="fx")
    worker: ResqplugProcess = spawn("--no-fork")
    client = resqplug.Resq(redis_url, namespace)
    wait_for(lambda: client.redis.smembers(client.keys.workers), 20, "the worker to register")
    assert worker.stop() == 0
    assert not client.redis.smembers(client.keys.workers)


def test_wait_fails_the_test_with_the_output_when_the_process_runs_on(
    resqplug_processes: Processes,
) -> None:
    worker = resqplug_processes.spawner("worker_jobs", path=TESTS, queue="fx")("--no-fork")
    with pytest.raises(AssertionError, match=r"did not exit in 0\.2s"):
        worker.wait(0.2)
    assert not worker.alive()
