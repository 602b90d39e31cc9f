"""The scheduler loop: move due delayed jobs (any process, exactly once per
job) and fire cron/every schedules (the leader only, exactly once per tick)."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from importlib import resources

import redis.exceptions as rex

import resqplug
from resqplug import EnqueueGuard
from resqplug.ext import DelayedSet, Wake, lookup_job_class, resolve_job_class

from .api import OWNER
from .schedules import Schedule, ScheduleStore, from_config

log = logging.getLogger("resqplug.scheduler")
# Start and stop are said at the CLI's default level (the core's events logger).
events = logging.getLogger("resqplug.events")
LEASE_MS = 10_000
TICK_GUARD_MS = 86_400_000


class SchedulerLoop:
    def __init__(self, client: resqplug.Resq, interval: float = 0.5) -> None:
        self.client = client
        self.interval = interval
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.delayed = DelayedSet(client, OWNER)
        self.store = ScheduleStore(client)
        self.leader_key = client.keys.plugin("scheduler", "leader")
        self.stopping = False
        self.wake = Wake()  # stop() is called from a signal handler
        source = resources.files("resqplug_scheduler").joinpath("lua/lease_renew.lua")
        self.renew_script = client.redis.register_script(source.read_text("utf-8"))
        self.leading = False

    def run(self) -> None:
        events.info("scheduler %s started", self.token)
        try:
            while not self.stopping:
                try:
                    self.tick()
                except (rex.ConnectionError, rex.TimeoutError, resqplug.ConnectionError) as exc:
                    log.warning("scheduler cannot reach Redis: %s", exc)
                except Exception:
                    log.exception("scheduler tick failed; going on")
                self.wake.wait(self.interval)
        finally:
            self.resign()
            self.wake.close()
            events.info("scheduler %s stopped", self.token)

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()

    def tick(self) -> None:
        self.delayed.move_due()
        if self.lead():
            self.fire_due()

    def lead(self) -> bool:
        r = self.client.redis
        if self.leading and self.renew_script([self.leader_key], [self.token, LEASE_MS]):
            return True
        self.leading = bool(r.set(self.leader_key, self.token, nx=True, px=LEASE_MS))
        if self.leading:
            log.info("scheduler %s leads the cron schedules", self.token)
        return self.leading

    def resign(self) -> None:
        if self.leading:
            self.client.scripts.lock_release([self.leader_key], [self.token])
            self.leading = False

    def server_time(self) -> float:
        seconds, micros = self.client.redis.time()
        return int(seconds) + int(micros) / 1e6

    def fire_due(self) -> None:
        now = self.server_time()
        last = self.store.last_fired()
        for name, config in self.store.all().items():
            try:
                schedule = from_config(name, config)
                if lookup_job_class(schedule.class_name) is None:
                    raise resqplug.UnknownJobError(
                        f"schedule {name!r}: unknown job class {schedule.class_name!r} "
                        "(load it in the scheduler with --app)"
                    )
            except resqplug.ResqplugError as exc:
                self.report(name, str(exc))
                continue
            try:
                self.maybe_fire(schedule, last.get(name), now)
            except Exception as exc:  # one bad schedule must not stop the others
                self.report(name, f"schedule {name!r}: firing failed: {exc}")
                continue
            self.client.redis.hdel(self.store.errors, name)

    def maybe_fire(self, schedule: Schedule, last: float | None, now: float) -> None:
        if last is None:
            # New schedule: `every` fires now; cron waits for its next tick.
            tick = now if schedule.every is not None else None
            self.client.redis.hset(self.store.last, schedule.name, now)
        else:
            tick = schedule.latest_due(last, now)
        if tick is None:
            return
        self.fire(schedule, tick)
        self.client.redis.hset(self.store.last, schedule.name, tick)

    def fire(self, schedule: Schedule, tick: float | None = None) -> str | None:
        """Enqueue one run; with ``tick``, at most once per tick (a guard key)."""
        job_class = resolve_job_class(schedule.class_name)
        job = self.client.build(job_class, schedule.args, queue=schedule.queue)
        job.meta["scheduler"] = {"schedule": schedule.name, "tick": tick}
        if tick is not None:
            key = self.client.keys.plugin("scheduler", "tick", schedule.name, f"{tick:.3f}")
            job.guards.append(EnqueueGuard(key, job.id, TICK_GUARD_MS))
        job_id = self.client.push(job)
        if job_id:
            log.info("schedule %s fired job %s", schedule.name, job_id)
        return job_id

    def report(self, name: str, message: str) -> None:
        if self.client.redis.hget(self.store.errors, name) != message.encode():
            log.error("%s", message)
        self.client.redis.hset(self.store.errors, name, message)
