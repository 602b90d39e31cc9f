"""Job classes of the loner plugin's tests, run in-process (``drain``) and by
real worker processes (``resqplug work --app loner_jobs``).

Every run appends a JSON event (``start``, ``fail``, ``done``) with the job id,
args, attempt and pid to the Redis list ``<ns>:resqplug:lonertest:runs``, so a
test can see what ran in another process. Jobs that "run for a while" wait for
a gate key (``open_gate``) instead of sleeping a fixed time, with a deadline so
that none runs forever.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import resqplug

QUEUE = "loner"
MAX_WAIT_S = 20.0


def _client() -> resqplug.Resq:
    return resqplug.default_client()


def key(client: resqplug.Resq, *parts: str) -> str:
    return client.keys.plugin("lonertest", *parts)


def record(job: resqplug.Job, event: str) -> None:
    client = _client()
    doc = {
        "event": event,
        "id": job.id,
        "class": job.class_name,
        "args": job.args,
        "attempt": job.attempt,
        "recoveries": int(job.meta.get("recoveries", 0)),
        "pid": os.getpid(),
    }
    client.redis.rpush(key(client, "runs"), json.dumps(doc))


def runs(client: resqplug.Resq, event: str | None = None) -> list[dict[str, Any]]:
    docs = [json.loads(r) for r in client.redis.lrange(key(client, "runs"), 0, -1)]
    return [d for d in docs if event is None or d["event"] == event]


def ids(client: resqplug.Resq, event: str) -> list[str]:
    return [d["id"] for d in runs(client, event)]


def open_gate(client: resqplug.Resq, token: str) -> None:
    client.redis.set(key(client, "gate", token), 1)


def wait_gate(token: str) -> None:
    client = _client()
    deadline = time.monotonic() + MAX_WAIT_S
    while not client.redis.exists(key(client, "gate", token)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {token} was never opened")
        time.sleep(0.02)


def first_run(job: resqplug.Job, token: str) -> bool:
    """True the first time any job calls this with ``token`` (across processes)."""
    client = _client()
    return int(client.redis.incr(key(client, "count", token))) == 1


class Unique(resqplug.Job):
    """A unique job (default scope and TTL) that just records its run."""

    name = "loner_tests.Unique"
    queue = QUEUE
    unique = True

    def perform(self, *args: Any) -> None:
        record(self, "start")
        record(self, "done")


class OtherUnique(Unique):
    """Inherits ``unique`` (and perform): the same args are another identity."""

    name = "loner_tests.OtherUnique"


class Gated(resqplug.Job):
    """Unique until done; runs until ``open_gate(token)``."""

    name = "loner_tests.Gated"
    queue = QUEUE
    unique = True

    def perform(self, token: str) -> None:
        record(self, "start")
        wait_gate(token)
        record(self, "done")


class GatedQueuedScope(Gated):
    """Unique only while queued: released when it starts."""

    name = "loner_tests.GatedQueuedScope"
    unique_scope = "queued"


class Keyed(resqplug.Job):
    """Identity from ``unique_key``: only the account, not the options."""

    name = "loner_tests.Keyed"
    queue = QUEUE
    unique_for = 120

    def unique_key(self, account_id: int, options: dict[str, Any]) -> str:
        return str(account_id)

    def perform(self, account_id: int, options: dict[str, Any]) -> None:
        record(self, "done")


class Failing(resqplug.Job):
    """Unique; always fails (no retry policy)."""

    name = "loner_tests.Failing"
    queue = QUEUE
    unique = True

    def perform(self, *args: Any) -> None:
        record(self, "fail")
        raise ValueError("always fails")


class FailsFirstTime(resqplug.Job):
    """Unique; the first run with ``token`` fails, later runs succeed."""

    name = "loner_tests.FailsFirstTime"
    queue = QUEUE
    unique = True

    def perform(self, token: str) -> None:
        if first_run(self, token):
            record(self, "fail")
            raise ValueError("first run fails")
        record(self, "done")


class ShortLock(resqplug.Job):
    name = "loner_tests.ShortLock"
    queue = QUEUE
    unique_for = 0.5

    def perform(self, *args: Any) -> None:
        record(self, "done")


class KilledOnce(resqplug.Job):
    """Unique; the first run with ``token`` waits (until its worker is killed),
    later runs (after recovery) succeed at once."""

    name = "loner_tests.KilledOnce"
    queue = QUEUE
    unique = True

    def perform(self, token: str) -> None:
        record(self, "start")
        if first_run(self, token):
            wait_gate(token)
        record(self, "done")


class NotUnique(resqplug.Job):
    name = "loner_tests.NotUnique"
    queue = QUEUE

    def perform(self, *args: Any) -> None:
        record(self, "done")


@resqplug.job(queue=QUEUE, name="loner_tests.unique_function", unique_for=60)
def unique_function(n: int) -> None:
    """A ``@job`` function with a loner option."""
