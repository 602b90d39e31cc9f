"""Job classes of the status plugin's tests, run in-process (``drain``) and by
real worker processes (``resqplug work --app status_jobs``).

Jobs record what they did in Redis under the test's namespace so a test in
another process can check it: ``started`` / ``finished`` (lists of job ids) and
``pids`` (hash job id -> pid of the process that ran it).
"""

from __future__ import annotations

import os
import time
from typing import Any

import resqplug_status

import resqplug


def _client() -> resqplug.Resq:
    return resqplug.default_client()


def key(client: resqplug.Resq, name: str) -> str:
    return client.keys.plugin("statustest", name)


def record(job: resqplug.Job, event: str) -> None:
    client = _client()
    pipe = client.redis.pipeline()
    pipe.rpush(key(client, event), job.id)
    if event == "started":
        pipe.hset(key(client, "pids"), job.id, os.getpid())
    pipe.execute()


def events(client: resqplug.Resq, event: str) -> list[str]:
    return [i.decode() for i in client.redis.lrange(key(client, event), 0, -1)]


def pid_of(client: resqplug.Resq, job_id: str) -> int | None:
    raw = client.redis.hget(key(client, "pids"), job_id)
    return int(raw) if raw else None


def snapshot(job: resqplug.Job) -> dict[str, Any]:
    """The job's own status as the job sees it while it runs."""
    status = resqplug_status.get(job.id)
    assert status is not None
    return {"status": status.status, "pct": status.pct_complete, **status.fields}


class StatusRecord(resqplug.Job):
    queue = "status"

    def perform(self, *args: Any) -> dict[str, Any]:
        record(self, "started")
        record(self, "finished")
        return {"args": list(args)}


class StatusSnapshot(resqplug.Job):
    """Returns its own status as seen while it runs ("working")."""

    queue = "status"

    def perform(self, *args: Any) -> dict[str, Any]:
        return snapshot(self)


class StatusFail(resqplug.Job):
    queue = "status"

    def perform(self, message: str) -> None:
        record(self, "started")
        raise ValueError(message)


class StatusSleep(resqplug.Job):
    """Sleeps (in C: only a signal or a kill stops it); records start and end."""

    queue = "status"

    def perform(self, seconds: float) -> str:
        record(self, "started")
        time.sleep(seconds)
        record(self, "finished")
        return "slept"


class StatusTicker(resqplug.Job):
    """Calls ``self.tick()`` in a loop: the cooperative kill point."""

    queue = "status"

    def perform(self, seconds: float, every: float = 0.02) -> str:
        record(self, "started")
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            n += 1
            self.tick(f"tick {n}")
            time.sleep(every)
        record(self, "finished")
        return "ticked"


class StatusProgress(resqplug.Job):
    """Reports progress with at() and tick(), returning its status after each."""

    queue = "status"

    def perform(self, total: int) -> list[list[Any]]:
        seen = []
        for n in range(1, total + 1):
            self.at(n, total, f"step {n} of {total}")
            s = snapshot(self)
            seen.append([s["status"], s["pct"], s.get("num"), s.get("total"), s.get("message")])
        self.tick("finishing")
        s = snapshot(self)
        seen.append([s["status"], s["pct"], s.get("num"), s.get("total"), s.get("message")])
        return seen


class StatusSlowProgress(resqplug.Job):
    """Reports progress with at(), a step every ``every`` seconds."""

    queue = "status"

    def perform(self, steps: int, every: float = 0.05) -> str:
        record(self, "started")
        for n in range(1, steps + 1):
            self.at(n, steps, f"step {n} of {steps}")
            time.sleep(every)
        return "done"


class StatusReturn(resqplug.Job):
    """Returns a result of the given kind."""

    queue = "status"

    def perform(self, kind: str, size: int = 0) -> Any:
        if kind == "dict":
            return {"order": 1234, "items": ["a", "b"], "paid": True, "total": 12.5}
        if kind == "text":
            return "x" * size
        if kind == "set":
            return {1, 2, 3}
        if kind == "nan":
            return float("nan")
        if kind == "circular":
            loop: list[Any] = []
            loop.append(loop)
            return loop
        if kind == "none":
            return None
        raise ValueError(f"unknown kind {kind!r}")


class StatusNoResult(resqplug.Job):
    queue = "status"
    status_store_result = False

    def perform(self) -> dict[str, str]:
        return {"secret": "not stored"}


class StatusRecoverable(resqplug.Job):
    """Sleeps long on its first run (to be SIGKILLed with its worker), returns
    at once once recovered."""

    queue = "status"

    def perform(self, seconds: float) -> str:
        if int(self.meta.get("recoveries", 0)) == 0:
            record(self, "started")
            time.sleep(seconds)
            return "first run"
        record(self, "finished")
        return "recovered"


class KillRaceSync:
    """A test plugin for worker processes started with ``STATUS_TEST_SYNC_LOG``
    (the worker's own log file, read at ``-v``): when a StatusTicker stops on
    its kill request (JobKilled at a tick, in the process running the job), it
    finishes only once the worker process logged the USR1 that its heartbeat
    sends for the same request, so the two kill paths meet deterministically."""

    def __init__(self, log_path: str) -> None:
        self.log_path = log_path

    def usr1_count(self) -> int:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read().count("received SIGUSR1")

    @resqplug.hookimpl
    def handle_failure(self, job: resqplug.Job, exc: BaseException) -> None:
        if not isinstance(job, StatusTicker) or not isinstance(exc, resqplug_status.JobKilled):
            return None
        seen = self.usr1_count()
        deadline = time.monotonic() + 3
        while self.usr1_count() <= seen and time.monotonic() < deadline:
            time.sleep(0.001)
        return None


if os.environ.get("STATUS_TEST_SYNC_LOG"):
    resqplug.register(KillRaceSync(os.environ["STATUS_TEST_SYNC_LOG"]), name="status-test-sync")
