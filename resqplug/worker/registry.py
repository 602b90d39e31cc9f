"""The worker registry in Resque's keys, plus resqplug's leases.

``workers`` (set), ``worker:<id>`` (current job), ``worker:<id>:started``,
``workers:heartbeat`` (hash, ISO time) and per-worker stats are Resque's, so
Ruby tools see resqplug workers. The lease (``leases`` zset, score = expiry in
Redis server time) is what the reaper trusts.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import redis

from ..errors import PayloadError
from ..keys import Keys
from ..payload import decode, dumps
from ..scripts import source


def make_worker_id(queues: list[str]) -> str:
    """``host+nonce:pid:q1,q2``: Resque's shape (the pid part stays a number for
    Ruby tools), with a random part so a restarted container with the same host
    and pid is a different worker. The random part sits in the host part, so
    Ruby Resque's pruning (which compares host, then pid with ``ps``) never
    takes a live resqplug worker for a dead Ruby one."""
    host = socket.gethostname().replace(":", "_") or "localhost"
    return f"{host}+{uuid.uuid4().hex[:6]}:{os.getpid()}:{','.join(queues)}"


def redis_time(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return int(seconds) + int(micros) / 1e6


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def ruby_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S +0000")


class WorkerRegistry:
    """Register, renew and unregister one worker.

    The lease and heartbeat go through ``lease.lua``, which Redis runs even
    when it is out of memory (maxmemory, noeviction): a live worker keeps its
    lease, and a new one can take one, so their jobs stay recoverable. Being
    listed (``workers``, started time, info: ``list_worker``) is refused then
    (redis-py's OutOfMemoryError), and the worker lists itself later."""

    def __init__(self, client: redis.Redis, keys: Keys, worker_id: str, dead_after: float) -> None:
        self.redis = client
        self.keys = keys
        self.worker_id = worker_id
        self.dead_after = dead_after
        self._lease = client.register_script(source("lease"))

    def register(self, info: dict[str, Any]) -> None:
        """Take the lease, then be listed."""
        self.renew()
        self.list_worker(info)

    def list_worker(self, info: dict[str, Any]) -> None:
        """Resque's registry entries (not the lease)."""
        now = redis_time(self.redis)
        k, wid = self.keys, self.worker_id
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(k.workers, wid)
        pipe.set(k.worker_started(wid), ruby_time(now))
        pipe.hset(k.worker_info(wid), mapping={key: str(v) for key, v in info.items()})
        pipe.execute()

    def renew(self) -> bool:
        """Renew (or take) the lease and the heartbeat; False if the worker is
        not listed (it was reaped, or could not be listed yet)."""
        now = redis_time(self.redis)
        k = self.keys
        expiry = now + self.dead_after
        known = self._lease([k.leases, k.heartbeats, k.workers], [self.worker_id, expiry, iso(now)])
        return bool(known)

    def set_current(self, queue: str | None, raw: bytes | None, started: float = 0.0) -> None:
        """Resque's ``worker:<id>`` record of the job being run (deleted when idle)."""
        key = self.keys.worker(self.worker_id)
        if queue is None or raw is None:
            self.redis.delete(key)
            return
        try:  # decoded, so it can be written back (no NaN, no lone surrogate)
            payload: Any = decode(raw)
        except PayloadError:
            payload = raw.decode("utf-8", "replace")[:4096]
        self.redis.set(
            key,
            dumps(
                {
                    "queue": queue,
                    "run_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                    "payload": payload,
                }
            ),
        )

    def paused_all(self) -> bool:
        return bool(self.redis.get(self.keys.pause_all) == b"true")

    def unregister(self) -> None:
        unregister(self.redis, self.keys, self.worker_id)


def unregister(client: redis.Redis, keys: Keys, worker_id: str) -> None:
    """Remove a worker's registry entries and lease (not its in-flight list);
    also when Redis is out of memory (unregister.lua)."""
    script = client.register_script(source("unregister"))
    script(
        [
            keys.workers,
            keys.worker(worker_id),
            keys.worker_started(worker_id),
            keys.stat_processed_of(worker_id),
            keys.stat_failed_of(worker_id),
            keys.worker_info(worker_id),
            keys.heartbeats,
            keys.leases,
        ],
        [worker_id],
    )
