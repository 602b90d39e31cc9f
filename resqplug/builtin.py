"""The core's own behaviour as a plugin: it calls the hook methods a job class
defines (Resque style) and runs ``perform``. Being a plugin, all of it can be
wrapped by other plugins."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .errors import StopRun
from .hookspecs import hookimpl
from .job import Job
from .options import JobOption

log = logging.getLogger("resqplug.jobs")

# Checked where they are used (queue names at enqueue, names at definition).
CORE_OPTIONS = (
    JobOption("queue", "default", doc="the queue the job is enqueued on"),
    JobOption("name", None, doc="the registry name (default: the class name); this class only"),
    JobOption("timeout", None, doc="seconds a run may take (None: the worker's job timeout)"),
    JobOption("abstract", False, doc="do not register this class; this class only"),
)
_JOB_HOOKS = (
    "before_enqueue",
    "after_enqueue",
    "before_dequeue",
    "after_dequeue",
    "before_perform",
    "after_perform",
    "on_failure",
)
_methods_cache: dict[tuple[type, str], tuple[Callable[..., Any], ...]] = {}


JOB_PERFORM_HOOKS = ("before_perform", "after_perform", "on_failure")  # a job's own, per run


def job_hook_methods(job_class: type, hook: str) -> tuple[Callable[..., Any], ...]:
    """The methods of ``job_class`` named ``hook`` or ``hook_<suffix>``, sorted by
    name as Resque does (the bare name first)."""
    key = (job_class, hook)
    found = _methods_cache.get(key)
    if found is None:
        names = sorted(n for n in dir(job_class) if n == hook or n.startswith(hook + "_"))
        found = tuple(getattr(job_class, n) for n in names if callable(getattr(job_class, n)))
        _methods_cache[key] = found
    return found


def _call_all(job: Job, hook: str, *extra: Any) -> None:
    for method in job_hook_methods(type(job), hook):
        method(job, *extra)


class CorePlugin:
    """Registered as ``core``, first, so plugins registered later run before it."""

    @hookimpl
    def before_enqueue(self, job: Job) -> None:
        _call_all(job, "before_enqueue")

    @hookimpl
    def after_enqueue(self, job: Job) -> None:
        _call_all(job, "after_enqueue")

    @hookimpl
    def before_dequeue(self, job: Job) -> None:
        _call_all(job, "before_dequeue")

    @hookimpl
    def after_dequeue(self, job: Job, removed: int) -> None:
        _call_all(job, "after_dequeue")

    @hookimpl
    def before_perform(self, job: Job) -> None:
        _call_all(job, "before_perform")

    @hookimpl(trylast=True)
    def perform(self, job: Job) -> Any:
        return job.perform(*job.args)

    @hookimpl
    def after_perform(self, job: Job, result: Any) -> None:
        _call_all(job, "after_perform", result)

    @hookimpl
    def on_failure(self, job: Job, exc: BaseException) -> None:
        # Each of the job's own failure methods runs even if an earlier one raised,
        # whatever it raised: they are the job's code, inside its boundary.
        for method in job_hook_methods(type(job), "on_failure"):
            try:
                method(job, exc)
            except StopRun:
                raise
            except BaseException:
                log.exception("%s.%s failed", job.class_name, method.__name__)

    @hookimpl
    def job_options(self) -> tuple[JobOption, ...]:
        return CORE_OPTIONS
