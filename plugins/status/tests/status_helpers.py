"""Helpers of the status plugin's tests: polling, the CLI, real worker processes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from resqplug.pytest_fixtures import (  # noqa: F401 - re-exported for the tests
    FAST_LEASE,
    ResqplugProcess,
    child_env,
    resqplug_cmd,
    wait_for,
)

HERE = Path(__file__).resolve().parent


def installed(plugin: str) -> bool:
    return any(e.name == plugin for e in entry_points(group="resqplug"))


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child process's environment, with this folder on PYTHONPATH."""
    return child_env(HERE, extra)


def start_cli(redis_url: str, namespace: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        resqplug_cmd(redis_url, namespace, *args),
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 30.0) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"command did not finish in {timeout}s: {err}")
    return proc.returncode, out, err


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not reaped) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


Spawn = Callable[..., ResqplugProcess]
"""The ``spawn`` fixture: ``spawn(*worker_args, sync_kills=False) -> ResqplugProcess``."""
