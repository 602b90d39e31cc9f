"""Helpers for tests that run real worker processes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import redis

import resqplug
from resqplug.pytest_fixtures import FAST_LEASE, child_env, resqplug_cmd, wait_for  # noqa: F401 - re-exported for the tests

TESTS = Path(__file__).resolve().parent
# The bundled plugins (plugins/<name>, <name> its entry point's name).
BUNDLED = tuple(sorted(p.parent.name for p in (TESTS.parent / "plugins").glob("*/pyproject.toml")))
CORE_ONLY = {"RESQPLUG_DISABLE_PLUGINS": ",".join(BUNDLED)}


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child process's environment, with this folder on PYTHONPATH."""
    return child_env(TESTS, extra)


class WorkerProcess:
    """``resqplug work`` as a real process."""

    def __init__(
        self,
        redis_url: str,
        namespace: str,
        *args: str,
        extra_env: dict[str, str] | None = None,
        command: str = "work",
    ) -> None:
        cmd = resqplug_cmd(redis_url, namespace, command, "--app", "worker_jobs", *args)
        self.proc = subprocess.Popen(
            cmd, env=env(extra_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.pid = self.proc.pid

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float = 20.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _out, err = self.proc.communicate()
            raise AssertionError(f"worker did not exit within {timeout}s; stderr:\n{err}")

    def output(self) -> str:
        _, err = self.proc.communicate(timeout=5)
        return err

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def registered_workers(client: redis.Redis, namespace: str) -> list[str]:
    return sorted(w.decode() for w in client.smembers(f"{namespace}:workers"))


def child_pids(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()  # noqa: SIM115 - /proc, tiny
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry))
    return found


def is_fork_server(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"resqplug.worker.run.fork.server" in f.read()
    except OSError:
        return False


def fork_server_pids(worker_pid: int) -> list[int]:
    return [p for p in child_pids(worker_pid) if is_fork_server(p)]


def job_parents(worker_pid: int) -> set[int]:
    """The processes that fork a fork-mode worker's job children: its fork
    server, or the worker itself."""
    return {worker_pid, *fork_server_pids(worker_pid)}


def job_children(worker_pid: int) -> list[int]:
    """A fork-mode worker's job children (not its fork server)."""
    return [
        p for parent in job_parents(worker_pid) for p in child_pids(parent) if not is_fork_server(p)
    ]


def listed(resq: resqplug.Resq, name: str) -> list[str]:
    """A list the test jobs of worker_jobs record in (done, started, pids, ...)."""
    return [x.decode() for x in resq.redis.lrange(resq.keys.plugin("test", name), 0, -1)]


def process_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie no longer runs anything
