"""Signals that reach a worker while it starts (slow imports, plugins, the
client) have their documented meaning, not their default action: QUIT, TERM
and INT make it exit 0 without taking a job; USR2/CONT pause and resume it;
USR1 (kill the running job: there is none) is dropped. Same for ``resqplug
workers`` and the workers it starts. The start-up is held open by an --app
module that waits for the test (worker_jobs_slow_start)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import worker_jobs as wj
from helpers import WorkerProcess, listed, registered_workers, wait_for

COMMANDS = {"work": ("work",), "workers": ("workers", "-c", "2")}


def start_held(redis_url: str, namespace: str, tmp_path: Path, command: str) -> WorkerProcess:
    """A worker command stopped in the middle of its start-up (it is importing
    its --app modules) until ``go``."""
    name, *args = COMMANDS[command]
    worker = WorkerProcess(
        redis_url,
        namespace,
        "--app",
        "worker_jobs,worker_jobs_slow_start",
        "-q",
        "work",
        *args,
        extra_env={"SLOW_START_DIR": str(tmp_path)},
        command=name,
    )
    wait_for(lambda: list(tmp_path.glob("importing-*")), timeout=30, what="the start-up")
    return worker


def go(tmp_path: Path) -> None:
    (tmp_path / "go").touch()


def restarts(stderr: str) -> list[str]:
    """Lines where ``resqplug workers`` restarted a worker that died."""
    return [line for line in stderr.splitlines() if "restarting" in line]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("sig", [signal.SIGQUIT, signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_during_start_up_exits_0_without_taking_a_job(
    resq, redis_url, namespace, tmp_path, command, sig
):
    resq.enqueue(wj.WRecord, 1)
    worker = start_held(redis_url, namespace, tmp_path, command)

    worker.signal(sig)
    go(tmp_path)

    try:
        assert worker.wait(30) == 0, worker.output()
    finally:
        worker.stop()
    assert "Traceback" not in worker.output()
    assert resq.size("work") == 1
    assert registered_workers(resq.redis, namespace) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_kill_and_pause_signals_during_start_up_leave_the_worker_running_paused(
    resq, redis_url, namespace, tmp_path, command
):
    worker = start_held(redis_url, namespace, tmp_path, command)
    try:
        worker.signal(signal.SIGUSR1)
        worker.signal(signal.SIGUSR2)
        go(tmp_path)
        count = 2 if command == "workers" else 1
        wait_for(
            lambda: len(registered_workers(resq.redis, namespace)) == count,
            timeout=30,
            what="the workers to register",
        )
        job_id = resq.enqueue(wj.WRecord, 1)
        time.sleep(1.0)  # the point: paused, nothing runs
        assert resq.size("work") == 1

        worker.signal(signal.SIGCONT)
        wait_for(lambda: listed(resq, "done") == [job_id], timeout=30, what="the job")
        worker.signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        worker.stop()
    stderr = worker.output()
    assert "Traceback" not in stderr
    assert restarts(stderr) == []


def test_a_signal_forwarded_as_a_worker_is_forked_does_not_kill_it(
    resq, redis_url, namespace, tmp_path
):
    # USR1 to the supervisor many times while it starts its workers: each one is
    # forwarded to workers that are still starting (or were just forked).
    worker = start_held(redis_url, namespace, tmp_path, "workers")
    try:
        go(tmp_path)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            worker.signal(signal.SIGUSR1)
            time.sleep(0.005)
        wait_for(
            lambda: len(registered_workers(resq.redis, namespace)) == 2,
            timeout=30,
            what="the workers to register",
        )
        worker.signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        worker.stop()
    assert restarts(worker.output()) == []


def test_other_commands_keep_the_default_signal_actions(redis_url, namespace, tmp_path):
    # `resqplug enqueue` does not take the held signals over: TERM still ends it.
    cmd = WorkerProcess(
        redis_url,
        namespace,
        "--app",
        "worker_jobs,worker_jobs_slow_start",
        "WRecord",
        "1",
        extra_env={"SLOW_START_DIR": str(tmp_path)},
        command="enqueue",
    )
    wait_for(lambda: list(tmp_path.glob("importing-*")), timeout=30, what="the start-up")
    cmd.signal(signal.SIGTERM)
    go(tmp_path)
    try:
        assert cmd.wait(30) == -signal.SIGTERM
    finally:
        cmd.stop()
