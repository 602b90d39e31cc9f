"""Bulk actions: requeue (same ids, enqueue hooks, retried_at, --to, --clear),
clear, dry runs, invalid payloads, interrupted runs and concurrent failures
(requeue with the loner and status plugins: tests/plugins_together)."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import cleaner_jobs as cj
import pytest
from cleaner_helpers import Failed, queued, queued_ids, record, ruby_record, snapshot
from resqplug_cleaner import Cleaner, Filter

import resqplug
from resqplug.testing import drain

RETRIED_AT = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d UTC$")


class EnqueueSpy:
    """A test plugin: every before/after_enqueue it saw; vetoes the ids in ``veto``."""

    def __init__(self, veto: set[str] | None = None) -> None:
        self.before: list[tuple[str, str, str]] = []
        self.after: list[str] = []
        self.veto = veto or set()

    def forget(self) -> None:
        self.before.clear()
        self.after.clear()

    @resqplug.hookimpl
    def before_enqueue(self, job: resqplug.Job) -> None:
        self.before.append((job.id, job.queue, job.class_name))
        if job.id in self.veto:
            raise resqplug.DontEnqueue("vetoed by the test")

    @resqplug.hookimpl
    def after_enqueue(self, job: resqplug.Job) -> None:
        self.after.append(job.id)


@pytest.fixture
def spy(default_client: resqplug.Resq) -> EnqueueSpy:
    plugin = EnqueueSpy()
    resqplug.register(plugin, name="cleaner-test-spy")
    return plugin


def fail_jobs(client: resqplug.Resq, spy: EnqueueSpy | None = None) -> tuple[list[str], list[str]]:
    """Three ImportFeed (TimeoutError) and two ChargeCard (CJPaymentError)
    failures, really run; returns their ids."""
    imports = [resqplug.enqueue(cj.CJImportFeed, i) for i in range(3)]
    charges = [resqplug.enqueue(cj.CJChargeCard, 100 + i) for i in range(2)]
    assert drain(client, [cj.IMPORT_QUEUE, cj.PAY_QUEUE]) == 5
    assert client.failures.count() == 5
    if spy is not None:
        spy.forget()  # only what the cleaner enqueues counts
    return [i for i in imports if i], [i for i in charges if i]


# --- requeue --------------------------------------------------------------------


def test_requeue_keeps_ids_runs_enqueue_hooks_and_marks_retried(
    default_client, cleaner, failed, spy
):
    imports, charges = fail_jobs(default_client, spy)
    before = {d["id"]: d for d in failed.docs()}

    out = cleaner.requeue(Filter(exception="TimeoutError"))

    assert (out.matched, out.requeued, out.cleared, out.skipped) == (3, 3, 0, 0)
    assert queued_ids(default_client, cj.IMPORT_QUEUE) == imports
    assert [(q["class"], q["args"]) for q in queued(default_client, cj.IMPORT_QUEUE)] == [
        ("cleaner_tests.ImportFeed", [i]) for i in range(3)
    ]
    assert spy.before == [(i, cj.IMPORT_QUEUE, "cleaner_tests.ImportFeed") for i in imports]
    assert spy.after == imports
    for job_id in imports:
        doc = default_client.failures.get(job_id)
        assert doc is not None and RETRIED_AT.match(doc["retried_at"])
        assert {k: v for k, v in doc.items() if k != "retried_at"} == before[job_id]
    for job_id in charges:
        assert default_client.failures.get(job_id) == before[job_id]
    assert failed.ids() == list(before)  # same records, same order
    failed.assert_index_consistent()

    cj.fix(default_client)
    assert drain(default_client, cj.IMPORT_QUEUE) == 3
    assert cj.done_ids(default_client) == imports  # the same jobs ran again, in order


def test_requeue_to_another_queue(default_client, cleaner, spy):
    _, charges = fail_jobs(default_client, spy)
    out = cleaner.requeue(Filter(job_class="cleaner_tests.ChargeCard"), to="cleaner-slow")
    assert (out.matched, out.requeued) == (2, 2)
    assert queued_ids(default_client, "cleaner-slow") == charges
    assert default_client.size(cj.PAY_QUEUE) == 0
    assert "cleaner-slow" in default_client.queues()
    assert [q for _, q, _ in spy.before] == ["cleaner-slow", "cleaner-slow"]
    for job_id in charges:
        doc = default_client.failures.get(job_id)
        assert doc is not None and doc["queue"] == cj.PAY_QUEUE and "retried_at" in doc


def test_requeue_and_clear_removes_records_and_index_entries(default_client, cleaner, failed):
    imports, charges = fail_jobs(default_client)
    out = cleaner.requeue(Filter(exception="builtins.TimeoutError"), clear=True)
    assert (out.matched, out.requeued, out.cleared, out.skipped) == (3, 3, 3, 0)
    assert queued_ids(default_client, cj.IMPORT_QUEUE) == imports
    for job_id in imports:
        assert default_client.failures.get(job_id) is None
    assert failed.ids() == charges
    assert sorted(failed.index()) == sorted(charges)
    failed.assert_index_consistent()


def test_requeue_skip_retried_does_not_requeue_twice(default_client, cleaner):
    imports, _ = fail_jobs(default_client)
    assert cleaner.requeue(Filter(exception="TimeoutError")).requeued == 3
    again = cleaner.requeue(Filter(exception="TimeoutError", include_retried=False))
    assert (again.matched, again.requeued) == (0, 0)
    assert queued_ids(default_client, cj.IMPORT_QUEUE) == imports


def test_requeue_vetoed_by_a_hook_leaves_the_record(default_client, cleaner, failed, spy):
    imports, charges = fail_jobs(default_client, spy)
    spy.veto = {imports[1]}
    before = failed.raw()
    out = cleaner.requeue(Filter(exception="TimeoutError"), clear=True)
    assert (out.matched, out.requeued, out.cleared, out.skipped) == (3, 2, 2, 1)
    assert queued_ids(default_client, cj.IMPORT_QUEUE) == [imports[0], imports[2]]
    assert default_client.failures.get(imports[1]) == json.loads(before[1])
    assert failed.ids() == [imports[1], *charges]
    failed.assert_index_consistent()


def test_requeue_of_a_ruby_record_without_id(default_client, cleaner, failed, spy):
    failed.add(ruby_record(), record(job_id="keep"))
    out = cleaner.requeue(Filter(queue="mail"))
    assert (out.matched, out.requeued) == (1, 1)
    [job] = queued(default_client, "mail")
    assert job["class"] == "LegacyMailer" and job["args"] == ["hello@example.com"]
    assert re.fullmatch(r"[0-9a-f]{32}", job["id"])
    assert [i for i, _, _ in spy.before] == [job["id"]]
    first = failed.docs()[0]
    assert "id" not in first and RETRIED_AT.match(first["retried_at"])
    cleared = cleaner.requeue(Filter(queue="mail", include_retried=False), clear=True)
    assert cleared.matched == 0
    assert cleaner.clear(Filter(queue="mail")).cleared == 1
    assert failed.ids() == ["keep"]
    failed.assert_index_consistent()


# --- clear and dry runs ------------------------------------------------------------


def test_clear_of_a_selection_leaves_the_rest_intact(default_client, cleaner, failed):
    docs = [
        record("Junk" if i % 3 == 0 else "Keep", [i], job_id=f"j{i:04d}", at=1768000000 + i)
        for i in range(1234)
    ]
    failed.bulk(docs)
    kept_raw = [r for r in failed.raw() if b'"Keep"' in r]
    progress: list[int] = []

    out = cleaner.clear(Filter(job_class="Junk"), progress=progress.append)

    junk = [d["id"] for d in docs if d["payload"]["class"] == "Junk"]
    assert (out.matched, out.cleared) == (len(junk), len(junk)) == (412, 412)
    # progress counts the records read (so a bar over the whole store ends full)
    assert sum(progress) == 1234 and len(progress) >= 3  # in batches
    assert failed.raw() == kept_raw  # same records, same order, byte for byte
    assert failed.ids() == [d["id"] for d in docs if d["payload"]["class"] == "Keep"]
    for job_id in junk[:5] + junk[-5:]:
        assert default_client.failures.get(job_id) is None
    failed.assert_index_consistent()
    assert cleaner.clear(Filter(job_class="Junk")).matched == 0


def test_clear_everything(default_client, cleaner, failed):
    failed.bulk(record(args=[i]) for i in range(1100))
    failed.add("not json", ruby_record())
    out = cleaner.clear()
    assert (out.matched, out.cleared) == (1102, 1102)
    assert default_client.failures.count() == 0
    assert failed.index() == {}


def test_dry_runs_change_nothing(default_client, cleaner, failed, spy):
    fail_jobs(default_client, spy)
    failed.bulk(record(args=[i], queue="bulk") for i in range(700))
    failed.add("not json", ruby_record())
    before = snapshot(default_client)
    progress: list[int] = []

    out = cleaner.requeue(Filter(), dry_run=True, progress=progress.append)
    assert (out.matched, out.requeued, out.cleared) == (707, 0, 0) and sum(progress) == 707
    out = cleaner.requeue(Filter(queue="bulk"), to="elsewhere", clear=True, dry_run=True)
    assert (out.matched, out.requeued, out.cleared) == (700, 0, 0)
    out = cleaner.clear(Filter(exception="TimeoutError"), dry_run=True)
    assert (out.matched, out.cleared) == (703, 0)

    assert snapshot(default_client) == before
    assert spy.before == [] and spy.after == []


# --- invalid payloads ----------------------------------------------------------


INVALID_SKIPPED = [
    pytest.param("this is not json {", id="not-json"),
    pytest.param('["a", "list"]', id="json-list"),
    pytest.param(record(payload={"raw": "\u0000garbage"}, job_id="bad1"), id="core-raw-payload"),
    pytest.param(record(payload={"class": "ImportFeed"}, job_id="bad2"), id="no-args"),
    pytest.param(record(payload={"args": [1]}, job_id="bad3"), id="no-class"),
    pytest.param(record(payload="ImportFeed(1)", job_id="bad4"), id="payload-text"),
    pytest.param(record(job_id="bad5", payload=None), id="payload-null"),
]

INVALID_BUGGY = [
    pytest.param(record(payload={"class": "A", "args": 5}, job_id="b1"), id="args-int"),
    pytest.param(record(payload={"class": "A", "args": "abc"}, job_id="b2"), id="args-text"),
    pytest.param(record(payload={"class": "A", "args": {"a": 1}}, job_id="b3"), id="args-obj"),
    pytest.param(record(payload={"class": 5, "args": [1]}, job_id="b4"), id="class-int"),
    pytest.param(
        record(payload={"class": "A", "args": [1], "meta": "x"}, job_id="b5"), id="meta-text"
    ),
    pytest.param(record(queue="bad queue!", job_id="b6"), id="queue-invalid"),
    pytest.param(
        record(payload={"class": "A", "args": [1], "meta": {"attempt": "zz"}}, job_id="b7"),
        id="meta-attempt",
    ),
    pytest.param(
        record(payload={"class": "A", "args": [1], "meta": {"recoveries": -1}}, job_id="b8"),
        id="meta-recoveries",
    ),
    pytest.param(
        record(payload={"class": "A", "args": [1], "enqueued_at": "x"}, job_id="b9"),
        id="enqueued-at",
    ),
]


def _invalid_record_is_skipped_then_cleared(
    default_client: resqplug.Resq, cleaner: Cleaner, failed: Failed, bad: Any
) -> None:
    [good] = failed.add(record(args=[1], queue="q1"))
    failed.add(bad)
    [late] = failed.add(record(args=[2], queue="q1"))
    bad_raw = failed.raw()[1]

    out = cleaner.requeue(Filter(), clear=True)

    assert (out.matched, out.requeued, out.cleared, out.skipped) == (3, 2, 2, 1)
    assert queued_ids(default_client, "q1") == [good, late]
    assert failed.raw() == [bad_raw]  # left as it was
    assert [q for q in default_client.queues() if q != "q1"] == []
    failed.assert_index_consistent()
    out = cleaner.clear(Filter())
    assert (out.matched, out.cleared) == (1, 1)
    assert default_client.failures.count() == 0 and failed.index() == {}


@pytest.mark.parametrize("bad", INVALID_SKIPPED)
def test_invalid_payloads_are_skipped_on_requeue_and_can_be_cleared(
    default_client, cleaner, failed, bad
):
    _invalid_record_is_skipped_then_cleared(default_client, cleaner, failed, bad)


@pytest.mark.parametrize("bad", INVALID_BUGGY)
def test_malformed_payloads_are_skipped_on_requeue(default_client, cleaner, failed, bad):
    _invalid_record_is_skipped_then_cleared(default_client, cleaner, failed, bad)


def test_record_too_deep_to_read_is_skipped_on_requeue(default_client, cleaner, failed):
    [good] = failed.add(record(args=[1], queue="q1"))
    failed.add("[" * 100_000)

    out = cleaner.requeue(Filter())

    assert (out.requeued, out.skipped) == (1, 1)
    assert queued_ids(default_client, "q1") == [good]


# --- interrupted and concurrent runs -------------------------------------------------


class Interrupted(Exception):
    pass


def stop_after_first_batch(seen: int) -> None:
    raise Interrupted(f"stopped after a batch of {seen}")


@pytest.mark.parametrize("clear", [True, False], ids=["requeue-and-clear", "requeue-and-mark"])
def test_interrupted_bulk_requeue_rerun_queues_each_job_once(
    default_client, cleaner, failed, clear
):
    docs = [record(args=[i], queue="bulk", job_id=f"job{i:05d}") for i in range(1200)]
    failed.bulk(docs)
    failed.add(record("Other", queue="bulk"))  # not selected
    where = Filter(job_class="ImportFeed")

    with pytest.raises(Interrupted):
        cleaner.requeue(where, clear=clear, progress=stop_after_first_batch)
    assert default_client.size("bulk") == 500

    out = Cleaner(default_client).requeue(where, clear=clear)

    ids = queued_ids(default_client, "bulk")
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicate ids queued"
    assert ids == [d["id"] for d in docs]
    assert out.requeued == 700
    failed.assert_index_consistent()


def test_ruby_records_failing_in_the_same_second_are_each_requeued(default_client, cleaner, failed):
    failed.add(
        ruby_record(job_class="WelcomeMail", args=["ann@example.com"]),
        ruby_record(job_class="ReceiptMail", args=["bob@example.com"]),
    )
    first = cleaner.requeue(Filter(job_class="WelcomeMail"), clear=True)
    second = cleaner.requeue(Filter(job_class="ReceiptMail"), clear=True)
    assert (first.requeued, second.requeued) == (1, 1)
    assert [q["class"] for q in queued(default_client, "mail")] == ["WelcomeMail", "ReceiptMail"]


class Crash(KeyboardInterrupt):
    """A Ctrl-C mid-requeue: the one interruption the core's hook error
    handling lets through (a plugin's SystemExit is logged like any error)."""


class CrashAfterWrite:
    """after_enqueue runs once the batch is written, before its records are
    marked: crashing there leaves written jobs with unmarked records."""

    def __init__(self, after: int) -> None:
        self.after, self.seen = after, 0

    @resqplug.hookimpl
    def after_enqueue(self, job: resqplug.Job) -> None:
        self.seen += 1
        if self.seen == self.after:
            raise Crash


@pytest.mark.parametrize("clear", [True, False])
def test_crash_between_write_and_mark_then_rerun_queues_each_job_once(
    default_client, cleaner, failed, clear
):
    docs = [record(args=[i], queue="bulk", job_id=f"job{i:05d}") for i in range(1200)]
    failed.bulk(docs)
    resqplug.register(CrashAfterWrite(after=250), name="cleaner-test-crash")
    with pytest.raises(Crash):
        cleaner.requeue(Filter(), clear=clear)
    resqplug.unregister("cleaner-test-crash")
    assert default_client.size("bulk") == 500  # the first batch was written...
    assert all("retried_at" not in d for d in failed.docs())  # ...and not marked

    out = Cleaner(default_client).requeue(Filter(), clear=clear)

    assert queued_ids(default_client, "bulk") == [d["id"] for d in docs]
    assert (out.matched, out.requeued, out.skipped) == (1200, 700, 0)
    if clear:
        assert default_client.failures.count() == 0 and failed.index() == {}
    else:
        assert all(RETRIED_AT.match(d["retried_at"]) for d in failed.docs())
    failed.assert_index_consistent()


def test_failures_arriving_during_a_clear_are_not_lost(redis_url, default_client, failed):
    failed.bulk(record("Old", [i]) for i in range(20_000))
    for i in range(30):
        resqplug.enqueue(cj.CJImportFeed, i)
    first_batch = threading.Event()
    errors: list[BaseException] = []
    outcome: list[Any] = []

    def clear() -> None:
        try:
            cleaner = Cleaner(resqplug.Resq(redis_url, default_client.namespace))
            outcome.append(
                cleaner.clear(Filter(job_class="Old"), progress=lambda n: first_batch.set())
            )
        except BaseException as exc:  # reported by the test
            errors.append(exc)
            first_batch.set()

    worker = threading.Thread(target=clear)
    worker.start()
    assert first_batch.wait(30)
    new_ids: list[str] = []
    overlapped = 0
    while worker.is_alive() or len(new_ids) < 100:
        alive = worker.is_alive()
        new_ids += failed.add(record("New", [len(new_ids)]))
        if len(new_ids) % 10 == 0:  # and a real failure, through the worker's ack
            drain(default_client, cj.IMPORT_QUEUE, limit=1)
        overlapped += alive
    worker.join(30)
    assert not errors, errors
    assert overlapped > 0, "no failure arrived while the clear ran"

    real = [d["id"] for d in failed.docs() if d["payload"]["class"] == "cleaner_tests.ImportFeed"]
    assert len(real) == min(30, len(new_ids) // 10)
    assert [i for i in failed.ids() if i not in real] == new_ids  # all there, in order
    assert outcome[0].cleared == outcome[0].matched == 20_000
    assert all(d["payload"]["class"] != "Old" for d in failed.docs())
    failed.assert_index_consistent()
