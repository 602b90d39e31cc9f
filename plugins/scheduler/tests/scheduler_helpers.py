"""Helpers for the scheduler tests: real ``resqplug`` processes, polling, and
reading what the jobs of ``scheduler_jobs`` recorded."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import resqplug
from resqplug.delayed import DelayedSet
from resqplug.pytest_fixtures import (  # noqa: F401 - re-exported for the tests
    FAST_LEASE,
    ResqplugProcess,
    child_env,
    resqplug_cmd,
    wait_for,
)

TESTS = Path(__file__).resolve().parent
APP = "scheduler_jobs"


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child process's environment, with this folder on PYTHONPATH."""
    return child_env(TESTS, extra, fast_lease=False, drop=("RESQPLUG_", "SCHEDTEST_"))


def run_cli(redis_url: str, namespace: str, *args: str, timeout: float = 30.0, **kw: Any) -> Any:
    """Run one ``resqplug`` command to completion."""
    return subprocess.run(
        resqplug_cmd(redis_url, namespace, *args),
        env=env(kw.pop("extra_env", None)),
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


Spawn = Callable[..., ResqplugProcess]
"""The ``spawn`` fixture: ``spawn("scheduler", "--interval", "0.1", plugins="count")``."""

OURS = ("core", "scheduler")


def only_our_plugins() -> str:
    """Unregister here every plugin but the core and the scheduler (for
    volume tests, where other plugins' per-job Redis writes only cost time), and
    return their names for ``spawn(..., disable=...)``."""
    others = [n for n in resqplug.get_plugins().names() if n not in OURS]
    for name in others:
        resqplug.unregister(name)
    return ",".join(others)


# --- reading what happened ---------------------------------------------------------


def key(client: resqplug.Resq, *parts: str) -> str:
    return client.keys.plugin("schedtest", *parts)


def server_time(client: resqplug.Resq) -> float:
    seconds, micros = client.redis.time()
    return int(seconds) + int(micros) / 1e6


def runs(client: resqplug.Resq) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in client.redis.hgetall(key(client, "runs")).items()}


def ran(client: resqplug.Resq) -> list[str]:
    return [x.decode() for x in client.redis.lrange(key(client, "ran"), 0, -1)]


def started(client: resqplug.Resq) -> dict[str, float]:
    return {k.decode(): float(v) for k, v in client.redis.hgetall(key(client, "started")).items()}


def metas(client: resqplug.Resq) -> dict[str, dict[str, Any]]:
    raw = client.redis.hgetall(key(client, "meta"))
    return {k.decode(): json.loads(v) for k, v in raw.items()}


def args_of(client: resqplug.Resq) -> dict[str, list[Any]]:
    raw = client.redis.hgetall(key(client, "args"))
    return {k.decode(): json.loads(v) for k, v in raw.items()}


def before_enqueue_calls(client: resqplug.Resq, job_id: str) -> list[tuple[int, float]]:
    """(pid, Redis time) of each before_enqueue call the ``count`` plugin saw."""
    out = []
    for item in client.redis.lrange(key(client, "before_enqueue", job_id), 0, -1):
        pid, at = item.decode().split()
        out.append((int(pid), float(at)))
    return out


def queued(client: resqplug.Resq, queue: str) -> list[dict[str, Any]]:
    return client.peek(queue, 0, 1_000_000)


def scheduled_runs(client: resqplug.Resq, schedule: str) -> list[dict[str, Any]]:
    """The ``meta.scheduler`` of every run of a schedule's jobs."""
    return [
        m["scheduler"]
        for m in metas(client).values()
        if (m.get("scheduler") or {}).get("schedule") == schedule
    ]


def delayed(client: resqplug.Resq) -> DelayedSet:
    return DelayedSet(client, "scheduler")


def prepare_many(client: resqplug.Resq, target: Any, args_list: Iterable[Any]) -> list[Any]:
    """Build and prepare jobs like ``enqueue_at`` does (before_enqueue, encoded):
    a list of (job id, delayed-set member)."""
    out = []
    for args in args_list:
        job = client.build(target, args)
        text = client.prepare(job)
        assert text is not None
        out.append((job.id, f"{job.queue}\t{text}"))
    return out


def add_many(client: resqplug.Resq, prepared: list[Any], due: float) -> list[str]:
    """Put prepared jobs in the scheduler's delayed set at once (pipelined)."""
    set_key = delayed(client).key
    pipe = client.redis.pipeline(transaction=False)
    for start in range(0, len(prepared), 2000):
        pipe.zadd(set_key, {member: due for _, member in prepared[start : start + 2000]})
    pipe.execute()
    return [job_id for job_id, _ in prepared]


def bulk_delay(
    client: resqplug.Resq, target: Any, args_list: Iterable[Any], due: float
) -> list[str]:
    """Many delayed jobs, written quickly; returns the ids."""
    return add_many(client, prepare_many(client, target, args_list), due)
