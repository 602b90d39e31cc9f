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

Real processes: ``resqplug_processes`` starts ``resqplug`` commands in the
test's namespace and kills them when the test ends; a suite's conftest makes
its ``spawn`` from it with ``resqplug_processes.spawner(app, path=..., queue=...)``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

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


class ResqplugProcess:
    """A real ``resqplug`` process a test started. Its stdout and stderr go to
    a file (``log_path``), never to a pipe that could fill up and block it."""

    def __init__(self, cmd: list[str], log: Path, env: Mapping[str, str]) -> None:
        self.cmd = cmd
        self.log_path = log
        self._log: IO[str] = log.open("w")
        self.proc = subprocess.Popen(
            cmd, env=dict(env), stdout=self._log, stderr=subprocess.STDOUT, text=True
        )
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        """What it has written so far (stdout and stderr)."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float = 30.0) -> int:
        """Its exit code; fails the test (with its output) if it runs on."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.cmd} did not exit in {timeout}s:\n{self.output()}")

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait for its exit code (SIGKILL, and the test fails, if
        it does not exit in time)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.cmd} did not exit on SIGTERM:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL (kill -9) and reap it; its log stays readable."""
        if self.alive():
            self.proc.kill()
        try:
            self.proc.wait(10)
        finally:
            self._log.close()

    def __enter__(self) -> ResqplugProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


class Spawner:
    """Starts ``resqplug [OPTIONS] COMMAND --app APP [-q QUEUE] ARGS...`` in a
    test's namespace: ``spawn("--no-fork")`` (``COMMAND`` None: the first of
    ``ARGS`` is the command, ``spawn("scheduler", "--interval", "0.1")``).
    Made by ``resqplug_processes.spawner(...)``, which kills what it started."""

    def __init__(
        self,
        processes: Processes,
        app: str | None,
        *,
        path: str | Path | Sequence[str | Path],
        queue: str | None = None,
        command: str | None = "work",
        options: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        fast_lease: bool = True,
        drop: tuple[str, ...] = ("RESQPLUG_",),
    ) -> None:
        self.processes = processes
        self.app = app
        paths = [path] if isinstance(path, (str, Path)) else list(path)
        self.path = os.pathsep.join(str(p) for p in paths)
        self.queue = queue
        self.command = command
        self.options = tuple(options)
        self.env = dict(env or {})
        self.fast_lease = fast_lease
        self.drop = drop

    def __call__(
        self,
        *args: str,
        app: str | bool = True,
        env: Mapping[str, str] | None = None,
        log_env: str | None = None,
    ) -> ResqplugProcess:
        """Start one process. ``app``: a module instead of the spawner's
        ``--app`` one, or False for no ``--app``; ``env`` adds to its
        environment; ``log_env`` names a variable that gets the path of the
        process's own log (for a test plugin in the process that reads what
        it logged)."""
        if self.command is None:
            command, *rest = args
        else:
            command, rest = self.command, list(args)
        module = self.app if app is True else (app or None)
        middle = ["--app", module] if module else []
        if self.queue:
            middle += ["-q", self.queue]
        log = self.processes.log_path(command)
        extra = {**self.env, **(env or {}), **({log_env: str(log)} if log_env else {})}
        child = child_env(self.path, extra, fast_lease=self.fast_lease, drop=self.drop)
        return self.processes.start([*self.options, command, *middle, *rest], env=child, log=log)


class Processes:
    """The value of the ``resqplug_processes`` fixture: starts ``resqplug``
    processes in the test's namespace (each logging to a file of the test's
    ``tmp_path``) and kills every one of them when the test ends."""

    def __init__(self, redis_url: str, namespace: str, folder: Path) -> None:
        self.redis_url = redis_url
        self.namespace = namespace
        self.folder = folder
        self.started: list[ResqplugProcess] = []

    def log_path(self, name: str) -> Path:
        """The log file of the next process started."""
        return self.folder / f"proc-{len(self.started)}-{name}.log"

    def start(
        self, args: Sequence[str], *, env: Mapping[str, str], log: Path | None = None
    ) -> ResqplugProcess:
        """``python -m resqplug --redis URL --namespace NS ARGS...`` with ``env``
        as its whole environment (see ``child_env``)."""
        cmd = resqplug_cmd(self.redis_url, self.namespace, *args)
        proc = ResqplugProcess(cmd, log or self.log_path(args[0] if args else "resqplug"), env)
        self.started.append(proc)
        return proc

    def spawner(
        self,
        app: str | None,
        *,
        path: str | Path | Sequence[str | Path],
        queue: str | None = None,
        command: str | None = "work",
        options: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        fast_lease: bool = True,
        drop: tuple[str, ...] = ("RESQPLUG_",),
    ) -> Spawner:
        """A ``spawn`` for a suite: its ``--app`` module (found on ``path``, put
        on the processes' PYTHONPATH), its queue, the command (``None``: given
        by each call), global ``options`` before it (``-v``), environment
        variables for every process, and ``child_env``'s ``fast_lease`` and
        ``drop``."""
        return Spawner(
            self,
            app,
            path=path,
            queue=queue,
            command=command,
            options=options,
            env=env,
            fast_lease=fast_lease,
            drop=drop,
        )

    def kill_all(self) -> None:
        """SIGKILL and reap every process started (all of them, even if one
        will not be reaped: that one fails the test afterwards)."""
        stuck: list[subprocess.TimeoutExpired] = []
        for proc in self.started:
            try:
                proc.kill()
            except subprocess.TimeoutExpired as exc:
                stuck.append(exc)
        if stuck:
            raise stuck[0]


@pytest.fixture
def resqplug_processes(redis_url: str, namespace: str, tmp_path: Path) -> Iterator[Processes]:
    """Real ``resqplug`` processes in the test's namespace, every one killed
    (SIGKILL) when the test ends. A suite's conftest makes its ``spawn`` from
    it::

        @pytest.fixture
        def spawn(resqplug_processes: Processes) -> Spawner:
            return resqplug_processes.spawner("loner_jobs", path=HERE)
    """
    processes = Processes(redis_url, namespace, tmp_path)
    try:
        yield processes
    finally:
        processes.kill_all()


@pytest.fixture
def own_redis() -> Iterator[str]:
    """The URL of a redis-server only this test uses (a unix socket): watching
    it with MONITOR slows no one else down."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("this test needs a redis-server binary on PATH")
    folder = Path(tempfile.mkdtemp(prefix="rqo-"))  # short: a socket path has a length limit
    sock = folder / "redis.sock"
    cmd = [binary, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"unix://{sock}"

    def answers() -> bool:
        try:
            return bool(redis.Redis.from_url(url).ping())
        except (redis.ConnectionError, FileNotFoundError):
            return False

    try:
        wait_for(answers, 10, "the test's own redis-server")
        yield url
    finally:
        proc.kill()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
