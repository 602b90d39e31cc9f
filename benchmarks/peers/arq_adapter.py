"""arq (asyncio; see adapter.py): enqueue_job awaited one by one; no bulk
enqueue (n/a); the `arq` CLI worker with its defaults (up to 10 jobs at once,
polling every 0.5 s), logging at WARNING like the other workers."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import redis
from adapter import LATENCY_KEY, Variant, redis_url
from arq import create_pool
from arq.connections import RedisSettings

NAME = "arq"
BULK = None
VARIANTS = {"defaults": Variant([], 1000, "in-process")}
URL = redis_url()
LOG_CONFIG = {"version": 1, "root": {"level": "WARNING"}}


async def noop(ctx: dict[str, Any], i: int) -> None:
    pass


async def stamp(ctx: dict[str, Any], sent: float) -> None:
    now = time.time()
    await ctx["redis"].rpush(LATENCY_KEY, f"{now - sent:.6f}")


class WorkerSettings:
    functions = [noop, stamp]
    redis_settings = RedisSettings.from_dsn(URL)


async def _enqueue(url: str, n: int) -> float:
    pool = await create_pool(RedisSettings.from_dsn(url))
    t0 = time.perf_counter()
    for i in range(n):
        await pool.enqueue_job("noop", i)
    elapsed = time.perf_counter() - t0
    await pool.aclose()
    return n / elapsed


def enqueue_one_by_one(url: str, n: int) -> float:
    return asyncio.run(_enqueue(url, n))


def prefill(url: str, n: int) -> None:
    enqueue_one_by_one(url, n)


def worker_cmd(variant: str) -> list[str]:
    binary = os.path.join(os.path.dirname(sys.executable), "arq")
    return [binary, "--custom-log-dict", "arq_adapter.LOG_CONFIG", "arq_adapter.WorkerSettings"]


def left(r: redis.Redis, n: int) -> tuple[int, int]:
    waiting = r.zcard("arq:queue")
    return waiting, waiting


def stamper(url: str) -> Callable[[float], None]:
    loop = asyncio.new_event_loop()
    pool = loop.run_until_complete(create_pool(RedisSettings.from_dsn(url)))

    def send(sent: float) -> None:
        loop.run_until_complete(pool.enqueue_job("stamp", sent))

    return send
