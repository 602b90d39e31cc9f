"""A snapshot of what is going on: totals, queues and workers (CLI info, dashboard)."""

from __future__ import annotations

import json
import time
from typing import Any

UNREADABLE = {"payload": {"class": "(unreadable)"}, "run_at": ""}


def count(raw: bytes | None) -> int:
    """A counter read from Redis (anyone may have written it): 0 if not an int."""
    try:
        return int(raw or 0)
    except ValueError:
        return 0


def current_job(raw: bytes | None) -> dict[str, Any] | None:
    """A worker's record of its current job (Resque's shape: ``payload``,
    ``queue``, ``run_at``), or a stand-in when it is not that."""
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, an int too long, too deep
        return UNREADABLE
    if not isinstance(doc, dict) or not isinstance(doc.get("payload", {}), dict):
        return UNREADABLE
    return doc


def snapshot(c: Any) -> dict[str, Any]:
    k, r = c.keys, c.redis
    names = c.queues()
    workers = sorted(w.decode("utf-8", "replace") for w in r.smembers(k.workers))
    pipe = r.pipeline(transaction=False)
    pipe.get(k.stat_processed)
    pipe.get(k.stat_failed)
    pipe.time()
    for name in names:
        pipe.llen(k.queue(name))
    for wid in workers:
        pipe.get(k.worker(wid))
        pipe.zscore(k.leases, wid)
    processed, failed, now, *rest = pipe.execute()
    sizes = dict(zip(names, (int(x) for x in rest[: len(names)]), strict=True))
    states = rest[len(names) :]
    now_s = int(now[0]) + int(now[1]) / 1e6
    rows = []
    for index, wid in enumerate(workers):
        current, lease = states[2 * index], states[2 * index + 1]
        job = current_job(current)
        stale = lease is not None and float(lease) < now_s
        rows.append((wid, "stale" if stale else ("working" if job else "idle"), job))
    return {
        "processed": count(processed),
        "failed": count(failed),
        "queues": sizes,
        "workers": rows,
        "at": time.monotonic(),
    }
