"""Turn taken payloads into outcomes: decode, resolve, run, build failure records."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable

from .. import failure
from ..config import EVENTS_LOGGER
from ..errors import ConfigError, PayloadError, UnknownJobError
from ..failure import message
from ..job import Job
from ..payload import decode
from ..plugins import Plugins
from ..runner import Outcome, fail, job_from_payload, run
from .taken import Ack, Taken

log = logging.getLogger("resqplug.worker")
events = logging.getLogger(EVENTS_LOGGER)


def raw_job_id(raw: bytes) -> str:
    return hashlib.sha1(raw).hexdigest()[:32]


class Processor:
    """Runs taken jobs in this process and says what to acknowledge."""

    def __init__(self, plugins: Plugins, worker_id: str) -> None:
        # No Redis here on purpose: in fork mode this runs in the child, and the
        # parent records outcomes.
        self.plugins = plugins
        self.worker_id = worker_id

    def load(self, taken: Taken) -> Job | Ack:
        """The Job to run, or the failure Ack of a payload that cannot run."""
        job = self.load_quietly(taken)
        return job if job is not None else self.unrunnable(taken)

    def load_quietly(self, taken: Taken) -> Job | None:
        """The Job to run, or None if it cannot run: nothing logged, no hooks
        called (for loading ahead of time a job that may be given back)."""
        try:
            job = job_from_payload(decode(taken.raw), taken.queue)
            job.worker_id = self.worker_id
            self.plugins.check_job_options(type(job))
            return job
        except (PayloadError, UnknownJobError, ConfigError):
            return None

    def unrunnable(self, taken: Taken) -> Job | Ack:
        """Why a payload cannot run, as the failure Ack to record (the Job, should
        it load after all)."""
        try:
            doc = decode(taken.raw)
        except PayloadError as exc:
            log.error("bad payload on queue %s: %s", taken.queue, message(exc))
            raw = taken.raw.decode("utf-8", "replace")
            record = failure.build(
                None,
                exc,
                worker=self.worker_id,
                queue=taken.queue,
                job_id=raw_job_id(taken.raw),
                raw=raw,
            )
            return Ack(taken.entry, raw_job_id(taken.raw), record)
        try:
            job = job_from_payload(doc, taken.queue)
            job.worker_id = self.worker_id
            self.plugins.check_job_options(type(job))
            return job
        except (UnknownJobError, ConfigError) as exc:
            log.error("cannot run job %s on queue %s: %s", doc["id"], taken.queue, message(exc))
            unresolved = Job(
                doc["args"],
                id=doc["id"],
                queue=taken.queue,
                meta=doc.get("meta") or {},
                class_name=doc["class"],
            )
            return self.ack_for(taken, unresolved, fail(self.plugins, unresolved, exc))

    def ack_for(self, taken: Taken, job: Job, outcome: Outcome) -> Ack:
        writes = tuple(job.writes)
        if not outcome.record_failure or outcome.exc is None:
            return Ack(taken.entry, job.id, "", writes)
        record = failure.build(
            failure.job_payload(job),
            outcome.exc,
            worker=self.worker_id,
            queue=job.queue,
            job_id=job.id,
            action=outcome.action,
        )
        return Ack(taken.entry, job.id, record, writes)

    def process(self, taken: Taken) -> Ack:
        """Run one taken job here and return what to acknowledge."""
        loaded = self.load(taken)
        if isinstance(loaded, Ack):
            return loaded
        return self.run_loaded(taken, loaded)

    def run_loaded(
        self, taken: Taken, job: Job, report: Callable[[Ack], object] | None = None
    ) -> Ack:
        """Run the job; ``report`` gets its Ack before the outcome is logged (a
        job child answers its parent first: a log handler may be slow, and a
        parent that sees no answer may kill it, taking a finished job for a
        running one)."""
        started = time.perf_counter()
        outcome = run(self.plugins, job)
        seconds = time.perf_counter() - started
        ack = self.ack_for(taken, job, outcome)
        if report is not None:
            report(ack)
        log_outcome(job, outcome, seconds)
        return ack

    def fail_here(self, taken: Taken, job: Job, exc: BaseException) -> Ack:
        """Fail a job whose run ended outside this process's control (killed child,
        hard timeout): the failure hooks run here."""
        log.error("job %s (%s) on %s: %s", job.id, job.class_name, job.queue, message(exc))
        return self.ack_for(taken, job, fail(self.plugins, job, exc))


def log_outcome(job: Job, outcome: Outcome, seconds: float) -> None:
    if outcome.exc is not None:
        events.info(
            "failed %s %s on %s after %.3fs: %s: %s%s",
            job.class_name,
            job.id,
            job.queue,
            seconds,
            type(outcome.exc).__name__,
            message(outcome.exc),
            f" ({outcome.action})" if outcome.action else "",
        )
    elif log.isEnabledFor(logging.INFO):
        log.info(
            "%s %s %s on %s in %.3fs", outcome.status, job.class_name, job.id, job.queue, seconds
        )
