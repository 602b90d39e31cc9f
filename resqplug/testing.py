"""Helpers for testing code that enqueues jobs: run queued jobs in this process."""

from __future__ import annotations

import os

from .client import Resq
from .job import Job
from .worker.inflight import InFlight, parse_queues
from .worker.processor import Processor


def drain(client: Resq, queues: str | list[str] = "*", *, limit: int | None = None) -> int:
    """Run queued jobs here, in order, through reliable fetch and acks, until
    the queues are empty (or ``limit`` jobs ran). Returns how many ran.

    Each job runs as ``client``'s: plugins that ask ``client_for(job)`` or
    ``keys_for(job)`` get ``client`` and its namespace, not the default client
    (which, with nothing configured, is the embedded server's)."""
    names = parse_queues(queues)
    worker_id = f"testing+drain:{os.getpid()}:{','.join(names)}"  # a worker id's shape
    inflight = InFlight(client, worker_id, names)
    processor = Processor(client.plugins, worker_id)
    done = 0
    while limit is None or done < limit:
        taken = inflight.fetch(1)
        if not taken:
            break
        loaded = processor.load(taken[0])
        if isinstance(loaded, Job):
            loaded.client = client
            loaded = processor.run_loaded(taken[0], loaded)
        inflight.ack([loaded])
        done += 1
    return done
