"""A worker's lease and its place in Resque's registry, through Redis running
out of memory (maxmemory, noeviction): the lease is granted even then, so the
worker's jobs stay recoverable, while being listed and showing the current job
wait until Redis accepts writes again (an outage to ride out, noted once)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis.exceptions as rex

from ..connection import out_of_memory, translated
from ..errors import ConnectionError as ResqplugConnectionError
from ..errors import QueueFullError
from .control import Backoff, Control, Notice
from .registry import WorkerRegistry
from .taken import Taken

log = logging.getLogger("resqplug.worker")

OUT_OF_MEMORY = (
    "Redis is out of memory (maxmemory, noeviction): this worker keeps its lease and goes "
    "on taking and acknowledging jobs, which frees memory; being listed, showing its "
    "current job and recovering dead workers' jobs wait until Redis accepts writes again"
)


class Membership:
    """The worker's lease (``registry``) and whether it is ``listed``."""

    def __init__(self, registry: WorkerRegistry, info: Callable[[], dict[str, object]]) -> None:
        self.registry = registry
        self.info = info  # what the listing says of the worker
        self.listed = False  # in Resque's registry (it has a lease from its start)
        self.out_of_memory = Notice(OUT_OF_MEMORY, "Redis accepts writes again")

    def join(self, control: Control, url: str) -> bool:
        """Take the lease and be listed; False if stopped first. Redis answered
        already, so from here on its going away is an outage to ride out (even
        with the registration's reply lost), not a failed start. So is Redis
        out of memory: it grants the lease even then, and the worker is listed
        later, on its heartbeat."""
        backoff = Backoff()
        while not control.stopping:
            try:
                with translated(url):
                    # Paused from the start if all workers are: not only from the
                    # first heartbeat tick on.
                    control.paused_all = self.registry.paused_all()
                    self.registry.renew()
                    self.listed = self.try_to_list()
                return True
            except (ResqplugConnectionError, QueueFullError) as exc:
                backoff.wait(control, exc)
        return False

    def bookkeeping(self, write: Callable[[], object]) -> bool:
        """Run one of the worker's own writes that Redis refuses when it is out
        of memory; False if it did (noted once: an outage to ride out)."""
        try:
            write()
        except rex.ResponseError as exc:
            if not out_of_memory(exc):
                raise
            self.out_of_memory.seen(exc)
            return False
        self.out_of_memory.over()
        return True

    def renew(self) -> None:
        """Renew the lease (granted even with Redis out of memory); be listed
        again if the worker was reaped, or at last if it could not be yet."""
        if not self.registry.renew() and self.listed:
            log.warning("lease lost: %s was reaped; registering again", self.registry.worker_id)
            self.listed = False
        if not self.listed:
            self.listed = self.try_to_list()

    def try_to_list(self) -> bool:
        """Be listed in Resque's registry; False while Redis is out of memory."""
        return self.bookkeeping(lambda: self.registry.list_worker(self.info()))

    def show(self, current: Taken | None, started: float) -> bool:
        """Resque's record of the job being run (none when idle); False while
        Redis is out of memory."""
        if current is None:
            return self.bookkeeping(lambda: self.registry.set_current(None, None))
        return self.bookkeeping(
            lambda: self.registry.set_current(current.queue, current.raw, started)
        )
