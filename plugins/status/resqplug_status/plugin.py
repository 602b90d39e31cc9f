"""The status plugin's hooks: every step of a job's life becomes its status."""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import redis.exceptions as rex

import resqplug
from resqplug import Job
from resqplug.ext import dumps, hookimpl
from resqplug.ext import error_message as message

from .demo_part import StatusDemo
from .store import KILL_REQUESTED, RESULT_LIMIT, StatusStore

log = logging.getLogger("resqplug.status")


REDIS_DOWN = (rex.ConnectionError, rex.TimeoutError, resqplug.ConnectionError)
F = TypeVar("F", bound=Callable[..., Any])


def best_effort(method: F) -> F:
    """A status write that cannot reach Redis is logged, never fails the job."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except REDIS_DOWN as exc:
            log.warning("status not updated (%s): %s", method.__name__, exc)
            return None

    return wrapper  # type: ignore[return-value]


class JobKilled(resqplug.ResqplugError):
    """Raised inside a job (at ``at``/``tick``) whose kill was requested."""


STORE_ATTR = "_resqplug_status_store"


def store_for(job: Job | None = None, client: resqplug.Resq | None = None) -> StatusStore:
    """The status store on ``client`` (else the job's, else the default), one
    per client: the hooks run for every job. Kept on the client itself, so it
    goes when the client goes (a cache keyed by client would keep every client
    alive: the store refers to its client)."""
    client = client or (resqplug.client_for(job) if job else resqplug.default_client())
    store = getattr(client, STORE_ATTR, None)
    if store is None:
        store = StatusStore(client)
        setattr(client, STORE_ATTR, store)
    return store


def args_field(args: list[Any]) -> str:
    text = dumps(args)
    return text if len(text) <= 2048 else json.dumps({"truncated": True, "size": len(text)})


def result_field(job: Job, result: Any) -> str | None:
    if not getattr(type(job), "status_store_result", True) or result is None:
        return None
    try:
        text = dumps(result)
    except Exception:  # not JSON, circular, too deep: the job still succeeded
        return json.dumps({"unserialisable": type(result).__name__})
    if len(text) > RESULT_LIMIT:
        return json.dumps({"truncated": True, "size": len(text)})
    return text


class StatusPlugin(StatusDemo):
    def __init__(self) -> None:
        self._seen: tuple[bytes, str] | None = None
        self._signalled: str | None = None

    @hookimpl(trylast=True)
    def before_enqueue(self, job: Job) -> None:
        # Written before the job exists in its queue, so a fast worker's
        # "working" can never be overwritten by a late "queued".
        # The old state is kept on the job, to put back if the write is refused.
        job.status_before = store_for(job).set(  # type: ignore[attr-defined]
            job.id,
            "queued",
            **{"class": job.class_name},
            queue=job.queue,
            args=args_field(job.args),
            enqueued_at=job.enqueued_at,
            attempt=job.attempt,
        )

    @hookimpl
    def enqueue_refused(self, job: Job) -> None:
        """Nothing was written (a duplicate): undo the "queued" we wrote."""
        before = getattr(job, "status_before", None)
        if before == "":
            store_for(job).remove(job.id)
        elif before:
            store_for(job).set(job.id, before)

    @hookimpl(optionalhook=True)
    @best_effort
    def job_scheduled(self, job: Job, due: float) -> None:
        store_for(job).set(job.id, "scheduled", due=due)

    @hookimpl(optionalhook=True)
    @best_effort
    def retry_scheduled(self, job: Job, exc: BaseException, delay: float) -> None:
        if delay <= 0:
            return  # already queued again (its "queued" was written on enqueue)
        store_for(job).set(
            job.id,
            "retrying",
            attempt=job.attempt,
            exception=type(exc).__name__,
            error=message(exc)[:1000],
            due=time.time() + delay,
        )

    @hookimpl(tryfirst=True)
    @best_effort
    def before_perform(self, job: Job) -> None:
        store = store_for(job)
        old = store.start(
            job.id,
            started_at=time.time(),
            attempt=job.attempt,
            worker=job.worker_id or f"{socket.gethostname()}:{os.getpid()}",
        )
        if old == KILL_REQUESTED:  # a final state also ends the kill request
            store.set(job.id, "killed", finished_at=time.time())
            raise resqplug.DontPerform(f"job {job.id} was killed before it started")

    @hookimpl
    @best_effort
    def job_progress(
        self, job: Job, num: float | None, total: float | None, message: str | None
    ) -> None:
        store = store_for(job)
        if store.kill_requested(job.id):
            raise JobKilled(f"job {job.id} was killed")
        store.update(job.id, num=num, total=total, message=message)

    @hookimpl
    @best_effort
    def after_perform(self, job: Job, result: Any) -> None:
        store_for(job).set(
            job.id, "completed", finished_at=time.time(), result=result_field(job, result)
        )

    @hookimpl(tryfirst=True)
    def handle_failure(self, job: Job, exc: BaseException) -> str | None:
        """A job killed on request is killed, not failed, and not retried."""
        store = store_for(job)
        if store.kill_requested(job.id) or isinstance(exc, JobKilled):
            store.set(job.id, "killed", finished_at=time.time(), error=message(exc)[:1000])
            return "killed"
        return None

    @hookimpl(wrapper=True, specname="handle_failure")
    def record_final_failure(self, job: Job, exc: BaseException) -> Generator[None, Any, Any]:
        action = yield
        store = store_for(job)
        if action is None:
            store.set(
                job.id,
                "failed",
                finished_at=time.time(),
                exception=type(exc).__name__,
                error=message(exc)[:1000],
            )
        return action

    @hookimpl
    @best_effort
    def job_discarded(self, job: Job, reason: str) -> None:
        """Removed unrun: a final "killed", so the status expires and waiters
        return (unless a kill is pending: the worker that takes it records it)."""
        store_for(job).discard(job.id, finished_at=time.time(), reason=reason)

    @hookimpl
    @best_effort
    def job_recovered(self, job: Job) -> None:
        store_for(job).set(job.id, "queued", recoveries=job.meta.get("recoveries"))

    @hookimpl
    def worker_heartbeat(self, worker: Any) -> None:
        """Kill the job this worker runs if a kill was requested: USR1 is the
        worker's own "kill the current job" (fork and no-fork modes)."""
        current = worker.current
        if current is None:
            return
        if self._seen is None or self._seen[0] is not current.raw:
            try:
                self._seen = (current.raw, str(json.loads(current.raw)["id"]))
            except (ValueError, KeyError, TypeError, RecursionError):
                return
        job_id = self._seen[1]
        if job_id != self._signalled and store_for(client=worker.client).kill_requested(job_id):
            log.warning("kill requested for job %s: stopping it", job_id)
            self._signalled = job_id  # once per job
            worker.kill_current(job_id)

    @hookimpl
    def dashboard_pages(self) -> list[Any]:
        from .web import PAGE

        return [PAGE]

    @hookimpl
    def add_cli_commands(self, cli: Any) -> None:
        from .cli import status_group

        cli.add_command(status_group)
