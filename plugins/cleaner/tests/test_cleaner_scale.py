"""100,000 failure records: stats and a filtered requeue of 20,000 finish in
seconds, with bounded memory (windows of the list, counters only)."""

from __future__ import annotations

import time
import tracemalloc

from cleaner_helpers import queued_ids, record
from resqplug_cleaner import Filter

from resqplug import plugins

TOTAL, MATCHING = 100_000, 20_000
SECONDS = 30.0
MEMORY_BYTES = 50 * 1024 * 1024
START = 1768046400.0  # 2026-01-10 12:00 UTC


def outage_records():
    """Every fifth record is a TimeoutError of ImportFeed on 'feeds'; the rest
    ValueErrors of four classes on four queues; over 20 days."""
    for i in range(TOTAL):
        at = START + i * 17.28  # 100,000 records over 20 days
        if i % 5 == 0:
            yield record(
                "ImportFeed",
                [i, f"https://feeds.example.com/{i}.xml"],
                error=f"feed {i} timed out after 30s",
                queue="feeds",
                at=at,
                job_id=f"t{i:06d}",
            )
        else:
            yield record(
                f"Job{i % 4}",
                [i, {"user": i % 977, "note": "x" * 40}],
                exception="ValueError",
                error=f"bad input {i}",
                queue=f"q{i % 4}",
                at=at,
                job_id=f"v{i:06d}",
            )


def test_stats_and_filtered_requeue_of_100k_records(
    default_client, cleaner, failed, record_property, capsys, monkeypatch
):
    # The status plugin writes each job's status in before_enqueue with its own
    # round trip (20,000 for this requeue, ~4x the cleaner's own time): timed
    # here is the cleaner with the other plugins' enqueue hooks.
    monkeypatch.setenv("RESQPLUG_DISABLE_PLUGINS", "status")
    plugins.reset_plugins()
    assert failed.bulk(outage_records(), chunk=5000) == TOTAL
    timeouts = [f"t{i:06d}" for i in range(0, TOTAL, 5)]

    started = time.perf_counter()
    stats = cleaner.stats()
    stats_s = time.perf_counter() - started

    assert sum(stats["class"].values()) == TOTAL
    assert stats["exception"] == {"ValueError": TOTAL - MATCHING, "TimeoutError": MATCHING}
    assert stats["queue"]["feeds"] == MATCHING
    assert len(stats["day"]) in (20, 21) and sum(stats["day"].values()) == TOTAL

    tracemalloc.start()
    try:
        again = cleaner.stats(Filter(exception="TimeoutError"))
        _, stats_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert again["class"] == {"ImportFeed": MATCHING}

    started = time.perf_counter()
    out = cleaner.requeue(Filter(exception="TimeoutError", queue="feeds"))
    requeue_s = time.perf_counter() - started

    assert (out.matched, out.requeued, out.skipped) == (MATCHING, MATCHING, 0)
    ids = queued_ids(default_client, "feeds")
    assert ids == timeouts  # each once, in failure order
    assert default_client.failures.count() == TOTAL
    assert "retried_at" in default_client.failures.get(timeouts[-1])
    assert "retried_at" not in default_client.failures.get("v000001")

    started = time.perf_counter()
    cleared = cleaner.clear(Filter(exception="TimeoutError"))
    clear_s = time.perf_counter() - started
    assert cleared.cleared == MATCHING
    assert default_client.failures.count() == TOTAL - MATCHING
    assert default_client.redis.hlen(default_client.keys.failed_index) == TOTAL - MATCHING

    figures = {
        "stats_s": round(stats_s, 2),
        "stats_peak_mb": round(stats_peak / 2**20, 2),
        "requeue_20k_s": round(requeue_s, 2),
        "clear_20k_s": round(clear_s, 2),
    }
    for name, value in figures.items():
        record_property(name, value)
    with capsys.disabled():
        print(f"\ncleaner 100k figures: {figures}")
    assert stats_s < SECONDS, figures
    assert requeue_s < SECONDS, figures
    assert stats_peak < MEMORY_BYTES, figures
    assert clear_s < SECONDS, figures
