"""What is counted and how it is written: the label sets, the cap, the
histogram buckets, and the writes that carry a job's figures in the core's
own scripts (no Redis here, so a fork child builds them without connecting)."""

from __future__ import annotations

import json
import os
from bisect import bisect_left
from importlib import resources
from typing import Any

import resqplug
from resqplug.ext import Batched, Job, keys_for

from .keys import keys_of

ENQUEUED, RUNS = "metrics.enqueued", "metrics.runs"
# Upper bounds (seconds) of the duration and queue latency buckets; one more,
# +Inf, holds the rest. Fixed: changing them would mix incompatible counts.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
OUTCOMES = ("succeeded", "failed", "retried", "killed", "recovered")
OUTCOME_CODES = {name: 400 * i for i, name in enumerate(OUTCOMES)}
COUNTERS = ("enqueued", "started", *OUTCOMES)
OTHER = ("(other)", "(other)")  # where the counts of label sets past the cap go
LONGEST = 1e7  # seconds (about 116 days): longer times count as this much, NaN or < 0 as 0
CAP_ENV = "RESQPLUG_METRICS_MAX_LABEL_SETS"
DEFAULT_CAP = 1000


def cap_from_env() -> int:
    """The cap on distinct (queue, job class) label sets: RESQPLUG_METRICS_MAX_LABEL_SETS
    (default 1000); a value that is not a positive integer gives the default."""
    try:
        value = int(os.environ.get(CAP_ENV, DEFAULT_CAP))
    except ValueError:
        return DEFAULT_CAP
    return value if value > 0 else DEFAULT_CAP


CAP = cap_from_env()


def label_set(queue: str, class_name: str) -> str:
    """The (queue, job class) label set as it is stored: a compact JSON array."""
    return json.dumps([queue, class_name], ensure_ascii=False, separators=(",", ":"))


def bucket(seconds: float) -> int:
    """The index of the bucket holding ``seconds`` (len(BUCKETS) is +Inf)."""
    return bisect_left(BUCKETS, seconds)


_ENQUEUED: dict[tuple[str, str, str], resqplug.Write] = {}
_RUNS: dict[tuple[str, str, str], tuple[tuple[str], str]] = {}
_KEPT = 4096  # the caches are emptied when they reach this size


def enqueued_write(job: Job) -> resqplug.Write:
    """The write counting one enqueue: the same (immutable) one for every job
    of a namespace, queue and class; no arg per job (the label set is shared:
    the core sends it once per group)."""
    keys = keys_for(job)
    found = _ENQUEUED.get((keys.namespace, job.queue, job.class_name))
    if found is None:
        if len(_ENQUEUED) >= _KEPT:
            _ENQUEUED.clear()
        counters = keys_of(keys).counters
        label = label_set(job.queue, job.class_name)
        found = resqplug.Write(ENQUEUED, (counters,), (), (label,))
        _ENQUEUED[(keys.namespace, job.queue, job.class_name)] = found
    return found


def _run_parts(keys: Any, job: Job) -> tuple[tuple[str], str]:
    """The keys and the label set of a run's write, kept per namespace, queue
    and class."""
    found = (keys_of(keys).counters,), label_set(job.queue, job.class_name)
    if len(_RUNS) >= _KEPT:
        _RUNS.clear()
    _RUNS[(keys.namespace, job.queue, job.class_name)] = found
    return found


def run_write(
    job: Job, outcome: str, duration: float | None, latency: float | None
) -> resqplug.Write:
    """The write of one ended run; ``duration``/``latency`` None when this
    process did not see the run start (a child that died, a dead worker's job).
    Its outcome and both buckets travel as one number: outcome index * 400 +
    (duration bucket + 1) * 20 + (latency bucket + 1), 0 for a bucket not
    measured (metrics_runs.lua takes it apart)."""
    keys = keys_for(job)
    parts = _RUNS.get((keys.namespace, job.queue, job.class_name)) or _run_parts(keys, job)
    code, micros, lag = OUTCOME_CODES[outcome], 0, 0
    if duration is not None:
        duration = min(duration, LONGEST) if duration > 0 else 0.0
        code += (bisect_left(BUCKETS, duration) + 1) * 20
        micros = int(duration * 1_000_000)
    if latency is not None:
        latency = min(latency, LONGEST) if latency > 0 else 0.0
        code += bisect_left(BUCKETS, latency) + 1
        lag = int(latency * 1_000_000)
    return resqplug.Write(RUNS, parts[0], (code, micros, lag), (parts[1],))


def fragments() -> dict[str, str]:
    """The write fragments of the plugin (hook ``write_scripts``)."""
    lua = resources.files("resqplug_metrics").joinpath("lua")

    def source(name: str) -> Batched:
        text = lua.joinpath(name).read_text("utf-8")
        return Batched(text.replace("@CAP@", str(CAP), 1))

    return {ENQUEUED: source("metrics_enqueued.lua"), RUNS: source("metrics_runs.lua")}
