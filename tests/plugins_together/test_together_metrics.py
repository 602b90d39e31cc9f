"""The metrics plugin with the others: retried runs (retry), a job counted as
enqueued when the scheduler moves it to its queue, a kill (status) counted as
killed, a duplicate (loner) not counted. Jobs run in this process (``drain``);
the metrics plugin's own suite covers real workers."""

from __future__ import annotations

import resqplug_scheduler
import resqplug_status
from resqplug_metrics import read_counts
from together_helpers import wait_for

import resqplug
from resqplug.delayed import DelayedSet
from resqplug.testing import drain

Q = "metrics-together"


def counters(client: resqplug.Resq, job_class: str) -> dict[str, int]:
    found = read_counts(client).get((Q, job_class))
    return {k: v for k, v in found.counters.items() if v} if found else {}


class FlakyOnce(resqplug.Job):
    """Fails its first attempt; retried at once."""

    queue = Q
    retry_exceptions = (ValueError,)
    retry_limit = 1

    def perform(self) -> None:
        if self.attempt == 1:
            raise ValueError("first attempt fails")


class AlwaysFlaky(FlakyOnce):
    def perform(self) -> None:
        raise ValueError("every attempt fails")


class KillsItself(resqplug.Job):
    queue = Q

    def perform(self) -> None:
        resqplug_status.kill(self.id)
        self.at(1, 2)  # where the status plugin stops a killed job


class Unique(resqplug.Job):
    queue = Q
    unique = True

    def perform(self) -> None:
        pass


def test_retried_runs_are_counted_apart_from_final_failures(load_only, default_client):
    load_only("metrics", "retry")
    default_client.enqueue(FlakyOnce)
    default_client.enqueue(AlwaysFlaky)
    assert drain(default_client, Q) == 4
    assert counters(default_client, "FlakyOnce") == {
        "enqueued": 2,
        "started": 2,
        "retried": 1,
        "succeeded": 1,
    }
    assert counters(default_client, "AlwaysFlaky") == {
        "enqueued": 2,
        "started": 2,
        "retried": 1,
        "failed": 1,
    }


def test_a_scheduled_job_is_counted_once_not_again_when_moved(load_only, default_client):
    load_only("metrics", "scheduler")
    resqplug_scheduler.enqueue_in(0.2, Unique)
    assert counters(default_client, "Unique") == {"enqueued": 1}
    wait_for(lambda: DelayedSet(default_client, "scheduler").move_due(), 5, "the job to be due")
    assert drain(default_client, Q) == 1
    assert counters(default_client, "Unique") == {"enqueued": 1, "started": 1, "succeeded": 1}


class FlakyLater(FlakyOnce):
    """Retried after a delay, through the retry plugin's own delayed set."""

    retry_delay = 0.2


def test_a_delayed_retry_is_counted_once_without_the_scheduler(load_only, default_client):
    load_only("metrics", "retry")
    default_client.enqueue(FlakyLater)
    assert drain(default_client, Q) == 1
    wait_for(lambda: DelayedSet(default_client, "retry").promote(), 5, "the retry to be due")
    assert drain(default_client, Q) == 1
    assert counters(default_client, "FlakyLater") == {
        "enqueued": 2,
        "started": 2,
        "retried": 1,
        "succeeded": 1,
    }


def test_a_kill_through_the_status_plugin_counts_as_killed(load_only, default_client):
    load_only("metrics", "status")
    default_client.enqueue(KillsItself)
    assert drain(default_client, Q) == 1
    assert counters(default_client, "KillsItself") == {"enqueued": 1, "started": 1, "killed": 1}


def test_a_duplicate_the_loner_refuses_is_not_counted(load_only, default_client):
    load_only("metrics", "loner")
    assert default_client.enqueue(Unique) is not None
    assert default_client.enqueue(Unique) is None
    assert default_client.enqueue_many(Unique, [(), ()]) == [None, None]
    assert counters(default_client, "Unique") == {"enqueued": 1}
