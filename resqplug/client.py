"""The client: enqueue, dequeue, inspect queues, and the failure store."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis

from . import discard
from . import payload as payload_mod
from .connection import DEFAULT_URL, make_client, parse, translated
from .errors import ConfigError, DontDequeue, DontEnqueue, JobAborted, PayloadError
from .failure import FailureStore, message
from .job import EnqueueGuard, Job, job_class_of
from .keys import Keys
from .plugins import Plugins, get_plugins
from .runner import any_job, job_from_payload, run
from .scripts import Scripts
from .writes import Carried, Write, flatten, report

log = logging.getLogger("resqplug.client")

BACKENDS = ("redis", "inline")
WAKE_CAP = 64


class Resq:
    """An explicit client. ``resqplug.enqueue`` and friends use a default one
    built by ``resqplug.configure()``.

    ``backend="inline"`` runs each job at enqueue, in the caller, through every
    hook; the job's exception reaches the caller and no failure is stored. A
    job's ``SystemExit`` (or another BaseException that is not an Exception)
    is a failure as in a worker and reaches the caller as ``JobAborted``, so a
    job cannot exit the application; ``KeyboardInterrupt`` is re-raised as it
    is (in the caller's process it is the application's own Ctrl-C).
    """

    def __init__(
        self,
        url: str | None = None,
        namespace: str | None = None,
        *,
        backend: str = "redis",
        max_payload_bytes: int = payload_mod.DEFAULT_MAX_PAYLOAD_BYTES,
        plugins: Plugins | None = None,
        redis_client: redis.Redis | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
        target = parse(url or DEFAULT_URL)
        self.url = target.url
        self.namespace = namespace or target.namespace or "resque"
        self.keys = Keys(self.namespace)
        self.backend = backend
        self.max_payload_bytes = max_payload_bytes
        self._plugins = plugins
        self.redis = redis_client or make_client(self.url)
        self.scripts = Scripts(self.redis, lambda: self.plugins.write_fragments())
        self.failures = FailureStore(self)

    def clone(self) -> Resq:
        """A new client with the same settings and its own connections (for a
        forked child, where the parent's connections must not be shared)."""
        return Resq(
            self.url,
            self.namespace,
            backend=self.backend,
            max_payload_bytes=self.max_payload_bytes,
            plugins=self._plugins,
        )

    def __repr__(self) -> str:
        from .connection import redact

        return f"<Resq {redact(self.url)} namespace={self.namespace} backend={self.backend}>"

    @property
    def plugins(self) -> Plugins:
        return self._plugins or get_plugins()

    # --- enqueue ------------------------------------------------------------

    def enqueue(self, target: Any, *args: Any) -> str | None:
        """Enqueue ``target`` (a Job class or @job function) on its class queue.
        Returns the job id, or None if a hook vetoed it."""
        return self.enqueue_to(None, target, *args)

    def enqueue_to(self, queue: str | None, target: Any, *args: Any) -> str | None:
        return self.push(self.build(target, args, queue=queue))

    def build(
        self,
        target: Any,
        args: Any,
        *,
        queue: str | None = None,
        job_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Job:
        """A validated Job instance, not yet written (PayloadError if args are bad)."""
        job_class, queue = self._job_class_and_queue(target, queue)
        args = list(args)
        payload_mod.check_args(args)
        if job_id is not None:
            payload_mod.validate_job_id(job_id)
        if meta:  # before the enqueue hooks, which may read it (job.attempt)
            payload_mod.check_meta(meta)
        return job_class(args, id=job_id, queue=queue, meta=meta, enqueued_at=time.time())

    def _job_class_and_queue(self, target: Any, queue: str | None) -> tuple[type[Job], str]:
        job_class = job_class_of(target)
        self.plugins.check_job_options(job_class)
        if job_class.__dict__.get("abstract", False):
            raise ConfigError(f"{job_class.__qualname__} is abstract and cannot be enqueued")
        return job_class, payload_mod.validate_queue_name(
            job_class.queue if queue is None else queue
        )

    def prepare(self, job: Job, *, carry_writes: bool = False) -> str | None:
        """Run before_enqueue and encode, without writing the job; None if
        vetoed. For plugins that write jobs elsewhere (delayed sets). The
        plugins' writes for the job (``job.writes``) are applied now, in a
        round trip of their own, unless ``carry_writes``: the caller then
        carries them in the script that writes the job (``DelayedSet.add``)."""
        text = self._prepare(job)
        if text is not None and job.writes and not carry_writes:
            self.apply_writes(job.writes)
            job.writes.clear()
        return text

    def apply_writes(self, writes: list[Write]) -> None:
        """Apply plugins' writes in one round trip of their own (outside the
        hot path: a job written elsewhere than a queue, a plugin's command).
        A fragment that fails is logged."""
        if not writes:
            return
        keys: list[str] = []
        argv: list[Any] = []
        flatten(writes, self.plugins.write_fragments(), keys, argv)
        with translated(self.url):
            report(self.scripts.writes(keys, argv), "a plugin's writes")

    def _prepare(self, job: Job) -> str | None:
        """Run before_enqueue and encode; None if vetoed."""
        job.client = self
        job.writes.clear()  # what an earlier push of this job object carried
        try:
            self.plugins.caller("before_enqueue")(job)
        except DontEnqueue as veto:
            log.info("enqueue of %s %s vetoed: %s", job.class_name, job.id, veto)
            return None
        finally:
            job.new_id = False  # a second push of this job object is of a known id
        payload_mod.validate_queue_name(job.queue)
        return payload_mod.encode(
            job.class_name, job.args, job.id, job.enqueued_at, job.meta, self.max_payload_bytes
        )

    def push(self, job: Job) -> str | None:
        """Run the enqueue hooks for a built job and write it."""
        with translated(self.url):  # plugins' hooks talk to Redis too
            return self._push(job)

    def _push(self, job: Job) -> str | None:
        text = self._prepare(job)
        if text is None:
            return None
        if self.backend == "inline":
            self.apply_writes(job.writes)
            self._run_inline(job, text)
        else:
            keys, argv = self._enqueue_call(job, text)
            reply = self.scripts.enqueue(keys, argv)
            if not self._written(job, reply):
                return None
        self.plugins.call_each("after_enqueue", job=job)
        return job.id

    def enqueue_many(
        self, target: Any, args_list: Any, *, queue: str | None = None
    ) -> list[str | None]:
        """Enqueue one job per args tuple, written in one pipeline; the enqueue
        hooks still run for each job. Returns the ids (None where vetoed)."""
        job_class, queue = self._job_class_and_queue(target, queue)
        jobs = []
        now = time.time()
        for args in args_list:
            values = list(args)
            payload_mod.check_args(values)
            jobs.append(job_class(values, queue=queue, enqueued_at=now))
        return self.push_many(jobs)

    def push_many(self, jobs: list[Job]) -> list[str | None]:
        """Run the enqueue hooks for each built job and write them all in one
        pipeline. Returns the ids (None where vetoed or refused by a guard)."""
        if self.backend == "inline":
            return [self.push(job) for job in jobs]
        with translated(self.url):  # plugins' hooks talk to Redis too
            return self._push_many(jobs)

    def _push_many(self, jobs: list[Job]) -> list[str | None]:
        texts = [self._prepare(job) for job in jobs]
        # Jobs without guards go in one script call per queue; guarded ones
        # (uniqueness) each in their own, all in one pipeline.
        plain: dict[str, list[tuple[Job, str]]] = {}
        pipe = self.redis.pipeline(transaction=False)
        for job, text in zip(jobs, texts, strict=True):
            if text is None:
                continue
            if job.guards:
                keys, argv = self._enqueue_call(job, text)
                self.scripts.enqueue(keys, argv, client=pipe)
            else:
                plain.setdefault(job.queue, []).append((job, text))
        for name, batch in plain.items():
            keys, argv = self._batch_call(name, batch)
            self.scripts.enqueue_batch(keys, argv, client=pipe)
        replies = pipe.execute()
        for reply in replies[len(replies) - len(plain) :]:
            report(reply[1:], "enqueue_many")
        guarded = iter(replies)
        ids: list[str | None] = []
        for job, text in zip(jobs, texts, strict=True):
            written = text is not None and (not job.guards or self._written(job, next(guarded)))
            if written:
                self.plugins.call_each("after_enqueue", job=job)
            ids.append(job.id if written else None)
        return ids

    def _batch_call(self, queue: str, batch: list[tuple[Job, str]]) -> tuple[list[str], list[Any]]:
        keys = [self.keys.queues, self.keys.queue(queue), self.keys.wake(queue)]
        if not any(job.writes for job, _ in batch):
            return keys, [queue, WAKE_CAP, "0", *(text for _, text in batch)]
        argv: list[Any] = [queue, WAKE_CAP, "1"]
        carried = Carried(self.plugins.write_fragments())
        for job, text in batch:
            argv.append(text)
            carried.job(job.writes, keys, argv)
        carried.close(keys, argv)
        return keys, argv

    def enqueue_payload(
        self,
        doc: dict[str, Any],
        queue: str,
        *,
        job_id: str | None = None,
        guards: list[EnqueueGuard] | None = None,
    ) -> str | None:
        """Enqueue a decoded payload again (failure retry, schedules), keeping its
        id and meta, through the enqueue hooks. A class not registered here is
        still written, as an unresolved Job, so other processes can run it."""
        fields = {**doc, "id": job_id or doc.get("id") or payload_mod.new_job_id()}
        payload_mod.check_doc(fields)  # read back from Redis: untrusted
        payload_mod.check_args(fields["args"])
        job = any_job(fields, payload_mod.validate_queue_name(queue))
        job.enqueued_at = time.time()
        job.guards.extend(guards or ())
        return self.push(job)

    def _enqueue_call(self, job: Job, text: str) -> tuple[list[str], list[Any]]:
        keys = [self.keys.queues, self.keys.queue(job.queue), self.keys.wake(job.queue)]
        argv: list[Any] = [job.queue, text, WAKE_CAP, len(job.guards)]
        for guard in job.guards:
            keys.append(guard.key)
            argv += [guard.value, guard.ttl_ms]
        flatten(job.writes, self.plugins.write_fragments(), keys, argv)
        return keys, argv

    def _written(self, job: Job, reply: Any) -> bool:
        if int(reply[0]) == 1:
            report(reply[1:], f"the enqueue of job {job.id}")
            return True
        guard = job.guards[int(reply[1]) - 1]
        holder = reply[2].decode() if isinstance(reply[2], bytes) else reply[2]
        log.info(
            "enqueue of %s %s refused: %s is held by %s", job.class_name, job.id, guard.key, holder
        )
        self.plugins.call_each("enqueue_refused", job=job, guard=guard, holder=holder or None)
        return False

    def _run_inline(self, job: Job, text: str) -> None:
        fresh = job_from_payload(payload_mod.decode(text), job.queue)
        outcome = run(self.plugins, fresh)
        self.apply_writes(fresh.writes)  # what a worker's ack would carry
        exc = outcome.exc
        if not outcome.record_failure or exc is None:
            return
        if isinstance(exc, Exception | KeyboardInterrupt):
            raise exc
        raise JobAborted(
            f"job {fresh.id} ({fresh.class_name}) ended with {type(exc).__name__}: {message(exc)}"
        ) from exc

    # --- dequeue and inspection -------------------------------------------------

    def dequeue(self, target: Any, *args: Any) -> int:
        """Remove queued jobs of ``target`` with exactly these args (all of the
        class's jobs when no args are given). Returns the number removed."""
        job_class = job_class_of(target)
        job = job_class(list(args))
        try:
            self.plugins.hook.before_dequeue(job=job)
        except (DontDequeue, DontEnqueue) as veto:
            log.info("dequeue of %s vetoed: %s", job.class_name, veto)
            return 0
        prefix = payload_mod.args_prefix(job.class_name, job.args if args else None)
        with translated(self.url):
            removed = self._dequeue(job.queue, [prefix, "0" if args else "1"])
        self.plugins.call_each("after_dequeue", job=job, removed=removed)
        return removed

    def _dequeue(self, queue: str, match: list[str]) -> int:
        """Remove the matching jobs; with listeners of ``job_discarded``, in
        batches that name the jobs removed, announcing each."""
        keys = [self.keys.queue(queue)]
        if not discard.listening(self.plugins):
            return int(self.scripts.dequeue(keys, [*match, 0]))
        removed, more = 0, 1
        while more:
            more, *payloads = self.scripts.dequeue(keys, [*match, discard.BATCH])
            removed += len(payloads)
            discard.announce(self, payloads, discard.queued_job(queue), "dequeued")
        return removed

    def remove_queued(self, queue: str, raw: bytes) -> bool:
        """Remove one queued job, given its payload as read from the queue.
        False if it is no longer there (taken by a worker, removed)."""
        with translated(self.url):
            removed = bool(self.redis.lrem(self.keys.queue(queue), 1, raw))
        if removed:
            discard.announce(self, [raw], discard.queued_job(queue), "removed")
        return removed

    def cancel(self, job_id: str, *, announced: bool = False) -> None:
        """Cancel a job that has not started: the worker that takes it drops
        it unrun, and ``job_discarded`` fires then (reason ``"cancelled"``),
        unless ``announced``: the caller fired it already. A job a worker has
        taken already is not stopped (the status plugin's kill stops a
        running one). An id leaves the set when a worker takes or finishes
        that job; an unknown one stays, harmless."""
        payload_mod.validate_job_id(job_id)
        with translated(self.url):
            self.redis.sadd(self.keys.cancelled, f"!{job_id}" if announced else job_id)

    def queues(self) -> list[str]:
        with translated(self.url):
            names = self.redis.smembers(self.keys.queues)
        return sorted(n.decode() for n in names)

    def size(self, queue: str) -> int:
        with translated(self.url):
            return int(self.redis.llen(self.keys.queue(queue)))

    def peek(self, queue: str, start: int = 0, count: int = 1) -> list[dict[str, Any]]:
        """Decoded payloads at positions start..start+count-1 (front first). An
        entry that is not a valid payload comes back as ``{"raw": ..., "error": ...}``."""
        if count <= 0:
            return []
        with translated(self.url):
            rows = self.redis.lrange(self.keys.queue(queue), start, start + count - 1)
        out: list[dict[str, Any]] = []
        for row in rows:
            try:
                out.append(payload_mod.decode(row))
            except PayloadError as exc:
                out.append({"raw": row.decode("utf-8", "replace")[:4096], "error": str(exc)})
        return out

    def remove_queue(self, queue: str) -> int:
        """Delete a queue and its jobs; returns how many jobs it held. With
        listeners of ``job_discarded``, the jobs are moved aside in the same
        step and announced in batches (never read whole)."""
        listening = discard.listening(self.plugins)
        held = self.keys.discarding(payload_mod.new_job_id())
        keys = [self.keys.queues, self.keys.queue(queue), self.keys.wake(queue), held]
        hold_ms = discard.HOLD_MS if listening else 0
        with translated(self.url):
            size = int(self.scripts.queue_remove(keys, [queue, hold_ms]))
            if listening and size:
                discard.announce_held(self, held, discard.queued_job(queue), "queue removed")
        return size

    def stats(self) -> dict[str, int]:
        """Resque's counters plus sizes: processed, failed, queues, workers, pending."""
        names = self.queues()
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.keys.stat_processed)
        pipe.get(self.keys.stat_failed)
        pipe.scard(self.keys.workers)
        for name in names:
            pipe.llen(self.keys.queue(name))
        with translated(self.url):
            processed, failed, workers, *sizes = pipe.execute()
        return {
            "processed": int(processed or 0),
            "failed": int(failed or 0),
            "queues": len(names),
            "workers": int(workers),
            "pending": sum(int(s) for s in sizes),
        }

    def ping(self) -> None:
        """Raise resqplug.ConnectionError unless Redis answers."""
        with translated(self.url):
            self.redis.ping()
