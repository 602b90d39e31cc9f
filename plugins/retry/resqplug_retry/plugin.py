"""The retry plugin: hooks into the core's failure handling."""

from __future__ import annotations

import functools
import logging
import time
from importlib import resources
from typing import Any

import resqplug
import resqplug.ext as ext
from resqplug import Job
from resqplug.ext import JobOption, any_job, dumps, hookimpl, job_payload, keys_for
from resqplug.ext import error_message as message

from . import hookspecs
from .demo_part import RetryDemo
from .policy import OPTIONS, Policy, read_policy

log = logging.getLogger("resqplug.retry")
STATE_TTL_S = 86_400
_policies: dict[type, Policy | None] = {}


def policy_for(job_class: type) -> Policy | None:
    if job_class not in _policies:
        _policies[job_class] = read_policy(job_class)
    return _policies[job_class]


def state_key(client: Any, job_id: str) -> str:
    """In the namespace of ``client`` (a client, or its ``keys``)."""
    return str(getattr(client, "keys", client).plugin("retry", "state", job_id))


@functools.cache
def fragments() -> dict[str, str]:
    """The write fragments this plugin registers (hook ``write_scripts``)."""
    lua = resources.files("resqplug_retry").joinpath("lua/retry_state.lua")
    return {"retry.state": lua.read_text("utf-8")}


def forget_state(job: Job) -> resqplug.Write:
    key = state_key(keys_for(job), job.id)
    return resqplug.Write("retry.state", (key,), ("", 0))


class RetryPlugin(RetryDemo):
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
        _policies.pop(job_class, None)
        policy_for(job_class)  # raises ConfigError naming a bad attribute

    @hookimpl
    def handle_failure(self, job: Job, exc: BaseException) -> str | None:
        policy = policy_for(type(job))
        if policy is None or not policy.wants_retry(job, exc):
            return None
        plugins = resqplug.get_plugins()
        if job.attempt > policy.limit:
            log.info("job %s exhausted its %d retries", job.id, policy.limit)
            job.writes.append(forget_state(job))
            plugins.call_each("retry_exhausted", job=job, exc=exc)
            return None
        delay = policy.delay_for(job.attempt, exc)
        if not schedule_retry(job, exc, delay):
            return None
        plugins.call_each("retry_scheduled", job=job, exc=exc, delay=delay)
        return "retried+record" if policy.record_failures else "retried"

    @hookimpl
    def after_perform(self, job: Job) -> None:
        if "retry" in job.meta:  # a retried job done: rides its ack
            job.writes.append(forget_state(job))

    @hookimpl
    def job_discarded(self, job: Job) -> None:
        if "retry" in job.meta:  # a retried job removed unrun: its retry state goes too
            resqplug.client_for(job).apply_writes([forget_state(job)])

    @hookimpl
    def worker_heartbeat(self, worker: Any) -> None:
        ext.DelayedSet(worker.client, "retry").promote()  # on use: it loads redis-py

    @hookimpl
    def dashboard_pages(self) -> list[Any]:
        from .web import PAGE

        return [PAGE]

    @hookimpl
    def add_cli_commands(self, cli: Any) -> None:
        from .cli import retry_group

        cli.add_command(retry_group)


def schedule_retry(job: Job, exc: BaseException, delay: float) -> bool:
    """Enqueue the next attempt (same id), through before_enqueue; after
    ``delay`` via the scheduler's delayed set if it is installed, else our own.
    False if a hook vetoed it."""
    client = resqplug.client_for(job)
    meta = dict(job.meta)
    meta["attempt"] = job.attempt + 1
    now = client.redis.time()
    due = int(now[0]) + int(now[1]) / 1e6 + delay
    meta["retry"] = {
        "attempts": job.attempt,
        "last_exception": type(exc).__qualname__,
        "last_error": message(exc)[:500],
        "next_at": due,
    }
    retry = any_job({**job_payload(job), "meta": meta}, job.queue)
    if delay <= 0:
        written = client.push(retry) is not None
    else:
        retry.due = due
        text = client.prepare(retry, carry_writes=True)  # carried by the delayed set's add
        written = text is not None and delay_payload(client, retry, text, due)
    if written:
        record = dumps(
            {**meta["retry"], "queue": job.queue, "class": job.class_name, "at": time.time()}
        )
        ttl = int(delay) + STATE_TTL_S  # rides the ack of the run that failed
        job.writes.append(
            resqplug.Write("retry.state", (state_key(client, job.id),), (record, ttl))
        )
        log.info(
            "retrying job %s (attempt %d) in %.2fs after %s",
            job.id,
            meta["attempt"],
            delay,
            type(exc).__name__,
        )
    return written


def delay_payload(client: resqplug.Resq, job: Job, text: str, due: float) -> bool:
    """Into the scheduler's delayed set if it is installed, else our own."""
    hook = getattr(resqplug.get_plugins().hook, "scheduler_add", None)
    if hook is not None:
        return bool(hook(client=client, queue=job.queue, text=text, due=due, job=job))
    return ext.DelayedSet(client, "retry").add(job.queue, text, due, job)
