"""The interface every system's adapter module follows (resqplug_bench.py,
ceiling.py, peers/*_adapter.py). Adapters read the Redis URL from
BENCH_REDIS_URL when imported, so their workers and the benchmark agree.

    NAME: str                                    label in the tables
    VARIANTS: dict[str, Variant]                 worker variants, one process each
    BULK: str | None                             how bulk enqueue is done, None = n/a
    enqueue_one_by_one(url, n) -> float          jobs/s, N no-op jobs
    enqueue_bulk(url, n) -> float                jobs/s, chunks of CHUNK jobs
    prefill(url, n) -> None                      n no-op jobs, the fastest way
    worker_cmd(variant) -> list[str]             the worker's command line
    WORKER_ENV: dict[str, str]                   optional: extra environment for the workers
    left(r, n) -> (waiting, unfinished)          jobs not yet taken / not yet done
    stamper(url) -> Callable[[float], None]      enqueue one latency job
    the latency job: RPUSH LATENCY_KEY (start time - sent) when it starts
    BASELINE: str                                optional: the NAME of the system this
                                                 one is a variant of (the report compares)
"""

from __future__ import annotations

import os
from typing import NamedTuple

LATENCY_KEY = "bench:latency"
CHUNK = 1000  # jobs per bulk call, the same for every system


class Variant(NamedTuple):
    args: list[str]  # worker command-line arguments
    drain_n: int  # jobs for the drain measure (full run; --quick takes a quarter)
    kind: str  # "in-process", "fork" (a child per job) or "pool" (long-lived child)


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
