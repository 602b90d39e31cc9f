"""resqplug-metrics: Prometheus metrics per queue and job class (enqueued,
started, succeeded, failed, retried, killed, recovered, duration and queue
latency histograms), counted in Redis by the core's own scripts, plus gauges
read at scrape time (queue sizes, oldest job's age, workers by state, jobs in
flight). Served on the dashboard's ``/metrics`` and by ``resqplug metrics serve``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .figures import BUCKETS, CAP_ENV, COUNTERS, OTHER
from .plugin import MetricsPlugin
from .read import Counts, read_counts

if TYPE_CHECKING:
    import resqplug

    from .collector import RedisCollector

__version__ = "0.1.0"
__all__ = [
    "BUCKETS",
    "CAP_ENV",
    "COUNTERS",
    "OTHER",
    "Counts",
    "MetricsPlugin",
    "collector",
    "exposition",
    "plugin",
    "read_counts",
]


def collector(client: resqplug.Resq | None = None) -> RedisCollector:
    """A prometheus-client Collector reading ``client``'s Redis at each scrape
    (default: the default client): ``REGISTRY.register(collector())``.
    prometheus-client is imported here, not when the plugin loads."""
    from .collector import RedisCollector

    return RedisCollector(client)


def exposition(client: resqplug.Resq | None = None) -> tuple[bytes, str]:
    """The metrics in Prometheus text format, and its content type."""
    from .collector import exposition as render

    return render(client)


plugin = MetricsPlugin()
