"""Recovery of dead workers' jobs.

A worker whose lease expired (Redis server time) is dead: each job in its
in-flight list goes back to the front of its queue with ``meta.recoveries``
raised by one, in one atomic step per job; a job recovered more than
``max_recoveries`` times is failed as a poison pill instead. One reaper runs at
a time (a lock with a TTL).

Each entry, and each dead worker, is handled on its own: an entry that cannot
be recovered (not a payload, a job class that cannot be built, ...) is failed
with a one-line reason, one that Redis refuses to move stays for the next pass;
only Redis being down stops a pass.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis.exceptions as rex

from .. import failure
from ..client import Resq
from ..errors import DirtyExit, PayloadError
from ..failure import message
from ..payload import decode, dumps, validate_queue_name
from ..plugins import redis_down
from ..runner import any_job, fail
from .inflight import InFlight
from .processor import raw_job_id
from .registry import redis_time, unregister
from .taken import Ack, Taken

log = logging.getLogger("resqplug.reaper")

# Short: a reaper killed mid-pass must not stop reaping for long. Two passes at
# once are safe anyway (each move checks its entry is still there).
LOCK_MS = 5_000


class Reaper:
    def __init__(self, client: Resq, reaper_id: str, max_recoveries: int) -> None:
        self.client = client
        self.redis = client.redis
        self.keys = client.keys
        self.reaper_id = reaper_id
        self.max_recoveries = max_recoveries

    def dead_workers(self) -> list[str]:
        now = redis_time(self.redis)
        found = self.redis.zrangebyscore(self.keys.leases, "-inf", now)
        # A worker id that is not UTF-8 cannot be addressed: its reaping fails alone.
        return [w.decode("utf-8", "surrogateescape") for w in found]

    def reap_worker_alone(self, worker_id: str) -> int:
        """reap_worker, with anything but Redis being down kept to this worker."""
        try:
            return self.reap_worker(worker_id)
        except Exception as exc:
            if redis_down(exc):
                raise
            log.error(
                "could not reap dead worker %r: %s: %s; trying again at the next pass",
                worker_id,
                type(exc).__name__,
                message(exc),
            )
            log.debug("reaping %r failed", worker_id, exc_info=True)
            return 0

    def reap(self, wait: float = 0.0) -> int:
        """Recover every dead worker's jobs; returns how many jobs were handled.
        Another reaper holding the lock means nothing to do, unless ``wait``:
        then wait up to that long for the lock (it may be a killed reaper's)."""
        lock = self.keys.reaper_lock
        deadline = time.monotonic() + wait
        while not self.redis.set(lock, self.reaper_id, nx=True, px=LOCK_MS):
            if time.monotonic() >= deadline:
                return 0
            time.sleep(0.05)
        try:
            return sum(self.reap_worker_alone(w) for w in self.dead_workers())
        finally:
            # Release only our own lock (compare-and-delete).
            self.client.scripts.lock_release([lock], [self.reaper_id])

    def reap_worker(self, worker_id: str) -> int:
        inflight = InFlight(self.client, worker_id)  # entry form from the id
        handled = 0
        # Last first: each goes to the front, so the jobs keep their order.
        for taken in reversed(inflight.pending()):
            handled += self.recover_alone(inflight, taken)
        if not self.redis.llen(inflight.key):
            unregister(self.redis, self.keys, worker_id)
            log.warning("reaped dead worker %s (%d jobs recovered)", worker_id, handled)
        return handled

    def recover_alone(self, inflight: InFlight, taken: Taken) -> int:
        """recover one entry; one that cannot be recovered is failed (or, if Redis
        refuses to move it, left in place for the next pass), never the pass."""
        try:
            return self.recover(inflight, taken)
        except Exception as exc:
            if redis_down(exc):
                raise
            if isinstance(exc, rex.RedisError):  # not the entry's fault: keep it
                log.warning(
                    "could not recover a job of dead worker %s: %s; left for the next pass",
                    inflight.worker_id,
                    message(exc),
                )
                return 0
            return self.fail_entry(inflight, taken, exc)

    def fail_entry(self, inflight: InFlight, taken: Taken, exc: Exception) -> int:
        """Fail an entry that cannot be recovered, keeping its payload (as text
        when it does not decode) and the reason."""
        try:
            doc: dict[str, Any] | None = decode(taken.raw)
        except PayloadError:
            doc = None
        job_id = doc["id"] if doc is not None else raw_job_id(taken.raw)
        log.error(
            "cannot recover job %s of dead worker %s (queue %r): %s: %s; failing it",
            job_id,
            inflight.worker_id,
            taken.queue,
            type(exc).__name__,
            message(exc),
        )
        record = failure.build(
            doc,
            exc,
            worker=inflight.worker_id,
            queue=taken.queue,
            job_id=job_id,
            raw=taken.raw.decode("utf-8", "replace"),
        )
        return sum(inflight.ack([Ack(taken.entry, job_id, record)]))

    def recover(self, inflight: InFlight, taken: Taken) -> int:
        """Put one job back at the front of its queue, or fail it as a poison pill."""
        doc = decode(taken.raw)  # validates meta.recoveries
        validate_queue_name(taken.queue)
        meta: dict[str, Any] = doc.setdefault("meta", {})
        recoveries = meta.get("recoveries", 0) + 1
        meta["recoveries"] = recoveries
        job = any_job(doc, taken.queue)
        if recoveries > self.max_recoveries:
            pill = DirtyExit(
                f"job {doc['id']} exceeded max recoveries ({self.max_recoveries}): its worker "
                f"died {recoveries} times while running it (poison pill)"
            )
            log.error("%s", pill)
            outcome = fail(self.client.plugins, job, pill)
            record = ""
            if outcome.record_failure:
                record = failure.build(
                    failure.job_payload(job),
                    pill,
                    worker=inflight.worker_id,
                    queue=taken.queue,
                    job_id=job.id,
                    action=outcome.action,
                )
            return sum(inflight.ack([Ack(taken.entry, job.id, record, tuple(job.writes))]))
        if not inflight.requeue(taken, dumps(doc)):
            return 0
        log.warning(
            "recovered job %s (%s) from dead worker %s to the front of %s (recovery %d)",
            job.id,
            job.class_name,
            inflight.worker_id,
            taken.queue,
            recoveries,
        )
        self.client.plugins.call_each("job_recovered", job=job, worker_id=inflight.worker_id)
        return 1
