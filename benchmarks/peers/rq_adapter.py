"""RQ (see adapter.py): Queue.enqueue; enqueue_many in a pipeline; `rq worker`
with the forking Worker (a child per job) and SimpleWorker (in-process)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import redis
from adapter import CHUNK, LATENCY_KEY, Variant, redis_url
from rq import Queue

NAME = "rq"
BULK = "Queue.enqueue_many in a pipeline, 1,000 per call"
VARIANTS = {
    "Worker (fork per job)": Variant(["-w", "rq.worker.Worker"], 300, "fork"),
    "SimpleWorker": Variant(["-w", "rq.worker.SimpleWorker"], 2000, "in-process"),
}
URL = redis_url()


def noop(i: int) -> None:
    pass


def stamp(sent: float) -> None:
    now = time.time()
    redis.Redis.from_url(URL).rpush(LATENCY_KEY, f"{now - sent:.6f}")


def queue(url: str) -> Queue:
    return Queue("bench", connection=redis.Redis.from_url(url))


def enqueue_one_by_one(url: str, n: int) -> float:
    q = queue(url)
    t0 = time.perf_counter()
    for i in range(n):
        q.enqueue(noop, i)
    return n / (time.perf_counter() - t0)


def enqueue_bulk(url: str, n: int) -> float:
    q = queue(url)
    t0 = time.perf_counter()
    for start in range(0, n, CHUNK):
        with q.connection.pipeline() as pipe:
            jobs = [Queue.prepare_data(noop, (i,)) for i in range(start, min(n, start + CHUNK))]
            q.enqueue_many(jobs, pipeline=pipe)
            pipe.execute()
    return n / (time.perf_counter() - t0)


def prefill(url: str, n: int) -> None:
    enqueue_bulk(url, n)


def worker_cmd(variant: str) -> list[str]:
    rq = os.path.join(os.path.dirname(sys.executable), "rq")
    return [rq, "worker", "-q", "-u", URL, *VARIANTS[variant].args, "bench"]


def left(r: redis.Redis, n: int) -> tuple[int, int]:
    waiting, finished = r.pipeline().llen("rq:queue:bench").zcard("rq:finished:bench").execute()
    return waiting, n - finished


def stamper(url: str) -> Callable[[float], None]:
    q = queue(url)

    def send(sent: float) -> None:
        q.enqueue(stamp, sent)

    return send
