"""Telling plugins about jobs removed without being run (``job_discarded``).

Removed entries are read back from Redis, so they are untrusted: an entry that
does not decode fires nothing (no plugin saw it enqueued) and never stops the
removal. Nothing is decoded when no plugin implements the hook.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .errors import PayloadError
from .job import Job
from .payload import decode, dumps
from .plugins import Plugins
from .runner import any_job

if TYPE_CHECKING:
    from .client import Resq

HOOK = "job_discarded"
BATCH = 500  # entries removed (and announced) per round trip in bulk removals
HOLD_MS = 3_600_000  # a remover killed mid-announcement leaves the rest to expire

JobOf = Callable[[bytes], Job | None]
# What reading an untrusted entry may raise (json raises RecursionError on
# deep nesting): the entry is then not a job we wrote.
UNREADABLE = (PayloadError, ValueError, TypeError, RecursionError)


def listening(plugins: Plugins) -> bool:
    """Whether any plugin wants to hear of discarded jobs."""
    return plugins.implemented(HOOK)


def payload_job(raw: bytes | str, queue: str) -> Job | None:
    """The job a removed payload was, or None when it does not decode."""
    try:
        return any_job(decode(raw), queue)
    except UNREADABLE:
        return None


def queued_job(queue: str) -> JobOf:
    """Turns an entry removed from ``queue`` into its job."""
    return lambda raw: payload_job(raw, queue)


def delayed_job(member: bytes) -> Job | None:
    """The job of a delayed-set member (``<queue>\\t<payload>``)."""
    queue, _, raw = member.partition(b"\t")
    return payload_job(raw, queue.decode("utf-8", "replace"))


def record_job(raw: bytes | str) -> Job | None:
    """The job of a removed failure record, or None when the record is not a
    job's last trace: its payload does not decode, or the job was enqueued
    again under the same id (``retried_at``, or a failure a retry recorded)."""
    try:
        record = json.loads(raw)
    except UNREADABLE:
        return None
    if not isinstance(record, dict) or "retried_at" in record:
        return None
    action = record.get("action")
    if isinstance(action, str) and action.startswith("retried"):
        return None
    queue = record.get("queue")
    try:
        return payload_job(dumps(record.get("payload")), queue if isinstance(queue, str) else "")
    except UNREADABLE:  # not JSON-safe (NaN, ...): not a payload we wrote
        return None


def tell(client: Resq, job: Job, reason: str) -> None:
    """Fire ``job_discarded`` for one job ``client`` removed (plugins use the
    job's client: the removal's namespace)."""
    job.client = job.client or client
    client.plugins.call_each(HOOK, job=job, reason=reason)


def announce(client: Resq, entries: Iterable[Any], job_of: JobOf, reason: str) -> None:
    """Fire ``job_discarded`` once for each removed entry that is a job."""
    if not listening(client.plugins):
        return
    for entry in entries:
        job = job_of(entry)
        if job is not None:
            tell(client, job, reason)


def announce_held(client: Resq, key: str, job_of: JobOf, reason: str) -> None:
    """Pop the removed entries held under ``key`` in batches, announcing each:
    a removal of any size never sits in memory whole."""
    while True:
        rows = client.redis.lpop(key, BATCH)
        if not rows:
            return
        announce(client, rows, job_of, reason)
