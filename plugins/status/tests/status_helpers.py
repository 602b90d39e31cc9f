"""Helpers of the status plugin's tests: polling, the CLI, real worker processes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO

from resqplug.pytest_fixtures import FAST_LEASE, child_env, resqplug_cmd, wait_for  # noqa: F401 - re-exported for the tests

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


class WorkerProcess:
    """``resqplug work --app status_jobs -q status ...`` as a real process; its
    log goes to a file (a pipe could fill up and block the worker)."""

    def __init__(
        self,
        redis_url: str,
        namespace: str,
        log: Path,
        *args: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.log = log
        self._log_file: IO[str] = open(log, "w")  # noqa: SIM115 - closed in kill()
        cmd = resqplug_cmd(redis_url, namespace, "-v", "work", "--app", "status_jobs", *args)
        self.proc = subprocess.Popen(
            cmd, env=env(extra_env), stdout=subprocess.DEVNULL, stderr=self._log_file, text=True
        )
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        finally:
            self._log_file.close()


Spawn = Callable[..., WorkerProcess]
"""The ``spawn`` fixture: ``spawn(*worker_args, sync_kills=False) -> WorkerProcess``."""
