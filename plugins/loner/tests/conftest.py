"""Fixtures of the loner plugin's tests. The shared ones (a real Redis, a fresh
namespace per test, a clean environment and plugin manager) come from
resqplug/pytest_fixtures.py through the root conftest.py."""

from __future__ import annotations

import pytest
from loner_helpers import APP, HERE

import resqplug
from resqplug.pytest_fixtures import Processes, Spawner


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
def spawn(resqplug_processes: Processes) -> Spawner:
    """``spawn("--no-fork", "-q", "loner")`` starts ``resqplug work --app
    loner_jobs`` in the test namespace; every worker started is killed when the
    test ends (resqplug/pytest_fixtures.py)."""
    return resqplug_processes.spawner(APP, path=HERE)
