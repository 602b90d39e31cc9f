"""Counting in this process (``drain``): enqueues, each run's outcome, the
histograms, the label-set cap."""

from __future__ import annotations

import pytest
import resqplug_metrics
from metrics_helpers import counters
from metrics_jobs import QUEUE, Broken, Nap
from resqplug_metrics import figures, read_counts

import resqplug
from resqplug.ext import EnqueueGuard, hookimpl
from resqplug.testing import drain


def test_enqueue_and_enqueue_many_count_per_queue_and_class(default_client: resqplug.Resq):
    default_client.enqueue(Nap, 0)
    default_client.enqueue_many(Nap, [(0,)] * 3, queue="other")
    default_client.enqueue(Broken)
    assert counters(default_client, QUEUE, "Nap") == {"enqueued": 1}
    assert counters(default_client, "other", "Nap") == {"enqueued": 3}
    assert counters(default_client, QUEUE, "Broken") == {"enqueued": 1}


class Refuser:
    @hookimpl
    def before_enqueue(self, job: resqplug.Job) -> None:
        if job.args == [1]:
            raise resqplug.DontEnqueue("vetoed")
        if job.args == [2]:
            job.guards.append(EnqueueGuard(job.client.keys.plugin("t", "held"), "x", 10_000))


def test_a_vetoed_or_guard_refused_enqueue_is_not_counted(default_client: resqplug.Resq):
    default_client.plugins.register(Refuser(), name="refuser")
    default_client.redis.set(default_client.keys.plugin("t", "held"), "someone")
    assert default_client.enqueue(Nap, 1) is None
    assert default_client.enqueue(Nap, 2) is None
    assert default_client.enqueue_many(Nap, [(1,), (2,), (0,)])[2] is not None
    assert counters(default_client, QUEUE, "Nap") == {"enqueued": 1}


def test_drain_counts_each_run_once_with_its_duration_and_latency(default_client: resqplug.Resq):
    default_client.enqueue_many(Nap, [(0.06,), (0,)])
    default_client.enqueue(Broken)
    assert drain(default_client, QUEUE) == 3
    assert counters(default_client, QUEUE, "Nap") == {"enqueued": 2, "started": 2, "succeeded": 2}
    assert counters(default_client, QUEUE, "Broken") == {"enqueued": 1, "started": 1, "failed": 1}
    naps = read_counts(default_client)[(QUEUE, "Nap")].histograms
    assert naps["duration"].count == naps["latency"].count == 2
    assert 0.06 <= naps["duration"].sum < 2
    assert naps["duration"].buckets[figures.bucket(0.06)] == 1  # the 0.1 s bucket
    assert 0 <= naps["latency"].sum < 5


class Answer:
    """handle_failure answers like a plugin that retries or kills the job."""

    def __init__(self, answers: dict[str, str | None]) -> None:
        self.answers = answers

    @hookimpl
    def handle_failure(self, job: resqplug.Job) -> str | None:
        return self.answers.get(job.args[0])


class Fails(resqplug.Job):
    queue = QUEUE

    def perform(self, how: str) -> None:
        raise RuntimeError(how)


def test_the_failure_answer_decides_failed_retried_or_killed(default_client: resqplug.Resq):
    answers = {"retry": "retried", "record": "retried+record", "kill": "killed", "odd": "other"}
    default_client.plugins.register(Answer(answers), name="answer")
    default_client.enqueue_many(Fails, [("retry",), ("record",), ("kill",), ("odd",), ("x",)])
    assert drain(default_client, QUEUE) == 5
    assert counters(default_client, QUEUE, "Fails") == {
        "enqueued": 5,
        "started": 5,
        "retried": 2,
        "killed": 1,
        "failed": 2,
    }


class LateFailure:
    """An after_perform that fails the job after the run succeeded."""

    @hookimpl(trylast=True)
    def after_perform(self, job: resqplug.Job) -> None:
        raise RuntimeError("after_perform failed")


def test_a_job_failed_by_a_later_after_perform_counts_as_failed_only(
    default_client: resqplug.Resq,
):
    default_client.plugins.register(LateFailure(), name="late")
    default_client.enqueue(Nap, 0)
    assert drain(default_client, QUEUE) == 1
    assert counters(default_client, QUEUE, "Nap") == {"enqueued": 1, "started": 1, "failed": 1}


def test_label_sets_past_the_cap_are_counted_under_other(
    default_client: resqplug.Resq, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(figures, "CAP", 2)
    for queue in ("a", "b", "c", "d"):
        default_client.enqueue_to(queue, Nap, 0)
    default_client.enqueue_many(Nap, [(0,)] * 3, queue="a")
    found = {labels: c.counters["enqueued"] for labels, c in read_counts(default_client).items()}
    assert found == {("a", "Nap"): 4, ("b", "Nap"): 1, resqplug_metrics.OTHER: 2}


def test_the_cap_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(figures.CAP_ENV, "7")
    assert figures.cap_from_env() == 7
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv(figures.CAP_ENV, bad)
        assert figures.cap_from_env() == figures.DEFAULT_CAP


def test_times_from_an_untrusted_payload_are_clamped():
    job = Nap([0], queue=QUEUE)
    longest = int(figures.LONGEST * 1_000_000)
    for seconds, micros in ((float("nan"), 0), (-5.0, 0), (1e300, longest), (0.5, 500_000)):
        assert figures.run_write(job, "succeeded", None, seconds).args[2] == micros
    inf_bucket = len(figures.BUCKETS) + 1
    assert figures.run_write(job, "succeeded", None, 1e300).args[0] == inf_bucket
