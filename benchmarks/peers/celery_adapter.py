"""Celery with the Redis broker, no result backend (see adapter.py):
task.delay; group().apply_async() as its bulk form; `celery worker` with the
prefork pool and one child (-c 1), and the solo pool (in-process)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import redis
from adapter import CHUNK, LATENCY_KEY, Variant, redis_url
from celery import Celery, group

NAME = "celery"
BULK = "group().apply_async(), 1,000 per group"
VARIANTS = {
    "prefork -c 1": Variant(["-P", "prefork", "-c", "1"], 2000, "pool"),
    "solo": Variant(["-P", "solo"], 5000, "in-process"),
}
URL = redis_url()
app = Celery("celery_adapter", broker=URL)
app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)
_latency = redis.Redis.from_url(URL)


@app.task
def noop(i: int) -> None:
    pass


@app.task
def stamp(sent: float) -> None:
    now = time.time()
    _latency.rpush(LATENCY_KEY, f"{now - sent:.6f}")


def enqueue_one_by_one(url: str, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        noop.delay(i)
    return n / (time.perf_counter() - t0)


def enqueue_bulk(url: str, n: int) -> float:
    t0 = time.perf_counter()
    for start in range(0, n, CHUNK):
        group(noop.s(i) for i in range(start, min(n, start + CHUNK))).apply_async()
    return n / (time.perf_counter() - t0)


def prefill(url: str, n: int) -> None:
    enqueue_bulk(url, n)


def worker_cmd(variant: str) -> list[str]:
    binary = os.path.join(os.path.dirname(sys.executable), "celery")
    args = VARIANTS[variant].args
    return [binary, "-A", "celery_adapter", "worker", "-l", "WARNING", *args]


def left(r: redis.Redis, n: int) -> tuple[int, int]:
    waiting, unacked = r.pipeline(transaction=False).llen("celery").hlen("unacked").execute()
    return waiting, waiting + unacked


def stamper(url: str) -> Callable[[float], None]:
    def send(sent: float) -> None:
        stamp.delay(sent)

    return send
