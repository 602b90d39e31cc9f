"""The default client behind ``resqplug.enqueue`` and friends.

Precedence (DESIGN §6): the URL comes from ``RESQPLUG_REDIS_URL``, then
``configure(url=)``, then the default; the namespace from
``RESQPLUG_NAMESPACE``, then ``configure(namespace=)``, then the URL's
namespace part, then ``resque``. The CLI's ``--redis``/``--namespace`` set these
variables for the process, so they come first.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported on use: job code may never need a Redis client
    from .client import Resq
    from .keys import Keys

URL_ENV = "RESQPLUG_REDIS_URL"
NAMESPACE_ENV = "RESQPLUG_NAMESPACE"
BACKEND_ENV = "RESQPLUG_BACKEND"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
# What workers, supervisors and schedulers do, said at the CLI's default level:
# start, each failed job, stop (each job's own line is INFO on resqplug.worker).
EVENTS_LOGGER = "resqplug.events"

_lock = threading.Lock()
_settings: dict[str, Any] = {}
_client: Resq | None = None
_keys_by_namespace: dict[str, Keys] = {}  # keys_for without a client: names only


def configure(
    url: str | None = None,
    namespace: str | None = None,
    *,
    backend: str | None = None,
    max_payload_bytes: int | None = None,
) -> Resq:
    """Set up the default client and return it."""
    global _client
    with _lock:
        _settings.clear()
        _settings.update(
            url=url, namespace=namespace, backend=backend, max_payload_bytes=max_payload_bytes
        )
        _client = None
    return default_client()


def preset(url: str, namespace: str, backend: str, max_payload_bytes: int) -> None:
    """Settle the default client's settings without building it (a fork
    server: its children build it only if a job needs it). These win over the
    environment, which may differ from the settings of the worker served."""
    global _client
    os.environ[URL_ENV], os.environ[NAMESPACE_ENV] = url, namespace
    os.environ[BACKEND_ENV] = backend
    with _lock:
        _settings.update(max_payload_bytes=max_payload_bytes)
        _client = None


def settings() -> dict[str, Any]:
    """The effective settings of the default client, after precedence."""
    kwargs: dict[str, Any] = {
        "url": os.environ.get(URL_ENV) or _settings.get("url"),
        "namespace": os.environ.get(NAMESPACE_ENV) or _settings.get("namespace"),
        "backend": os.environ.get(BACKEND_ENV) or _settings.get("backend") or "redis",
    }
    if _settings.get("max_payload_bytes"):
        kwargs["max_payload_bytes"] = _settings["max_payload_bytes"]
    return kwargs


def default_client() -> Resq:
    global _client
    client = _client
    if client is None:
        with _lock:
            if _client is None:
                from .client import Resq

                _client = Resq(**settings())
            client = _client
    return client


def client_for(job: Any) -> Resq:
    """The client a plugin should use for ``job``: the one enqueueing it, else
    the default client (in workers, the worker's settings)."""
    return getattr(job, "client", None) or default_client()


def keys_for(job: Any) -> Keys:
    """The key names of the client ``client_for(job)`` returns, without
    building a client when there is none yet: a fork server's job child
    builds its job's writes (names, not connections) and never connects."""
    client = getattr(job, "client", None) or _client
    if client is not None:
        return client.keys
    namespace = settings()["namespace"]
    if not namespace:  # it may come from the URL: the client decides
        return default_client().keys
    keys = _keys_by_namespace.get(namespace)
    if keys is None:  # once per namespace, not once per job
        from .keys import Keys

        keys = _keys_by_namespace[namespace] = Keys(namespace)
    return keys


def forget_client() -> None:
    """Drop the default client but keep the settings: the next use builds a new
    one (a forked child must not share its parent's connections)."""
    global _client
    _client = None


def use_client(client: Resq) -> None:
    """Make ``client`` the default client (in a forked child: one its parent
    built for it and never used, so none of the parent's connections or locks
    comes with it, and the child does not build a client of its own)."""
    global _client
    _client = client


def reset() -> None:
    """Forget the default client and settings (tests)."""
    global _client
    with _lock:
        _settings.clear()
        _client = None
