"""Running one job through the perform hooks, and turning payloads into jobs.

Used by every worker model and by the inline backend, so the semantics are the
same everywhere: before_perform, perform (with its wrappers), after_perform on
success, on_failure once on failure, then handle_failure.

The run is the job's boundary: whatever the job raises, ``BaseException``
included (``SystemExit``, ``KeyboardInterrupt``, ``GeneratorExit``,
``asyncio.CancelledError``), fails the job and goes no further, so a job
cannot stop the process or thread that runs it. Only a ``StopRun``, which the
process running the job raises into it on purpose, passes through.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import FrameType
from typing import Any

from . import registry
from .errors import DontPerform, StopRun
from .job import Job
from .plugins import Plugins, redis_down

log = logging.getLogger("resqplug.runner")

DONE, FAILED, SKIPPED = "done", "failed", "skipped"


@dataclass(slots=True)
class Outcome:
    """What became of one run. ``action`` is what a plugin did with a failure
    instead of recording it (e.g. ``"retried"``), or None."""

    status: str
    result: Any = None
    exc: BaseException | None = None
    action: str | None = None

    @property
    def record_failure(self) -> bool:
        """A failure is recorded unless a plugin took it over; an action ending
        in "+record" (e.g. "retried+record") took it over but asks for the record."""
        if self.status != FAILED:
            return False
        return self.action is None or self.action.endswith("+record")


def job_from_payload(doc: dict[str, Any], queue: str) -> Job:
    """A Job instance for a decoded payload; UnknownJobError if the class is not
    registered. Nothing is imported."""
    job_class = registry.resolve(doc["class"])
    return job_class(
        doc["args"],
        id=doc["id"],
        queue=queue,
        meta=doc.get("meta") or {},
        enqueued_at=doc.get("enqueued_at"),
        class_name=doc["class"],
    )


def any_job(doc: dict[str, Any], queue: str) -> Job:
    """Like job_from_payload, but a class not registered here gives a plain Job
    (for hooks that only need id, args and meta: failures, recovery, requeue)."""
    job_class = registry.lookup(doc["class"]) or Job
    return job_class(
        doc["args"],
        id=doc["id"],
        queue=queue,
        meta=doc.get("meta") or {},
        enqueued_at=doc.get("enqueued_at"),
        class_name=doc["class"],
    )


def run(plugins: Plugins, job: Job) -> Outcome:
    """Run ``job`` through the perform hooks; raises nothing but a ``StopRun``.
    A job a ``before_perform`` skipped (``DontPerform``) will never run: it is
    announced to ``job_discarded`` as "skipped"."""
    try:
        try:
            plugins.caller("before_perform")(job)
        except DontPerform:
            log.debug("job %s skipped by DontPerform", job.id)
            plugins.call_each("job_discarded", job=job, reason="skipped")
            return Outcome(SKIPPED)
        result = plugins.caller("perform")(job)
        plugins.caller("after_perform")(job, result)
        return Outcome(DONE, result=result)
    except StopRun:
        raise
    except BaseException as exc:  # the job's own: a failure, whatever its class
        return fail(plugins, job, exc)


def inside_run(frame: FrameType | None) -> bool:
    """Whether ``frame`` (where a signal handler interrupted the process) is
    inside ``run``: the job's own code and its hooks. An exception a handler
    raises to stop a job must be raised only there, where the run turns it
    into the job's outcome; raised after the run returned, it would hit the
    worker's own bookkeeping of a job that is already done."""
    while frame is not None:
        if frame.f_code is run.__code__:
            return True
        frame = frame.f_back
    return False


def fail(plugins: Plugins, job: Job, exc: BaseException) -> Outcome:
    """Run the failure hooks for ``job`` once and decide whether to record it.
    They are part of the run: whatever they raise (but a StopRun) is logged and
    the job is failed all the same."""
    try:
        plugins.call_each("on_failure", job=job, exc=exc)
    except StopRun:
        raise
    except BaseException:  # call_each logs each Exception: this is a SystemExit or the like
        log.exception("an on_failure hook of job %s raised; recording the failure", job.id)
    try:
        action = plugins.hook.handle_failure(job=job, exc=exc)
    except StopRun:
        raise
    except BaseException as err:
        if redis_down(err):  # expected while Redis is away: one line
            log.warning(
                "handle_failure of job %s could not reach Redis (%s); recording the failure",
                job.id,
                err,
            )
        else:
            log.exception("handle_failure of job %s raised; recording the failure", job.id)
        action = None
    return Outcome(FAILED, exc=exc, action=action)
