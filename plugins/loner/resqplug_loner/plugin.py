"""The loner plugin: a lock per job identity, taken atomically with the write
(an enqueue guard) and released when the job is done (or starts)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Generator
from importlib import resources
from typing import Any

import resqplug
from resqplug import EnqueueGuard, Job
from resqplug.ext import JobOption, hookimpl, job_class_of, keys_for

from . import hookspecs
from .demo_part import LonerDemo
from .identity import (
    META,
    OPTIONS,
    Uniqueness,
    digest,
    lock_key,
    read_uniqueness,
    recorded_lock_key,
)

log = logging.getLogger("resqplug.loner")
_settings: dict[type, Uniqueness | None] = {}


def uniqueness(job_class: type) -> Uniqueness | None:
    if job_class not in _settings:
        _settings[job_class] = read_uniqueness(job_class)
    return _settings[job_class]


@functools.cache
def fragments() -> dict[str, str]:
    """The write fragments this plugin registers (hook ``write_scripts``)."""
    lua = resources.files("resqplug_loner").joinpath("lua/loner_release.lua")
    return {"loner.release": lua.read_text("utf-8")}


def release_with_outcome(job: Job) -> None:
    """Drop the job's lock if this job holds it (compare-and-delete), with the
    ack of its run: a write riding the core's script, not a round trip."""
    if uniqueness(type(job)) is None:
        return
    job.writes.append(release_write(lock_key(keys_for(job), job), job.id))


def release_write(key: str, job_id: str) -> resqplug.Write:
    """Drop ``key`` if ``job_id`` still holds it (the fragment loner.release)."""
    return resqplug.Write("loner.release", (key,), (job_id,))


def release(job: Job) -> None:
    """Drop the job's lock at once if this job holds it (compare-and-delete):
    a job unique only while queued, as it starts."""
    if uniqueness(type(job)) is None:
        return
    client = resqplug.client_for(job)
    client.apply_writes([release_write(lock_key(client, job), job.id)])


def release_discarded(job: Job) -> None:
    """Drop the lock of a job removed without running, if it still holds it.
    The key comes from the payload (recorded at enqueue) when it is there, so
    a process that does not know the job's class (a dashboard) releases it
    too; else from the class when it is known and unique, or from the default
    identity (class name and args) when it is not known. The compare with the
    job's id makes a wrong guess harmless."""
    client = resqplug.client_for(job)
    key = recorded_lock_key(client, job)
    if key is None and (type(job) is Job or uniqueness(type(job)) is not None):
        key = lock_key(client, job)  # an unknown class: its default identity
    if key is not None:
        client.apply_writes([release_write(key, job.id)])


class LonerPlugin(LonerDemo):
    @hookimpl
    def add_hookspecs(self, pm: Any) -> None:
        pm.add_hookspecs(hookspecs)

    @hookimpl
    def job_options(self) -> tuple[JobOption, ...]:
        return OPTIONS

    @hookimpl
    def write_scripts(self) -> dict[str, str]:
        return fragments()

    @hookimpl
    def job_defined(self, job_class: type) -> None:
        _settings.pop(job_class, None)
        uniqueness(job_class)

    @hookimpl(trylast=True)
    def before_enqueue(self, job: Job) -> None:
        settings = uniqueness(type(job))
        if settings is not None:
            client = resqplug.client_for(job)
            ttl_ms = int(settings.ttl_s * 1000)
            job.meta[META] = job_digest = digest(job)
            job.guards.append(EnqueueGuard(lock_key(client, job, job_digest), job.id, ttl_ms))

    @hookimpl
    def enqueue_refused(self, job: Job, guard: EnqueueGuard, holder: str | None) -> None:
        if job is None or not guard.key.startswith(resqplug.client_for(job).keys.plugin("loner")):
            return
        log.info("duplicate %s %s skipped: %s holds it", job.class_name, job.id, holder)
        resqplug.get_plugins().call_each("duplicate_skipped", job=job, existing_id=holder)

    @hookimpl(trylast=True)
    def before_perform(self, job: Job) -> None:
        # Last, so no later before_perform can still skip the job (a skipped
        # job's lock goes in job_discarded, reason "skipped").
        settings = uniqueness(type(job))
        if settings is not None and settings.scope == "queued":
            release(job)  # others may be enqueued while it runs: not at its end

    @hookimpl
    def after_perform(self, job: Job) -> None:
        release_with_outcome(job)

    @hookimpl(wrapper=True)
    def handle_failure(self, job: Job, exc: BaseException) -> Generator[None, Any, Any]:
        try:
            action = yield
        except BaseException:
            release_with_outcome(job)  # the core records this failure as final
            raise
        if action is None or not action.startswith("retried"):
            release_with_outcome(job)  # finished for good (failed, killed); a retry keeps the lock
        return action

    @hookimpl
    def job_discarded(self, job: Job) -> None:
        release_discarded(job)  # removed unrun: it no longer holds its place

    @hookimpl
    def dashboard_pages(self) -> list[Any]:
        from .web import PAGE

        return [PAGE]

    @hookimpl
    def add_cli_commands(self, cli: Any) -> None:
        from .cli import loner_group

        cli.add_command(loner_group)


def holder(target: Any, *args: Any) -> str | None:
    """The id of the job holding the identity of ``target(*args)``, or None."""
    client = resqplug.default_client()
    probe = job_class_of(target)(list(args))
    value = client.redis.get(lock_key(client, probe))
    return value.decode() if value else None
