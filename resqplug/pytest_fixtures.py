"""Pytest fixtures for tests against a real server (used by resqplug's own
suites through the root conftest.py: ``pytest_plugins``).

The server is ``RESQPLUG_TEST_REDIS_URL``, else a Redis on 127.0.0.1:6379 if it
answers, else an embedded server of the test session's own. Never a mock.
Each test gets its own namespace (deleted afterwards with SCAN), a clean
environment and a fresh plugin manager, so installed plugins load from their
entry points per test.

Embedded servers: XDG_DATA_HOME points into the session's base temp dir, so a
test (or a process it starts) that uses the default embedded server never
touches the user's own; at the end of the session every embedded server with
its data dir under that base temp dir is stopped (the fallback server, the
default one and those of tests that gave ``embedded://DIR`` a ``tmp_path``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from . import config, plugins
from .client import Resq
from .errors import ConnectionError as ResqConnectionError

LOCAL_URL = "redis://127.0.0.1:6379/0"
EMBEDDED_DIR = os.path.join(tempfile.gettempdir(), f"resqplug-tests-{os.getuid()}")


def _answers(url: str) -> bool:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1).ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    return True


def choose_server_url(local_url: str = LOCAL_URL, embedded_dir: str = EMBEDDED_DIR) -> str:
    """RESQPLUG_TEST_REDIS_URL, else a local Redis that answers, else the embedded
    server (started on first use, in a data dir of the test suite's own)."""
    url = os.environ.get("RESQPLUG_TEST_REDIS_URL")
    if url:
        return url
    if _answers(local_url):
        return local_url
    from . import embedded

    return embedded.ensure_running(embedded.data_dir(embedded_dir))


def delete_namespace(client: redis.Redis, namespace: str) -> None:
    batch = []
    for key in client.scan_iter(match=f"{namespace}:*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            client.delete(*batch)
            batch.clear()
    if batch:
        client.delete(*batch)


def stop_embedded_servers(under: Path) -> list[Path]:
    """Stop every embedded server whose data dir is under ``under`` (found by
    the pidfile a running one keeps there); return their data dirs."""
    from . import embedded

    stopped = []
    for directory, _dirs, files in os.walk(under):  # unreadable dirs are skipped
        if "server.pid" in files:
            try:
                if embedded.stop(Path(directory)):
                    stopped.append(Path(directory))
            except (ResqConnectionError, redis.RedisError, OSError):
                continue  # one that will not stop: stop the others
    return stopped


@pytest.fixture(scope="session", autouse=True)
def session_data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The XDG_DATA_HOME of every test (the default embedded server's home);
    the embedded servers started under the session's base temp dir are
    stopped at its end."""
    base = tmp_path_factory.getbasetemp()
    try:
        yield tmp_path_factory.mktemp("data-home")
    finally:
        stop_embedded_servers(base)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return choose_server_url(embedded_dir=str(tmp_path_factory.mktemp("embedded-redis")))


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    ns = "t-" + uuid.uuid4().hex[:12]
    yield ns
    delete_namespace(redis.Redis.from_url(redis_url), ns)


@pytest.fixture
def resq(redis_url: str, namespace: str) -> Resq:
    """An explicit client on the test server, in the test's own namespace."""
    return Resq(redis_url, namespace)


@pytest.fixture
def default_client(redis_url: str, namespace: str) -> Resq:
    """The module-level API (resqplug.enqueue, ...) pointed at the test namespace."""
    return config.configure(url=redis_url, namespace=namespace)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, session_data_home: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("RESQPLUG_") and name != "RESQPLUG_TEST_REDIS_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(session_data_home))
    config.reset()
    plugins.reset_plugins()
    yield
    config.reset()
    plugins.reset_plugins()


# --- helpers for tests that run real resqplug processes -------------------------

FAST_LEASE = {"RESQPLUG_HEARTBEAT_S": "0.2", "RESQPLUG_DEAD_AFTER_S": "1.5"}


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it is truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def resqplug_cmd(redis_url: str, namespace: str, *args: str) -> list[str]:
    """``python -m resqplug --redis URL --namespace NS ARGS...``."""
    return [sys.executable, "-m", "resqplug", "--redis", redis_url, "--namespace", namespace, *args]


def child_env(
    app_dir: str | Path,
    extra: dict[str, str] | None = None,
    *,
    fast_lease: bool = True,
    drop: tuple[str, ...] = ("RESQPLUG_",),
) -> dict[str, str]:
    """A child process's environment: none of the test's RESQPLUG_* settings,
    ``app_dir`` on PYTHONPATH (for ``--app``), and short worker leases."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(app_dir), out.get("PYTHONPATH", "")) if p)
    if fast_lease:
        out.update(FAST_LEASE)
    out.update(extra or {})
    return out
