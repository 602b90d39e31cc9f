"""Selections of failed jobs: filters, read lazily in windows of the list."""

from __future__ import annotations

import calendar
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import resqplug

BATCH = 500
_AGO_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(value: str | float | datetime | None, *, what: str) -> float | None:
    """Epoch seconds from a datetime, a number, ISO text (UTC unless given) or
    an age such as '7d' (that long ago)."""
    if value is None or isinstance(value, (int, float)):
        return value
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    text = value.strip()
    ago = _AGO_RE.match(text)
    if ago:
        return time.time() - float(ago[1]) * _UNITS[ago[2]]
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise resqplug.ConfigError(
            f"invalid {what} {value!r}: use ISO time (2026-11-22 or 2026-11-22T10:00) "
            "or an age such as 7d, 12h"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


_ZONES = {
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
}


def parse_resque_time(text: str) -> float | None:
    """Resque's ``%Y/%m/%d %H:%M:%S %Z`` (zone name or +HHMM, UTC when absent)."""
    text = text.strip()
    try:
        base = calendar.timegm(time.strptime(text[:19], "%Y/%m/%d %H:%M:%S"))
    except ValueError:
        return None
    zone = text[19:].strip()
    if re.fullmatch(r"[+-]\d{4}", zone):
        offset_h = int(zone[1:3]) + int(zone[3:]) / 60
        return float(base) - (offset_h if zone[0] == "+" else -offset_h) * 3600
    if zone and zone.upper() not in _ZONES:
        return None
    return float(base) - _ZONES.get(zone.upper(), 0) * 3600


@dataclass(frozen=True)
class Record:
    position: int
    raw: bytes
    doc: dict[str, Any]

    @property
    def job_id(self) -> str:
        return str(self.doc.get("id") or "")

    @property
    def payload(self) -> dict[str, Any]:
        payload = self.doc.get("payload")
        return payload if isinstance(payload, dict) else {}

    @property
    def failed_ts(self) -> float | None:
        ts = self.doc.get("failed_at_ts")
        if isinstance(ts, (int, float)):
            return float(ts)
        return parse_resque_time(str(self.doc.get("failed_at", "")))

    @property
    def day(self) -> str:
        ts = self.failed_ts
        return time.strftime("%Y-%m-%d", time.gmtime(ts)) if ts is not None else "unknown"


@dataclass(frozen=True)
class Filter:
    job_class: str | None = None
    exception: str | None = None
    queue: str | None = None
    since: float | None = None
    until: float | None = None
    text: str | None = None
    include_retried: bool = True

    def matches(self, record: Record) -> bool:
        d = record.doc
        if self.job_class and record.payload.get("class") != self.job_class:
            return False
        if self.exception and self.exception not in (
            d.get("exception"),
            f"{d.get('exception_module')}.{d.get('exception')}",
        ):
            return False
        if self.queue and d.get("queue") != self.queue:
            return False
        if self.since is not None or self.until is not None:
            ts = record.failed_ts
            if ts is None or (self.since is not None and ts < self.since):
                return False
            if self.until is not None and ts > self.until:
                return False
        if not self.include_retried and "retried_at" in d:
            return False
        if self.text:
            haystack = f"{d.get('error', '')}\n{json.dumps(record.payload.get('args'))}"
            if self.text.lower() not in haystack.lower():
                return False
        return True


class Scanner:
    """Matching records in batches, oldest first, reading the list in windows.
    Call ``removed(n)`` after deleting n records of the last batch, so the next
    window does not skip any."""

    def __init__(
        self,
        client: resqplug.Resq,
        where: Filter,
        batch: int = BATCH,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.client, self.where, self.batch = client, where, batch
        self.progress = progress  # told how many records each window read
        self.start = 0

    def removed(self, count: int) -> None:
        self.start -= count

    def __iter__(self) -> Iterator[list[Record]]:
        while True:
            rows = self.client.redis.lrange(
                self.client.keys.failed, self.start, self.start + self.batch - 1
            )
            if not rows:
                return
            found = [r for r in self._records(rows) if self.where.matches(r)]
            self.start += len(rows)
            if found:
                yield found
            if self.progress:
                self.progress(len(rows))

    def _records(self, rows: list[bytes]) -> Iterator[Record]:
        for offset, raw in enumerate(rows):
            try:
                doc = json.loads(raw)
            except (ValueError, RecursionError):  # not JSON, an int too long, too deep
                doc = {"raw": raw.decode("utf-8", "replace")}
            yield Record(self.start + offset, raw, doc if isinstance(doc, dict) else {})
