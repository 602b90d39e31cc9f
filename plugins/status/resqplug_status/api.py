"""Polling API: get, wait, list, kill, remove."""

from __future__ import annotations

import json
import time

import resqplug
from resqplug.ext import any_job

from .store import WAITING, Status, StatusStore


def _store(client: resqplug.Resq | None) -> StatusStore:
    return StatusStore(client or resqplug.default_client())


def get(job_id: str, client: resqplug.Resq | None = None) -> Status | None:
    """The job's status, or None for an unknown or expired id."""
    return _store(client).get(job_id)


def wait(job_id: str, timeout: float, client: resqplug.Resq | None = None) -> Status | None:
    """Block (pub/sub, not a busy loop) until the job reaches a final state or
    ``timeout`` passes; returns the latest status."""
    store = _store(client)
    pubsub = store.client.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(store.channel(job_id))
    try:
        store.add_waiter(job_id, time.time() + timeout + 60)
        deadline = time.monotonic() + timeout
        while True:
            status = store.get(job_id)  # after subscribing: no final state is missed
            if status is None or status.final:
                return status
            left = deadline - time.monotonic()
            if left <= 0:
                return status
            pubsub.get_message(timeout=min(left, 1.0))
    finally:
        pubsub.close()


def list_statuses(
    state: str | None = None, limit: int = 50, offset: int = 0, client: resqplug.Resq | None = None
) -> list[Status]:
    return _store(client).list(state, limit, offset)


def kill(job_id: str, client: resqplug.Resq | None = None) -> bool:
    """Ask for the job to stop. A waiting job is killed now: its status is
    "killed" at once, ``job_discarded`` fires for it (reason "killed") so
    plugins release what they hold for it (a loner lock), and it is cancelled
    in the core: the worker that takes it drops it unrun (one a worker had
    already taken, not started, runs, and its status then says so). A
    running one stops promptly (fork and no-fork workers, at their next
    heartbeat) or at its next at/tick (threads). False if the job is unknown
    or already finished."""
    store = _store(client)
    state, first = store.request_kill(job_id)
    if first and state in WAITING:
        status = store.get(job_id)
        fields = {"finished_at": time.time(), "reason": "killed before it started"}
        store.set_unless_final(job_id, "killed", **fields)
        job = waiting_job(status, store.client)
        if job is not None:
            store.client.plugins.call_each("job_discarded", job=job, reason="killed")
    return state != ""


def waiting_job(status: Status | None, client: resqplug.Resq) -> resqplug.Job | None:
    """The job a status describes (class, args, queue; no meta), or None when
    the status cannot say (args too long to have been stored whole)."""
    if status is None:
        return None
    fields = status.fields
    try:
        args = json.loads(str(fields.get("args")))
    except (ValueError, RecursionError):  # not JSON, an int too long, too deep
        return None
    name, queue = fields.get("class"), fields.get("queue")
    if not isinstance(args, list) or not isinstance(name, str) or not isinstance(queue, str):
        return None
    job = any_job({"class": name, "args": args, "id": status.id, "meta": {}}, queue)
    job.client = client
    return job


def remove(job_id: str, client: resqplug.Resq | None = None) -> bool:
    return _store(client).remove(job_id)
