"""Delayed jobs: enqueue_at, enqueue_in, remove_delayed and inspection."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import resqplug
import resqplug.ext as ext
from resqplug.ext import job_class_of

if TYPE_CHECKING:
    from resqplug.ext import Delayed

OWNER = "scheduler"


def epoch(when: datetime | float | int) -> float:
    """Aware datetime, naive datetime (taken as UTC) or epoch seconds."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.timestamp()
    if isinstance(when, bool) or not isinstance(when, (int, float)):
        raise resqplug.ConfigError(f"a time must be a datetime or epoch seconds, got {when!r}")
    return float(when)


class Scheduler:
    """Delayed-job API on one client (the default one unless given)."""

    def __init__(self, client: resqplug.Resq | None = None) -> None:
        self.client = client or resqplug.default_client()
        self.delayed = ext.DelayedSet(self.client, OWNER)  # loads redis-py: not at import

    def enqueue_at_with_queue(
        self, queue: str | None, when: Any, target: Any, *args: Any
    ) -> str | None:
        """Schedule ``target(*args)`` for ``when``; before_enqueue runs now (and
        again when the job is moved to its queue). Returns the job id, or None."""
        return self.schedule(self.client.build(target, args, queue=queue), when)

    def schedule(self, job: resqplug.Job, when: Any) -> str | None:
        """Schedule a job built by ``client.build`` (its id chosen by the
        caller, as a framework layer does) for ``when``; the job id, or None
        if a hook vetoed it or a guard refused it."""
        due = epoch(when)
        job.due = due
        text = self.client.prepare(job, carry_writes=True)  # carried by delayed.add
        if text is None:
            return None
        if not self.delayed.add(job.queue, text, due, job):
            return None
        resqplug.get_plugins().call_each("job_scheduled", job=job, due=due)
        return job.id

    def enqueue_at(self, when: Any, target: Any, *args: Any) -> str | None:
        return self.enqueue_at_with_queue(None, when, target, *args)

    def enqueue_in(self, delay: float | timedelta, target: Any, *args: Any) -> str | None:
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
        return self.enqueue_at(self.server_time() + seconds, target, *args)

    def remove_delayed(self, target: Any, *args: Any) -> int:
        """Remove delayed jobs of ``target`` with exactly these args (all of the
        class's when no args are given). Returns the number removed."""
        job_class = job_class_of(target)
        return self.delayed.remove(job_class.job_name, list(args) if args else None)

    def delayed_count(self) -> int:
        return self.delayed.count()

    def next_delayed(self) -> float | None:
        """The due time (epoch seconds) of the next delayed job, or None."""
        return self.delayed.next_due()

    def delayed_jobs(self, start: int = 0, count: int = 50) -> list[Delayed]:
        return self.delayed.items(start, count)

    def server_time(self) -> float:
        seconds, micros = self.client.redis.time()
        return int(seconds) + int(micros) / 1e6


def _default() -> Scheduler:
    return Scheduler()


def enqueue_at(when: Any, target: Any, *args: Any) -> str | None:
    return _default().enqueue_at(when, target, *args)


def enqueue_in(delay: float | timedelta, target: Any, *args: Any) -> str | None:
    return _default().enqueue_in(delay, target, *args)


def enqueue_at_with_queue(queue: str, when: Any, target: Any, *args: Any) -> str | None:
    return _default().enqueue_at_with_queue(queue, when, target, *args)


def remove_delayed(target: Any, *args: Any) -> int:
    return _default().remove_delayed(target, *args)


def delayed_count() -> int:
    return _default().delayed_count()


def next_delayed() -> float | None:
    return _default().next_delayed()


def delayed_jobs(start: int = 0, count: int = 50) -> list[Delayed]:
    return _default().delayed_jobs(start, count)


def now() -> float:
    return time.time()
