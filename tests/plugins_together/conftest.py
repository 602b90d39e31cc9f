"""Fixtures of the cross-plugin suite: tests of two or more plugins together
(each plugin's own suite, under plugins/<name>/tests, needs only the core and
that plugin). It runs with all five plugins installed (``./dev test``'s main
virtual environment); a test that wants fewer loads only those, in this process
with ``load_only`` and in worker processes with ``only_env``.

The plugins' own test folders are on ``sys.path`` (and on the PYTHONPATH of
the processes these tests start), so their job classes and helpers are reused
here rather than copied."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
from together_helpers import ALL_PLUGINS, HERE, PLUGIN_TEST_DIRS, Spawn, installed_plugins, only_env

import resqplug
from resqplug import plugins
from resqplug.pytest_fixtures import Processes

for _folder in PLUGIN_TEST_DIRS:  # after this folder, so our modules win a name clash
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))


@pytest.fixture(autouse=True)
def _all_plugins_installed() -> None:
    missing = sorted(set(ALL_PLUGINS) - installed_plugins())
    if missing:
        pytest.fail(
            "the cross-plugin suite needs all five plugins installed; missing: "
            + ", ".join(missing)
            + " (./dev test runs it in .venv, which has them all)",
            pytrace=False,
        )


LoadOnly = Callable[..., None]


@pytest.fixture
def load_only(monkeypatch: pytest.MonkeyPatch) -> LoadOnly:
    """``load_only("retry", "status")``: this process's plugin manager loads the
    core and those plugins only (the others are disabled); call it before
    registering test plugins, which a new plugin manager forgets."""

    def load(*names: str) -> None:
        for name, value in only_env(*names).items():
            monkeypatch.setenv(name, value)
        plugins.reset_plugins()
        assert set(resqplug.get_plugins().names()) == {"core", *names}

    return load


@pytest.fixture
def spawn(resqplug_processes: Processes) -> Spawn:
    """``spawn("--no-fork", "-q", "loner", app="together_jobs", env={...})``
    starts ``resqplug work`` in the test namespace, with this folder and the
    plugins' test folders on its PYTHONPATH; every process started is killed
    when the test ends, or at the end of ``with spawn(...):``
    (resqplug/pytest_fixtures.py)."""
    return resqplug_processes.spawner("together_jobs", path=[HERE, *PLUGIN_TEST_DIRS])
