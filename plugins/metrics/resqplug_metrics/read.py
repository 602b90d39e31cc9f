"""The counters as stored in Redis, read back. Redis is shared with other
tools, so every field and value is checked: one that does not parse is
skipped, never an error."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .figures import BUCKETS, COUNTERS
from .keys import keys_of

Labels = tuple[str, str]  # (queue, job class)
HISTOGRAMS = ("duration", "latency")
_BUCKET_COUNT = len(BUCKETS) + 1  # with +Inf


@dataclass
class Histogram:
    """Per-bucket counts (not cumulative; the last is +Inf) and the sum in seconds."""

    buckets: list[int] = field(default_factory=lambda: [0] * _BUCKET_COUNT)
    sum: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.buckets)

    def cumulative(self) -> list[int]:
        out, total = [], 0
        for n in self.buckets:
            total += n
            out.append(total)
        return out


@dataclass
class Counts:
    """One label set's figures: counters by name, and the two histograms."""

    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    histograms: dict[str, Histogram] = field(
        default_factory=lambda: {name: Histogram() for name in HISTOGRAMS}
    )


def parse_labels(text: str) -> Labels | None:
    try:
        found = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(found, list) and len(found) == 2 and all(isinstance(x, str) for x in found):
        return found[0], found[1]
    return None


def parse_int(raw: Any) -> int | None:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def add_figure(counts: Counts, figure: str, value: int) -> None:
    """Add one stored field's value (``figure`` is the part after the label set)."""
    if figure in counts.counters:
        counts.counters[figure] += value
        return
    name, sep, rest = figure.partition(":")
    if name in counts.histograms and sep and rest.isdigit() and int(rest) < _BUCKET_COUNT:
        counts.histograms[name].buckets[int(rest)] += value
    elif figure.endswith("_us") and figure[:-3] in counts.histograms:
        counts.histograms[figure[:-3]].sum += value / 1_000_000


def parse_counters(found: Mapping[bytes, bytes]) -> dict[Labels, Counts]:
    """The stored counter fields (``HGETALL``), by label set."""
    out: dict[Labels, Counts] = {}
    for raw_field, raw_value in found.items():
        text = raw_field.decode("utf-8", "replace")
        label_text, sep, figure = text.rpartition("\n")
        value = parse_int(raw_value)
        labels = parse_labels(label_text) if sep else None
        if labels is None or value is None:
            continue
        counts = out.get(labels)
        if counts is None:
            counts = out[labels] = Counts()
        add_figure(counts, figure, value)
    return out


def read_counts(client: Any = None) -> dict[Labels, Counts]:
    """Every (queue, job class) label set's counters and histograms, summed
    over all workers and producers (default: the default client's namespace)."""
    import resqplug

    client = client or resqplug.default_client()
    return parse_counters(client.redis.hgetall(keys_of(client.keys).counters))
