"""Helpers for the retry plugin's tests: polling, the CLI, real worker processes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

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


WITHOUT_SCHEDULER = {DISABLE_ENV: "scheduler"}
"""A worker process's environment where delayed retries wait in the retry
plugin's own set (the scheduler plugin, if installed, is disabled)."""


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


class RetryRecorder:
    """A test plugin: what the retry plugin's hooks (and before_enqueue) saw."""

    def __init__(self) -> None:
        self.scheduled: list[dict[str, Any]] = []
        self.exhausted: list[dict[str, Any]] = []
        self.enqueued: list[dict[str, Any]] = []

    @resqplug.hookimpl(optionalhook=True)
    def retry_scheduled(self, job: resqplug.Job, exc: BaseException, delay: float) -> None:
        self.scheduled.append(
            {"id": job.id, "attempt": job.attempt, "exc": exc, "delay": delay, "meta": job.meta}
        )

    @resqplug.hookimpl(optionalhook=True)
    def retry_exhausted(self, job: resqplug.Job, exc: BaseException) -> None:
        self.exhausted.append({"id": job.id, "attempt": job.attempt, "exc": exc})

    @resqplug.hookimpl
    def before_enqueue(self, job: resqplug.Job) -> None:
        self.enqueued.append({"id": job.id, "attempt": job.attempt, "meta": dict(job.meta)})
