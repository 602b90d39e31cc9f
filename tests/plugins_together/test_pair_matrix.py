"""Every pair of the bundled plugins composes: each pair runs alone (the core and
those two plugins, in this process and in real ``resqplug work`` processes
on real Redis) through the seed scenario, each plugin adding its part:

- scheduler: the job is scheduled (``enqueue_in``) and a worker moves it when due;
- retry: its first run fails and is retried after a delay, same id (with the
  cleaner too, the retry is used up: the second run fails for good);
- a run that fails for good is requeued, same id: by the cleaner where it is
  loaded (``requeue``), else by the core (``failures.retry``);
- loner: the job is unique, one lock held from enqueue through the retries and
  the requeue (copies refused), released at the end;
- status: one status, for that id, through scheduled/queued, retrying or
  failed, queued again, to completed;
- metrics: each run counted once, after one enqueue each (a scheduled one
  when it was moved), its failures as retried or failed.

Between runs the worker is stopped, so the state in between is seen as it is:
a worker of a job in a queue runs in ``--burst`` mode; one of a job in a
delayed set (scheduled, or a retry waiting) runs until the run's outcome is
written and is then stopped with SIGTERM (the retry waits 1 s, so it is never
moved meanwhile)."""

from __future__ import annotations

import itertools
import signal
from collections.abc import Callable

import pytest
import resqplug_loner
import resqplug_scheduler
import resqplug_status
from pair_jobs import QUEUE, job_class_for, runs
from resqplug_cleaner import Cleaner, Filter
from resqplug_metrics import read_counts
from together_helpers import ALL_PLUGINS, Proc, Spawn, only_env, wait_for

import resqplug
from resqplug.delayed import DelayedSet

PAIRS = [frozenset(p) for p in itertools.combinations(ALL_PLUGINS, 2)]
SCHEDULED_IN_S = 0.3


class PairScenario:
    """One job of the seed scenario, with the plugins of ``pair`` loaded."""

    def __init__(self, pair: frozenset[str], client: resqplug.Resq, spawn: Spawn) -> None:
        self.pair = pair
        self.client = client
        self.spawn = spawn
        self.job_class = job_class_for(pair)
        # With retry and the cleaner, the retry is used up so the cleaner has a failure.
        self.fail_runs = 2 if {"retry", "cleaner"} <= pair else 1
        self.job_id = ""

    def has(self, plugin: str) -> bool:
        return plugin in self.pair

    def enqueue(self) -> str | None:
        if self.has("scheduler"):
            return resqplug_scheduler.enqueue_in(SCHEDULED_IN_S, self.job_class, self.fail_runs)
        return resqplug.enqueue(self.job_class, self.fail_runs)

    def delayed(self) -> DelayedSet:
        """Where the job waits when it is not queued: the scheduler's delayed set
        where the scheduler is loaded, else the retry plugin's own."""
        return DelayedSet(self.client, "scheduler" if self.has("scheduler") else "retry")

    def waiting_attempt(self) -> int | None:
        """The attempt of the job waiting in the delayed set, None if not there."""
        item = self.delayed().find(self.job_id)
        return None if item is None else int(item.payload.get("meta", {}).get("attempt", 1))

    def check_between_runs(self, state: str) -> None:
        """The job is waiting (``state``): one status, one lock held, copies refused."""
        if self.has("status"):
            status = resqplug_status.get(self.job_id)
            assert status is not None and status.status == state
            assert [s.id for s in resqplug_status.list()] == [self.job_id]
        if self.has("loner"):
            assert resqplug_loner.holder(self.job_class, self.fail_runs) == self.job_id
            assert self.enqueue() is None, "a copy was accepted while the job waits"
            assert resqplug.enqueue(self.job_class, self.fail_runs) is None

    def run_worker(self, done: Callable[[], bool], what: str) -> None:
        """One worker process until ``done``: burst for a queued job; for a job
        in a delayed set, a worker that moves it, stopped (SIGTERM) once done."""
        args = ("--no-fork", "-q", QUEUE)
        if self.waiting_attempt() is None:
            worker = self.spawn(*args, "--burst", app="pair_jobs", env=only_env(*self.pair))
            assert worker.wait(30) == 0, worker.output()
            assert done(), f"{what}; worker output:\n{worker.output()}"
            return
        worker = self.spawn(*args, app="pair_jobs", env=only_env(*self.pair))
        wait_for(lambda: alive(worker) and done(), 30, what)
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, worker.output()

    def failed_run(self, run: int) -> None:
        """Run ``run`` fails: retried (the first, where retry is loaded) or
        failed for good, then requeued. Either way the job waits again."""
        retried = self.has("retry") and run == 1

        def outcome() -> bool:
            if len(runs(self.client)) < run:
                return False
            if retried:
                return self.waiting_attempt() == 2
            return self.client.failures.get(self.job_id) is not None

        self.run_worker(outcome, f"run {run} to fail and its outcome to be written")
        if retried:
            assert self.client.failures.count() == 0
            self.check_between_runs("retrying")
            return
        self.check_failed_for_good()
        self.requeue()
        assert [job["id"] for job in self.client.peek(QUEUE, 0, 10)] == [self.job_id]
        self.check_between_runs("queued")

    def check_failed_for_good(self) -> None:
        record = self.client.failures.get(self.job_id)
        assert record is not None and record["exception"] == "PairFailure"
        if self.has("status"):
            assert resqplug_status.get(self.job_id).status == "failed"  # type: ignore[union-attr]
        if self.has("loner"):  # released: a final failure ends the job
            assert resqplug_loner.holder(self.job_class, self.fail_runs) is None

    def requeue(self) -> None:
        if self.has("cleaner"):
            only_this = Filter(job_class=self.job_class.name)
            outcome = Cleaner(self.client).requeue(only_this, clear=True)
            assert (outcome.matched, outcome.requeued, outcome.cleared) == (1, 1, 1)
        else:
            assert self.client.failures.retry(self.job_id, remove=True) == self.job_id

    def check_completed(self) -> None:
        ran = runs(self.client)
        assert {r["id"] for r in ran} == {self.job_id}, "the job changed its id"
        assert [r["event"] for r in ran] == ["fail"] * self.fail_runs + ["done"]
        attempts = [r["attempt"] for r in ran]
        assert attempts == ([1, 2, 2][: len(ran)] if self.has("retry") else [1] * len(ran))
        assert self.client.failures.count() == 0
        assert self.client.size(QUEUE) == 0
        assert DelayedSet(self.client, "scheduler").count() == 0
        assert DelayedSet(self.client, "retry").count() == 0
        if self.has("status"):
            status = resqplug_status.get(self.job_id)
            assert status is not None and status.status == "completed"
            assert status.result == "done"
            if self.has("retry"):  # an earlier attempt's failure is not this run's
                assert not status.fields.get("error") and not status.fields.get("exception")
            assert [s.id for s in resqplug_status.list()] == [self.job_id]
        if self.has("metrics"):
            found = read_counts(self.client)[(QUEUE, self.job_class.name)].counters
            assert found["enqueued"] == found["started"] == len(ran)
            assert found["failed"] + found["retried"] == self.fail_runs
            assert found["succeeded"] == 1 and found["killed"] == found["recovered"] == 0
        if self.has("loner"):
            assert resqplug_loner.holder(self.job_class, self.fail_runs) is None
            assert resqplug.enqueue(self.job_class, self.fail_runs) not in (None, self.job_id)


def alive(proc: Proc) -> bool:
    assert proc.alive(), f"the worker exited early:\n{proc.output()}"
    return True


@pytest.mark.parametrize("pair", PAIRS, ids=["+".join(sorted(p)) for p in PAIRS])
def test_every_pair_of_plugins_composes(
    pair: frozenset[str], default_client: resqplug.Resq, load_only, spawn: Spawn
) -> None:
    load_only(*pair)
    job = PairScenario(pair, default_client, spawn)
    job_id = job.enqueue()
    assert job_id is not None
    job.job_id = job_id
    if job.has("scheduler"):
        assert default_client.size(QUEUE) == 0 and job.waiting_attempt() == 1
    job.check_between_runs("scheduled" if job.has("scheduler") else "queued")

    for run in range(1, job.fail_runs + 1):
        job.failed_run(run)

    job.run_worker(lambda: len(runs(default_client)) > job.fail_runs, "the last run to succeed")
    job.check_completed()
