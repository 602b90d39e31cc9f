"""Helpers for testing code that enqueues jobs: run queued jobs in this process."""

from __future__ import annotations

import os

from .client import Resq
from .worker.inflight import InFlight, parse_queues
from .worker.processor import Processor


def drain(client: Resq, queues: str | list[str] = "*", *, limit: int | None = None) -> int:
    """Run queued jobs here, in order, through reliable fetch and acks, until
    the queues are empty (or ``limit`` jobs ran). Returns how many ran."""
    names = parse_queues(queues)
    worker_id = f"testing+drain:{os.getpid()}:{','.join(names)}"  # a worker id's shape
    inflight = InFlight(client, worker_id, names)
    processor = Processor(client.plugins, worker_id)
    done = 0
    while limit is None or done < limit:
        taken = inflight.fetch(1)
        if not taken:
            break
        inflight.ack([processor.process(taken[0])])
        done += 1
    return done
