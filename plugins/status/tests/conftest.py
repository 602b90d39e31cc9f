"""Fixtures of the status plugin's tests. The shared ones (a real Redis, a fresh
namespace per test, a clean environment and plugin manager) come from
resqplug/pytest_fixtures.py through the root conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from status_helpers import Spawn, WorkerProcess


@pytest.fixture
def spawn(redis_url: str, namespace: str, tmp_path: Path) -> Iterator[Spawn]:
    """``spawn("--no-fork")`` starts ``resqplug work --app status_jobs -q status``
    in the test namespace (``sync_kills=True``: with status_jobs.KillRaceSync);
    every worker started is killed when the test ends."""
    started: list[WorkerProcess] = []

    def start(*args: str, sync_kills: bool = False) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        extra = {"STATUS_TEST_SYNC_LOG": str(log)} if sync_kills else None
        proc = WorkerProcess(redis_url, namespace, log, "-q", "status", *args, extra_env=extra)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.kill()
