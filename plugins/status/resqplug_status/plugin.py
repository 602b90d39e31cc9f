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

import resqplug
from resqplug import Job
from resqplug.ext import dumps, hookimpl, keys_for, redis_down
from resqplug.ext import error_message as message

from .demo_part import StatusDemo
from .store import (
    RESULT_LIMIT,
    RUNNING,
    RUNNING_CAP,
    UNLESS_FINAL,
    StatusNames,
    StatusStore,
    fragments,
)

log = logging.getLogger("resqplug.status")

F = TypeVar("F", bound=Callable[..., Any])


def best_effort(method: F) -> F:
    """A status write that cannot reach Redis is logged, never fails the job."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            if not redis_down(exc):
                raise
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


_NAMES: dict[str, StatusNames] = {}


def names_for(job: Job) -> StatusNames:
    """The status key names for ``job``'s namespace, without a client: the
    per-job hooks only build writes (a fork child never connects for them)."""
    keys = keys_for(job)
    names = _NAMES.get(keys.namespace)
    if names is None:
        names = _NAMES[keys.namespace] = StatusNames(keys)
    return names


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


def remember_running(job: Job) -> dict[str, Any]:
    fields = {
        "started_at": time.time(),
        "attempt": job.attempt,
        "worker": job.worker_id or f"{socket.gethostname()}:{os.getpid()}",
    }
    if len(RUNNING) >= RUNNING_CAP:  # only jobs that were skipped linger: drop the oldest
        del RUNNING[next(iter(RUNNING))]
    RUNNING[job.id] = fields
    return fields


class StatusPlugin(StatusDemo):
    def __init__(self) -> None:
        self._seen: tuple[bytes, str, int] | None = None
        self._signalled: str | None = None
        self._shown: str | None = None

    @hookimpl
    def write_scripts(self) -> dict[str, str]:
        return fragments()

    @hookimpl(trylast=True)
    def before_enqueue(self, job: Job) -> None:
        # Rides the script that writes the job (to its queue, or to a delayed
        # set when it has a due time): written with the job, or not at all.
        job.writes.append(names_for(job).enqueued(job))

    @hookimpl
    def enqueue_refused(self, job: Job) -> None:
        """A job written elsewhere (``prepare``: a delayed set) got its "queued"
        before the refusal: remove it if it is still the one written for it."""
        store = store_for(job)
        status = store.get(job.id)
        if status is not None and status.fields.get("enqueued_at") == job.enqueued_at:
            store.remove(job.id)

    @hookimpl(optionalhook=True)
    @best_effort
    def job_scheduled(self, job: Job, due: float) -> None:
        if job.due is None:  # scheduled by a plugin that did not say so before enqueue
            store_for(job).set(job.id, "scheduled", due=due)

    @hookimpl(optionalhook=True)
    def retry_scheduled(self, job: Job, exc: BaseException, delay: float) -> None:
        if delay <= 0:
            return  # already queued again (its "queued" was written on enqueue)
        fields = {
            "attempt": job.attempt,
            "exception": type(exc).__name__,
            "error": message(exc)[:1000],
            "due": time.time() + delay,
        }
        # Rides this run's ack; skipped if the next run already ended.
        job.writes.append(names_for(job).write(job.id, "retrying", fields, UNLESS_FINAL))

    @hookimpl(tryfirst=True)
    def before_perform(self, job: Job) -> None:
        # A job killed while it waited never gets here: the kill cancels it in
        # the core, and the worker that takes it drops it ("cancelled" below).
        remember_running(job)

    @hookimpl
    @best_effort
    def job_progress(
        self, job: Job, num: float | None, total: float | None, message: str | None
    ) -> None:
        fields = {**RUNNING.get(job.id, {}), "num": num, "total": total, "message": message}
        if not store_for(job).progress(job.id, **fields):
            raise JobKilled(f"job {job.id} was killed")

    @hookimpl
    def warm_up(self, job: Job) -> None:
        """A run's status code, in the process that forks job children (its
        caches and warm code are then every child's): what before_perform and
        after_perform do, with a write built and dropped."""
        fields = {**remember_running(job), "result": result_field(job, {"warm-up": [1]})}
        RUNNING.pop(job.id, None)
        names_for(job).ended(job.id, "completed", {**fields, "finished_at": time.time()})

    @hookimpl
    def after_perform(self, job: Job, result: Any) -> None:
        running = RUNNING.get(job.id)
        if running is not None and running["attempt"] == 1 and result_field(job, result) is None:
            del RUNNING[job.id]  # the common run: its fields written directly
            job.writes.append(names_for(job).completed(job.id, running))
            return
        fields = {
            **RUNNING.pop(job.id, {}),
            "finished_at": time.time(),
            "result": result_field(job, result),
        }
        if job.attempt > 1:  # an earlier attempt's failure is not this run's
            fields.update(exception="", error="")
        job.writes.append(names_for(job).ended(job.id, "completed", fields))

    @hookimpl(tryfirst=True)
    def handle_failure(self, job: Job, exc: BaseException) -> str | None:
        """A job killed on request is killed, not failed, and not retried."""
        store = store_for(job)
        if isinstance(exc, JobKilled) or store.kill_requested(job.id):
            fields = {
                **RUNNING.pop(job.id, {}),
                "finished_at": time.time(),
                "error": message(exc)[:1000],
            }
            job.writes.append(store.write(job.id, "killed", fields))
            return "killed"
        return None

    @hookimpl(wrapper=True, specname="handle_failure")
    def record_final_failure(self, job: Job, exc: BaseException) -> Generator[None, Any, Any]:
        action = yield
        running = RUNNING.pop(job.id, {})
        if action is None:
            fields = {
                **running,
                "finished_at": time.time(),
                "exception": type(exc).__name__,
                "error": message(exc)[:1000],
            }
            job.writes.append(names_for(job).ended(job.id, "failed", fields))
        return action

    @hookimpl
    @best_effort
    def job_discarded(self, job: Job, reason: str) -> None:
        """Removed unrun: a final "killed", so the status expires and waiters
        return (a job cancelled in the core says so when a worker drops it)."""
        store = store_for(job)
        if reason == "cancelled":
            fields = {"finished_at": time.time(), "reason": "killed before it started"}
            store.set_unless_final(job.id, "killed", **fields)
        else:
            store.discard(job.id, finished_at=time.time(), reason=reason)

    @hookimpl
    @best_effort
    def job_recovered(self, job: Job) -> None:
        """Back in its queue unfinished (its worker died, or stopped it): the
        progress of the interrupted run no longer holds."""
        RUNNING.pop(job.id, None)
        cleared = {"num": "", "total": "", "message": ""}
        store_for(job).set(job.id, "queued", recoveries=job.meta.get("recoveries"), **cleared)

    @hookimpl
    def worker_heartbeat(self, worker: Any) -> None:
        """Say "working" for the job this worker runs (once, if it runs that
        long), and kill it if a kill was requested: USR1 is the worker's own
        "kill the current job" (fork and no-fork modes)."""
        store = store_for(client=worker.client)
        current = self._current(worker)
        if current is None:
            return
        job_id, attempt = current
        if job_id != self._shown:
            self._shown = job_id
            fields = {"started_at": worker.current_started, "attempt": attempt, "worker": worker.id}
            store.seen_running(job_id, **fields)
        if job_id != self._signalled and store.kill_requested(job_id):
            log.warning("kill requested for job %s: stopping it", job_id)
            self._signalled = job_id  # once per job
            worker.kill_current(job_id)

    def _current(self, worker: Any) -> tuple[str, int] | None:
        """Id and attempt of the job the worker runs now (its payload is
        untrusted: one that does not say is left alone)."""
        current = worker.current
        if current is None:
            return None
        if self._seen is None or self._seen[0] is not current.raw:
            try:
                doc = json.loads(current.raw)
                meta = doc.get("meta") or {}
                self._seen = (current.raw, str(doc["id"]), int(meta.get("attempt", 1)))
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                return None
        return self._seen[1], self._seen[2]

    @hookimpl
    def dashboard_pages(self) -> list[Any]:
        from .web import PAGE

        return [PAGE]

    @hookimpl
    def add_cli_commands(self, cli: Any) -> None:
        from .cli import status_group

        cli.add_command(status_group)
