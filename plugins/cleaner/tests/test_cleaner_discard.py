"""Clearing failure records tells plugins the jobs are gone (``job_discarded``),
once per cleared record, except records whose job was enqueued again; a
plugin that raises never stops the clear."""

from __future__ import annotations

import logging

from cleaner_helpers import record, ruby_record
from resqplug_cleaner import Filter

import resqplug


class Heard:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @resqplug.hookimpl
    def job_discarded(self, job: resqplug.Job, reason: str) -> None:
        self.seen.append((job.id, reason))


class Raises:
    @resqplug.hookimpl
    def job_discarded(self, job: resqplug.Job) -> None:
        raise RuntimeError("plugin broke")


def test_clear_announces_each_cleared_job_but_not_retried_ones(default_client, cleaner, failed):
    heard = Heard()
    resqplug.register(heard, name="cleaner-test-heard")
    docs = [record("Junk", [i], job_id=f"j{i:04d}") for i in range(1200)]
    failed.bulk(docs)
    failed.add(
        record("Junk", [0], job_id="again", retried_at="2026/01/01 00:00:00 UTC"),
        record("Junk", [0], job_id="plugin", action="retried+record"),
        record("Keep", [0], job_id="kept"),
        "not json",
        ruby_record(),
    )
    out = cleaner.clear(Filter(job_class="Junk"))
    assert out.cleared == 1202
    assert heard.seen == [(d["id"], "failures cleaned") for d in docs]
    assert default_client.failures.count() == 3


def test_a_raising_plugin_never_stops_the_clear(default_client, cleaner, failed, caplog):
    resqplug.register(Raises(), name="cleaner-test-raises")
    failed.bulk(record(args=[i]) for i in range(600))
    with caplog.at_level(logging.ERROR, logger="resqplug.plugins"):
        assert cleaner.clear().cleared == 600
    assert default_client.failures.count() == 0
    assert (
        sum("cleaner-test-raises failed in job_discarded" in r.getMessage() for r in caplog.records)
        == 600
    )
