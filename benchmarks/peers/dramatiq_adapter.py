"""Dramatiq with its Redis broker (see adapter.py): actor.send; group().run()
as its bulk form (no pipelining: one round trip per message); the `dramatiq`
CLI with one process and one thread, and one process with its default 8 threads."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import dramatiq
import redis
from adapter import CHUNK, LATENCY_KEY, Variant, redis_url
from dramatiq.brokers.redis import RedisBroker

NAME = "dramatiq"
BULK = "group().run(), 1,000 per group (no pipelining)"
VARIANTS = {
    "1 process, 1 thread": Variant(["-p", "1", "-t", "1"], 1000, "in-process"),
    "1 process, 8 threads (default threads)": Variant(["-p", "1"], 5000, "in-process"),
}
URL = redis_url()
broker = RedisBroker(url=URL)
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="bench")
def noop(i: int) -> None:
    pass


@dramatiq.actor(queue_name="bench")
def stamp(sent: float) -> None:
    now = time.time()
    broker.client.rpush(LATENCY_KEY, f"{now - sent:.6f}")


def enqueue_one_by_one(url: str, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        noop.send(i)
    return n / (time.perf_counter() - t0)


def enqueue_bulk(url: str, n: int) -> float:
    t0 = time.perf_counter()
    for start in range(0, n, CHUNK):
        dramatiq.group(noop.message(i) for i in range(start, min(n, start + CHUNK))).run()
    return n / (time.perf_counter() - t0)


def prefill(url: str, n: int) -> None:
    enqueue_one_by_one(url, n)


def worker_cmd(variant: str) -> list[str]:
    binary = os.path.join(os.path.dirname(sys.executable), "dramatiq")
    return [binary, *VARIANTS[variant].args, "dramatiq_adapter"]


def left(r: redis.Redis, n: int) -> tuple[int, int]:
    pipe = r.pipeline(transaction=False).llen("dramatiq:bench").hlen("dramatiq:bench.msgs")
    waiting, unfinished = pipe.execute()
    return waiting, unfinished


def stamper(url: str) -> Callable[[float], None]:
    def send(sent: float) -> None:
        stamp.send(sent)

    return send
