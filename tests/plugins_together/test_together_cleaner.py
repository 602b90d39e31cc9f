"""The cleaner plugin with the loner and status plugins: a requeue respects
uniqueness (and keeps a refused job's record), and the requeued jobs' statuses
follow."""

from __future__ import annotations

import time

import cleaner_jobs as cj
import pytest
import resqplug_loner
import resqplug_status
from cleaner_helpers import Failed, queued_ids
from resqplug_cleaner import Cleaner, Filter
from together_jobs import UNIQUE_QUEUE, CJUnique

import resqplug
from resqplug.testing import drain

UNIQUE = Filter(job_class=CJUnique.name)


@pytest.fixture
def cleaner(default_client: resqplug.Resq) -> Cleaner:
    return Cleaner(default_client)


@pytest.fixture
def failed(default_client: resqplug.Resq) -> Failed:
    return Failed(default_client)


class DuplicateRecorder:
    def __init__(self) -> None:
        self.skipped: list[tuple[str, str | None]] = []

    @resqplug.hookimpl(optionalhook=True)
    def duplicate_skipped(self, job: resqplug.Job, existing_id: str | None) -> None:
        self.skipped.append((job.id, existing_id))


def test_loner_uniqueness_is_respected_on_requeue(default_client, cleaner, failed):
    dupes = DuplicateRecorder()
    resqplug.register(dupes, name="cleaner-test-dupes")
    a = resqplug.enqueue(CJUnique, 1)
    c = resqplug.enqueue(CJUnique, 2)
    assert drain(default_client, UNIQUE_QUEUE) == 2  # both fail: locks released
    assert resqplug_loner.holder(CJUnique, 1) is None
    b = resqplug.enqueue(CJUnique, 1)  # a new copy of a's job, queued
    assert b is not None and resqplug_loner.holder(CJUnique, 1) == b
    record_a = default_client.failures.get(a)

    out = cleaner.requeue(UNIQUE, clear=True)

    assert (out.matched, out.requeued, out.cleared, out.skipped) == (2, 1, 1, 1)
    assert queued_ids(default_client, UNIQUE_QUEUE) == [b, c]  # a is not queued again
    assert default_client.failures.get(a) == record_a  # a's record stays, unchanged
    assert default_client.failures.get(c) is None
    assert resqplug_loner.holder(CJUnique, 1) == b
    assert resqplug_loner.holder(CJUnique, 2) == c  # the requeued job holds its lock
    assert dupes.skipped == [(a, b)]
    assert resqplug_status.get(c).status == "queued"
    failed.assert_index_consistent()

    # Once the copy is done, a can be requeued (same id) and run.
    cj.fix(default_client)
    assert drain(default_client, UNIQUE_QUEUE) == 2
    again = cleaner.requeue(UNIQUE, clear=True)
    assert (again.requeued, again.skipped) == (1, 0)
    assert queued_ids(default_client, UNIQUE_QUEUE) == [a]
    assert drain(default_client, UNIQUE_QUEUE) == 1
    assert cj.done_ids(default_client) == [b, c, a]
    assert default_client.failures.count() == 0
    assert resqplug_status.get(a).status == "completed"


def test_status_of_a_refused_requeue_stays_failed(default_client, cleaner):
    a = resqplug.enqueue(CJUnique, 1)
    assert drain(default_client, UNIQUE_QUEUE) == 1
    assert resqplug_status.get(a).status == "failed"
    assert resqplug.enqueue(CJUnique, 1) is not None  # the copy holds the lock
    out = cleaner.requeue(UNIQUE)
    assert (out.requeued, out.skipped) == (0, 1)
    assert resqplug_status.get(a).status == "failed"


def test_status_follows_a_requeue(default_client, cleaner):
    imports = [resqplug.enqueue(cj.CJImportFeed, i) for i in range(3)]
    assert drain(default_client, cj.IMPORT_QUEUE) == 3
    assert {resqplug_status.get(i).status for i in imports} == {"failed"}
    cleaner.requeue(Filter(exception="TimeoutError"))
    assert {resqplug_status.get(i).status for i in imports} == {"queued"}
    cj.fix(default_client)
    started = time.time()
    assert drain(default_client, cj.IMPORT_QUEUE) == 3
    for job_id in imports:
        status = resqplug_status.get(job_id)
        assert status.status == "completed" and status.fields["finished_at"] >= started
