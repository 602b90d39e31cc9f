"""Fixtures of the loner plugin's tests. The shared ones (a real Redis, a fresh
namespace per test, a clean environment and plugin manager) come from
resqplug/pytest_fixtures.py through the root conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from loner_helpers import Spawn, WorkerProcess

import resqplug


class Recorder:
    """A test plugin: every ``duplicate_skipped`` the loner plugin fired."""

    def __init__(self) -> None:
        self.skipped: list[tuple[resqplug.Job, str | None]] = []

    @resqplug.hookimpl(optionalhook=True)
    def duplicate_skipped(self, job: resqplug.Job, existing_id: str | None) -> None:
        self.skipped.append((job, existing_id))


@pytest.fixture
def recorder(default_client: resqplug.Resq) -> Recorder:
    rec = Recorder()
    resqplug.register(rec, name="loner-test-recorder")
    return rec


@pytest.fixture
def spawn(redis_url: str, namespace: str, tmp_path: Path) -> Iterator[Spawn]:
    """``spawn("--no-fork", "-q", "loner")`` starts ``resqplug work --app
    loner_jobs`` in the test namespace; every worker started is killed when the
    test ends."""
    started: list[WorkerProcess] = []

    def start(*args: str, extra_env: dict[str, str] | None = None) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        proc = WorkerProcess(redis_url, namespace, log, *args, extra_env=extra_env)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.kill()
