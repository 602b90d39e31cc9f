"""The ceiling: the most a Python client does on this box with plain redis-py
loops (LPUSH, RPOP, pipelined and not), and a bare BRPOP-loop worker process
for pickup latency and memory. Follows the adapter interface (adapter.py)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import redis
from adapter import CHUNK, LATENCY_KEY, Variant, redis_url

NAME = "redis-py"
BULK = "LPUSH pipelined, 1,000 per pipeline"
VARIANTS = {"BRPOP loop": Variant([], 20000, "in-process")}
KEY = "ceiling"
BODY = b'{"class":"BenchNoop","args":[1]}'


def push_loop(url: str, n: int, pipelined: bool) -> float:
    r = redis.Redis.from_url(url)
    t0 = time.perf_counter()
    if pipelined:
        for start in range(0, n, CHUNK):
            pipe = r.pipeline(transaction=False)
            for _ in range(start, min(n, start + CHUNK)):
                pipe.lpush(KEY, BODY)
            pipe.execute()
    else:
        for _ in range(n):
            r.lpush(KEY, BODY)
    return n / (time.perf_counter() - t0)


def pop_loop(url: str, n: int, pipelined: bool) -> float:
    r = redis.Redis.from_url(url)
    r.delete(KEY)
    push_loop(url, n, True)
    t0 = time.perf_counter()
    if pipelined:
        for start in range(0, n, CHUNK):
            pipe = r.pipeline(transaction=False)
            for _ in range(start, min(n, start + CHUNK)):
                pipe.rpop(KEY)
            pipe.execute()
    else:
        for _ in range(n):
            r.rpop(KEY)
    return n / (time.perf_counter() - t0)


def enqueue_one_by_one(url: str, n: int) -> float:
    return push_loop(url, n, False)


def enqueue_bulk(url: str, n: int) -> float:
    return push_loop(url, n, True)


def prefill(url: str, n: int) -> None:
    push_loop(url, n, True)


def worker_cmd(variant: str) -> list[str]:
    return [sys.executable, __file__, "work"]


def left(r: redis.Redis, n: int) -> tuple[int, int]:
    waiting = r.llen(KEY)
    return waiting, waiting


def stamper(url: str) -> Callable[[float], None]:
    r = redis.Redis.from_url(url)

    def stamp(sent: float) -> None:
        r.lpush(KEY, f"s{sent}")

    return stamp


def work() -> None:
    """The bare worker: BRPOP one job at a time; latency jobs start with b"s"."""
    r = redis.Redis.from_url(redis_url())
    while True:
        _, body = r.brpop([KEY])
        if body.startswith(b"s"):
            r.rpush(LATENCY_KEY, f"{time.time() - float(body[1:]):.6f}")


if __name__ == "__main__":
    work()
