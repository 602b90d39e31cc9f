"""A taken job and the outcome to acknowledge for it: plain values shared by the
worker and the process that runs the job (no Redis here, so a fork server that
runs jobs need not load a Redis client)."""

from __future__ import annotations

from dataclasses import dataclass

from ..writes import Write

__all__ = ["Ack", "Taken", "entry_to_taken"]


@dataclass(slots=True, frozen=True)
class Taken:
    """One job as taken: its queue, its exact in-flight entry and payload text."""

    queue: str
    entry: bytes
    raw: bytes


@dataclass(slots=True, frozen=True)
class Ack:
    """The outcome to record for one taken job ('' failure = not failed), with
    the plugins' writes for its run (applied by the ack that records it)."""

    entry: bytes
    job_id: str
    failure: str = ""
    writes: tuple[Write, ...] = ()


def entry_to_taken(entry: bytes, bare_queue: str | None = None) -> Taken:
    """An in-flight entry as taken: bare (``bare_queue`` given) or prefixed."""
    if bare_queue is not None:
        return Taken(bare_queue, entry, entry)
    queue, _, raw = entry.partition(b"\t")
    return Taken(queue.decode("utf-8", "replace"), entry, raw)
