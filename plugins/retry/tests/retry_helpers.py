"""Helpers for the retry plugin's tests: polling, the CLI, real worker processes."""

from __future__ import annotations

import os
import subprocess
from importlib.metadata import entry_points
from pathlib import Path

import redis

import resqplug
from resqplug.delayed import DelayedSet
from resqplug.plugins import DISABLE_ENV
from resqplug.pytest_fixtures import FAST_LEASE, child_env, resqplug_cmd, wait_for  # noqa: F401 - re-exported for the tests
from resqplug.testing import drain

HERE = Path(__file__).resolve().parent


def redis_now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return int(seconds) + int(micros) / 1e6


SCHEDULER_OWNER = "scheduler"  # resqplug_scheduler.api.OWNER


def scheduler_installed() -> bool:
    return any(e.name == "scheduler" for e in entry_points(group="resqplug"))


def scheduler_loaded() -> bool:
    return "scheduler" in resqplug.get_plugins().names()


def retry_set(client: resqplug.Resq) -> DelayedSet:
    """The retry plugin's own delayed set (used when no scheduler is loaded)."""
    return DelayedSet(client, "retry")


def scheduler_set(client: resqplug.Resq) -> DelayedSet:
    return DelayedSet(client, SCHEDULER_OWNER)


def waiting_set(client: resqplug.Resq) -> DelayedSet:
    """Where delayed retries wait: the scheduler's set if it is loaded, else the
    retry plugin's own."""
    return scheduler_set(client) if scheduler_loaded() else retry_set(client)


def promote_due(client: resqplug.Resq) -> int:
    """What a worker's heartbeat does with due delayed retries."""
    moved = retry_set(client).promote()
    if scheduler_loaded():
        moved += scheduler_set(client).move_due()
    return moved


def run_until_idle(client: resqplug.Resq, queue: str, *, timeout: float = 10.0) -> int:
    """Run the queue here (drain), promoting due retries like a worker's
    heartbeat would, until nothing is queued or waiting. Returns runs."""
    ran = 0

    def idle() -> bool:
        nonlocal ran
        promote_due(client)
        ran += drain(client, queue)
        waiting = retry_set(client).count() + scheduler_set(client).count()
        return client.size(queue) == 0 and waiting == 0

    wait_for(idle, timeout, "the queue and the retry set to empty")
    return ran


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child process's environment, with this folder on PYTHONPATH."""
    return child_env(HERE, extra)


def mode_env(delay_mode: str) -> dict[str, str]:
    """The environment of a worker process for a ``delay_mode``."""
    return {DISABLE_ENV: "scheduler"} if delay_mode == "own-set" else {}


def run_cli(
    redis_url: str, namespace: str, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        resqplug_cmd(redis_url, namespace, *args),
        env=env(extra_env),
        capture_output=True,
        text=True,
        timeout=60,
    )


class WorkerProcess:
    """``resqplug work --app retry_jobs`` as a real process."""

    def __init__(
        self,
        redis_url: str,
        namespace: str,
        *args: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        cmd = resqplug_cmd(redis_url, namespace, "work", "--app", "retry_jobs", *args)
        self.proc = subprocess.Popen(
            cmd, env=env(extra_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.pid = self.proc.pid

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)
