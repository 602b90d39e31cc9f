"""resqplug's adapter (see adapter.py): reliability on (reliable fetch,
heartbeats, stats), as shipped, in every execution model."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import bench_jobs
import redis
from adapter import CHUNK, Variant

import resqplug
from resqplug.keys import Keys

NAME = "resqplug"
BULK = "enqueue_many, one pipeline per 1,000 jobs"
VARIANTS = {
    "no-fork": Variant(["--no-fork"], 20000, "in-process"),
    "threads 8": Variant(["--threads", "8"], 20000, "in-process"),
    "fork per job": Variant(["--fork"], 1000, "fork"),
    "fork, 100 jobs/child": Variant(["--fork", "--max-jobs-per-child", "100"], 20000, "pool"),
}
KEYS = Keys("bench")


def client(url: str) -> resqplug.Resq:
    return resqplug.Resq(url, "bench")


def enqueue_one_by_one(url: str, n: int) -> float:
    c = client(url)
    t0 = time.perf_counter()
    for i in range(n):
        c.enqueue(bench_jobs.BenchNoop, i)
    return n / (time.perf_counter() - t0)


def enqueue_bulk(url: str, n: int) -> float:
    c = client(url)
    t0 = time.perf_counter()
    for start in range(0, n, CHUNK):
        c.enqueue_many(bench_jobs.BenchNoop, [(i,) for i in range(start, min(n, start + CHUNK))])
    return n / (time.perf_counter() - t0)


def prefill(url: str, n: int) -> None:
    enqueue_bulk(url, n)


def worker_cmd(variant: str) -> list[str]:
    return [
        *(sys.executable, "-m", "resqplug", "--redis", bench_jobs.URL, "--namespace", "bench"),
        *("work", "-q", "bench", "--app", "bench_jobs", *VARIANTS[variant].args),
    ]


def left(r: redis.Redis, n: int) -> tuple[int, int]:
    pipe = r.pipeline(transaction=False).llen(KEYS.queue("bench")).get(KEYS.stat_processed)
    waiting, processed = pipe.execute()
    return waiting, n - int(processed or 0)


def stamper(url: str) -> Callable[[float], None]:
    c = client(url)

    def stamp(sent: float) -> None:
        c.enqueue(bench_jobs.BenchStamp, sent)

    return stamp
