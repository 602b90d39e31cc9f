"""The Prometheus side: a prometheus-client Collector that reads Redis at
each scrape (counters summed by the core's scripts, gauges read now), and
the text exposition the dashboard and ``resqplug metrics serve`` answer with."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

import resqplug
from resqplug.ext import redis_down

from .figures import BUCKETS, COUNTERS
from .gauges import Gauges, read_gauges
from .read import Counts, Labels, read_counts

log = logging.getLogger("resqplug.metrics")

LABELS = ["queue", "job_class"]
COUNTER_HELP = {
    "enqueued": "Jobs written to their queue (a scheduled job when it is moved there)",
    "started": "Runs started whose end was recorded (each also counts as one outcome below)",
    "succeeded": "Runs that succeeded",
    "failed": "Runs that failed for good (their failure is recorded)",
    "retried": "Failed runs a plugin will run again (retry)",
    "killed": "Runs killed: their process died, or a kill was requested",
    "recovered": "Runs cut short and put back in their queue (dead worker, worker stop)",
}
HISTOGRAMS = {
    "duration": ("resqplug_job_duration_seconds", "How long runs took, hooks included"),
    "latency": ("resqplug_job_queue_latency_seconds", "From enqueue to the start of the run"),
}
BOUNDS = [repr(float(b)) for b in BUCKETS] + ["+Inf"]  # "1.0", as Prometheus writes them


def counter_families(counts: dict[Labels, Counts]) -> Iterator[Metric]:
    for name in COUNTERS:
        family = CounterMetricFamily(f"resqplug_jobs_{name}", COUNTER_HELP[name], labels=LABELS)
        for labels, found in sorted(counts.items()):
            family.add_metric(list(labels), found.counters[name])
        yield family


def histogram_families(counts: dict[Labels, Counts]) -> Iterator[Metric]:
    for key, (name, doc) in HISTOGRAMS.items():
        family = HistogramMetricFamily(name, doc, labels=LABELS)
        for labels, found in sorted(counts.items()):
            histogram = found.histograms[key]
            buckets = list(zip(BOUNDS, histogram.cumulative(), strict=True))
            family.add_metric(list(labels), buckets, histogram.sum)
        yield family


def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def gauge_families(g: Gauges) -> Iterator[Metric]:
    sizes = GaugeMetricFamily("resqplug_queue_size", "Jobs waiting in each queue", labels=["queue"])
    ages = GaugeMetricFamily(
        "resqplug_queue_oldest_job_age_seconds",
        "Age of the job at the head of each queue (0 when empty)",
        labels=["queue"],
    )
    for name, size in g.queue_sizes.items():
        sizes.add_metric([name], size)
        if name in g.oldest_age:
            ages.add_metric([name], g.oldest_age[name])
    workers = GaugeMetricFamily("resqplug_workers", "Workers by state", labels=["state"])
    for state, n in g.workers.items():
        workers.add_metric([state], n)
    yield from (sizes, ages, workers)
    yield gauge("resqplug_queues", "Queues known (at most 1000 are reported)", g.queues_total)
    yield gauge("resqplug_inflight_jobs", "Jobs taken by workers and not yet acked", g.inflight)
    yield gauge("resqplug_failures", "Failure records in the failed list", g.failures)
    yield gauge(
        "resqplug_metrics_label_sets", "Distinct (queue, job class) label sets", g.label_sets
    )
    yield CounterMetricFamily("resqplug_processed", "Resque's processed stat", value=g.processed)
    yield CounterMetricFamily("resqplug_failed", "Resque's failed stat", value=g.failed)


class RedisCollector(Collector):
    """Reads one client's namespace at each scrape; with Redis away it says
    so (``resqplug_redis_up 0``) instead of failing the scrape."""

    def __init__(self, client: resqplug.Resq | None = None) -> None:
        self._client = client

    def describe(self) -> list[Metric]:
        return []  # registering must not read Redis

    def collect(self) -> Iterator[Metric]:
        client = self._client or resqplug.default_client()
        try:
            counts, gauges = read_counts(client), read_gauges(client)
        except Exception as exc:
            if not redis_down(exc):
                raise
            log.warning("metrics: Redis cannot be reached: %s", exc)
            yield gauge("resqplug_redis_up", "Whether Redis answered this scrape", 0)
            return
        yield gauge("resqplug_redis_up", "Whether Redis answered this scrape", 1)
        yield from counter_families(counts)
        yield from histogram_families(counts)
        yield from gauge_families(gauges)


def registry_for(client: resqplug.Resq | None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(client))
    return registry


def exposition(client: Any = None) -> tuple[bytes, str]:
    """The metrics of ``client`` (default: the default client) as Prometheus text."""
    return generate_latest(registry_for(client)), CONTENT_TYPE_LATEST
