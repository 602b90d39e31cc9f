"""Bulk actions on failed jobs: stats, list, requeue, clear, and the limiter."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import resqplug
from resqplug.ext import (
    any_job,
    check_args,
    check_doc,
    new_job_id,
    validate_queue_name,
)
from resqplug.ext import encode_failure_record as encode_record
from resqplug.ext import failure_record_job as record_job
from resqplug.ext import failure_retry_guard as retry_guard
from resqplug.ext import failure_timestamp as timestamp

from .select import Filter, Record, Scanner

GROUPS = ("class", "exception", "queue", "day")
EVERYTHING = Filter()
Progress = Callable[[int], None] | None


def _script(client: resqplug.Resq, name: str) -> Any:
    source = resources.files("resqplug_cleaner").joinpath(f"lua/{name}.lua")
    return client.redis.register_script(source.read_text("utf-8"))


@dataclass
class Outcome:
    matched: int = 0
    requeued: int = 0
    cleared: int = 0
    skipped: int = 0


class Cleaner:
    def __init__(self, client: resqplug.Resq | None = None) -> None:
        self.client = client or resqplug.default_client()
        self._replace = _script(self.client, "replace_batch")
        self._trim = _script(self.client, "trim_oldest")
        self.limit_key = self.client.keys.plugin("cleaner", "max_failed")
        self.dropped_key = self.client.keys.plugin("cleaner", "dropped")

    def stats(
        self, where: Filter = EVERYTHING, newest: int | None = None
    ) -> dict[str, Counter[str]]:
        """Counts of the selection grouped by class, exception, queue and day
        (of the ``newest`` records only, when given)."""
        groups: dict[str, Counter[str]] = {g: Counter() for g in GROUPS}
        scanner = Scanner(self.client, where)
        if newest is not None:
            scanner.start = max(0, self.client.failures.count() - newest)
        for batch in scanner:
            for r in batch:
                groups["class"][str(r.payload.get("class", "?"))] += 1
                groups["exception"][str(r.doc.get("exception", "?"))] += 1
                groups["queue"][str(r.doc.get("queue", "?"))] += 1
                groups["day"][r.day] += 1
        return groups

    def select(self, where: Filter = EVERYTHING, limit: int = 20) -> list[Record]:
        out: list[Record] = []
        for batch in Scanner(self.client, where):
            out.extend(batch[: limit - len(out)])
            if len(out) >= limit:
                break
        return out

    def clear(
        self, where: Filter = EVERYTHING, *, dry_run: bool = False, progress: Progress = None
    ) -> Outcome:
        outcome = Outcome()
        scanner = Scanner(self.client, where, progress=progress)
        for batch in scanner:
            outcome.matched += len(batch)
            if not dry_run:
                done = self._apply(batch, [""] * len(batch))
                outcome.cleared += len(done)
                scanner.removed(len(done))
                self._discarded(done)
        return outcome

    def _discarded(self, removed: list[Record]) -> None:
        """Tell plugins of the jobs whose failure records were cleared (those
        not enqueued again): nothing is decoded when no plugin listens."""
        plugins = self.client.plugins
        if not plugins.implemented("job_discarded"):
            return
        for record in removed:
            job = record_job(record.raw)
            if job is not None:
                job.client = self.client
                plugins.call_each("job_discarded", job=job, reason="failures cleaned")

    def requeue(
        self,
        where: Filter = EVERYTHING,
        *,
        to: str | None = None,
        clear: bool = False,
        dry_run: bool = False,
        progress: Progress = None,
    ) -> Outcome:
        """Enqueue the selection again (same ids, through the enqueue hooks), then
        mark each record retried_at (or remove it). A record requeued by an
        earlier, interrupted run is not requeued twice."""
        outcome = Outcome()
        token = uuid.uuid4().hex
        scanner = Scanner(self.client, where, progress=progress)
        for batch in scanner:
            outcome.matched += len(batch)
            if dry_run:
                outcome.skipped += sum(1 for r in batch if self._job(r, to, token) is None)
            else:
                self._requeue_batch(batch, to, clear, token, outcome, scanner)
        return outcome

    def _requeue_batch(
        self,
        batch: list[Record],
        to: str | None,
        clear: bool,
        token: str,
        outcome: Outcome,
        scanner: Scanner,
    ) -> None:
        built = [(r, self._job(r, to, token)) for r in batch]
        runnable = [r for r, job in built if job is not None]
        jobs = [job for _, job in built if job is not None]
        outcome.skipped += len(batch) - len(runnable)
        ids = self.client.push_many(jobs)
        done = [
            r
            for r, job_id in zip(runnable, ids, strict=True)
            if job_id is not None or self._requeued_before(r, token)
        ]
        outcome.requeued += sum(1 for i in ids if i is not None)
        outcome.skipped += len(runnable) - len(done)
        now = timestamp()
        new = ["" if clear else encode_record({**r.doc, "retried_at": now}) for r in done]
        changed = len(self._apply(done, new))
        if clear:
            outcome.cleared += changed
            scanner.removed(changed)

    def _job(self, record: Record, to: str | None, token: str) -> resqplug.Job | None:
        """The job to enqueue again, or None when the record cannot be requeued
        (invalid payload or queue): it is skipped and left in place."""
        p = record.payload
        queue = to or record.doc.get("queue") or "default"
        doc = {**p, "id": record.job_id or p.get("id") or new_job_id()}
        try:
            check_doc(doc)
            check_args(doc["args"])
            validate_queue_name(queue)
        except (resqplug.PayloadError, resqplug.QueueNameError):
            return None
        job = any_job(doc, str(queue))
        job.enqueued_at = time.time()
        job.guards.append(retry_guard(self.client.keys, record.job_id, record.doc, token))
        return job

    def _requeued_before(self, record: Record, token: str) -> bool:
        holder = self.client.redis.get(
            retry_guard(self.client.keys, record.job_id, record.doc, token).key
        )
        return holder is not None and holder.decode() != token

    def _apply(self, records: list[Record], new: list[str]) -> list[Record]:
        """Replace (or delete, for '') each record; returns those changed."""
        if not records:
            return []
        argv: list[Any] = []
        for record, text in zip(records, new, strict=True):
            argv += [record.position, record.job_id, record.raw, text]
        k = self.client.keys
        flags = self._replace([k.failed, k.failed_index], argv)
        return [r for r, flag in zip(records, flags, strict=True) if int(flag)]

    def set_limit(self, max_failed: int | None) -> None:
        """Keep at most ``max_failed`` failure records (oldest dropped, counted);
        None turns the limiter off (the default)."""
        if max_failed is None:
            self.client.redis.delete(self.limit_key)
        else:
            self.client.redis.set(self.limit_key, int(max_failed))

    def limit(self) -> int | None:
        raw = self.client.redis.get(self.limit_key)
        return int(raw) if raw is not None else None

    def enforce_limit(self, most: int = 10_000) -> int:
        limit = self.limit()
        if limit is None:
            return 0
        k = self.client.keys
        return int(self._trim([k.failed, k.failed_index, self.dropped_key], [limit, most]))

    def dropped(self) -> int:
        return int(self.client.redis.get(self.dropped_key) or 0)
