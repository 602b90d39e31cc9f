"""Helpers of the cross-plugin suite: which plugins to load, worker processes."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from resqplug.plugins import DISABLE_ENV
from resqplug.pytest_fixtures import (  # noqa: F401 - re-exported for the tests
    ResqplugProcess,
    Spawner,
    child_env,
    resqplug_cmd,
    wait_for,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ALL_PLUGINS = ("cleaner", "loner", "metrics", "retry", "scheduler", "status")
PLUGIN_TEST_DIRS = [ROOT / "plugins" / name / "tests" for name in ALL_PLUGINS]


def installed_plugins() -> set[str]:
    return {e.name for e in entry_points(group="resqplug")}


def only_env(*names: str) -> dict[str, str]:
    """The environment that loads the core and ``names`` only: every other
    bundled plugin is disabled."""
    unknown = set(names) - set(ALL_PLUGINS)
    assert not unknown, f"not a bundled plugin: {unknown}"
    return {DISABLE_ENV: ",".join(p for p in ALL_PLUGINS if p not in names)}


Spawn = Spawner
"""The ``spawn`` fixture: ``spawn(*worker_args, app="together_jobs", env=None) -> Proc``."""
Proc = ResqplugProcess
