"""The ceiling: the most a Python client does on this box with plain redis-py
loops (LPUSH, RPOP, pipelined and not), a bare BRPOP-loop worker process for
pickup latency and memory, and a bare fork-per-job worker: the most any Python
worker with redis-py loaded can fork and reap here. Follows the adapter
interface (adapter.py)."""

from __future__ import annotations

import gc
import os
import struct
import sys
import time
from collections.abc import Callable

import redis
from adapter import CHUNK, LATENCY_KEY, Variant, redis_url

NAME = "redis-py"
BULK = "LPUSH pipelined, 1,000 per pipeline"
VARIANTS = {
    "BRPOP loop": Variant(["work"], 20000, "in-process"),
    "fork per job": Variant(["fork"], 1000, "fork"),
}
KEY = "ceiling"
DONE = "ceiling:done"  # jobs finished, kept by the fork-per-job worker only
STAMP = struct.Struct("d")
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
    return [sys.executable, __file__, *VARIANTS[variant].args]


def left(r: redis.Redis, n: int) -> tuple[int, int]:
    waiting, done = r.pipeline(transaction=False).llen(KEY).get(DONE).execute()
    # The BRPOP loop's jobs are done when taken; the fork worker counts its own.
    return waiting, waiting if done is None else n - int(done)


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


def fork_child() -> tuple[int, int]:
    """A child that waits for one job on a pipe, answers its start time, exits."""
    down_r, down_w = os.pipe()
    up_r, up_w = os.pipe()
    if os.fork() == 0:
        try:
            os.close(down_w)
            os.close(up_r)
            if os.read(down_r, 65536):
                os.write(up_w, STAMP.pack(time.time()))
        finally:
            os._exit(0)
    os.close(down_r)
    os.close(up_w)
    return down_w, up_r


def reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def work_forking() -> None:
    """The bare fork-per-job worker: takes up to 50 jobs per round trip, runs
    each in a fresh child (forked while the previous one runs, as resqplug
    does), and counts them done per batch. Nothing else: no lease, no record."""
    r = redis.Redis.from_url(redis_url())
    gc.freeze()
    spare = fork_child()
    while True:
        bodies = r.rpop(KEY, 50)
        if not bodies:
            taken = r.brpop([KEY], timeout=1)
            if taken is None:
                continue
            bodies = [taken[1]]
        for body in bodies:
            (to_child, from_child), spare = spare, fork_child()
            os.write(to_child, body)
            started = STAMP.unpack(os.read(from_child, STAMP.size))[0]
            os.close(to_child)
            os.close(from_child)
            if body.startswith(b"s"):
                r.rpush(LATENCY_KEY, f"{started - float(body[1:]):.6f}")
            reap()
        r.incrby(DONE, len(bodies))


if __name__ == "__main__":
    work_forking() if sys.argv[1:] == ["fork"] else work()
