"""Redis URLs (all the forms users bring), clients, and error translation.

The password of a URL never appears in any message: use :func:`redact`.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import redis
import redis.connection
import redis.exceptions as rex

try:
    import hiredis
except ImportError:  # the extra "hiredis" is not installed: redis-py packs
    hiredis = None  # type: ignore[assignment]

from .errors import ConfigError, ConnectionError, QueueFullError

DEFAULT_URL = "embedded"
SOCKET_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0
_RESQUE_FORM = re.compile(
    r"^(?P<host>[A-Za-z0-9_.\-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d+)"
    r"(?::(?P<db>\d+))?(?:/(?P<ns>[^/]+))?$"
)


@dataclass(frozen=True)
class Target:
    """Where to connect: a redis-py URL and the namespace the URL carried, if any."""

    url: str
    namespace: str | None = None


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    user = quote(parts.username or "", safe="")
    host_port = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:***@{host_port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def parse(url: str) -> Target:
    """Turn any accepted URL form into a redis-py URL and a namespace.

    Forms: ``redis://[user:pass@]host[:port][/db[/namespace]]``, ``rediss://``
    likewise, ``unix:///path/to.sock[?db=N]``, Resque's ``host:port[:db][/namespace]``,
    and ``embedded[://DIR]`` (the embedded server, started if need be).
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigError("invalid Redis URL: empty")
    url = url.strip()
    if url == "embedded" or url.startswith("embedded://"):
        from . import embedded

        return Target(embedded.ensure_running(embedded.parse_url(url)))
    m = _RESQUE_FORM.match(url)
    if m:
        if not 0 < int(m["port"]) < 65536:
            raise ConfigError(f"invalid Redis URL {redact(url)!r}: port out of range 1-65535")
        db = m["db"] or "0"
        return Target(f"redis://{m['host']}:{m['port']}/{db}", m["ns"])
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"invalid Redis URL {redact(url)!r}: {exc}") from None
    if parts.scheme in ("redis", "rediss"):
        if not parts.hostname:
            raise ConfigError(f"invalid Redis URL {redact(url)!r}: no host")
        pieces = [p for p in parts.path.split("/") if p]
        if len(pieces) > 2 or (pieces and not pieces[0].isdigit()):
            raise ConfigError(
                f"invalid Redis URL {redact(url)!r}: the path must be /DB or /DB/NAMESPACE"
            )
        db = pieces[0] if pieces else "0"
        namespace = pieces[1] if len(pieces) == 2 else None
        clean = urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))
        return Target(clean, namespace)
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigError(f"invalid Redis URL {redact(url)!r}: no socket path")
        return Target(url)
    raise ConfigError(
        f"invalid Redis URL {redact(url)!r}: use redis://, rediss://, unix://, "
        "host:port[:db][/namespace] or embedded[://DIR]"
    )


_CONNECTION_PARAMS = inspect.signature(redis.connection.AbstractConnection.__init__).parameters


def _no_setinfo() -> dict[str, None]:
    """Turn off the CLIENT SETINFO handshake: it costs two round trips and a
    package-metadata lookup on every new connection (forked children connect
    often). Newer redis-py spells it driver_info=None."""
    if "driver_info" in _CONNECTION_PARAMS:
        return {"driver_info": None}
    return {"lib_name": None, "lib_version": None}


_NO_SETINFO = _no_setinfo()


class FastPacker:
    """redis-py's hiredis command packer without its per-argument encoding in
    Python (about 0.5 us an argument, which the writes of plugins multiply):
    hiredis packs str, bytes, int and float itself, floats as ``repr`` like
    redis-py. A command name with a space (redis-py splits it) and any other
    argument type (a bool, None: redis-py's DataError) go to redis-py's own."""

    def __init__(self, fallback: Any) -> None:
        self._fallback = fallback

    def pack(self, *args: Any) -> list[bytes]:
        first = args[0]
        if isinstance(first, str) and " " not in first:
            try:
                return [hiredis.pack_command(args)]
            except TypeError:
                pass
        return self._fallback.pack(*args)  # type: ignore[no-any-return]


def _packer() -> dict[str, Any]:
    """``command_packer`` for new clients: a FastPacker when hiredis is there
    (its fallback: the packer redis-py gives a connection, whatever the version)."""
    if hiredis is None or not hasattr(hiredis, "pack_command"):
        return {}
    fallback = getattr(redis.connection.Connection(), "_command_packer", None)
    if fallback is None or "command_packer" not in _CONNECTION_PARAMS:
        return {}  # an older redis-py: its own packer
    return {"command_packer": FastPacker(fallback)}


_PACKER = _packer()


def make_client(url: str) -> redis.Redis:
    """A redis-py client (bytes responses) with bounded timeouts."""
    tcp = {} if url.startswith("unix:") else {"socket_keepalive": True}
    return redis.Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        health_check_interval=30,
        **tcp,
        **_NO_SETINFO,
        **_PACKER,
    )


@contextlib.contextmanager
def translated(url: str) -> Iterator[None]:
    """Turn redis-py's connection and OOM errors into resqplug errors."""
    try:
        yield
    except (rex.ConnectionError, rex.TimeoutError) as exc:
        raise ConnectionError(f"cannot connect to Redis at {redact(url)}: {reason(exc)}") from exc
    except rex.ResponseError as exc:
        if out_of_memory(exc):
            raise QueueFullError(f"Redis at {redact(url)} is out of memory: {exc}") from exc
        raise


def out_of_memory(exc: BaseException) -> bool:
    """Whether Redis refused a write because it is out of memory (maxmemory with
    noeviction). redis-py raises OutOfMemoryError, whose text has lost the
    "OOM" prefix (which the check for it missed); a reply passed on as a plain
    ResponseError (e.g. from a pipeline) may still carry it."""
    if isinstance(exc, rex.OutOfMemoryError):
        return True
    return isinstance(exc, rex.ResponseError) and str(exc).startswith("OOM")


def reason(exc: BaseException) -> str:
    """A short reason from a redis-py connection error (no address, no password)."""
    text = str(exc)
    for marker in (
        "Connection refused",
        "Name or service not known",
        "Timeout",
        "timed out",
        "No such file or directory",
        "Connection reset",
        "Authentication",
        "invalid password",
        "WRONGPASS",
    ):
        if marker.lower() in text.lower():
            return marker
    return text.split(". ")[-1][:200] if text else type(exc).__name__


MIN_SERVER_VERSION = (6, 2)  # LPOP with a count, BLMOVE


def check_server_version(url: str, version: str) -> None:
    """ConfigError (one line) if the server is older than resqplug needs."""
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return  # an unusual version string: let the commands speak for themselves
    if found < MIN_SERVER_VERSION:
        need = ".".join(map(str, MIN_SERVER_VERSION))
        raise ConfigError(
            f"Redis at {redact(url)} is version {version}; resqplug needs {need} or later"
        )
