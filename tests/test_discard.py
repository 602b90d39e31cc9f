"""``job_discarded``: every core path that removes a job without running it
tells plugins, once per removed job, and a plugin's error never stops the
removal. Core only (a plugin manager without entry points)."""

from __future__ import annotations

import logging

import pytest

import resqplug
from resqplug import discard, failure
from resqplug.delayed import DelayedSet
from resqplug.plugins import Plugins
from resqplug.testing import drain


class DiscardKept(resqplug.Job):
    name = "test_discard.Kept"
    queue = "dq"

    def perform(self, n: int = 0) -> None:
        pass


class DiscardFails(resqplug.Job):
    name = "test_discard.Fails"
    queue = "dq"

    def perform(self, n: int = 0) -> None:
        raise ValueError(f"fails {n}")


class Heard:
    """A plugin recording every discarded job as (id, reason)."""

    def __init__(self) -> None:
        self.jobs: list[resqplug.Job] = []
        self.reasons: list[str] = []

    @resqplug.hookimpl
    def job_discarded(self, job: resqplug.Job, reason: str) -> None:
        self.jobs.append(job)
        self.reasons.append(reason)

    @property
    def ids(self) -> list[str]:
        return [j.id for j in self.jobs]


class Raises:
    @resqplug.hookimpl
    def job_discarded(self, job: resqplug.Job) -> None:
        raise RuntimeError("plugin broke")


@pytest.fixture
def heard() -> Heard:
    return Heard()


@pytest.fixture
def resq(redis_url: str, namespace: str, heard: Heard) -> resqplug.Resq:
    """A client whose plugins are the core and ``heard`` only."""
    pm = Plugins(load_entry_points=False)
    pm.register(heard, name="heard")
    return resqplug.Resq(redis_url, namespace, plugins=pm)


def queued(resq: resqplug.Resq, queue: str = "dq") -> list[str]:
    return [d["id"] for d in resq.peek(queue, 0, 1000)]


def fail_all(resq: resqplug.Resq, count: int) -> list[str]:
    ids = [resq.enqueue(DiscardFails, n) for n in range(count)]
    drain(resq, "dq")
    return [i for i in ids if i]


# --- each path ---------------------------------------------------------------------


def test_dequeue_announces_each_removed_job_in_batches(resq, heard, monkeypatch):
    monkeypatch.setattr(discard, "BATCH", 3)
    gone = [resq.enqueue(DiscardKept, 1) for _ in range(7)]
    kept = resq.enqueue(DiscardKept, 2)
    assert resq.dequeue(DiscardKept, 1) == 7
    assert sorted(heard.ids) == sorted(gone) and set(heard.reasons) == {"dequeued"}
    assert queued(resq) == [kept]
    assert resq.dequeue(DiscardKept) == 1 and heard.ids[-1] == kept


def test_remove_queue_announces_each_job_in_batches_and_leaves_nothing_held(
    resq, heard, monkeypatch
):
    monkeypatch.setattr(discard, "BATCH", 4)
    ids = [resq.enqueue(DiscardKept, n) for n in range(10)]
    assert resq.remove_queue("dq") == 10
    assert heard.ids == ids and set(heard.reasons) == {"queue removed"}
    assert heard.jobs[0].client is resq and heard.jobs[0].queue == "dq"
    assert list(resq.redis.scan_iter(match=resq.keys.discarding("*"))) == []
    assert "dq" not in resq.queues()


def test_remove_queue_keeps_and_does_not_announce_a_job_enqueued_meanwhile(resq, heard):
    """The queue is moved aside in one step: a job enqueued while the removed
    ones are announced stays queued and is not announced."""
    first = resq.enqueue(DiscardKept, 1)
    later: list[str | None] = []
    real = heard.job_discarded

    def enqueue_during_announcement(job: resqplug.Job, reason: str) -> None:
        real(job, reason)
        later.append(resq.enqueue(DiscardKept, 2))

    heard.job_discarded = enqueue_during_announcement  # type: ignore[method-assign]
    assert resq.remove_queue("dq") == 1
    assert heard.ids == [first] and queued(resq) == later


def test_remove_queued_announces_the_one_job_removed(resq, heard):
    job_id = resq.enqueue(DiscardKept, 1)
    [raw] = resq.redis.lrange(resq.keys.queue("dq"), 0, 0)
    assert resq.remove_queued("dq", raw) is True
    assert resq.remove_queued("dq", raw) is False
    assert heard.ids == [job_id] and heard.reasons == ["removed"]


def test_failure_remove_and_clear_announce_each_failed_job(resq, heard):
    first, *rest = fail_all(resq, 4)
    resq.failures.remove(first)
    assert heard.ids == [first] and heard.reasons == ["failure removed"]
    assert resq.failures.clear() == 3
    assert heard.ids[1:] == rest and set(heard.reasons[1:]) == {"failures cleared"}
    assert resq.failures.count() == 0 and resq.failures.get(rest[0]) is None


def test_failure_records_of_jobs_enqueued_again_announce_nothing(resq, heard):
    """The job lives on under the same id: retried from the record (with or
    without removing it), or retried by a plugin that asked for the record."""
    retried, removed, plugin_retried = fail_all(resq, 3)
    resq.failures.retry(retried)
    resq.failures.retry(removed, remove=True)
    record = failure.build(
        {"class": DiscardFails.name, "args": [9], "id": plugin_retried, "meta": {}},
        ValueError("again"),
        worker="w",
        queue="dq",
        job_id=plugin_retried,
        action="retried+record",
    )
    resq.redis.lrem(resq.keys.failed, 1, resq.redis.hget(resq.keys.failed_index, plugin_retried))
    resq.redis.rpush(resq.keys.failed, record)
    resq.redis.hset(resq.keys.failed_index, plugin_retried, record)
    resq.failures.remove(plugin_retried)
    resq.failures.clear()
    assert heard.ids == []


def test_delayed_remove_announces_each_removed_job_in_batches(resq, heard, monkeypatch):
    monkeypatch.setattr(discard, "BATCH", 2)
    delayed = DelayedSet(resq, "discardtest")
    jobs = [resq.build(DiscardKept, [n % 2]) for n in range(5)]
    for job in jobs:
        assert delayed.add("dq", resq.prepare(job) or "", 9e9)
    assert delayed.remove(DiscardKept.name, [0]) == 3
    assert sorted(heard.ids) == sorted(j.id for j in jobs if j.args == [0])
    assert set(heard.reasons) == {"delayed removed"} and delayed.count() == 2


def test_delayed_job_vetoed_when_due_is_announced(resq, heard):
    delayed = DelayedSet(resq, "discardtest")
    job = resq.build(DiscardKept, [1])
    delayed.add("dq", resq.prepare(job) or "", 0)

    class Veto:
        @resqplug.hookimpl
        def before_enqueue(self, job: resqplug.Job) -> None:
            raise resqplug.DontEnqueue("not now")

    resq.plugins.register(Veto(), name="veto")
    assert delayed.move_due() == 0
    assert heard.ids == [job.id] and heard.reasons == ["vetoed"] and delayed.count() == 0


def test_delayed_job_refused_as_a_duplicate_when_due_is_announced(resq, heard):
    guard_key = resq.keys.plugin("discardtest", "guard")

    class Guard:
        @resqplug.hookimpl
        def before_enqueue(self, job: resqplug.Job) -> None:
            job.guards.append(resqplug.EnqueueGuard(guard_key, job.id, 60_000))

    resq.plugins.register(Guard(), name="guard")
    delayed = DelayedSet(resq, "discardtest")
    job = resq.build(DiscardKept, [1])
    delayed.add("dq", resq.prepare(job) or "", 0)
    resq.redis.set(guard_key, "another-job")
    assert delayed.move_due() == 0
    assert heard.ids == [job.id] and heard.reasons == ["duplicate"] and delayed.count() == 0


# --- untrusted entries, failing plugins, no listener -----------------------------------


class DiscardSkipped(resqplug.Job):
    name = "test_discard.Skipped"
    queue = "dq"

    def before_perform(self) -> None:
        raise resqplug.DontPerform("not today")

    def perform(self) -> None:
        raise AssertionError("a skipped job ran")


def test_a_job_skipped_by_before_perform_is_announced_as_skipped(resq, heard):
    job_id = resq.enqueue(DiscardSkipped)
    assert drain(resq, "dq") == 1
    assert heard.ids == [job_id] and heard.reasons == ["skipped"]
    assert resq.failures.count() == 0


def test_payloads_that_do_not_decode_are_removed_without_a_hook(resq, heard):
    good = resq.enqueue(DiscardKept, 1)
    key = resq.keys.queue("dq")
    deep = '{"class":"X","args":' + "[" * 100_000 + "]" * 100_000 + "}"
    resq.redis.rpush(key, b"\xff not json", '{"class":"X","args":"no"}', "[1]", deep)
    assert resq.remove_queue("dq") == 5
    assert heard.ids == [good] and resq.size("dq") == 0
    records = [b"\xff", '{"payload":{"class":1}}', '{"retried_at":1}', "[" * 100_000]
    resq.redis.rpush(resq.keys.failed, *records, '{"payload":' + deep + "}")
    assert resq.failures.clear() == 5 and heard.ids == [good]


def test_a_raising_plugin_never_stops_the_removal(resq, heard, caplog, monkeypatch):
    monkeypatch.setattr(discard, "BATCH", 2)
    resq.plugins.register(Raises(), name="raises")
    failed = fail_all(resq, 3)
    ids = [resq.enqueue(DiscardKept, 1) for _ in range(3)]
    with caplog.at_level(logging.ERROR, logger="resqplug.plugins"):
        assert resq.dequeue(DiscardKept, 1) == 3
        assert resq.failures.clear() == 3
    assert heard.ids == ids + failed and resq.size("dq") == 0
    assert resq.failures.count() == 0
    errors = [r.getMessage() for r in caplog.records]
    assert errors.count("plugin raises failed in job_discarded") == 6


def test_without_listeners_removals_decode_nothing(redis_url, namespace, monkeypatch):
    resq = resqplug.Resq(redis_url, namespace, plugins=Plugins(load_entry_points=False))

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded a removed entry with no listener")

    monkeypatch.setattr(discard, "payload_job", no_decoding)
    monkeypatch.setattr(discard, "record_job", no_decoding)
    for n in range(3):
        resq.enqueue(DiscardKept, n)
    assert resq.dequeue(DiscardKept, 0) == 1
    assert resq.remove_queue("dq") == 2
    fail_all(resq, 2)
    assert resq.failures.clear() == 2
    assert list(resq.redis.scan_iter(match=resq.keys.discarding("*"))) == []
