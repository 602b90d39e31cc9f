"""Helpers for testing code that enqueues jobs: run queued jobs in this process."""

from __future__ import annotations

import os

from .client import Resq
from .job import Job
from .worker.control import Control
from .worker.feed import FeedOptions, JobFeed
from .worker.inflight import InFlight, parse_queues
from .worker.processor import Processor
from .worker.taken import Ack, Taken


class _RunHere:
    """A runner of the feed's jobs: each runs here as ``client``'s, and its
    outcome is recorded before the next one runs (Redis away: the error)."""

    def __init__(self, feed: JobFeed, client: Resq, processor: Processor) -> None:
        self.feed, self.client, self.processor = feed, client, processor
        self.ran = 0

    def run_one(self, taken: Taken, upcoming: Taken | None) -> Ack | None:
        loaded = self.processor.load(taken)
        if isinstance(loaded, Job):
            loaded.client = self.client
            loaded = self.processor.run_loaded(taken, loaded)
        self.feed.ack_now(loaded)
        self.ran += 1
        return None  # recorded already

    def idle(self, wait: float) -> float:
        return wait

    def started_ahead(self, upcoming: list[Taken]) -> int:
        return 0


def drain(client: Resq, queues: str | list[str] = "*", *, limit: int | None = None) -> int:
    """Run queued jobs here, in order, through reliable fetch and acks, until
    the queues are empty (or ``limit`` jobs ran). Returns how many ran.

    Each job runs as ``client``'s: plugins that ask ``client_for(job)`` or
    ``keys_for(job)`` get ``client`` and its namespace, not the default client
    (which, with nothing configured, is the embedded server's)."""
    names = parse_queues(queues)
    worker_id = f"testing+drain:{os.getpid()}:{','.join(names)}"  # a worker id's shape
    inflight = InFlight(client, worker_id, names)
    # One job at a time, until the queues are empty; Redis away is an error.
    options = FeedOptions(burst=True, max_batch=1, ride_out_outages=False)
    feed = JobFeed(inflight, Control(0.0), client.plugins, options)
    runner = _RunHere(feed, client, Processor(client.plugins, worker_id))
    try:
        feed.run_batches(runner, budget=limit)
    finally:
        feed.close()
        feed.control.wake.close()
    return runner.ran
