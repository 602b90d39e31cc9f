"""Fixtures of the cleaner plugin's tests. The shared ones (a real Redis, a fresh
namespace per test, a clean environment and plugin manager) come from
resqplug/pytest_fixtures.py through the root conftest.py."""

from __future__ import annotations

import pytest
from cleaner_helpers import APP, HERE, Failed
from resqplug_cleaner import Cleaner

import resqplug
from resqplug.pytest_fixtures import Processes, Spawner


@pytest.fixture
def cleaner(default_client: resqplug.Resq) -> Cleaner:
    return Cleaner(default_client)


@pytest.fixture
def failed(default_client: resqplug.Resq) -> Failed:
    """Writes failure records straight into the core's store (list + index)."""
    return Failed(default_client)


@pytest.fixture
def spawn(resqplug_processes: Processes) -> Spawner:
    """``spawn("--no-fork", "-q", "idle")`` starts ``resqplug work --app
    cleaner_jobs`` in the test namespace; every worker started is killed when
    the test ends (resqplug/pytest_fixtures.py)."""
    return resqplug_processes.spawner(APP, path=HERE)
