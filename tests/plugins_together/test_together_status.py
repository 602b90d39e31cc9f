"""The status plugin with the states other plugins add: retrying (retry, its
delay in the scheduler's delayed set or its own), scheduled (scheduler), a
loner duplicate that leaves no status behind, and kills meeting retries. Jobs
run in this process (``resqplug.testing.drain``)."""

from __future__ import annotations

import json

import pytest
import resqplug_scheduler
import resqplug_status
import status_jobs as sj
import together_jobs as tj
from resqplug_status import STATES, StatusStore
from together_helpers import wait_for

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


def status_of(job_id: str) -> resqplug_status.Status:
    status = resqplug_status.get(job_id)
    assert status is not None, f"no status for {job_id}"
    return status


# --- retrying (retry) and scheduled (scheduler) --------------------------------------


@pytest.fixture(params=["scheduler", "own-set"])
def delay_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Delayed retries in the scheduler's delayed set, or (scheduler disabled) in
    the retry plugin's own."""
    if request.param == "own-set":
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
    job_id = resqplug.enqueue(tj.StatusRetry, 2)  # attempt 1 fails, attempt 2 succeeds
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
    job_id = resqplug.enqueue(tj.StatusRetry, 99)
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


def test_scheduled_with_the_due_time_then_queued_then_completed(
    default_client: resqplug.Resq,
) -> None:
    before = server_now(default_client)
    job_id = resqplug_scheduler.enqueue_in(0.3, sj.StatusRecord, 7)
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


def status_records(client: resqplug.Resq) -> int:
    """Statuses stored: own hashes, and fields of the shared waiting and finals hashes."""
    store = StatusStore(client)
    own = len(list(client.redis.scan_iter(match=store.key("*"))))
    return own + client.redis.hlen(store.waiting) + client.redis.hlen(store.finals)


def test_a_loner_duplicate_leaves_no_status_behind(default_client: resqplug.Resq) -> None:
    first = resqplug.enqueue(tj.StatusUnique, 1)
    assert first is not None
    assert resqplug.enqueue(tj.StatusUnique, 1) is None  # duplicate skipped
    assert resqplug.enqueue(tj.StatusUnique, 1) is None

    store = StatusStore(default_client)
    assert [s.id for s in resqplug_status.list()] == [first]
    assert store.count() == 1
    assert store.count("queued") == 1
    assert status_records(default_client) == 1
    assert status_of(first).status == "queued"

    # A duplicate refused by the scheduler's delayed set, too.
    assert resqplug_scheduler.enqueue_in(60, tj.StatusUnique, 1) is None
    assert status_records(default_client) == 1
    assert store.count() == 1

    drain(default_client, Q)
    assert status_of(first).status == "completed"
    assert resqplug.enqueue(tj.StatusUnique, 1) is not None  # released when done


# --- kills and retries meeting -------------------------------------------------------


def test_a_killed_job_is_not_retried(default_client: resqplug.Resq) -> None:
    job_id = resqplug.enqueue(tj.StatusKillSelfRetried)
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
        if isinstance(job, tj.StatusRetryNow) and job.attempt == 2 and not self.ran:
            self.ran = drain(self.client, Q)


def test_a_zero_delay_retry_finished_by_another_worker_ends_completed(
    default_client: resqplug.Resq,
) -> None:
    other = FastOtherWorker(default_client)
    resqplug.register(other, name="status-test-fast-other-worker")
    job_id = resqplug.enqueue(tj.StatusRetryNow, 2)
    assert job_id is not None
    drain(default_client, Q)
    assert other.ran == 1  # attempt 2 ran (and succeeded) meanwhile

    status = status_of(job_id)
    assert status.status == "completed"
    assert status.result == 2
    store = StatusStore(default_client)
    assert (store.expires_in(job_id) or 0) > 0
