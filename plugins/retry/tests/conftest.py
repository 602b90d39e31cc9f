"""Fixtures of the retry plugin's tests. The shared ones (a real Redis, a fresh
namespace per test, a clean environment and plugin manager) come from
resqplug/pytest_fixtures.py through the root conftest.py."""

from __future__ import annotations

from typing import Any

import pytest
from retry_helpers import scheduler_installed, scheduler_loaded

import resqplug
from resqplug import plugins
from resqplug.plugins import DISABLE_ENV


@pytest.fixture(params=["own-set", "scheduler"])
def delay_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Delayed retries without the scheduler plugin (the retry plugin's own set;
    the scheduler is disabled if installed) and with it (skipped if it is not
    installed). Worker processes get the same with ``mode_env(delay_mode)``."""
    if request.param == "scheduler":
        if not scheduler_installed():
            pytest.skip("resqplug-scheduler is not installed")
    else:
        monkeypatch.setenv(DISABLE_ENV, "scheduler")
    plugins.reset_plugins()
    assert scheduler_loaded() == (request.param == "scheduler")
    return str(request.param)


class Recorder:
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


@pytest.fixture
def recorder(request: pytest.FixtureRequest, default_client: resqplug.Resq) -> Recorder:
    if "delay_mode" in request.fixturenames:
        request.getfixturevalue("delay_mode")  # it rebuilds the plugin manager: first
    rec = Recorder()
    resqplug.register(rec, name="retry-test-recorder")
    return rec
