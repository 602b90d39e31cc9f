"""Helpers of the cross-plugin suite: which plugins to load, worker processes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from resqplug.plugins import DISABLE_ENV
from resqplug.pytest_fixtures import child_env, resqplug_cmd, wait_for  # noqa: F401 - re-exported for the tests

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


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child process's environment: this folder and the plugins' test folders
    on PYTHONPATH, short worker leases, ``extra``."""
    out = child_env(HERE, extra)
    out["PYTHONPATH"] = ":".join([out["PYTHONPATH"], *map(str, PLUGIN_TEST_DIRS)])
    return out


def worker_cmd(redis_url: str, namespace: str, app: str, *args: str) -> list[str]:
    return resqplug_cmd(redis_url, namespace, "work", "--app", app, *args)


class Proc:
    """A real ``resqplug`` process; its output goes to a file (a pipe could fill
    up and block it)."""

    def __init__(self, cmd: list[str], log: Path, extra_env: dict[str, str] | None = None) -> None:
        self.log_path = log
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                cmd, env=env(extra_env), stdout=out, stderr=subprocess.STDOUT, text=True
            )
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float = 30.0) -> int:
        """The exit code; fails the test (with the output) if it runs on."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"process did not exit in {timeout}s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL (kill -9) and reap the process."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


Spawn = Callable[..., Proc]
"""The ``spawn`` fixture: ``spawn(*worker_args, app="together_jobs", env=None) -> Proc``."""
