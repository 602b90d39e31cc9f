"""Status and ``job_discarded``: a kill before the start announces the job
discarded (it will never run), and a job removed unrun gets a final status."""

from __future__ import annotations

import time

import pytest
import resqplug_status
import status_jobs as sj
from resqplug_status import StatusStore

import resqplug
from resqplug.testing import drain

Q = "status"


class Heard:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, list[object], str]] = []

    @resqplug.hookimpl
    def job_discarded(self, job: resqplug.Job, reason: str) -> None:
        self.seen.append((job.id, job.class_name, job.args, reason))


@pytest.fixture
def heard(default_client: resqplug.Resq) -> Heard:
    plugin = Heard()
    resqplug.register(plugin, name="status-test-heard")
    return plugin


def status_of(job_id: str) -> resqplug_status.Status:
    status = resqplug_status.get(job_id)
    assert status is not None, f"no status for {job_id}"
    return status


def test_kill_before_the_start_announces_the_job_discarded_once(default_client, heard):
    job_id = resqplug.enqueue(sj.StatusRecord, 1, "two")
    assert job_id is not None
    assert resqplug_status.kill(job_id) is True
    assert heard.seen == [(job_id, "StatusRecord", [1, "two"], "killed")]
    assert status_of(job_id).status == "killed"  # at once
    assert resqplug_status.kill(job_id) is False  # asked again: it is over
    assert drain(default_client, Q) == 0  # dropped unrun when taken, quietly
    assert len(heard.seen) == 1
    assert status_of(job_id).status == "killed" and sj.events(default_client, "started") == []


def test_kill_of_a_running_job_announces_nothing(default_client, heard):
    job_id = resqplug.enqueue(sj.StatusRecord)
    assert job_id is not None
    StatusStore(default_client).start(job_id, started_at=time.time())
    assert resqplug_status.kill(job_id) is True
    assert heard.seen == []


def test_kill_of_a_job_whose_args_were_not_stored_whole_announces_nothing(default_client, heard):
    job_id = resqplug.enqueue(sj.StatusRecord, "x" * 5000)
    assert job_id is not None
    assert resqplug_status.kill(job_id) is True
    assert heard.seen == []


def test_a_job_removed_unrun_gets_a_final_killed_status_with_the_reason(default_client):
    job_id = resqplug.enqueue(sj.StatusRecord, 5)
    assert job_id is not None
    assert resqplug.dequeue(sj.StatusRecord, 5) == 1
    status = resqplug_status.wait(job_id, timeout=5)
    assert status is not None and status.status == "killed" and status.final
    assert status.fields["reason"] == "dequeued"
    assert (StatusStore(default_client).expires_in(job_id) or 0) > 0


def test_a_removed_failure_keeps_its_failed_status(default_client):
    job_id = resqplug.enqueue(sj.StatusFail)
    assert job_id is not None
    drain(default_client, Q)
    resqplug.failures.remove(job_id)
    assert status_of(job_id).status == "failed"
