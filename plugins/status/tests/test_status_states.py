"""Each state of a job's status, run in this process against real Redis: jobs
are taken with ``resqplug.testing.drain`` (reliable fetch and acks, as a worker
does) and the status plugin is loaded from its entry point (the states that
other plugins add, retrying and scheduled, are tested in tests/plugins_together)."""

from __future__ import annotations

import copy
import json
import pickle
import threading
import time
from typing import Any

import pytest
import resqplug_status
import status_jobs as sj
from resqplug_status import STATES, StatusStore
from status_helpers import wait_for

import resqplug
from resqplug.testing import drain

Q = "status"


def states_of(store: StatusStore, job_id: str) -> list[str]:
    """The per-state indexes holding ``job_id``."""
    r = store.client.redis
    return [s for s in STATES if r.zscore(store.state_index + s, job_id) is not None]


def status_of(job_id: str) -> resqplug_status.Status:
    status = resqplug_status.get(job_id)
    assert status is not None, f"no status for {job_id}"
    return status


def test_queued_at_enqueue_with_class_queue_args_and_time(default_client: resqplug.Resq) -> None:
    before = time.time()
    job_id = resqplug.enqueue(sj.StatusRecord, 1, "two")
    assert job_id is not None

    status = status_of(job_id)
    assert status.id == job_id
    assert status.status == "queued"
    assert not status.final
    assert status.fields["class"] == "StatusRecord"
    assert status.fields["queue"] == Q
    assert json.loads(status.fields["args"]) == [1, "two"]
    assert before <= status.enqueued_at <= time.time()
    assert status.attempt == 1
    assert status.pct_complete is None
    assert status.result is None
    for absent in ("started_at", "finished_at", "worker", "exception"):
        assert absent not in status.fields
    store = StatusStore(default_client)
    assert states_of(store, job_id) == ["queued"]
    assert [s.id for s in store.list()] == [job_id]
    assert store.expires_in(job_id) is None  # not final: no expiry


def test_working_seen_by_the_job_then_completed_with_result(default_client: resqplug.Resq) -> None:
    job_id = resqplug.enqueue(sj.StatusSnapshot)
    assert job_id is not None
    queued = status_of(job_id)
    assert drain(default_client, Q) == 1

    status = status_of(job_id)
    assert status.status == "completed"
    assert status.final
    seen = status.result  # the job's own view of its status while it ran
    assert seen["status"] == "working"
    assert seen["attempt"] == 1
    assert seen["worker"]
    assert seen["class"] == "StatusSnapshot"
    assert queued.enqueued_at <= seen["started_at"] <= status.finished_at <= time.time()
    assert "finished_at" not in seen
    assert status.started_at == seen["started_at"]
    assert status.pct_complete == 100.0
    store = StatusStore(default_client)
    assert states_of(store, job_id) == ["completed"]


def test_completed_record_job_result_args_returned(default_client: resqplug.Resq) -> None:
    job_id = resqplug.enqueue(sj.StatusRecord, 3, [4])
    assert job_id is not None
    drain(default_client, Q)
    status = status_of(job_id)
    assert status.status == "completed"
    assert status.result == {"args": [3, [4]]}
    assert "exception" not in status.fields
    assert default_client.failures.get(job_id) is None


def test_failed_with_exception_class_and_message(default_client: resqplug.Resq) -> None:
    job_id = resqplug.enqueue(sj.StatusFail, "card declined")
    assert job_id is not None
    drain(default_client, Q)

    status = status_of(job_id)
    assert status.status == "failed"
    assert status.final
    assert status.exception == "ValueError"
    assert status.error == "card declined"
    assert status.started_at <= status.finished_at <= time.time()
    assert status.result is None
    assert states_of(StatusStore(default_client), job_id) == ["failed"]
    assert default_client.failures.get(job_id) is not None  # a real failure is still recorded


def test_args_are_never_changed_by_the_plugin(default_client: resqplug.Resq) -> None:
    args: list[Any] = [1, "two", {"three": [3, 4.5]}, None, True, "é"]
    job_id = resqplug.enqueue(sj.StatusRecord, *args)
    assert job_id is not None

    (payload,) = default_client.peek(Q)
    assert payload["id"] == job_id  # the status is keyed by the core's id
    assert payload["args"] == args
    assert "status" not in json.dumps(payload["meta"])
    assert json.loads(status_of(job_id).fields["args"]) == args

    drain(default_client, Q)
    assert status_of(job_id).result == {"args": args}  # what the job saw


def test_get_of_an_unknown_id_is_none(default_client: resqplug.Resq) -> None:
    assert resqplug_status.get("no-such-job") is None
    assert resqplug_status.wait("no-such-job", timeout=5) is None  # at once, not after 5 s
    assert resqplug_status.kill("no-such-job") is False
    assert resqplug_status.remove("no-such-job") is False


def test_remove_drops_the_status_and_its_index_entries(default_client: resqplug.Resq) -> None:
    job_id = resqplug.enqueue(sj.StatusRecord)
    assert job_id is not None
    store = StatusStore(default_client)
    assert resqplug_status.remove(job_id) is True
    assert resqplug_status.get(job_id) is None
    assert states_of(store, job_id) == []
    assert store.list() == [] and store.count() == 0


def test_kill_of_a_finished_job_is_refused(default_client: resqplug.Resq) -> None:
    job_id = resqplug.enqueue(sj.StatusRecord)
    assert job_id is not None
    drain(default_client, Q)
    assert resqplug_status.kill(job_id) is False
    assert status_of(job_id).status == "completed"


def test_kill_of_a_queued_job_in_process_skips_it(default_client: resqplug.Resq) -> None:
    job_id = resqplug.enqueue(sj.StatusRecord)
    assert job_id is not None
    assert resqplug_status.kill(job_id) is True
    assert status_of(job_id).status == "killed"  # at once: it never starts

    assert drain(default_client, Q) == 0  # dropped unrun
    assert default_client.size(Q) == 0
    status = status_of(job_id)
    assert status.status == "killed"
    assert status.final
    assert "finished_at" in status.fields
    assert sj.events(default_client, "started") == []
    assert default_client.failures.get(job_id) is None
    assert default_client.stats()["failed"] == 0


# --- progress ----------------------------------------------------------------------


def test_progress_at_and_tick_give_num_total_message_and_pct(
    default_client: resqplug.Resq,
) -> None:
    job_id = resqplug.enqueue(sj.StatusProgress, 4)
    assert job_id is not None
    drain(default_client, Q)

    status = status_of(job_id)
    assert status.status == "completed"
    assert status.result == [
        ["working", 25.0, 1.0, 4.0, "step 1 of 4"],
        ["working", 50.0, 2.0, 4.0, "step 2 of 4"],
        ["working", 75.0, 3.0, 4.0, "step 3 of 4"],
        ["working", 100.0, 4.0, 4.0, "step 4 of 4"],
        ["working", 100.0, 4.0, 4.0, "finishing"],  # tick: message only
    ]
    assert status.num == 4.0
    assert status.total == 4.0
    assert status.message == "finishing"
    assert status.pct_complete == 100.0


def test_pct_complete_without_a_total_is_none(default_client: resqplug.Resq) -> None:
    store = StatusStore(default_client)
    store.set("j1", "working")
    store.update("j1", num=3, total=0, message="counting")
    status = store.get("j1")
    assert status is not None
    assert status.pct_complete is None  # no division by zero
    store.update("j1", num=1, total=3)
    status = store.get("j1")
    assert status is not None
    assert status.pct_complete == 33.3
    assert status.message == "counting"


# --- results -------------------------------------------------------------------------

LIMIT = 64 * 1024


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["dict"], {"order": 1234, "items": ["a", "b"], "paid": True, "total": 12.5}),
        (["text", LIMIT - 2], "x" * (LIMIT - 2)),  # its JSON is exactly 64 KiB: kept
        (["text", LIMIT - 1], {"truncated": True, "size": LIMIT + 1}),
        (["text", 300_000], {"truncated": True, "size": 300_002}),
        (["set"], {"unserialisable": "set"}),
        (["nan"], {"unserialisable": "float"}),
    ],
    ids=["dict", "exactly-64k", "over-64k", "large", "set", "nan"],
)
def test_result_is_stored_as_json_size_limited(
    default_client: resqplug.Resq, args: list[Any], expected: Any
) -> None:
    job_id = resqplug.enqueue(sj.StatusReturn, *args)
    assert job_id is not None
    drain(default_client, Q)
    status = status_of(job_id)
    assert status.status == "completed"  # an odd result never fails the job
    assert status.result == expected
    assert len(status.fields["result"]) <= LIMIT


def test_a_circular_result_does_not_fail_the_job(default_client: resqplug.Resq) -> None:
    job_id = resqplug.enqueue(sj.StatusReturn, "circular")
    assert job_id is not None
    drain(default_client, Q)
    status = status_of(job_id)
    assert status.status == "completed", status.fields.get("exception")
    assert status.result == {"unserialisable": "list"}


def test_no_result_stored_for_none_or_when_turned_off(default_client: resqplug.Resq) -> None:
    none_id = resqplug.enqueue(sj.StatusReturn, "none")
    off_id = resqplug.enqueue(sj.StatusNoResult)
    assert none_id is not None and off_id is not None
    drain(default_client, Q)
    for job_id in (none_id, off_id):
        status = status_of(job_id)
        assert status.status == "completed"
        assert "result" not in status.fields
        assert status.result is None


# --- kills ----------------------------------------------------------------------------


def test_a_kill_request_of_a_job_that_finishes_first_is_cleared(
    default_client: resqplug.Resq,
) -> None:
    job_id = resqplug.enqueue(sj.StatusSleep, 0.5)  # never ticks
    assert job_id is not None
    runner = threading.Thread(target=drain, args=(default_client, Q))
    runner.start()
    try:
        wait_for(lambda: status_of(job_id).status == "working", 5, "the job to run")
        assert resqplug_status.kill(job_id) is True
    finally:
        runner.join(10)
    assert status_of(job_id).status == "completed"
    store = StatusStore(default_client)
    assert not store.kill_requested(job_id)
    assert default_client.redis.scard(store.kills) == 0


# --- the status object -------------------------------------------------------------------


def test_a_status_can_be_copied_and_pickled(default_client: resqplug.Resq) -> None:
    job_id = resqplug.enqueue(sj.StatusRecord)
    assert job_id is not None
    drain(default_client, Q)
    status = status_of(job_id)
    for clone in (copy.copy(status), copy.deepcopy(status), pickle.loads(pickle.dumps(status))):
        assert clone == status
        assert clone.result == {"args": []}


def test_a_status_reads_its_fields_as_attributes(default_client: resqplug.Resq) -> None:
    job_id = resqplug.enqueue(sj.StatusRecord)
    assert job_id is not None
    status = status_of(job_id)
    assert status.queue == Q
    assert isinstance(status.enqueued_at, float)
    with pytest.raises(AttributeError):
        _ = status.no_such_field
