"""The measures, the same for every system, driven through its adapter module."""

from __future__ import annotations

import subprocess
import time
from types import ModuleType

import redis
from adapter import LATENCY_KEY
from common import check_alive, env_with, percentile, spawn, stop, tree_rss_kib, wait_until

Figures = dict[str, float]


def start_worker(system: ModuleType, variant: str) -> subprocess.Popen[bytes]:
    env = env_with(**getattr(system, "WORKER_ENV", {}))
    return spawn(system.worker_cmd(variant), f"{system.NAME}-{variant}", env)


def fresh(url: str) -> redis.Redis:
    r = redis.Redis.from_url(url)
    r.flushdb()
    return r


def enqueue(system: ModuleType, url: str, n: int, bulk: bool) -> Figures:
    fresh(url)
    if bulk:
        return {"enqueue bulk": system.enqueue_bulk(url, n)}
    return {"enqueue 1x1": system.enqueue_one_by_one(url, n)}


def drain(system: ModuleType, url: str, variant: str, n: int) -> Figures:
    """One worker empties n pre-filled no-op jobs: timed from the first job
    taken to the last one done; the worker tree's RSS is sampled meanwhile."""
    r = fresh(url)
    system.prefill(url, n)
    proc = start_worker(system, variant)
    t0 = peak = polls = 0
    try:
        deadline = time.monotonic() + 300
        while True:
            waiting, unfinished = system.left(r, n)
            now = time.perf_counter()
            if not t0 and waiting < n:
                t0 = now
            if unfinished <= 0:
                break
            if polls % 10 == 0:
                peak = max(peak, tree_rss_kib(proc.pid))
                check_alive(proc, deadline)
            polls += 1
            time.sleep(0.002)
    finally:
        stop(proc)
    if not t0 or now <= t0:
        raise RuntimeError(f"drained {n} jobs between two polls: too few to time")
    return {"drain": n / (now - t0), "peak RSS": peak / 1024}


def pickup(system: ModuleType, url: str, variant: str, jobs: int, gap: float) -> Figures:
    """An idle worker gets `jobs` jobs `gap` seconds apart; each records its
    start time minus its enqueue time. RSS is read when the worker is idle again."""
    r = fresh(url)
    stamp = system.stamper(url)
    proc = start_worker(system, variant)
    try:
        stamp(time.time())  # the worker is ready once this one has run
        wait_until(lambda: r.llen(LATENCY_KEY) > 0, proc, 60)
        r.delete(LATENCY_KEY)
        time.sleep(0.5)
        for _ in range(jobs):
            stamp(time.time())
            time.sleep(gap)
        wait_until(lambda: r.llen(LATENCY_KEY) >= jobs, proc, 60)
        values = [float(x) * 1000 for x in r.lrange(LATENCY_KEY, 0, -1)]
        time.sleep(0.5)
        rss = tree_rss_kib(proc.pid) / 1024
    finally:
        stop(proc)
    return {
        "pickup p50": percentile(values, 0.5),
        "pickup p99": percentile(values, 0.99),
        "idle RSS": rss,
    }
