"""The retry plugin's logic, run in this process against real Redis: jobs are
taken with ``resqplug.testing.drain`` (reliable fetch and acks, as a worker
does) and the retry plugin is loaded from its entry point."""

from __future__ import annotations

import builtins
import json
from typing import Any

import pytest
import retry_jobs as rj
from resqplug_retry.plugin import state_key
from retry_helpers import (
    promote_due,
    redis_now,
    retry_set,
    run_until_idle,
    scheduler_set,
    wait_for,
    waiting_set,
)

import resqplug
from resqplug.testing import drain

Q = "retry"


def stats(client: resqplug.Resq) -> tuple[int, int]:
    s = client.stats()
    return s["processed"], s["failed"]


def attempts(client: resqplug.Resq, job_id: str, event: str = "start") -> list[int]:
    return [r["attempt"] for r in rj.events(client, job_id, event)]


class RetryOSErrors(rj.Flaky):
    name = "retry_tests.drain.RetryOSErrors"
    retry_exceptions = (OSError,)
    fatal_exceptions = ()


class RetryFatalChild(rj.Flaky):
    """Inherits nothing: lists OSError itself, so fatal must come from a subclass."""

    abstract = True
    retry_exceptions = (OSError,)


class RetryFatalFileNotFound(RetryFatalChild):
    name = "retry_tests.drain.RetryFatalFileNotFound"
    fatal_exceptions = (FileNotFoundError,)


class RetryNoRetries(rj.Flaky):
    name = "retry_tests.drain.RetryNoRetries"
    retry_exceptions = (builtins.ConnectionError,)
    retry_limit = 0


class RetryOnce(rj.Flaky):
    name = "retry_tests.drain.RetryOnce"
    retry_exceptions = (builtins.ConnectionError,)
    retry_limit = 1


class RetryRecordAll(rj.Flaky):
    name = "retry_tests.drain.RetryRecordAll"
    retry_exceptions = (builtins.ConnectionError,)
    retry_record_failures = True


def not_vip(job: Any, exc: BaseException) -> bool:
    return "vip" not in job.args


def only_key_errors(job: Any, exc: BaseException) -> bool:
    return isinstance(exc, KeyError)


class RetryVetoVip(rj.Flaky):
    name = "retry_tests.drain.RetryVetoVip"
    retry_exceptions = (builtins.ConnectionError,)
    retry_criteria = [not_vip]


class RetryForceKeyErrors(rj.Flaky):
    name = "retry_tests.drain.RetryForceKeyErrors"
    retry_criteria = [only_key_errors]


class TeamBase(rj.Flaky):
    """A team's abstract base: its subclasses inherit the policy."""

    abstract = True
    retry_exceptions = {TimeoutError: 0, builtins.ConnectionError: 0}
    retry_limit = 2


class TeamJob(TeamBase):
    name = "retry_tests.drain.TeamJob"


# --- retry then success ----------------------------------------------------------------


def test_retry_on_a_listed_exception_then_success(default_client, recorder):
    job_id = default_client.enqueue(rj.RetryFlaky, 2)
    assert drain(default_client, Q) == 3
    starts = rj.events(default_client, job_id, "start")
    assert [s["attempt"] for s in starts] == [1, 2, 3]
    assert {s["id"] for s in starts} == {job_id}
    assert rj.done(default_client, job_id)
    assert default_client.failures.count() == 0
    assert default_client.failures.get(job_id) is None
    assert stats(default_client) == (3, 0)
    assert [s["attempt"] for s in recorder.scheduled] == [1, 2]
    assert recorder.exhausted == []
    # Finished: no retry state left behind, nothing queued or waiting.
    assert default_client.redis.get(state_key(default_client, job_id)) is None
    assert default_client.size(Q) == 0 and waiting_set(default_client).count() == 0


def test_retry_matches_subclasses_of_listed_exceptions(default_client):
    job_id = default_client.enqueue(RetryOSErrors, 1, "PermissionError")
    drain(default_client, Q)
    assert attempts(default_client, job_id) == [1, 2]
    assert rj.done(default_client, job_id)
    assert stats(default_client) == (2, 0)


def test_retried_runs_pass_through_before_enqueue(default_client, recorder):
    job_id = default_client.enqueue(rj.RetryFlaky, 2)
    drain(default_client, Q)
    seen = [(e["id"], e["attempt"]) for e in recorder.enqueued]
    assert seen == [(job_id, 1), (job_id, 2), (job_id, 3)]
    # The retry's meta says what failed before it.
    retry_meta = recorder.enqueued[1]["meta"]["retry"]
    assert retry_meta["attempts"] == 1
    assert retry_meta["last_exception"] == "ConnectionError"
    assert retry_meta["last_error"] == "flaky 1"


def test_a_retry_vetoed_by_before_enqueue_records_the_failure(default_client, recorder):
    class NoRetries:
        @resqplug.hookimpl
        def before_enqueue(self, job):
            if job.attempt > 1:
                raise resqplug.DontEnqueue("no retries today")

    resqplug.register(NoRetries(), name="no-retries")
    job_id = default_client.enqueue(rj.RetryFlaky, 5)
    drain(default_client, Q)
    assert attempts(default_client, job_id) == [1]
    record = default_client.failures.get(job_id)
    assert record is not None and record["error"] == "flaky 1"
    assert stats(default_client) == (1, 1)
    assert recorder.scheduled == []


# --- exhausted retries -------------------------------------------------------------------


def test_exhausted_retries_record_one_failure_with_the_last_exception(default_client, recorder):
    job_id = default_client.enqueue(rj.RetryFlaky, 99)
    assert drain(default_client, Q) == 4  # the first run and three retries
    assert attempts(default_client, job_id) == [1, 2, 3, 4]
    assert default_client.failures.count() == 1
    record = default_client.failures.get(job_id)
    assert record is not None
    assert record["exception"] == "ConnectionError"
    assert record["error"] == "flaky 4"
    assert record["payload"]["id"] == job_id
    assert record["payload"]["meta"]["attempt"] == 4
    assert stats(default_client) == (4, 1)
    assert len(recorder.exhausted) == 1
    exhausted = recorder.exhausted[0]
    assert (exhausted["id"], exhausted["attempt"], str(exhausted["exc"])) == (job_id, 4, "flaky 4")
    assert default_client.size(Q) == 0 and waiting_set(default_client).count() == 0


def test_retry_scheduled_fires_per_retry_with_the_delay(
    without_scheduler, default_client, recorder
):
    job_id = default_client.enqueue(rj.RetryHookDelays, 99)
    run_until_idle(default_client, Q)
    assert attempts(default_client, job_id) == [1, 2, 3, 4]
    scheduled = [(s["id"], s["attempt"], str(s["exc"]), s["delay"]) for s in recorder.scheduled]
    assert scheduled == [
        (job_id, 1, "flaky 1", 0.05),
        (job_id, 2, "flaky 2", 0.1),
        (job_id, 3, "flaky 3", 0.15),
    ]
    assert [(e["id"], str(e["exc"])) for e in recorder.exhausted] == [(job_id, "flaky 4")]
    assert default_client.failures.get(job_id)["error"] == "flaky 4"
    assert stats(default_client) == (4, 1)


def test_retry_limit_zero_means_no_retries(default_client, recorder):
    job_id = default_client.enqueue(RetryNoRetries, 99)
    assert drain(default_client, Q) == 1
    assert default_client.failures.get(job_id)["error"] == "flaky 1"
    assert stats(default_client) == (1, 1)
    assert recorder.scheduled == []
    assert len(recorder.exhausted) == 1


def test_retry_limit_one(default_client, recorder):
    job_id = default_client.enqueue(RetryOnce, 99)
    drain(default_client, Q)
    assert attempts(default_client, job_id) == [1, 2]
    assert default_client.failures.get(job_id)["error"] == "flaky 2"
    assert stats(default_client) == (2, 1)


# --- exceptions that are not retried ----------------------------------------------------


def test_unlisted_exception_fails_at_once(default_client, recorder):
    job_id = default_client.enqueue(rj.RetryFlaky, 99, "ValueError")
    assert drain(default_client, Q) == 1
    record = default_client.failures.get(job_id)
    assert record is not None and record["exception"] == "ValueError"
    assert record["error"] == "flaky 1"
    assert stats(default_client) == (1, 1)
    assert recorder.scheduled == [] and recorder.exhausted == []
    assert waiting_set(default_client).count() == 0
    assert default_client.redis.get(state_key(default_client, job_id)) is None


def test_superclass_of_a_listed_exception_is_not_retried(default_client):
    # ConnectionError is listed; its base OSError is not.
    job_id = default_client.enqueue(rj.RetryFlaky, 99, "OSError")
    drain(default_client, Q)
    assert attempts(default_client, job_id) == [1]
    assert default_client.failures.get(job_id)["exception"] == "OSError"


def test_fatal_exception_is_never_retried(default_client, recorder):
    # FileNotFoundError is an OSError (listed in the base) but fatal in the subclass.
    fatal = default_client.enqueue(RetryFatalFileNotFound, 99, "FileNotFoundError")
    other = default_client.enqueue(RetryFatalFileNotFound, 1, "PermissionError")
    drain(default_client, Q)
    assert attempts(default_client, fatal) == [1]
    assert default_client.failures.get(fatal)["exception"] == "FileNotFoundError"
    assert recorder.exhausted == []
    # Other OSErrors of the same class are still retried.
    assert attempts(default_client, other) == [1, 2]
    assert rj.done(default_client, other)
    assert default_client.failures.get(other) is None
    assert stats(default_client) == (3, 1)


# --- criteria ---------------------------------------------------------------------------


def test_criteria_veto_a_retry(default_client, recorder):
    vip = default_client.enqueue(RetryVetoVip, 99, "ConnectionError", "vip")
    plain = default_client.enqueue(RetryVetoVip, 1, "ConnectionError", "plain")
    drain(default_client, Q)
    assert attempts(default_client, vip) == [1]
    assert default_client.failures.get(vip)["error"] == "flaky 1"
    assert attempts(default_client, plain) == [1, 2]
    assert default_client.failures.get(plain) is None
    assert [s["id"] for s in recorder.scheduled] == [plain]
    assert recorder.exhausted == []


def test_criteria_force_a_retry(default_client):
    forced = default_client.enqueue(RetryForceKeyErrors, 1, "KeyError")
    unforced = default_client.enqueue(RetryForceKeyErrors, 1, "ValueError")
    drain(default_client, Q)
    assert attempts(default_client, forced) == [1, 2]
    assert default_client.failures.get(forced) is None
    assert attempts(default_client, unforced) == [1]
    assert default_client.failures.get(unforced)["exception"] == "ValueError"


# --- recording every attempt ------------------------------------------------------------


def test_record_failures_records_each_attempt_while_still_retrying(default_client, recorder):
    job_id = default_client.enqueue(RetryRecordAll, 2)
    drain(default_client, Q)
    assert attempts(default_client, job_id) == [1, 2, 3]
    assert rj.done(default_client, job_id)
    # Each failed attempt was counted; the job's one record is the latest failure.
    assert stats(default_client) == (3, 2)
    assert default_client.failures.count() == 1
    assert default_client.failures.get(job_id)["error"] == "flaky 2"
    assert [s["attempt"] for s in recorder.scheduled] == [1, 2]


def test_record_failures_when_exhausted(default_client, recorder):
    job_id = default_client.enqueue(RetryRecordAll, 99)
    drain(default_client, Q)
    assert attempts(default_client, job_id) == [1, 2, 3, 4]
    assert stats(default_client) == (4, 4)
    assert default_client.failures.count() == 1
    assert default_client.failures.get(job_id)["error"] == "flaky 4"
    assert len(recorder.exhausted) == 1


# --- inheritance --------------------------------------------------------------------------


def test_settings_are_inherited_from_an_abstract_base(default_client, recorder):
    ok = default_client.enqueue(TeamJob, 2, "TimeoutError")
    exhausted = default_client.enqueue(TeamJob, 99, "ConnectionResetError")
    drain(default_client, Q)
    assert attempts(default_client, ok) == [1, 2, 3]
    assert rj.done(default_client, ok)
    # retry_limit = 2 from the base.
    assert attempts(default_client, exhausted) == [1, 2, 3]
    assert default_client.failures.get(exhausted)["error"] == "flaky 3"
    assert [e["id"] for e in recorder.exhausted] == [exhausted]


# --- delays: waiting in the retry plugin's own delayed set ---------------------------------


def test_a_delayed_retry_waits_then_runs(without_scheduler, default_client, recorder):
    delayed, other = retry_set(default_client), scheduler_set(default_client)
    job_id = default_client.enqueue(rj.RetryDelayed, 1)
    before = redis_now(default_client.redis)
    assert drain(default_client, Q) == 1
    # Not run at once, not dropped: waiting in the delayed set, same id.
    assert default_client.size(Q) == 0
    assert other.count() == 0
    item = delayed.find(job_id)
    assert item is not None
    assert item.queue == Q
    assert item.payload["id"] == job_id
    assert item.payload["meta"]["attempt"] == 2
    assert before + 1.0 <= item.due <= redis_now(default_client.redis) + 1.0
    assert item.payload["meta"]["retry"]["next_at"] == pytest.approx(item.due, abs=1e-3)
    assert [s["delay"] for s in recorder.scheduled] == [1.0]
    assert stats(default_client) == (1, 0)
    # Not moved before it is due.
    assert promote_due(default_client) == 0
    wait_for(lambda: promote_due(default_client) == 1, 5, "the retry to be moved to its queue")
    assert redis_now(default_client.redis) >= item.due
    assert drain(default_client, Q) == 1
    assert attempts(default_client, job_id) == [1, 2]
    assert rj.done(default_client, job_id)
    assert stats(default_client) == (2, 0)


def test_closest_listed_superclass_picks_the_delay(without_scheduler, default_client, recorder):
    job_id = default_client.enqueue(rj.RetryClosest, 1, "ConnectionResetError")
    drain(default_client, Q)
    # ConnectionError: [0.2] wins over OSError: 0.0 for a ConnectionResetError.
    assert [s["delay"] for s in recorder.scheduled] == [0.2]
    assert default_client.size(Q) == 0
    assert waiting_set(default_client).find(job_id) is not None
    run_until_idle(default_client, Q)
    assert rj.done(default_client, job_id)


def test_closest_listed_superclass_zero_delay_runs_at_once(default_client, recorder):
    job_id = default_client.enqueue(rj.RetryClosest, 1, "PermissionError")
    assert drain(default_client, Q) == 2
    assert [s["delay"] for s in recorder.scheduled] == [0.0]
    assert rj.done(default_client, job_id)


@pytest.mark.parametrize("attempt", ["zz", None, 0, -2, 1.5, True])
def test_queued_job_with_a_bad_attempt_fails_as_a_bad_payload_and_is_not_retried(
    default_client, attempt
):
    doc = {"class": rj.RetryFlaky.job_name, "args": [5], "id": "bad1", "meta": {"attempt": attempt}}
    default_client.redis.rpush(default_client.keys.queue(Q), json.dumps(doc))
    default_client.redis.sadd(default_client.keys.queues, Q)

    assert drain(default_client, Q) == 1

    assert rj.runs(default_client, "bad1") == []
    (record,) = default_client.failures.list()
    assert record["exception"] == "PayloadError"
    assert "meta.attempt" in record["error"]
    assert default_client.size(Q) == 0
    assert retry_set(default_client).count() == 0
    assert not default_client.redis.exists(state_key(default_client, "bad1"))
