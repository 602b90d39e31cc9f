"""A snapshot of what is going on: totals, queues and workers (CLI info, dashboard)."""

from __future__ import annotations

import json
import time
from typing import Any


def snapshot(c: Any) -> dict[str, Any]:
    k, r = c.keys, c.redis
    names = c.queues()
    workers = sorted(w.decode() for w in r.smembers(k.workers))
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
        job = json.loads(current) if current else None
        stale = lease is not None and float(lease) < now_s
        rows.append((wid, "stale" if stale else ("working" if job else "idle"), job))
    return {
        "processed": int(processed or 0),
        "failed": int(failed or 0),
        "queues": sizes,
        "workers": rows,
        "at": time.monotonic(),
    }
