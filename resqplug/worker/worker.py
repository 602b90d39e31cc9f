"""The worker: registration, heartbeats, recovery, the fetch loop and shutdown.

How a job is executed (in-process, in a forked child, on a thread) is the
job of an executor; the worker only fetches, acknowledges and supervises.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

import redis.exceptions as rex

from .. import __version__
from ..client import Resq
from ..config import EVENTS_LOGGER
from ..connection import check_server_version, out_of_memory, redact, translated
from ..job import Job
from .control import Backoff, Control, Signals
from .inflight import InFlight
from .membership import Membership
from .options import HEARTBEAT_TICK_S, WorkerOptions
from .outcomes import ACK_EVERY_S, Outcomes
from .processor import Processor
from .reaper import LOCK_MS, Reaper
from .registry import WorkerRegistry, make_worker_id
from .taken import Ack, Taken

log = logging.getLogger("resqplug.worker")
events = logging.getLogger(EVENTS_LOGGER)

RunOne = Callable[[Taken, "Taken | None"], "Ack | None"]  # (job, the next one) -> outcome

REDIS_DOWN = (rex.ConnectionError, rex.TimeoutError)
SLOW_JOB_S = 0.1
FAST_JOB_S = 0.01  # jobs faster than this are fetched in growing batches
TICK_S = HEARTBEAT_TICK_S  # the lease's minimum (options.min_dead_after) counts on it
ORPHAN_CHECK_S = 1.0  # an idle worker looks for orphans in its in-flight list this often


class Worker:
    def __init__(self, client: Resq, options: WorkerOptions) -> None:
        options.check()  # again: the options may have been changed since they were made
        self.client = client
        self.options = options
        self.id = make_worker_id(options.queues)
        self.control = Control(options.shutdown_timeout)
        self.inflight = InFlight(client, self.id, options.queues)
        self.processor = Processor(client.plugins, self.id)
        self.registry = WorkerRegistry(client.redis, client.keys, self.id, options.dead_after_s)
        self.membership = Membership(self.registry, self.info)
        self.reaper = Reaper(client, self.id, options.max_recoveries)
        self.plugins = client.plugins
        self.current: Taken | None = None
        self.current_started = 0.0
        # Outcomes not written yet: see outcomes.py.
        self.outcomes = Outcomes(self.inflight, self.control.abandon_due)
        # The fetched batch's jobs not started yet; the thread that supervises
        # a slow job gives them back (give_back_queued).
        self.queued: deque[Taken] = deque()
        self.queued_lock = threading.Lock()
        self.in_batch = False  # run_batch is taking jobs from queued
        self.orphans_checked = -1e9
        self._stop_beating = threading.Event()
        from .executors import make_executor

        self.executor = make_executor(self)
        self.signals = Signals(self.control, self.executor.on_signal)

    def __repr__(self) -> str:
        return f"<Worker {self.id}>"

    # --- life ---------------------------------------------------------------------

    def work(self) -> int:
        """Run until stopped (or, in burst mode, until the queues are empty)."""
        # Handlers first: a TERM that arrives while registering must still
        # lead to a clean unregister, not the default (die registered).
        self.signals.install()
        try:
            with translated(self.client.url):
                server = self.client.redis.info("server")
                check_server_version(self.client.url, str(server.get("redis_version", "")))
            registered = self.membership.join(self.control, self.client.url)
        except BaseException:
            self.signals.restore()
            raise
        if not registered:  # stopped while Redis was away: nothing was started
            self.signals.restore()
            return self.control.exit_code
        self._say_started()
        beater = threading.Thread(target=self._beat, name="resqplug-heartbeat", daemon=True)
        beater.start()
        try:
            self._reap()
            self.plugins.call_each("worker_start", worker=self)
            # The first beat's plugin work runs here too, before any job or
            # fork: what those hooks import on first use is imported before a
            # child is forked (a child forked while the heartbeat thread is
            # importing a module waits for that import forever).
            self.plugins.call_each("worker_heartbeat", worker=self)
            self.executor.run()
        finally:
            self.outcomes.close()
            self.flush()
            self.executor.close()
            self._stop_beating.set()
            beater.join(timeout=5)
            self._leave()
            self.signals.restore()
            self.control.wake.close()
            self.plugins.call_each("worker_exit", worker=self)
            events.info("worker %s stopped (exit code %d)", self.id, self.control.exit_code)
        return self.control.exit_code

    def _say_started(self) -> None:
        o, c = self.options, self.client
        mode = f"threads mode ({o.threads})" if o.mode == "threads" else f"{o.mode} mode"
        events.info(
            "resqplug %s worker %s started: %s on %s, %s namespace %s, plugins %s",
            __version__,
            self.id,
            mode,
            ",".join(o.queues),
            redact(c.url),
            c.namespace,
            ", ".join(sorted(n for n in self.plugins.names() if n != "core")) or "none",
        )

    def info(self) -> dict[str, object]:
        o = self.options
        return {
            "version": __version__,
            "mode": o.mode,
            "threads": o.threads,
            "pid": os.getpid(),
            "queues": ",".join(o.queues),
        }

    def kill_current(self, job_id: str) -> None:
        """Kill the running job if it is still ``job_id`` (fork and no-fork modes;
        the same path as USR1, aimed at one job so a late request cannot hit the
        next job). For plugins, e.g. a status kill request."""
        self.control.kill_job_id = job_id
        os.kill(os.getpid(), signal.SIGUSR1)

    def _leave(self) -> None:
        """Unregister, unless jobs are still in flight (then the lease expires and
        the reaper recovers them)."""
        try:
            self.flush()  # one more try for outcomes a shutdown deadline left
            if self.outcomes.pending:
                log.warning(
                    "%d finished jobs could not be recorded; leaving the jobs in flight "
                    "to the reaper",
                    len(self.outcomes.pending),
                )
                return
            left = self.inflight.pending()
            if self.control.stopping and left:
                for taken in reversed(left):
                    self.inflight.requeue(taken)
                left = self.inflight.pending()
            if left:
                log.warning("%d jobs still in flight; leaving them to the reaper", len(left))
                return
            self.registry.unregister()
        except REDIS_DOWN as exc:
            log.warning("could not unregister (%s); the reaper will clean up", exc)

    def _beat(self) -> None:
        """Renew the lease, publish the current job, watch pause-all and reap,
        on a thread, so a long job in this process or a child does not stop it;
        in-process, also give back the batch's queued jobs behind a slow job."""
        last_beat = last_reap = time.monotonic()
        shown: Taken | None = None
        # Waking often only where this thread watches for slow jobs: in fork mode
        # every wake-up also copies the pages it touches while a child shares them.
        nap = ACK_EVERY_S if self.executor.watch_slow_jobs else TICK_S
        naps_per_tick, naps = round(TICK_S / nap), 0
        while not self._stop_beating.wait(nap):
            try:
                if self.executor.watch_slow_jobs:
                    self.give_back_if_slow()
                    self.flush_if_due()
                naps += 1
                if naps % naps_per_tick:
                    continue
                now = time.monotonic()
                if now - last_beat >= self.options.heartbeat_s:
                    self.membership.renew()
                    last_beat = now
                current = self.current
                if current is not shown and self.membership.show(current, self.current_started):
                    shown = current
                self.control.paused_all = self.registry.paused_all()
                self.plugins.call_each("worker_heartbeat", worker=self)
                if now - last_reap >= 2 * self.options.heartbeat_s:
                    self._reap()
                    last_reap = now
            except REDIS_DOWN as exc:
                log.warning("heartbeat failed: %s", exc)
            except rex.ResponseError as exc:
                if not out_of_memory(exc):
                    log.exception("heartbeat thread error")
                else:  # the rest of this tick waits for the next one
                    self.membership.out_of_memory.seen(exc)
            except Exception:
                log.exception("heartbeat thread error")

    def reaped_before_exit(self) -> bool:
        """A burst worker found its queues empty: recover dead workers' jobs
        first (waiting for the reaper lock, which a killed reaper may hold), so
        that "until the queues are empty" includes them. True if there is work
        again (recovered here, or by this worker's heartbeat thread meanwhile)."""
        recovered = self._reap(wait=LOCK_MS / 1000)
        try:
            return recovered > 0 or self.inflight.any_waiting()
        except REDIS_DOWN as exc:
            log.warning("could not look at the queues: %s", exc)
            return False

    def _reap(self, wait: float = 0.0) -> int:
        """Recover dead workers' jobs; how many (0 while Redis is away, or
        out of memory: its lock is refused, and they wait until it is not)."""
        try:
            return self.reaper.reap(wait=wait)
        except REDIS_DOWN as exc:
            log.warning("reaper could not run: %s", exc)
        except rex.ResponseError as exc:
            if not out_of_memory(exc):
                raise
            self.membership.out_of_memory.seen(exc)
        return 0

    # --- the fetch loop (used by the in-process and fork executors) ----------------

    def hold_while_paused(self, wait: Callable[[], object] | None = None) -> None:
        """Hold while paused; ``wait`` is what to do meanwhile (an executor with
        jobs still running records their outcomes), by default wait a tick."""
        if not self.control.holding:
            return
        self.plugins.call_each("worker_pause", worker=self)
        log.info("paused")
        while self.control.holding and not self.control.stopping:
            if wait is None:
                self.control.wake.wait(TICK_S)
            else:
                wait()
        self.plugins.call_each("worker_resume", worker=self)
        log.info("resumed")

    def loop(self, run_one: RunOne) -> None:
        size, idle, backoff = 1, False, Backoff()
        while not self.control.stopping:
            self.hold_while_paused()
            if self.control.stopping:
                break
            try:
                batch = self.inflight.fetch(size)
                if not batch:
                    waited = self.when_empty(first=not idle)
                    if waited is None:
                        break
                    idle = True
                    if not waited:
                        continue
                    batch = waited
            except REDIS_DOWN as exc:
                backoff.wait(self.control, exc)
                self.recover_orphans()
                continue
            idle = False
            backoff.reset()
            size = self.run_batch(batch, run_one, size)

    def when_empty(self, first: bool) -> list[Taken] | None:
        """The queues had nothing (and the worker holds no job): None to stop
        (burst mode, nothing recovered from dead workers), else what waiting
        for work took, maybe nothing. ``first``: the queues just became empty."""
        self.flush()  # what ran is recorded before the worker idles or exits
        if self.options.burst:
            return [] if self.reaped_before_exit() else None
        if first:
            self.plugins.call_each("queue_empty", worker=self)
        return self.took_while_waiting(self.executor.idle(self.options.wait_timeout))

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

    def run_batch(self, batch: list[Taken], run_one: RunOne, size: int) -> int:
        """Run a fetched batch; returns the next batch size (adaptive prefetch:
        batches grow while jobs are fast). ``run_one`` also gets the job after
        the one it runs (an executor may hand it over early)."""
        started = time.monotonic()
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
                self.add_pending(ack)
            now = time.monotonic()
            if self.queued and (self.control.stopping or now - t0 > SLOW_JOB_S):
                self.give_back_queued()  # only what was not started yet goes back
            if self.outcomes.due_in() <= 0:
                self.outcomes.write_soon()
        self.outcomes.write_soon()  # while the next batch is fetched and run
        per_job = (time.monotonic() - started) / max(ran, 1)
        if per_job < FAST_JOB_S and ran == size:
            return min(size * 2, self.options.max_batch)
        return size if per_job < FAST_JOB_S and ran == len(batch) else 1

    def put_back(self, taken: Taken, job: Job) -> None:
        """A started job stopped unfinished by the worker's own stop (INT, or
        TERM's shutdown timeout): back to the front of its queue, and plugins
        hear of it as of a recovered job (a status goes back to "queued")."""
        log.warning(
            "stopping: job %s goes back, unfinished, to the front of %s", job.id, taken.queue
        )
        self.retrying(lambda: self.inflight.requeue(taken))
        self.plugins.call_each("job_recovered", job=job, worker_id=self.id)

    def give_back_if_slow(self) -> None:
        """From the heartbeat thread (in-process mode): the current job is slow,
        so the batch's queued jobs go back to their queues for other workers."""
        current, since = self.current, self.current_started
        if current is not None and self.queued and time.time() - since > SLOW_JOB_S:
            self.give_back_queued(patient=False)

    def give_back_queued(self, patient: bool = True) -> None:
        """Put the batch's jobs that have not started back at the front of their
        queues, so no job waits behind a slow one (or a shutdown) while another
        worker is free. A job the executor has already started stays queued, to
        be run and acknowledged here. Not ``patient`` (while a job runs): if
        Redis is away, what could not go back stays queued here."""
        with self.queued_lock:
            rest = list(self.queued)
            running = self.executor.started_ahead(rest)
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

    def add_pending(self, ack: Ack) -> None:
        self.outcomes.add(ack)

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
