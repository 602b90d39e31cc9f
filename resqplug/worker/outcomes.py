"""Finished jobs' outcomes, on their way to Redis.

The job feed adds each outcome (an Ack) as its job ends; they are written in
batches by ``ack.lua``. A batch is written by a writer thread of its own
(``write_soon``) while the worker goes on taking and running jobs, so Redis
runs the ack script (with the plugins' writes for each job) at the same time
as the worker runs the next jobs; a thread that supervises a running job
writes what waited ``ACK_EVERY_S`` (``write_if_due``). ``write_now`` waits
until every outcome added before it is in Redis: the worker calls it before
it looks for orphans in its in-flight list, goes idle or leaves.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable

import redis.exceptions as rex

from .control import Backoff
from .inflight import InFlight
from .taken import Ack

log = logging.getLogger("resqplug.worker")

REDIS_DOWN = (rex.ConnectionError, rex.TimeoutError)
ACK_EVERY_S = 0.05  # a finished job's outcome waits at most this long to be written
FLUSH_RETRY_S = 1.0


class Outcomes:
    def __init__(self, inflight: InFlight, give_up: Callable[[], bool]) -> None:
        self.inflight = inflight
        self.give_up = give_up  # a shutdown deadline passed: stop retrying a write
        # A deque, whose append and popleft are atomic: adding one takes no
        # lock (hot path).
        self.pending: deque[Ack] = deque()
        self.pending_since = 0.0  # about when the oldest pending outcome was added
        self.lock = threading.Lock()  # one writer at a time: held while writing
        self.retry_at = 0.0  # after a failed write_if_due, not before this
        self.wanted = threading.Event()
        self.failed: BaseException | None = None  # what stopped the writer thread
        self.closing = False
        self.writer = threading.Thread(target=self._write_loop, name="resqplug-acks", daemon=True)

    def add(self, ack: Ack) -> None:
        if not self.pending:
            self.pending_since = time.monotonic()
        self.pending.append(ack)

    def take(self) -> list[Ack]:
        """The pending outcomes, oldest first (under the lock: the only taker;
        outcomes added meanwhile are taken or stay)."""
        acks, pending = [], self.pending
        while pending:
            acks.append(pending.popleft())
        return acks

    def write_now(self) -> None:
        """Write every pending outcome now, retrying while Redis is away. Waits
        for a write under way on another thread: once this returns, every
        outcome added before is in Redis (the orphan check and the exit count
        on it)."""
        self.raise_failure()
        with self.lock:
            acks = self.take()
            if acks and not self.retrying(lambda: self.inflight.ack(acks)):
                self.pending.extendleft(reversed(acks))  # kept: the exit must see them

    def write_soon(self) -> None:
        """Have the writer thread write the pending outcomes, without waiting."""
        self.raise_failure()
        if not self.pending:
            return
        if not self.writer.is_alive() and not self.closing:
            self.writer.start()
        self.wanted.set()

    def _write_loop(self) -> None:
        while not self.closing:
            if not self.wanted.wait(0.5):
                continue
            self.wanted.clear()
            try:
                self.write_now()
            except BaseException as exc:  # raised in the worker's own thread next
                self.failed = exc
                return

    def raise_failure(self) -> None:
        """What stopped the writer thread (a Redis error that is not an
        outage), raised in the caller's thread, as if it had written itself."""
        failed, self.failed = self.failed, None
        if failed is not None:
            raise failed

    def close(self) -> None:
        """Stop the writer thread, after its write under way."""
        self.closing = True
        self.wanted.set()
        if self.writer.is_alive():
            self.writer.join(timeout=30)

    def due_in(self) -> float:
        """Seconds until write_if_due has outcomes to write (inf: none pending)."""
        if not self.pending:
            return math.inf
        due = max(self.pending_since + ACK_EVERY_S, self.retry_at)
        return due - time.monotonic()

    def write_if_due(self) -> None:
        """From the thread that supervises a running job: write the outcomes
        pending ACK_EVERY_S, so a finished job's outcome does not wait for the
        end of the job after it. One try, so supervision never waits on an
        outage: what could not be written stays pending (tried again a second
        later, and by the batch's own write)."""
        if self.due_in() > 0 or not self.lock.acquire(blocking=False):
            return
        try:
            since = self.pending_since
            acks = self.take()
            if acks and not self.wrote_once(acks):
                self.pending.extendleft(reversed(acks))  # first, as they came
                self.pending_since = since
        finally:
            self.lock.release()

    def wrote_once(self, acks: list[Ack]) -> bool:
        """Write outcomes, trying Redis once; False (and no retry for a
        second) if that failed."""
        try:
            self.inflight.ack(acks, attempts=1)
        except Exception as exc:  # whatever it is, the batch's write meets it again
            self.retry_at = time.monotonic() + FLUSH_RETRY_S
            if isinstance(exc, REDIS_DOWN):
                log.warning("could not record finished jobs yet: %s", exc)
            else:
                log.exception("could not record finished jobs yet")
            return False
        self.retry_at = 0.0
        return True

    def retrying(self, action: Callable[[], object]) -> bool:
        """Run a Redis write until it succeeds: an outcome must not be dropped.
        Gives up (False) only when a shutdown deadline passed (the reaper then
        recovers the job)."""
        backoff = Backoff(cap=2.0)
        while True:
            try:
                action()
                return True
            except REDIS_DOWN as exc:
                if self.give_up():
                    log.error("giving up on a Redis write at shutdown: %s", exc)
                    return False
                backoff.wait(None, exc)
