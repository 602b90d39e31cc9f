"""Shared pieces of the benchmarks: a private redis-server, worker processes
(started in their own session, always killed), process trees, stats."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

HERE = Path(__file__).resolve().parent
LOGS = HERE / ".logs"
_running: list[subprocess.Popen[bytes]] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the benchmark dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def spawn(
    cmd: list[str], log_name: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a process in a session of its own, output to benchmarks/.logs/."""
    LOGS.mkdir(exist_ok=True)
    with open(LOGS / (re.sub(r"[^\w.-]+", "_", log_name) + ".log"), "wb") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env or env_with(),
            cwd=HERE,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    _running.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process and every descendant (also those in other sessions)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGSTOP)  # no more forks while we collect the tree
    for pid in reversed(tree_pids(proc.pid)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if proc in _running:
        _running.remove(proc)


def stop_all() -> None:
    for proc in list(_running):
        stop(proc)


@contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of our own on a spare port, persistence off."""
    binary = shutil.which("redis-server") or shutil.which("valkey-server")
    if binary is None:
        sys.exit("benchmarks need redis-server (or valkey-server) on PATH")
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = spawn([binary, *args], "redis-server")
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        stop(proc)


def tree_pids(pid: int) -> list[int]:
    """A process and all its descendants (children of every thread), parents first."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop(0)
        found.append(current)
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
    return found


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB."""
    total = 0
    for current in tree_pids(pid):
        with (
            contextlib.suppress(FileNotFoundError, ProcessLookupError),
            open(f"/proc/{current}/status") as f,
        ):
            total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
    return total


def wait_until(check: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll `check` every 5 ms; fail if the worker exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not check():
        check_alive(proc, deadline)
        time.sleep(0.005)


def check_alive(proc: subprocess.Popen[bytes], deadline: float) -> None:
    if proc.poll() is not None:
        raise RuntimeError(f"worker exited with {proc.returncode} (see benchmarks/.logs/)")
    if time.monotonic() > deadline:
        raise TimeoutError("worker took too long")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def env_with(**extra: str) -> dict[str, str]:
    """The environment for workers: no RESQPLUG_* settings, benchmarks/ and
    benchmarks/peers/ importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESQPLUG_")}
    paths = [str(HERE), str(HERE / "peers"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.update(extra)
    return env
