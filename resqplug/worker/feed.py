"""The job feed: fetch -> batch -> give back -> acknowledge, for every run mode
(in-process, threads, fork) and for ``resqplug.testing``.

The feed takes jobs atomically into the worker's in-flight list (inflight.py),
hands them to a run mode, gives back what a run mode has not started when a
job is slow or a stop comes, and records outcomes in batches (outcomes.py).
It holds the state of that cycle: the batch's jobs not started yet
(``queued``), the pending outcomes, the current job. A run mode is a
``Consumer`` of the feed: ``Batches`` runs the feed's batches one job at a
time (in-process and fork modes), threads mode consumes jobs its own way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import redis.exceptions as rex

from .control import Backoff, Control
from .inflight import InFlight
from .options import HEARTBEAT_TICK_S
from .outcomes import Outcomes
from .taken import Ack, Taken

if TYPE_CHECKING:
    from ..job import Job
    from ..plugins import Plugins

log = logging.getLogger("resqplug.worker")

RunOne = Callable[[Taken, "Taken | None"], "Ack | None"]  # (job, the next one) -> outcome

REDIS_DOWN = (rex.ConnectionError, rex.TimeoutError)
SLOW_JOB_S = 0.1
FAST_JOB_S = 0.01  # jobs faster than this are fetched in growing batches
TICK_S = HEARTBEAT_TICK_S
ORPHAN_CHECK_S = 1.0  # an idle worker looks for orphans in its in-flight list this often


@dataclass
class FeedOptions:
    burst: bool = False  # stop when the queues are empty (and ``drained`` says so)
    wait_timeout: float = 1.0  # an idle feed blocks for work this long at a time
    max_batch: int = 50
    # Redis going away: wait and reconnect (a worker), or raise (the test helper).
    ride_out_outages: bool = True


class Consumer(Protocol):
    """A run mode as the feed's loop sees it."""

    def room(self) -> int:
        """How many jobs to take now (0: none for now)."""

    def holds(self) -> Counter[bytes]:
        """In-flight entries taken and not yet handed back as outcomes."""

    def take(self, batch: list[Taken]) -> None:
        """Run (or hand on) these jobs; ``batch`` may be empty."""

    def idle(self, wait: float) -> float:
        """The queues are empty: how long the feed may wait for work."""

    def while_paused(self) -> None:
        """What to do for a moment while the worker is paused."""


class Runner(Protocol):
    """A run mode that runs the feed's batches one job at a time."""

    def run_one(self, taken: Taken, upcoming: Taken | None) -> Ack | None: ...
    def idle(self, wait: float) -> float: ...
    def started_ahead(self, upcoming: list[Taken]) -> int:
        """How many of ``upcoming`` (jobs about to be given back) it has
        started already, so they stay and run here."""


class JobFeed:
    def __init__(
        self,
        inflight: InFlight,
        control: Control,
        plugins: Plugins,
        options: FeedOptions,
        on_event: Callable[[str], object] = lambda name: None,
        drained: Callable[[], bool] = lambda: False,
    ) -> None:
        self.inflight = inflight
        self.control = control
        self.plugins = plugins
        self.options = options
        self.on_event = on_event  # worker hooks: queue_empty, worker_pause, worker_resume
        self.drained = drained  # burst: True if there is work again after all
        self.worker_id = inflight.worker_id
        give_up = control.abandon_due if options.ride_out_outages else (lambda: True)
        self.outcomes = Outcomes(inflight, give_up)  # not written yet: see outcomes.py
        self.current: Taken | None = None
        self.current_started = 0.0
        # The fetched batch's jobs not started yet; the thread that supervises
        # a slow job gives them back (give_back_queued).
        self.queued: deque[Taken] = deque()
        self.queued_lock = threading.Lock()
        self.in_batch = False  # run_batch is taking jobs from queued
        self.orphans_checked = -1e9
        self.started_ahead: Callable[[list[Taken]], int] = lambda upcoming: 0

    # --- the loop ---------------------------------------------------------------------

    def run(self, consumer: Consumer) -> None:
        """Take jobs and hand them to ``consumer`` until stopped (or, in burst
        mode, until the queues are empty)."""
        idle, backoff, control = False, Backoff(), self.control
        while not control.stopping:
            self.hold_while_paused(consumer.while_paused)
            if control.stopping:
                break
            room = consumer.room()
            try:
                batch = self.inflight.fetch(room) if room > 0 else []
                if not batch and not consumer.holds():
                    waited = self.when_empty(consumer, first=not idle)
                    if waited is None:
                        break
                    idle = True
                    if not waited:
                        continue
                    batch = waited
            except REDIS_DOWN as exc:
                if not self.options.ride_out_outages:
                    raise
                backoff.wait(control, exc)
                self.recover_orphans(consumer.holds())
                continue
            idle = False
            backoff.reset()
            consumer.take(batch)

    def run_batches(self, runner: Runner, budget: int | None = None) -> None:
        """Run the feed's batches through ``runner``, one job at a time (at
        most ``budget`` jobs, then stop)."""
        self.started_ahead = runner.started_ahead
        self.run(Batches(self, runner, budget))

    def hold_while_paused(self, wait: Callable[[], object]) -> None:
        """Hold while paused; ``wait`` is what to do meanwhile (a run mode with
        jobs still running records their outcomes)."""
        if not self.control.holding:
            return
        self.on_event("worker_pause")
        log.info("paused")
        while self.control.holding and not self.control.stopping:
            wait()
        self.on_event("worker_resume")
        log.info("resumed")

    def wait_a_tick(self) -> None:
        self.control.wake.wait(TICK_S)

    def when_empty(self, consumer: Consumer, first: bool) -> list[Taken] | None:
        """The queues had nothing (and the worker holds no job): None to stop
        (burst mode, nothing recovered from dead workers), else what waiting
        for work took, maybe nothing. ``first``: the queues just became empty."""
        self.flush()  # what ran is recorded before the worker idles or exits
        if self.options.burst:
            return [] if self.drained() else None
        if first:
            self.on_event("queue_empty")
        return self.took_while_waiting(consumer.idle(self.options.wait_timeout))

    def took_while_waiting(self, timeout: float) -> list[Taken]:
        """Wait up to ``timeout`` for work (only called while the worker holds no
        job); a job taken by the wait itself is given back if a pause or
        shutdown arrived meanwhile."""
        now = time.monotonic()
        if now - self.orphans_checked >= ORPHAN_CHECK_S:
            self.orphans_checked = now
            self.recover_orphans()
        batch = self.inflight.wait(timeout)
        if batch and (self.control.holding or self.control.stopping):
            self.give_back(batch)
            return []
        return batch

    def recover_orphans(self, held: Counter[bytes] | None = None) -> None:
        """Put back at the front what the in-flight list holds beyond the entries
        this worker knows it ``held``. A fetch whose reply was lost with the
        connection (redis-py may even retry it and take another job) leaves
        jobs there that the worker never saw; they would sit there, leased,
        until it exits. Checked after a Redis error, and while idle."""
        try:
            self.flush()  # outcomes on their way still hold entries in the list
            if self.outcomes.pending:  # not written (a shutdown deadline): not orphans
                return
            known = Counter(held or ())
            orphans = []
            for taken in self.inflight.pending():
                if known[taken.entry] > 0:
                    known[taken.entry] -= 1
                else:
                    orphans.append(taken)
        except REDIS_DOWN as exc:
            log.debug("could not check the in-flight list yet: %s", exc)
            return
        if orphans:
            log.warning("putting back %d job(s) taken when Redis went away", len(orphans))
            self.give_back(orphans)

    # --- a batch ------------------------------------------------------------------------

    def run_batch(self, batch: list[Taken], run_one: RunOne) -> int:
        """Run a fetched batch, one job at a time; returns how many ran.
        ``run_one`` also gets the job after the one it runs (a run mode may
        hand it over early)."""
        with self.queued_lock:
            self.queued.extend(batch)
            self.in_batch = True
        ran = 0
        while True:
            with self.queued_lock:
                if not self.queued:
                    self.in_batch = False
                    break
                taken = self.queued.popleft()
                upcoming = self.queued[0] if self.queued else None
            t0 = time.monotonic()
            ack = run_one(taken, upcoming)
            ran += 1
            if ack is not None:
                self.outcomes.add(ack)
            now = time.monotonic()
            if self.queued and (self.control.stopping or now - t0 > SLOW_JOB_S):
                self.give_back_queued()  # only what was not started yet goes back
            if self.outcomes.due_in() <= 0:
                self.outcomes.write_soon()
        self.outcomes.write_soon()  # while the next batch is fetched and run
        return ran

    def upcoming(self, most: int | None = None) -> list[Taken]:
        """The batch's next jobs not started yet (``most`` of them, or all)."""
        with self.queued_lock:
            if most is None:
                return list(self.queued)
            return [self.queued[i] for i in range(min(most, len(self.queued)))]

    def put_back(self, taken: Taken, job: Job) -> None:
        """A started job stopped unfinished by the worker's own stop (INT, or
        TERM's shutdown timeout): back to the front of its queue, and plugins
        hear of it as of a recovered job (a status goes back to "queued")."""
        log.warning(
            "stopping: job %s goes back, unfinished, to the front of %s", job.id, taken.queue
        )
        self.retrying(lambda: self.inflight.requeue(taken))
        self.plugins.call_each("job_recovered", job=job, worker_id=self.worker_id)

    def give_back_if_slow(self) -> None:
        """From the heartbeat thread (in-process mode): the current job is slow,
        so the batch's queued jobs go back to their queues for other workers."""
        current, since = self.current, self.current_started
        if current is not None and self.queued and time.time() - since > SLOW_JOB_S:
            self.give_back_queued(patient=False)

    def give_back_queued(self, patient: bool = True) -> None:
        """Put the batch's jobs that have not started back at the front of their
        queues, so no job waits behind a slow one (or a shutdown) while another
        worker is free. A job the run mode has already started stays queued, to
        be run and acknowledged here. Not ``patient`` (while a job runs): if
        Redis is away, what could not go back stays queued here."""
        with self.queued_lock:
            rest = list(self.queued)
            running = self.started_ahead(rest)
            self.queued = deque(rest[:running])
        back = rest[running:]
        if back:
            log.debug("giving back %d queued job(s)", len(back))
        if patient:
            self.give_back(back)
            return
        kept = self.give_back_once(back)
        with self.queued_lock:
            if self.in_batch:  # they run here after all
                self.queued.extend(kept)
        # Else they stay in the in-flight list as orphans, which the worker
        # puts back when it holds no job (recover_orphans).

    def give_back_once(self, jobs: list[Taken]) -> list[Taken]:
        """Put jobs back at the front of their queues, trying Redis once (for a
        thread that supervises a running job and must not wait on an outage).
        Returns the ones that could not go back, in their order."""
        for index in range(len(jobs) - 1, -1, -1):  # last first: the order is kept
            try:
                self.inflight.requeue(jobs[index])
            except REDIS_DOWN as exc:
                log.warning("could not give back queued jobs yet: %s", exc)
                return jobs[: index + 1]
        return []

    def give_back(self, rest: list[Taken]) -> None:
        """Put jobs taken but not started back at the front, in their order."""
        for taken in reversed(rest):
            self.retrying(lambda t=taken: self.inflight.requeue(t))  # type: ignore[misc]

    # --- outcomes ---------------------------------------------------------------------

    def add(self, ack: Ack) -> None:
        self.outcomes.add(ack)

    def ack_now(self, ack: Ack) -> None:
        """Record one outcome now, in this thread (Redis away: retried a while,
        then the error). For callers that run one job at a time and want
        each recorded before the next (``resqplug.testing``)."""
        self.inflight.ack([ack])

    def write_soon(self) -> None:
        """Have the pending outcomes written on the writer thread, now."""
        self.outcomes.write_soon()

    def flush(self) -> None:
        """Write every pending outcome now (see Outcomes.write_now)."""
        self.outcomes.write_now()

    def flush_due_in(self) -> float:
        return self.outcomes.due_in()

    def flush_if_due(self) -> None:
        self.outcomes.write_if_due()

    def retrying(self, action: Callable[[], object]) -> bool:
        """Run a Redis write until it succeeds (see Outcomes.retrying)."""
        return self.outcomes.retrying(action)

    def close(self) -> None:
        """Stop the outcomes' writer thread; then write what is left (flush)."""
        self.outcomes.close()


class Batches:
    """Fetches batches and runs them one job at a time through a ``Runner``.
    Adaptive prefetch: the batch doubles (up to ``max_batch``) while jobs are
    fast, and falls to one job otherwise."""

    def __init__(self, feed: JobFeed, runner: Runner, budget: int | None = None) -> None:
        self.feed, self.runner, self.budget = feed, runner, budget
        self.size = 1
        self.none: Counter[bytes] = Counter()  # between batches it holds no job

    def room(self) -> int:
        return self.size if self.budget is None else min(self.size, self.budget)

    def holds(self) -> Counter[bytes]:
        return self.none

    def idle(self, wait: float) -> float:
        return self.runner.idle(wait)

    def while_paused(self) -> None:
        self.feed.wait_a_tick()

    def take(self, batch: list[Taken]) -> None:
        started = time.monotonic()
        ran = self.feed.run_batch(batch, self.runner.run_one)
        per_job = (time.monotonic() - started) / max(ran, 1)
        size = self.size
        if per_job < FAST_JOB_S and ran == size:
            self.size = min(size * 2, self.feed.options.max_batch)
        else:
            self.size = size if per_job < FAST_JOB_S and ran == len(batch) else 1
        if self.budget is not None:
            self.budget -= ran
            if self.budget <= 0:
                self.feed.control.stopping = True  # quietly: no signal asked for it
