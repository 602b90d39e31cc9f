"""Data for the core pages: queues, failed jobs, workers, Redis stats."""

from __future__ import annotations

import json
import time
from typing import Any

from ..client import Resq
from ..errors import PayloadError
from ..overview import count
from ..payload import decode
from .pages import redact

ARGS_SHOWN = 200


def when(ts: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(ts)))
    except (TypeError, ValueError):
        return str(ts or "")


def short(value: Any, limit: int = ARGS_SHOWN) -> tuple[str, str]:
    """(shown text, full text) of a JSON value."""
    full = json.dumps(value, ensure_ascii=False)
    return (full if len(full) <= limit else full[:limit] + "…"), full


def shown_raw(raw: bytes, keys: tuple[str, ...]) -> str:
    """An invalid payload's text, redacted where it is JSON at all."""
    try:
        return json.dumps(redact(json.loads(raw), keys), ensure_ascii=False)[:ARGS_SHOWN]
    except (ValueError, RecursionError):  # not JSON, an int too long, nested too deep
        return raw.decode("utf-8", "replace")[:ARGS_SHOWN]


def queue_rows(
    c: Resq, queue: str, start: int, count: int, keys: tuple[str, ...]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for offset, raw in enumerate(c.redis.lrange(c.keys.queue(queue), start, start + count - 1)):
        try:
            doc = decode(raw)
            shown, full = short(redact(doc["args"], keys))
            rows.append(
                {
                    "pos": start + offset,
                    "id": doc["id"],
                    "class": doc["class"],
                    "args": shown,
                    "args_full": full,
                    "at": when(doc.get("enqueued_at")),
                }
            )
        except PayloadError as exc:
            rows.append(
                {
                    "pos": start + offset,
                    "id": "",
                    "class": "(invalid payload)",
                    "args": shown_raw(raw, keys),
                    "args_full": str(exc),
                    "at": "",
                }
            )
    return rows


def _id_of(raw: bytes) -> str | None:
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return doc.get("id") if isinstance(doc, dict) else None


def remove_queued(c: Resq, queue: str, pos: int, job_id: str) -> bool:
    """Remove the job ``job_id`` shown at ``pos`` (found nearby if the queue moved)."""
    if not job_id:
        return False
    key = c.keys.queue(queue)
    raw = c.redis.lindex(key, pos)
    if raw is None or _id_of(raw) != job_id:
        nearby = c.redis.lrange(key, max(0, pos - 100), pos + 100)
        raw = next((r for r in nearby if _id_of(r) == job_id), None)
    return raw is not None and c.remove_queued(queue, raw)


def failure_row(record: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    payload: dict[str, Any] = record["payload"] if isinstance(record.get("payload"), dict) else {}
    shown, full = short(redact(payload.get("args"), keys))
    return {
        "id": record.get("id", ""),
        "class": payload.get("class", "?"),
        "args": shown,
        "args_full": full,
        "exception": record.get("exception", ""),
        "error": record.get("error", ""),
        "backtrace": record.get("backtrace") or [],
        "worker": record.get("worker", ""),
        "queue": record.get("queue", ""),
        "failed_at": record.get("failed_at", ""),
        "retried_at": record.get("retried_at", ""),
    }


def failures(
    c: Resq,
    start: int,
    count: int,
    job_class: str,
    exception: str,
    keys: tuple[str, ...],
    scan_limit: int = 5000,
) -> tuple[list[dict[str, Any]], int, bool]:
    """A page of failures (filtered ones found by scanning at most ``scan_limit``
    records from ``start``); returns rows, the next start, and whether more remain."""
    total = c.failures.count()
    if not job_class and not exception:
        page = [failure_row(r, keys) for r in c.failures.list(start, count)]
        return page, start + count, start + count < total
    rows: list[dict[str, Any]] = []
    position = start
    while position < min(total, start + scan_limit) and len(rows) < count:
        batch = c.failures.list(position, 500)
        if not batch:  # the store shrank meanwhile
            break
        for record in batch:
            position += 1
            row = failure_row(record, keys)
            if (not job_class or row["class"] == job_class) and (
                not exception or row["exception"] == exception
            ):
                rows.append(row)
                if len(rows) == count:
                    break
        else:
            continue
        break
    return rows, position, position < total


def workers(c: Resq, snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    pipe = c.redis.pipeline(transaction=False)
    for wid, _, _ in snapshot["workers"]:
        pipe.hgetall(c.keys.worker_info(wid))
        pipe.get(c.keys.worker_started(wid))
        pipe.get(c.keys.stat_processed_of(wid))
        pipe.get(c.keys.stat_failed_of(wid))
    answers = pipe.execute()
    rows = []
    for index, (wid, state, job) in enumerate(snapshot["workers"]):
        info, started, processed, failed = answers[4 * index : 4 * index + 4]
        host, pid, queues = ([*wid.split(":", 2), "", "", ""])[:3]
        payload = (job or {}).get("payload") or {}
        rows.append(
            {
                "id": wid,
                "host": host.split("+")[0],
                "pid": pid,
                "queues": queues,
                "started": (started or b"").decode("utf-8", "replace"),
                "processed": count(processed),
                "failed": count(failed),
                "state": state,
                "mode": info.get(b"mode", b"").decode("utf-8", "replace"),
                "job": f"{payload.get('class', '')} {payload.get('id', '')}".strip(),
                "since": (job or {}).get("run_at", ""),
            }
        )
    return rows


def keys_page(c: Resq, cursor: int, count: int) -> tuple[list[dict[str, Any]], int]:
    cursor, names = c.redis.scan(cursor=cursor, match=c.keys.match_all(), count=count)
    pipe = c.redis.pipeline(transaction=False)
    for name in names:
        pipe.type(name)
    kinds = [k.decode() for k in pipe.execute()]
    sizes = {"list": "llen", "set": "scard", "zset": "zcard", "hash": "hlen", "string": "strlen"}
    for name, kind in zip(names, kinds, strict=True):
        getattr(pipe, sizes.get(kind, "exists"))(name)
    rows = [
        {"key": n.decode("utf-8", "replace"), "type": k, "size": s}
        for n, k, s in zip(names, kinds, pipe.execute(), strict=True)
    ]
    return sorted(rows, key=lambda r: r["key"]), int(cursor)


def redis_info(c: Resq) -> list[tuple[str, Any]]:
    info = c.redis.info()
    wanted = (
        "redis_version",
        "uptime_in_days",
        "connected_clients",
        "used_memory_human",
        "used_memory_peak_human",
        "maxmemory_policy",
        "total_commands_processed",
        "instantaneous_ops_per_sec",
        "aof_enabled",
        "role",
    )
    return [(k, info.get(k)) for k in wanted if k in info]
