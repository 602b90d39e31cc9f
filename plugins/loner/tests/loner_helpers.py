"""Helpers for the loner plugin's tests: polling, the CLI, real worker processes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import resqplug_loner

import resqplug
from resqplug.pytest_fixtures import FAST_LEASE, child_env, resqplug_cmd, wait_for  # noqa: F401 - re-exported for the tests
from resqplug.worker.reaper import Reaper

HERE = Path(__file__).resolve().parent
APP = "loner_jobs"
QUEUE = "loner"


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child process's environment, with this folder on PYTHONPATH."""
    return child_env(HERE, extra)


def run_cli(redis_url: str, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        resqplug_cmd(redis_url, namespace, *args),
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def holder(target: Any, *args: Any) -> str | None:
    return resqplug_loner.holder(target, *args)


def lock_key_of(client: resqplug.Resq, target: Any, *args: Any) -> str:
    from resqplug.job import job_class_of

    return resqplug_loner.lock_key(client, job_class_of(target)(list(args)))


def queued_ids(client: resqplug.Resq, queue: str = QUEUE) -> list[str]:
    return [doc["id"] for doc in client.peek(queue, 0, 1000)]


def locks(client: resqplug.Resq) -> list[bytes]:
    return list(client.redis.scan_iter(match=client.keys.plugin("loner", "lock", "*")))


def reap_when_dead(client: resqplug.Resq, timeout: float = 10.0) -> int:
    """Run the reaper here until a dead worker's lease expired and its jobs were
    recovered (what any worker's heartbeat does); returns how many it handled."""
    reaper = Reaper(client, "loner-test-reaper", max_recoveries=3)
    return wait_for(reaper.reap, timeout, "the reaper to recover the dead worker's job")
