"""Reliable fetch: jobs move atomically from their queue into the worker's own
in-flight list and leave it only in the step that records their outcome.

An in-flight entry is ``<queue>\t<payload>`` for a worker that watches several
queues (or ``*``), and the bare payload for a worker of one named queue: the
queue is then in the worker id, and an idle worker can take its next job with
one blocking BLMOVE straight from the queue (one round trip, no wake-up token).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
import redis.exceptions as rex

from .. import discard
from ..client import WAKE_CAP, Resq
from ..payload import validate_queue_name
from ..writes import Carried, report
from .taken import Ack, Taken, entry_to_taken

log = logging.getLogger("resqplug.worker")

WILDCARD = "*"
QUEUE_REFRESH_S = 1.0


def parse_queues(spec: str | list[str]) -> list[str]:
    """``"a,b,c"`` or a list -> validated names in priority order; ``*`` stays."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for name in (n.strip() for n in names):
        if name and name not in out:
            out.append(name if name == WILDCARD else validate_queue_name(name))
    if not out:
        from ..errors import ConfigError

        raise ConfigError("no queues given: use --queues a,b,c or '*'")
    return out


def queues_of_worker(worker_id: str) -> list[str]:
    """The queue list a worker id names (``host+nonce:pid:q1,q2``)."""
    return worker_id.rpartition(":")[2].split(",")


def single_queue(queues: list[str]) -> str | None:
    """The one named queue of a one-queue worker (bare in-flight entries)."""
    return queues[0] if len(queues) == 1 and queues[0] != WILDCARD else None


class InFlight:
    """Fetch, wait, acknowledge and requeue for one worker identity."""

    def __init__(self, client: Resq, worker_id: str, queues: list[str] | None = None) -> None:
        self.client = client
        self.redis: redis.Redis = client.redis
        self.keys = client.keys
        self.worker_id = worker_id
        self.key = client.keys.inflight(worker_id)
        self.spec = queues if queues is not None else queues_of_worker(worker_id)
        self.bare_queue = single_queue(self.spec)
        self._resolved: list[str] = []
        self._resolved_at = -1e9

    def queues(self) -> list[str]:
        """The queues to watch now, in priority order (``*`` expanded, alphabetical)."""
        if WILDCARD not in self.spec:
            return self.spec
        now = time.monotonic()
        if now - self._resolved_at > QUEUE_REFRESH_S:
            known = sorted(n.decode() for n in self.redis.smembers(self.keys.queues))
            explicit = [q for q in self.spec if q != WILDCARD]
            self._resolved = explicit + [q for q in known if q not in explicit]
            self._resolved_at = now
        return self._resolved

    def fetch(self, most: int) -> list[Taken]:
        """Take up to ``most`` jobs from the first non-empty queue."""
        names = self.queues()
        if not names:
            return []
        keys = [self.key, self.keys.cancelled] + [self.keys.queue(q) for q in names]
        bare = self.bare_queue is not None
        while True:
            reply = self.client.scripts.fetch(keys, [most, "0" if bare else "1", *names])
            if not reply:
                return []
            queue, end = reply[0].decode(), 3 + int(reply[1])
            if int(reply[2]):  # cancelled jobs, dropped unrun
                cancelled = reply[end : end + int(reply[2])]
                discard.announce(self.client, cancelled, discard.queued_job(queue), "cancelled")
            if end > 3 or len(reply) == end:  # else all it took were cancelled: look again
                break
        if bare:
            return [Taken(queue, raw, raw) for raw in reply[3:end]]
        prefix = reply[0] + b"\t"
        return [Taken(queue, prefix + raw, raw) for raw in reply[3:end]]

    def any_waiting(self) -> bool:
        """Whether any of the watched queues holds a job now."""
        pipe = self.redis.pipeline(transaction=False)
        for name in self.queues():
            pipe.llen(self.keys.queue(name))
        return any(pipe.execute())

    def wait(self, timeout: float) -> list[Taken]:
        """Block until there is work, or timeout. A one-queue worker takes the
        next job itself, atomically into its in-flight list (BLMOVE), and
        returns it; a worker of several queues waits for a wake-up token on any
        of them and returns nothing (its next fetch takes the job)."""
        if self.bare_queue is not None:
            queue = self.bare_queue
            try:
                raw, dropped = self._take_waiting(queue, timeout)
            except rex.OutOfMemoryError:
                # Redis out of memory refuses BLMOVE (it may add data) but not
                # the fetch script (its first write removes): wait for a
                # wake-up token instead, and let the next fetch take the job.
                self.redis.blpop([self.keys.wake(queue)], timeout=timeout)
                return []
            if dropped:  # a cancelled job: it never runs
                if dropped[0] == b"announce":
                    discard.announce(
                        self.client, [dropped[1]], discard.queued_job(queue), "cancelled"
                    )
                return []
            return [] if raw is None else [Taken(queue, raw, raw)]
        names = self.queues()
        if not names:
            time.sleep(min(timeout, QUEUE_REFRESH_S))
            return []
        self.redis.blpop([self.keys.wake(q) for q in names], timeout=timeout)
        return []

    def _take_waiting(self, queue: str, timeout: float) -> tuple[Any, list[bytes]]:
        """BLMOVE the next job of ``queue`` into the in-flight list, with the
        cancelled-job check (tail_cancelled.lua) behind it in one pipeline:
        one round trip. Returns the payload taken (None: none) and what the
        check dropped."""
        script = self.client.scripts.tail_cancelled
        pipe = self.redis.pipeline(transaction=False)
        pipe.blmove(self.keys.queue(queue), self.key, timeout, "LEFT", "RIGHT")
        pipe.evalsha(script.sha, 2, self.key, self.keys.cancelled)
        raw, dropped = pipe.execute(raise_on_error=False)
        if isinstance(raw, Exception):
            raise raw
        if isinstance(dropped, rex.NoScriptError):  # a flushed or restarted server
            dropped = script(keys=[self.key, self.keys.cancelled])
        elif isinstance(dropped, Exception):
            raise dropped
        return raw, dropped

    def ack(self, acks: list[Ack], attempts: int = 20) -> list[int]:
        """Record outcomes atomically; retried (with backoff) while Redis is away,
        since an un-acked job would otherwise run again after recovery."""
        k = self.keys
        keys = [
            self.key,
            k.stat_processed,
            k.stat_processed_of(self.worker_id),
            k.stat_failed,
            k.stat_failed_of(self.worker_id),
            k.failed,
            k.failed_index,
            k.cancelled,
        ]
        argv: list[Any] = []
        carried = Carried(self.client.plugins.write_fragments())
        for a in acks:
            argv += (a.entry, a.job_id, a.failure)
            carried.job(a.writes, keys, argv, ran=a.job_id)
        carried.close(keys, argv)
        delay = 0.05
        for attempt in range(attempts):
            try:
                reply = self.client.scripts.ack(keys, argv)
                report(reply[len(acks) :], "an ack")
                lost = [a.job_id for a, ok in zip(acks, reply, strict=False) if not ok]
                if lost:
                    log.warning("lease lost: jobs %s were recovered elsewhere", ", ".join(lost))
                return [int(x) for x in reply[: len(acks)]]
            except (rex.ConnectionError, rex.TimeoutError) as exc:
                if attempt == attempts - 1:
                    raise
                log.warning("ack failed (%s); retrying in %.2fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        return []

    def requeue(self, taken: Taken, payload: bytes | str | None = None) -> bool:
        """Put a taken job back at the front of its queue (atomic with leaving
        the in-flight list)."""
        k = self.keys
        moved = self.client.scripts.requeue(
            [self.key, k.queue(taken.queue), k.queues, k.wake(taken.queue)],
            [taken.entry, payload if payload is not None else taken.raw, taken.queue, WAKE_CAP],
        )
        return bool(moved)

    def pending(self) -> list[Taken]:
        """What is in this worker's in-flight list now."""
        entries = self.redis.lrange(self.key, 0, -1)
        return [entry_to_taken(e, self.bare_queue) for e in entries]
