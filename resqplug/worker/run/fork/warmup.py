"""Warming up a process that forks job children (the worker, or its fork
server), so the children do not copy the pages that code's first runs write:
CPython counts a function's first calls and then specialises its bytecode in
place, and each page a child writes is copied."""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import replace
from typing import TYPE_CHECKING

from .... import registry
from ....builtin import JOB_PERFORM_HOOKS, job_hook_methods
from ....job import Job
from ....plugins import Plugins
from ....wake import close_fds
from ....writes import Write
from ...processor import Processor
from ...taken import Taken
from .protocol import outcome_frame, read_frame, write_frame

if TYPE_CHECKING:
    from ....client import Resq
    from ...options import JobSettings

log = logging.getLogger("resqplug.worker")
WARM_UP_RUNS = 10  # CPython 3.11 specialises a function's code after 8 calls
WARM_UP_ID = "resqplug-warm-up"
WARM_UP_WRITES = (Write("warm-up", ("warm-up",), ("warm-up", 1, 1.5)),)  # checked, never applied


@functools.cache
def _warm_up_job_class() -> type[Job]:
    """Defined on first use, not on import (importing this module must not
    build the plugin manager)."""

    class WarmUpJob(Job, announce=False):  # no plugin hears of it
        abstract = True  # never registered: no payload can name it

        def perform(self, *args: object) -> None:
            pass

    return WarmUpJob


def _not_warm_up(record: logging.LogRecord) -> bool:
    """Drop the warm-up's own log lines only (other threads log meanwhile)."""
    return not (isinstance(record.args, tuple) and WARM_UP_ID in record.args)


def warm_up(settings: JobSettings) -> None:
    """Run the child's side of a job here, in the parent, before the first fork,
    and fill the caches a child would otherwise fill for each job. The first runs
    of a function write to its code (CPython's warm-up counters and caches), and
    each page a child writes is copied: code that is warm already in the parent
    runs in a child without copies."""
    for job_class in registry.classes():
        for hook in JOB_PERFORM_HOOKS:
            job_hook_methods(job_class, hook)
    for hook in ("before_perform", "perform", "after_perform"):
        settings.plugins.caller(hook)
    # The core only: no plugin sees these runs.
    processor = Processor(Plugins(load_entry_points=False), settings.id)
    taken, job_class = Taken("warm-up", b"", b""), _warm_up_job_class()
    reader, writer = os.pipe()
    log.addFilter(_not_warm_up)  # no "done" lines for these runs with -v
    try:
        for _ in range(WARM_UP_RUNS):
            ack = processor.run_loaded(taken, job_class(id=WARM_UP_ID, queue="warm-up"))
            # With a write: plugins' writes cross in the outcome frame (to_text)
            # for every job a plugin writes for.
            write_frame(writer, outcome_frame(replace(ack, writes=WARM_UP_WRITES)))
            read_frame(reader)
        for _ in range(WARM_UP_RUNS):  # the plugins' per-job code, and their caches
            settings.plugins.call_each("warm_up", job=job_class(id=WARM_UP_ID, queue="warm-up"))
    finally:
        log.removeFilter(_not_warm_up)
        close_fds(reader, writer)


def warm_client(client: Resq) -> None:
    """Run the Redis client's command, pipeline and reply paths a few times
    (CPython specialises a function's code after 8 calls; a child writing to
    code objects copies their pages), with commands that touch no key."""
    try:
        for _ in range(WARM_UP_RUNS):
            client.redis.ping()
            client.redis.echo("resqplug fork server")
            client.redis.pipeline(transaction=False).dbsize().time().execute()
    except Exception as exc:  # Redis away: children warm it themselves
        log.debug("fork server: no Redis to warm the client up with: %s", exc)
    client.redis.connection_pool.disconnect()
