"""Gauges read from Redis at scrape time: queue sizes and the age of each
queue's oldest job, workers by state, jobs in flight, Resque's totals. All of
it is read in two pipelined round trips; what Redis holds is untrusted (a
payload that does not parse gives no age, a bad counter reads as 0)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .keys import LABEL_SETS, keys_of
from .read import parse_int

MAX_QUEUES = 1000  # queues reported per scrape (alphabetical); the rest are left out
STATES = ("working", "idle", "stale")


@dataclass
class Gauges:
    queue_sizes: dict[str, int] = field(default_factory=dict)
    oldest_age: dict[str, float] = field(default_factory=dict)  # 0 for an empty queue
    queues_total: int = 0  # queues known, reported or not
    workers: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))
    inflight: int = 0
    processed: int = 0
    failed: int = 0
    failures: int = 0  # records in the failed list
    label_sets: int = 0


def text(raw: Any) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def enqueued_at(raw: Any) -> float | None:
    """The ``enqueued_at`` of a queued payload, or None (not JSON, no number)."""
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    at = doc.get("enqueued_at") if isinstance(doc, dict) else None
    if isinstance(at, bool) or not isinstance(at, (int, float)) or at != at:
        return None
    return float(at)


def read_gauges(client: Any) -> Gauges:
    keys, r = keys_of(client.keys), client.redis
    pipe = r.pipeline(transaction=False)
    pipe.smembers(keys.queues).smembers(keys.workers).zrange(keys.leases, 0, -1, withscores=True)
    pipe.time().get(keys.stat_processed).get(keys.stat_failed).llen(keys.failed)
    pipe.hget(keys.counters, LABEL_SETS)
    queues, listed, leases, now, processed, failed, failures, label_sets = pipe.execute()
    now_s = int(now[0]) + int(now[1]) / 1e6
    gauges = Gauges(
        queues_total=len(queues),
        processed=parse_int(processed) or 0,
        failed=parse_int(failed) or 0,
        failures=int(failures),
        label_sets=parse_int(label_sets) or 0,
    )
    names = sorted(text(q) for q in queues)[:MAX_QUEUES]
    lease_of = {text(wid): float(score) for wid, score in leases}
    workers = sorted({text(w) for w in listed} | set(lease_of))
    pipe = r.pipeline(transaction=False)
    for name in names:
        pipe.llen(keys.queue(name)).lindex(keys.queue(name), 0)
    for wid in workers:
        pipe.exists(keys.current_job(wid)).llen(keys.inflight(wid))
    found = pipe.execute()
    for i, name in enumerate(names):
        size, head = int(found[2 * i]), found[2 * i + 1]
        gauges.queue_sizes[name] = size
        at = enqueued_at(head)
        if size == 0 or at is not None:
            gauges.oldest_age[name] = max(now_s - at, 0.0) if at is not None and size else 0.0
    rest = found[2 * len(names) :]
    for i, wid in enumerate(workers):
        working, inflight = rest[2 * i], int(rest[2 * i + 1])
        lease = lease_of.get(wid)
        state = "stale" if lease is not None and lease < now_s else "idle"
        gauges.workers["working" if working and state == "idle" else state] += 1
        gauges.inflight += inflight
    return gauges
