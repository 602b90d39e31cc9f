"""The job the chaos runner (chaos.py) enqueues (--app chaos_jobs).

Each run of a job records itself under a fresh run id, so a job that runs
twice leaves two records: ``runs`` (hash run -> JSON: job id, start time, the
pids of the process that ran it, its parent and grandparent, and of the worker
it ran for) when it starts,
``finished`` (hash run -> JSON: job id, end time) when its work is done. The records are
HSETs, so writing one again after a lost reply changes nothing; the job rides
out Redis restarts (the runner's) by retrying them.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable

import redis

import resqplug

QUEUE = "chaos"
RETRY_FOR_S = 60.0


def parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError):
        return 0


def worker_pid(worker_id: str | None) -> int:
    parts = (worker_id or "").split(":")
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0


def key(name: str) -> str:
    return resqplug.default_client().keys.plugin("chaos", name)


def retried(write: Callable[[redis.Redis], object]) -> None:
    """Run an idempotent write, retrying while Redis is away."""
    deadline = time.monotonic() + RETRY_FOR_S
    while True:
        try:
            write(resqplug.default_client().redis)
            return
        except (redis.ConnectionError, redis.TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class ChaosJob(resqplug.Job):
    queue = QUEUE

    def perform(self, seconds: float) -> None:
        run = uuid.uuid4().hex
        ppid = os.getppid()
        record = {"id": self.id, "t": time.time(), "pid": os.getpid(), "ppid": ppid}
        record["gppid"] = parent_of(ppid)
        # The worker by its id: when a worker is SIGKILLed as its fork server
        # forks the child, the fork server is reparented before the child
        # reads its grandparent.
        record["worker"] = worker_pid(self.worker_id)
        retried(lambda r: r.hset(key("runs"), run, json.dumps(record)))
        time.sleep(seconds)
        end = json.dumps({"id": self.id, "t": time.time()})
        retried(lambda r: r.hset(key("finished"), run, end))
