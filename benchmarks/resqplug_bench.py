"""resqplug's adapter (see adapter.py): reliability on (reliable fetch,
heartbeats, stats), as shipped, in every execution model, with its core only:
every bundled plugin is blocked, by RESQPLUG_DISABLE_PLUGINS in the workers
and by the same list in the benchmark's own clients. resqplug_plugins_bench.py
is the same adapter with all of them loaded."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import bench_jobs
import redis
from adapter import CHUNK, Variant
from peers_venv import plugin_names

import resqplug
from resqplug.keys import Keys
from resqplug.plugins import DISABLE_ENV, Plugins

NAME = "resqplug"
BULK = "enqueue_many, one pipeline per 1,000 jobs"
VARIANTS = {
    "no-fork": Variant(["--no-fork"], 20000, "in-process"),
    "threads 8": Variant(["--threads", "8"], 20000, "in-process"),
    "fork per job": Variant(["--fork"], 1000, "fork"),
    "fork, 100 jobs/child": Variant(["--fork", "--max-jobs-per-child", "100"], 20000, "pool"),
}
KEYS = Keys("bench")


class Setup:
    """The adapter's functions for one set of blocked plugins."""

    def __init__(self, blocked: list[str]) -> None:
        self.blocked = blocked
        self.worker_env = {DISABLE_ENV: ",".join(blocked)} if blocked else {}
        self._plugins: Plugins | None = None

    def plugins(self) -> Plugins:
        """The clients' plugin manager, built once; with nothing blocked it
        must have found every bundled plugin, or the figures would be core's."""
        if self._plugins is None:
            self._plugins = Plugins(disabled=self.blocked)
            missing = set(plugin_names()) - set(self._plugins.names()) - set(self.blocked)
            if missing:
                raise RuntimeError(f"plugins {sorted(missing)} are not installed in the venv")
        return self._plugins

    def client(self, url: str) -> resqplug.Resq:
        return resqplug.Resq(url, "bench", plugins=self.plugins())

    def enqueue_one_by_one(self, url: str, n: int) -> float:
        c = self.client(url)
        t0 = time.perf_counter()
        for i in range(n):
            c.enqueue(bench_jobs.BenchNoop, i)
        return n / (time.perf_counter() - t0)

    def enqueue_bulk(self, url: str, n: int) -> float:
        c = self.client(url)
        t0 = time.perf_counter()
        for start in range(0, n, CHUNK):
            args = [(i,) for i in range(start, min(n, start + CHUNK))]
            c.enqueue_many(bench_jobs.BenchNoop, args)
        return n / (time.perf_counter() - t0)

    def prefill(self, url: str, n: int) -> None:
        self.enqueue_bulk(url, n)

    def stamper(self, url: str) -> Callable[[float], None]:
        c = self.client(url)

        def stamp(sent: float) -> None:
            c.enqueue(bench_jobs.BenchStamp, sent)

        return stamp


def worker_cmd(variant: str) -> list[str]:
    return [
        *(sys.executable, "-m", "resqplug", "--redis", bench_jobs.URL, "--namespace", "bench"),
        *("work", "-q", "bench", "--app", "bench_jobs", *VARIANTS[variant].args),
    ]


def left(r: redis.Redis, n: int) -> tuple[int, int]:
    pipe = r.pipeline(transaction=False).llen(KEYS.queue("bench")).get(KEYS.stat_processed)
    waiting, processed = pipe.execute()
    return waiting, n - int(processed or 0)


CORE_ONLY = Setup(blocked=plugin_names())
WORKER_ENV = CORE_ONLY.worker_env
client = CORE_ONLY.client
enqueue_one_by_one = CORE_ONLY.enqueue_one_by_one
enqueue_bulk = CORE_ONLY.enqueue_bulk
prefill = CORE_ONLY.prefill
stamper = CORE_ONLY.stamper
