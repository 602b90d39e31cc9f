"""Huey with Redis storage (see adapter.py): calling the task enqueues it; no
bulk enqueue (n/a); `huey_consumer` with one worker thread."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import redis
from adapter import LATENCY_KEY, Variant, redis_url
from huey import RedisHuey

NAME = "huey"
BULK = None
VARIANTS = {"1 worker thread": Variant(["-w", "1", "-k", "thread"], 20000, "in-process")}
URL = redis_url()
huey = RedisHuey("bench", url=URL)


@huey.task()
def noop(i: int) -> None:
    pass


@huey.task()
def stamp(sent: float) -> None:
    now = time.time()
    huey.storage.conn.rpush(LATENCY_KEY, f"{now - sent:.6f}")


def enqueue_one_by_one(url: str, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        noop(i)
    return n / (time.perf_counter() - t0)


def prefill(url: str, n: int) -> None:
    enqueue_one_by_one(url, n)


def worker_cmd(variant: str) -> list[str]:
    binary = os.path.join(os.path.dirname(sys.executable), "huey_consumer")
    return [binary, "huey_adapter.huey", "-q", *VARIANTS[variant].args]


def left(r: redis.Redis, n: int) -> tuple[int, int]:
    waiting = r.llen("huey.redis.bench")
    return waiting, waiting


def stamper(url: str) -> Callable[[float], None]:
    def send(sent: float) -> None:
        stamp(sent)

    return send
