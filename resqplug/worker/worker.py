"""The worker's life: registration, heartbeats, recovery of dead workers'
jobs, signals and shutdown.

Taking jobs and recording their outcomes is the job feed's (feed.py); how a
job runs (in-process, on threads, in forked children) is its run mode's
(run/), which gets the feed and the job settings, never the worker.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import redis.exceptions as rex

from .. import __version__
from ..client import Resq
from ..config import EVENTS_LOGGER
from ..connection import check_server_version, out_of_memory, redact, translated
from .control import Control, Signals
from .feed import FeedOptions, JobFeed
from .inflight import InFlight
from .membership import Membership
from .options import HEARTBEAT_TICK_S, JobSettings, WorkerOptions
from .outcomes import ACK_EVERY_S
from .processor import Processor
from .reaper import LOCK_MS, Reaper
from .registry import WorkerRegistry, make_worker_id
from .run.modes import make_mode
from .taken import Taken

log = logging.getLogger("resqplug.worker")
events = logging.getLogger(EVENTS_LOGGER)

REDIS_DOWN = (rex.ConnectionError, rex.TimeoutError)
TICK_S = HEARTBEAT_TICK_S  # the lease's minimum (options.min_dead_after) counts on it


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
        feed_options = FeedOptions(options.burst, options.wait_timeout, options.max_batch)
        self.feed = JobFeed(
            self.inflight,
            self.control,
            self.plugins,
            feed_options,
            on_event=lambda name: self.plugins.call_each(name, worker=self),
            drained=self.reaped_before_exit,
        )
        self._stop_beating = threading.Event()
        settings = JobSettings(self.id, options, self.plugins, self.processor, self, client)
        self.mode = make_mode(self.feed, settings)
        self.signals = Signals(self.control, self.mode.on_signal)

    def __repr__(self) -> str:
        return f"<Worker {self.id}>"

    @property
    def current(self) -> Taken | None:
        """The job running now (in threads mode: the last one started)."""
        return self.feed.current

    @property
    def current_started(self) -> float:
        return self.feed.current_started

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
            self.mode.run()
        finally:
            self.feed.close()
            self.feed.flush()
            self.mode.close()
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
            self.feed.flush()  # one more try for outcomes a shutdown deadline left
            if self.feed.outcomes.pending:
                log.warning(
                    "%d finished jobs could not be recorded; leaving the jobs in flight "
                    "to the reaper",
                    len(self.feed.outcomes.pending),
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
        watch, feed = self.mode.watch_slow_jobs, self.feed
        nap = ACK_EVERY_S if watch else TICK_S
        naps_per_tick, naps = round(TICK_S / nap), 0
        while not self._stop_beating.wait(nap):
            try:
                if watch:
                    feed.give_back_if_slow()
                    feed.flush_if_due()
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
