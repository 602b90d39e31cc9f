"""Fixtures of the scheduler plugin's tests. The shared ones (a real Redis, a fresh
namespace per test, a clean environment and plugin manager) come from
resqplug/pytest_fixtures.py through the root conftest.py."""

from __future__ import annotations

import pytest
from scheduler_helpers import APP, TESTS, Spawn

from resqplug.pytest_fixtures import Processes, ResqplugProcess


@pytest.fixture
def spawn(resqplug_processes: Processes) -> Spawn:
    """``spawn("scheduler", "--interval", "0.1", plugins="count")`` starts
    ``resqplug <args> --app scheduler_jobs`` in the test namespace (``plugins``:
    test plugins of scheduler_jobs to load, ``disable``: installed plugins to
    block, ``app=False``: no ``--app``); every process started is killed when
    the test ends (resqplug/pytest_fixtures.py)."""
    spawner = resqplug_processes.spawner(
        APP, path=TESTS, command=None, fast_lease=False, drop=("RESQPLUG_", "SCHEDTEST_")
    )

    def start(
        *args: str, plugins: str = "", disable: str = "", app: bool = True
    ) -> ResqplugProcess:
        extra_env = {"SCHEDTEST_PLUGINS": plugins, "RESQPLUG_DISABLE_PLUGINS": disable}
        return spawner(*args, app=app, env={k: v for k, v in extra_env.items() if v})

    return start
