"""Every Redis key name resqplug uses, in one place.

Resque's own keys keep Resque's names so Ruby tools see the same data; keys that
only resqplug uses sit under ``<namespace>:resqplug:``.
"""

from __future__ import annotations

import re

_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def validate_namespace(namespace: str) -> str:
    from .errors import ConfigError

    if not isinstance(namespace, str) or not _NAMESPACE_RE.match(namespace):
        raise ConfigError(
            f"invalid namespace {namespace!r}: use 1-64 letters, digits, '_', '.' or '-'"
        )
    return namespace


class Keys:
    """Key names for one namespace (``resque`` unless configured)."""

    def __init__(self, namespace: str = "resque") -> None:
        self.namespace = validate_namespace(namespace)
        p = namespace + ":"
        self.prefix = p
        # Resque's keys (wire compatible).
        self.queues = p + "queues"
        self.failed = p + "failed"
        self.workers = p + "workers"
        self.heartbeats = p + "workers:heartbeat"
        self.stat_processed = p + "stat:processed"
        self.stat_failed = p + "stat:failed"
        self.pause_all = p + "pause-all-workers"
        # resqplug's own keys.
        own = p + "resqplug:"
        self.own_prefix = own
        self.failed_index = own + "failed:index"
        self.reaper_lock = own + "reaper:lock"
        self.leases = own + "leases"
        # Ids of jobs cancelled before they run: dropped when a worker takes them.
        self.cancelled = own + "cancelled"

    def queue(self, name: str) -> str:
        return f"{self.prefix}queue:{name}"

    def wake(self, queue: str) -> str:
        """A short list of wake-up tokens that idle workers block on."""
        return f"{self.own_prefix}wake:{queue}"

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}worker:{worker_id}"

    def worker_started(self, worker_id: str) -> str:
        return f"{self.prefix}worker:{worker_id}:started"

    def stat_processed_of(self, worker_id: str) -> str:
        return f"{self.prefix}stat:processed:{worker_id}"

    def stat_failed_of(self, worker_id: str) -> str:
        return f"{self.prefix}stat:failed:{worker_id}"

    def inflight(self, worker_id: str) -> str:
        """The worker's own list of jobs it has taken and not yet acknowledged."""
        return f"{self.own_prefix}inflight:{worker_id}"

    def worker_info(self, worker_id: str) -> str:
        return f"{self.own_prefix}worker:{worker_id}"

    def failure_retried(self, job_id: str, digest: str) -> str:
        """Marks that one failure record was enqueued again (at most once)."""
        return f"{self.own_prefix}failed:retried:{job_id or '-'}:{digest}"

    def discarding(self, token: str) -> str:
        """Jobs (or failure records) just removed, held while their removal is
        announced to plugins (``job_discarded``)."""
        return f"{self.own_prefix}discarding:{token}"

    def plugin(self, plugin: str, *parts: str) -> str:
        """A key owned by a plugin: ``<ns>:resqplug:<plugin>:<part>:...``."""
        return ":".join((self.own_prefix + plugin, *parts))

    def match_all(self) -> str:
        """SCAN pattern for every key in this namespace."""
        return self.prefix + "*"
