"""Each state of a job's status, run in this process against real Redis: jobs
are taken with ``resqplug.testing.drain`` (reliable fetch and acks, as a worker
does) and the status plugin (with retry, scheduler, loner) is loaded from its
entry point."""

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
from status_helpers import installed, wait_for

import resqplug
from resqplug import plugins
from resqplug.delayed import DelayedSet
from resqplug.plugins import DISABLE_ENV
from resqplug.testing import drain

Q = "status"


def states_of(store: StatusStore, job_id: str) -> list[str]:
    """The per-state indexes holding ``job_id``."""
    r = store.client.redis
    return [s for s in STATES if r.zscore(store.state_index + s, job_id) is not None]


def in_index(store: StatusStore, job_id: str) -> bool:
    return store.client.redis.zscore(store.index, job_id) is not None


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
    assert in_index(store, job_id)
    assert default_client.redis.ttl(store.key(job_id)) == -1  # not final: no expiry


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
    assert not in_index(store, job_id)


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


# --- retrying (resqplug-retry) and scheduled (resqplug-scheduler) ----------------------


@pytest.fixture(params=["scheduler", "own-set"])
def delay_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Delayed retries in the scheduler's delayed set, or (scheduler disabled) in
    the retry plugin's own."""
    if not installed("retry"):
        pytest.skip("resqplug-retry is not installed")
    if request.param == "scheduler":
        if not installed("scheduler"):
            pytest.skip("resqplug-scheduler is not installed")
    else:
        monkeypatch.setenv(DISABLE_ENV, "scheduler")
        plugins.reset_plugins()
    return str(request.param)


def promote(client: resqplug.Resq, delay_mode: str) -> int:
    """What a worker's heartbeat does with due delayed jobs."""
    if delay_mode == "scheduler":
        return DelayedSet(client, "scheduler").move_due()
    return DelayedSet(client, "retry").promote()


def server_now(client: resqplug.Resq) -> float:
    seconds, micros = client.redis.time()
    return int(seconds) + int(micros) / 1e6


def test_retrying_with_the_next_run_time_then_completed(
    delay_mode: str, default_client: resqplug.Resq
) -> None:
    job_id = resqplug.enqueue(sj.StatusRetry, 2)  # attempt 1 fails, attempt 2 succeeds
    assert job_id is not None
    before = server_now(default_client)
    drain(default_client, Q)

    status = status_of(job_id)
    assert status.status == "retrying"
    assert not status.final
    assert status.attempt == 1
    assert status.exception == "ValueError"
    assert status.error == "attempt 1 fails"
    assert before + 0.3 - 0.05 <= status.due <= server_now(default_client) + 0.3 + 0.05
    assert states_of(StatusStore(default_client), job_id) == ["retrying"]
    assert default_client.failures.get(job_id) is None

    wait_for(lambda: promote(default_client, delay_mode), 5, "the retry to be due")
    expected = "queued" if delay_mode == "scheduler" else "retrying"  # moved with hooks or not
    assert status_of(job_id).status == expected
    assert drain(default_client, Q) == 1

    status = status_of(job_id)
    assert status.status == "completed"
    assert status.attempt == 2
    assert status.result == 2
    assert states_of(StatusStore(default_client), job_id) == ["completed"]


def test_retries_used_up_end_failed(delay_mode: str, default_client: resqplug.Resq) -> None:
    job_id = resqplug.enqueue(sj.StatusRetry, 99)
    assert job_id is not None
    drain(default_client, Q)
    assert status_of(job_id).status == "retrying"
    wait_for(lambda: promote(default_client, delay_mode), 5, "the retry to be due")
    drain(default_client, Q)

    status = status_of(job_id)
    assert status.status == "failed"
    assert status.attempt == 2
    assert status.error == "attempt 2 fails"
    assert states_of(StatusStore(default_client), job_id) == ["failed"]
    assert default_client.failures.get(job_id) is not None


@pytest.fixture
def scheduler() -> Any:
    if not installed("scheduler"):
        pytest.skip("resqplug-scheduler is not installed")
    import resqplug_scheduler

    return resqplug_scheduler


def test_scheduled_with_the_due_time_then_queued_then_completed(
    scheduler: Any, default_client: resqplug.Resq
) -> None:
    before = server_now(default_client)
    job_id = scheduler.enqueue_in(0.3, sj.StatusRecord, 7)
    assert job_id is not None

    status = status_of(job_id)
    assert status.status == "scheduled"
    assert before + 0.3 <= status.due <= server_now(default_client) + 0.3
    assert status.fields["class"] == "StatusRecord"
    assert status.fields["queue"] == Q
    assert json.loads(status.fields["args"]) == [7]
    assert "enqueued_at" in status.fields
    assert states_of(StatusStore(default_client), job_id) == ["scheduled"]
    assert [s.id for s in resqplug_status.list(state="scheduled")] == [job_id]

    wait_for(lambda: DelayedSet(default_client, "scheduler").move_due(), 5, "the job to be due")
    assert status_of(job_id).status == "queued"
    assert drain(default_client, Q) == 1
    status = status_of(job_id)
    assert status.status == "completed"
    assert status.result == {"args": [7]}


# --- loner -------------------------------------------------------------------------


def status_keys(client: resqplug.Resq) -> list[bytes]:
    return list(client.redis.scan_iter(match=client.keys.plugin("status", "job", "*")))


def test_a_loner_duplicate_leaves_no_status_behind(default_client: resqplug.Resq) -> None:
    if not installed("loner"):
        pytest.skip("resqplug-loner is not installed")
    first = resqplug.enqueue(sj.StatusUnique, 1)
    assert first is not None
    assert resqplug.enqueue(sj.StatusUnique, 1) is None  # duplicate skipped
    assert resqplug.enqueue(sj.StatusUnique, 1) is None

    store = StatusStore(default_client)
    assert [s.id for s in resqplug_status.list()] == [first]
    assert store.count() == 1
    assert store.count("queued") == 1
    assert len(status_keys(default_client)) == 1
    assert status_of(first).status == "queued"

    if installed("scheduler"):  # a duplicate refused by the delayed set, too
        import resqplug_scheduler

        assert resqplug_scheduler.enqueue_in(60, sj.StatusUnique, 1) is None
        assert len(status_keys(default_client)) == 1
        assert store.count() == 1

    drain(default_client, Q)
    assert status_of(first).status == "completed"
    assert resqplug.enqueue(sj.StatusUnique, 1) is not None  # released when done


# --- kills and retries meeting -------------------------------------------------------


def test_a_killed_job_is_not_retried(default_client: resqplug.Resq) -> None:
    if not installed("retry"):
        pytest.skip("resqplug-retry is not installed")
    job_id = resqplug.enqueue(sj.StatusKillSelfRetried)
    assert job_id is not None
    assert drain(default_client, Q, limit=1) == 1
    assert status_of(job_id).status == "killed"

    assert default_client.size(Q) == 0, "the killed job was queued again"
    assert drain(default_client, Q) == 0
    assert sj.events(default_client, "started") == [job_id]


class FastOtherWorker:
    """A test plugin: as soon as the retry of a StatusRetryNow job is written,
    another worker takes it and finishes it (here: a drain in this process),
    before the retry plugin goes on to fire ``retry_scheduled``."""

    def __init__(self, client: resqplug.Resq) -> None:
        self.client = client
        self.ran = 0

    @resqplug.hookimpl
    def after_enqueue(self, job: resqplug.Job) -> None:
        if isinstance(job, sj.StatusRetryNow) and job.attempt == 2 and not self.ran:
            self.ran = drain(self.client, Q)


def test_a_zero_delay_retry_finished_by_another_worker_ends_completed(
    default_client: resqplug.Resq,
) -> None:
    if not installed("retry"):
        pytest.skip("resqplug-retry is not installed")
    other = FastOtherWorker(default_client)
    resqplug.register(other, name="status-test-fast-other-worker")
    job_id = resqplug.enqueue(sj.StatusRetryNow, 2)
    assert job_id is not None
    drain(default_client, Q)
    assert other.ran == 1  # attempt 2 ran (and succeeded) meanwhile

    status = status_of(job_id)
    assert status.status == "completed"
    assert status.result == 2
    store = StatusStore(default_client)
    assert default_client.redis.ttl(store.key(job_id)) > 0


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
