"""Fixtures of the status plugin's tests. The shared ones (a real Redis, a fresh
namespace per test, a clean environment and plugin manager) come from
resqplug/pytest_fixtures.py through the root conftest.py."""

from __future__ import annotations

import pytest
from status_helpers import HERE, Spawn

from resqplug.pytest_fixtures import Processes, ResqplugProcess


@pytest.fixture
def spawn(resqplug_processes: Processes) -> Spawn:
    """``spawn("--no-fork")`` starts ``resqplug -v work --app status_jobs -q
    status`` in the test namespace (``sync_kills=True``: with
    status_jobs.KillRaceSync, which reads the worker's log); every worker
    started is killed when the test ends (resqplug/pytest_fixtures.py)."""
    spawner = resqplug_processes.spawner("status_jobs", path=HERE, queue="status", options=["-v"])

    def start(*args: str, sync_kills: bool = False) -> ResqplugProcess:
        return spawner(*args, log_env="STATUS_TEST_SYNC_LOG" if sync_kills else None)

    return start
