"""Job classes of the retry plugin's tests, run in-process (``drain``) and by
real worker processes (``resqplug work --app retry_jobs``).

Every run appends JSON events to the Redis list ``runs:<job id>`` under the
test's namespace, so a test in another process can check them: ``start`` and
``fail``/``done``, each with the attempt (``self.attempt``), the Redis server
time, the ``next_at`` the retry plugin put in the payload meta, and the
recovery count.
"""

from __future__ import annotations

import builtins
import json
import os
import time
from typing import Any

import resqplug


def _client() -> resqplug.Resq:
    return resqplug.default_client()


def key(client: resqplug.Resq, *parts: str) -> str:
    return client.keys.plugin("retrytest", *parts)


def now(client: resqplug.Resq) -> float:
    seconds, micros = client.redis.time()
    return int(seconds) + int(micros) / 1e6


def record(job: resqplug.Job, event: str, **extra: Any) -> None:
    client = _client()
    doc = {
        "event": event,
        "id": job.id,
        "attempt": job.attempt,
        "at": now(client),
        "next_at": (job.meta.get("retry") or {}).get("next_at"),
        "recoveries": int(job.meta.get("recoveries", 0)),
        "pid": os.getpid(),
        **extra,
    }
    client.redis.rpush(key(client, "runs", job.id), json.dumps(doc))


def runs(client: resqplug.Resq, job_id: str) -> list[dict[str, Any]]:
    return [json.loads(r) for r in client.redis.lrange(key(client, "runs", job_id), 0, -1)]


def events(client: resqplug.Resq, job_id: str, event: str) -> list[dict[str, Any]]:
    return [r for r in runs(client, job_id) if r["event"] == event]


def done(client: resqplug.Resq, job_id: str) -> bool:
    return bool(events(client, job_id, "done"))


EXCEPTIONS: dict[str, type[BaseException]] = {
    "ConnectionError": builtins.ConnectionError,
    "ConnectionResetError": ConnectionResetError,
    "TimeoutError": TimeoutError,
    "ValueError": ValueError,
    "KeyError": KeyError,
    "FileNotFoundError": FileNotFoundError,
    "PermissionError": PermissionError,
    "OSError": OSError,
}


class Flaky(resqplug.Job):
    """Fails ``fail_times`` times with ``exc_name("flaky <attempt>")``, then
    succeeds. Further args are tags (for retry_criteria)."""

    abstract = True
    queue = "retry"

    def perform(self, fail_times: int, exc_name: str = "ConnectionError", *tags: str) -> str:
        record(self, "start")
        if self.attempt <= fail_times:
            record(self, "fail")
            raise EXCEPTIONS[exc_name](f"flaky {self.attempt}")
        record(self, "done")
        return "ok"


class RetryFlaky(Flaky):
    """Retries ConnectionError (and subclasses) three times, no delay."""

    name = "retry_tests.RetryFlaky"
    retry_exceptions = (builtins.ConnectionError,)


class RetryDelayList(Flaky):
    """Per-exception delays: 0.2 s before the first retry, 0.5 s before the second."""

    name = "retry_tests.RetryDelayList"
    retry_exceptions = {TimeoutError: [0.2, 0.5]}


class RetryBackoffList(Flaky):
    name = "retry_tests.RetryBackoffList"
    retry_exceptions = (TimeoutError,)
    retry_backoff = [0.3, 0.5]


def linear_backoff(attempt: int, exc: BaseException) -> float:
    return 0.2 * attempt


class RetryBackoffCallable(Flaky):
    name = "retry_tests.RetryBackoffCallable"
    retry_exceptions = (TimeoutError,)
    retry_backoff = linear_backoff


class RetryDelayed(Flaky):
    """One retry after a full second: long enough to see it wait in the retry set."""

    name = "retry_tests.RetryDelayed"
    retry_exceptions = {builtins.ConnectionError: 1.0}


class RetryHookDelays(Flaky):
    """A growing delay per retry (three retries)."""

    name = "retry_tests.RetryHookDelays"
    retry_exceptions = {builtins.ConnectionError: [0.05, 0.1, 0.15]}


class RetryClosest(Flaky):
    """The delay of the closest listed superclass of the exception raised."""

    name = "retry_tests.RetryClosest"
    retry_exceptions = {OSError: 0.0, builtins.ConnectionError: [0.2]}


class RetrySleepy(resqplug.Job):
    """Attempt 1 fails; the first run of attempt 2 sleeps until its worker is
    killed; the recovered run of attempt 2 fails again; attempt 3 succeeds."""

    name = "retry_tests.RetrySleepy"
    queue = "retry"
    retry_exceptions = (builtins.ConnectionError,)

    def perform(self, seconds: float) -> str:
        client = _client()
        record(self, "start")
        if self.attempt == 1:
            record(self, "fail")
            raise builtins.ConnectionError("first attempt")
        if self.attempt == 2:
            if client.redis.incr(key(client, "sleeps", self.id)) == 1:
                record(self, "sleeping")
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    time.sleep(0.05)
            record(self, "fail")
            raise builtins.ConnectionError("second attempt")
        record(self, "done")
        return "ok"
