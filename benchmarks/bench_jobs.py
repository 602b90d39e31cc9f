"""Jobs the resqplug benchmark workers run (imported with --app bench_jobs)."""

from __future__ import annotations

import time

from adapter import LATENCY_KEY, redis_url

import resqplug

URL = redis_url()


class BenchNoop(resqplug.Job):
    queue = "bench"

    def perform(self, *args: object) -> None:
        pass


class BenchStamp(resqplug.Job):
    """Records (start time - enqueue time) for pickup latency."""

    queue = "bench"

    def perform(self, sent: float) -> None:
        now = time.time()
        resqplug.default_client().redis.rpush(LATENCY_KEY, f"{now - sent:.6f}")
