"""Plain resqplug jobs after a Django transaction commits."""

from __future__ import annotations

import functools
import logging
from typing import Any

import resqplug

log = logging.getLogger("resqplug.django")


def enqueue_on_commit(
    target: Any,
    *args: Any,
    using: str | None = None,
    queue: str | None = None,
    client: resqplug.Resq | None = None,
) -> str:
    """Enqueue ``target(*args)`` when the transaction open on database
    ``using`` commits (at once outside a transaction, as Django's
    ``on_commit`` does); nothing is written if it rolls back (a rolled-back
    savepoint drops its jobs too). The job is built and its args checked now;
    returns its id, chosen now. A veto at commit time is logged."""
    from django.db import transaction

    client = client or resqplug.default_client()
    job = client.build(target, args, queue=queue)
    transaction.on_commit(functools.partial(_push, client, job), using=using)
    return job.id


def _push(client: resqplug.Resq, job: resqplug.Job) -> None:
    if client.push(job) is None:
        log.warning("job %s (%s) was not enqueued after commit: vetoed", job.id, job.class_name)
