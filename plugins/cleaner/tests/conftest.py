"""Fixtures of the cleaner plugin's tests. The shared ones (a real Redis, a fresh
namespace per test, a clean environment and plugin manager) come from
resqplug/pytest_fixtures.py through the root conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cleaner_helpers import Failed, WorkerProcess
from resqplug_cleaner import Cleaner

import resqplug


@pytest.fixture
def cleaner(default_client: resqplug.Resq) -> Cleaner:
    return Cleaner(default_client)


@pytest.fixture
def failed(default_client: resqplug.Resq) -> Failed:
    """Writes failure records straight into the core's store (list + index)."""
    return Failed(default_client)


@pytest.fixture
def spawn(redis_url: str, namespace: str, tmp_path: Path) -> Iterator[Any]:
    """``spawn("--no-fork", "-q", "idle")`` starts ``resqplug work --app
    cleaner_jobs`` in the test namespace; every worker started is killed when
    the test ends."""
    started: list[WorkerProcess] = []

    def start(*args: str) -> WorkerProcess:
        proc = WorkerProcess(redis_url, namespace, tmp_path / f"worker-{len(started)}.log", *args)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.kill()
