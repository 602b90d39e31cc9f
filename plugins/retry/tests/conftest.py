"""Fixtures of the retry plugin's tests. The shared ones (a real Redis, a fresh
namespace per test, a clean environment and plugin manager) come from
resqplug/pytest_fixtures.py through the root conftest.py.

These tests need only the core and the retry plugin; the retry plugin with the
scheduler (its delayed set) and the loner is tested in tests/plugins_together."""

from __future__ import annotations

import pytest
from retry_helpers import HERE, WITHOUT_SCHEDULER, RetryRecorder, scheduler_loaded

import resqplug
from resqplug import plugins
from resqplug.plugins import DISABLE_ENV
from resqplug.pytest_fixtures import Processes, Spawner


@pytest.fixture
def without_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    """Delayed retries wait in the retry plugin's own set: the scheduler plugin,
    if installed, is disabled here (its delayed set would take them over).
    Worker processes get the same with ``WITHOUT_SCHEDULER``."""
    monkeypatch.setenv(DISABLE_ENV, "scheduler")
    plugins.reset_plugins()
    assert not scheduler_loaded()


@pytest.fixture
def recorder(request: pytest.FixtureRequest, default_client: resqplug.Resq) -> RetryRecorder:
    if "without_scheduler" in request.fixturenames:
        request.getfixturevalue("without_scheduler")  # it rebuilds the plugin manager: first
    rec = RetryRecorder()
    resqplug.register(rec, name="retry-test-recorder")
    return rec


@pytest.fixture
def spawn(resqplug_processes: Processes) -> Spawner:
    """``spawn("--no-fork")`` starts ``resqplug work --app retry_jobs -q retry``
    in the test namespace, its delayed retries in the retry plugin's own set
    (``WITHOUT_SCHEDULER``); every worker started is killed when the test ends,
    or at the end of ``with spawn(...):`` (resqplug/pytest_fixtures.py)."""
    return resqplug_processes.spawner("retry_jobs", path=HERE, queue="retry", env=WITHOUT_SCHEDULER)
