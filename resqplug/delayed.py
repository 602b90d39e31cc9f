"""A delayed set: jobs waiting for a time, moved to their queues atomically
(Lua, Redis server time) so each is enqueued exactly once however many
processes promote. A data structure for plugins (scheduler, retry); the worker
does not use it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import discard
from .client import WAKE_CAP
from .connection import translated
from .errors import PayloadError, QueueNameError
from .job import Job
from .payload import args_prefix, decode, validate_queue_name
from .plugins import redis_down
from .writes import flatten, report

if TYPE_CHECKING:
    from .client import Resq


@dataclass(frozen=True)
class Delayed:
    due: float
    queue: str
    payload: dict[str, Any]


class DelayedSet:
    """The delayed set ``<ns>:resqplug:<owner>:delayed``."""

    def __init__(self, client: Resq, owner: str) -> None:
        self.client = client
        self.key = client.keys.plugin(owner, "delayed")

    def add(self, queue: str, text: str, due: float, job: Job | None = None) -> bool:
        """Add an encoded payload (already through before_enqueue) for ``due``,
        taking ``job``'s enqueue guards in the same step. False (nothing added,
        ``enqueue_refused`` fired) when a guard is held by another job."""
        guards = job.guards if job is not None else []
        keys, argv = [self.key], [f"{queue}\t{text}", due, len(guards)]
        for guard in guards:
            keys.append(guard.key)
            argv += [guard.value, guard.ttl_ms]
        writes = job.writes if job is not None else []
        flatten(writes, self.client.plugins.write_fragments(), keys, argv)
        with translated(self.client.url):
            reply = self.client.scripts.delayed_add(keys, argv)
        if int(reply[0]) == 1:
            report(reply[1:], "a delayed add")
            return True
        holder = reply[2].decode() if isinstance(reply[2], bytes) else str(reply[2])
        self.client.plugins.call_each(
            "enqueue_refused", job=job, guard=guards[int(reply[1]) - 1], holder=holder or None
        )
        return False

    def due(self, most: int = 500) -> list[tuple[bytes, Delayed]]:
        """Due members (by Redis time), oldest first, not removed."""
        r = self.client.redis
        with translated(self.client.url):
            seconds, micros = r.time()
            rows = r.zrangebyscore(
                self.key,
                "-inf",
                int(seconds) + int(micros) / 1e6,
                start=0,
                num=most,
                withscores=True,
            )
        items = []
        for member, score in rows:
            try:
                items.append((member, self._item(member, score)))
            except PayloadError as exc:
                self._fail_unreadable(member, exc)
        return items

    def _fail_unreadable(self, member: bytes, exc: PayloadError) -> None:
        """A member that is not a payload goes to the failed store, never dropped."""
        from . import failure

        queue, _, raw = member.partition(b"\t")
        job_id = hashlib.sha1(raw).hexdigest()[:32]
        record = failure.build(
            None,
            exc,
            worker="delayed",
            queue=queue.decode("utf-8", "replace"),
            job_id=job_id,
            raw=raw.decode("utf-8", "replace"),
        )
        k = self.client.keys
        with translated(self.client.url):
            self.client.scripts.delayed_fail(
                [self.key, k.failed, k.failed_index, k.stat_failed], [member, job_id, record]
            )

    def move(self, member: bytes, item: Delayed) -> str | None:
        """Run before_enqueue on a due job and move it to its queue, exactly once
        across racing processes (the hooks may run in more than one). Returns the
        job id when this call moved it. A job that cannot be enqueued (bad
        payload, a hook raising) goes to the failed store instead."""
        from . import failure
        from .runner import any_job

        client = self.client
        try:
            job = any_job(item.payload, item.queue)
            text = client.prepare(job, carry_writes=True) or ""
        except Exception as exc:
            if redis_down(exc):
                raise
            job_id = item.payload["id"]
            record = failure.build(
                item.payload, exc, worker="delayed", queue=item.queue, job_id=job_id
            )
            k = client.keys
            with translated(client.url):
                client.scripts.delayed_fail(
                    [self.key, k.failed, k.failed_index, k.stat_failed], [member, job_id, record]
                )
            return None
        k = client.keys
        keys = [self.key, k.queues, k.queue(job.queue), k.wake(job.queue)]
        argv: list[Any] = [member, job.queue, text, WAKE_CAP, len(job.guards)]
        for guard in job.guards:
            keys.append(guard.key)
            argv += [guard.value, guard.ttl_ms]
        flatten(job.writes, client.plugins.write_fragments(), keys, argv)
        with translated(client.url):
            reply = client.scripts.delayed_move(keys, argv)
        report(reply[1:] if int(reply[0]) == 1 else [], "a delayed move")
        if int(reply[0]) == 3:
            client.plugins.call_each(
                "enqueue_refused",
                job=job,
                guard=job.guards[int(reply[1]) - 1],
                holder=(reply[2] or b"").decode() or None,
            )
        if int(reply[0]) in (2, 3):  # taken out, never to run: vetoed, or a duplicate
            reason = "vetoed" if int(reply[0]) == 2 else "duplicate"
            discard.tell(client, job, reason)
        if int(reply[0]) != 1:
            return None
        client.plugins.call_each("after_enqueue", job=job)
        return job.id

    def move_due(self, most: int = 500) -> int:
        """Move every due job (through the enqueue hooks); returns how many moved."""
        moved = 0
        while True:
            batch = self.due(most)
            moved += sum(1 for member, item in batch if self.move(member, item))
            if len(batch) < most:
                return moved

    def promote(self, most: int = 500) -> int:
        """Move due jobs to their queues in one Lua step, without hooks; returns
        how many moved."""
        k = self.client.keys
        with translated(self.client.url):
            moved = self.client.scripts.delayed_promote(
                [self.key, k.queues], [k.queue(""), k.wake(""), most, WAKE_CAP]
            )
        return int(moved)

    def promote_all(self, batch: int = 500) -> int:
        total = 0
        while True:
            moved = self.promote(batch)
            total += moved
            if moved < batch:
                return total

    def remove(self, class_name: str, args: list[Any] | None) -> int:
        """Remove jobs of ``class_name`` (with exactly ``args``, or any); with
        listeners of ``job_discarded``, in batches that name the jobs removed,
        announcing each."""
        match = [args_prefix(class_name, args), "1" if args is None else "0"]
        plugins = self.client.plugins
        with translated(self.client.url):
            if not discard.listening(plugins):
                return int(self.client.scripts.delayed_remove([self.key], [*match, 0]))
            removed, more = 0, 1
            while more:
                more, *members = self.client.scripts.delayed_remove(
                    [self.key], [*match, discard.BATCH]
                )
                removed += len(members)
                discard.announce(self.client, members, discard.delayed_job, "delayed removed")
        return removed

    def count(self) -> int:
        with translated(self.client.url):
            return int(self.client.redis.zcard(self.key))

    def next_due(self) -> float | None:
        with translated(self.client.url):
            first = self.client.redis.zrange(self.key, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def items(self, start: int = 0, count: int = 50) -> list[Delayed]:
        """Delayed jobs by due time, ``start`` .. ``start + count - 1``."""
        with translated(self.client.url):
            rows = self.client.redis.zrange(self.key, start, start + count - 1, withscores=True)
        return [self._item(member, score) for member, score in rows]

    def __iter__(self) -> Iterator[Delayed]:
        start = 0
        while True:
            page = self.items(start, 500)
            if not page:
                return
            yield from page
            start += 500

    def find(self, job_id: str) -> Delayed | None:
        return next((d for d in self if d.payload.get("id") == job_id), None)

    @staticmethod
    def _item(member: bytes, score: float) -> Delayed:
        queue, _, raw = member.partition(b"\t")
        try:
            name = validate_queue_name(queue.decode())
        except (UnicodeDecodeError, QueueNameError):
            raise PayloadError(f"delayed job with an invalid queue {queue!r:.80}") from None
        return Delayed(float(score), name, decode(raw))
