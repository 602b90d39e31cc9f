"""Every Redis key the metrics plugin writes or reads, in one place.

Its own keys sit under ``<ns>:resqplug:metrics:``; the core's keys it reads at
scrape time (queues, workers, leases, in-flight lists, Resque's stats) are
named through the client's own key names, never spelled here."""

from __future__ import annotations

from typing import Any

PLUGIN = "metrics"
LABEL_SETS = "#label_sets"  # the field of the counters hash counting admitted label sets


class MetricsKeys:
    """Key names for one namespace; ``keys`` is a client's ``keys``
    (``resqplug.ext.keys_for(job)`` or ``client.keys``)."""

    def __init__(self, keys: Any) -> None:
        self.core = keys
        self.namespace: str = keys.namespace
        # field '<label set>\n<figure>' -> integer (counts, microseconds); the
        # admitted label sets too (field '<label set>' -> 1), and their number
        # (field LABEL_SETS)
        self.counters: str = keys.plugin(PLUGIN, "counters")
        # the core's keys read at scrape time
        self.queues: str = keys.queues
        self.workers: str = keys.workers
        self.leases: str = keys.leases
        self.stat_processed: str = keys.stat_processed
        self.stat_failed: str = keys.stat_failed
        self.failed: str = keys.failed

    def queue(self, name: str) -> str:
        return str(self.core.queue(name))

    def current_job(self, worker_id: str) -> str:
        return str(self.core.worker(worker_id))

    def inflight(self, worker_id: str) -> str:
        return str(self.core.inflight(worker_id))


_CACHE: dict[str, MetricsKeys] = {}


def keys_of(keys: Any) -> MetricsKeys:
    """The MetricsKeys of a core key set, one per namespace (the per-job
    hooks build writes for every job)."""
    found = _CACHE.get(keys.namespace)
    if found is None:
        found = _CACHE[keys.namespace] = MetricsKeys(keys)
    return found
