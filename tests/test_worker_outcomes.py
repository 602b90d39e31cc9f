"""A finished job's outcome is in Redis within a bound of its end, even while
the job after it runs (or while the worker is paused), in every execution
model: a worker killed with SIGKILL then does not leave it to be run again."""

from __future__ import annotations

import json
import signal
import time

import pytest
import worker_jobs as wj
import worker_jobs_exits as wx
from helpers import CORE_ONLY, WorkerProcess, listed, registered_workers, wait_for

import resqplug

MODES = {
    "fork": ["--fork"],
    "fork, 10 jobs per child": ["--fork", "--max-jobs-per-child", "10"],
    "nofork": ["--no-fork"],
    "threads": ["--threads", "2"],
}
APP = ["--app", "worker_jobs,worker_jobs_exits"]
BOUND_S = 1.0  # the promise is 50 ms; the slack is for a loaded machine


def runs(resq: resqplug.Resq, job_id: str) -> int:
    return int(resq.redis.hget(resq.keys.plugin("test", "runs"), job_id) or 0)


def inflight_ids(resq: resqplug.Resq, worker_id: str) -> list[str]:
    entries = resq.redis.lrange(resq.keys.inflight(worker_id), 0, -1)
    return [json.loads(entry.partition(b"\t")[2] or entry)["id"] for entry in entries]


def copies(resq: resqplug.Resq, job_id: str) -> int:
    """How many copies of the job wait in its queue or in any in-flight list."""
    lists = [resq.keys.queue("work"), *resq.redis.scan_iter(match=resq.keys.inflight("*"))]
    return sum(job_id.encode() in entry for key in lists for entry in resq.redis.lrange(key, 0, -1))


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_jobs_outcome_is_recorded_while_the_next_job_runs_and_survives_kill_9(
    resq, redis_url, namespace, mode
):
    # Quick jobs first, so the batches grow and the failing job and the long
    # one are fetched together (one batch of 16 holds jobs 16 to 31).
    resq.enqueue_many(wx.XNoop, [(i,) for i in range(20)])
    failing = resq.enqueue(wj.WFail, "boom")
    long = resq.enqueue(wj.WSleep, 30)
    fast = {**CORE_ONLY, "RESQPLUG_FORK_SERVER": "never"}  # no server start-up in the batches
    first = WorkerProcess(redis_url, namespace, "-q", "work", *APP, *MODES[mode], extra_env=fast)
    second = None
    try:
        worker_id = wait_for(lambda: registered_workers(resq.redis, namespace), what="worker")[0]
        record = wait_for(lambda: resq.failures.get(failing), timeout=5, what="failure record")
        seen_at = time.time()
        assert failing not in inflight_ids(resq, worker_id)
        assert long not in listed(resq, "done")  # recorded while the long job runs
        assert seen_at - record["failed_at_ts"] < BOUND_S
        assert (record["exception"], record["error"]) == ("ValueError", "boom")

        wait_for(lambda: long in listed(resq, "started"), what="long job started")
        first.signal(signal.SIGKILL)
        first.wait()
        second = WorkerProcess(redis_url, namespace, "-q", "work", *APP, "--no-fork")
        wait_for(lambda: runs(resq, long) == 2, timeout=15, what="long job recovered")
        wait_for(
            lambda: worker_id not in registered_workers(resq.redis, namespace),
            what="the dead worker's list recovered",
        )
        assert runs(resq, failing) == 1
        assert copies(resq, failing) == 0
        assert resq.failures.count() == 1
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_outcomes_of_jobs_that_end_while_a_threads_worker_is_paused_are_recorded(
    resq, redis_url, namespace
):
    ids = resq.enqueue_many(wj.WSleep, [(1,), (1,)])
    worker = WorkerProcess(redis_url, namespace, "-q", "work", "--threads", "2")
    try:
        worker_id = wait_for(lambda: registered_workers(resq.redis, namespace), what="worker")[0]
        wait_for(lambda: set(ids) <= set(listed(resq, "started")), what="both jobs started")
        worker.signal(signal.SIGUSR2)
        wait_for(lambda: set(ids) <= set(listed(resq, "done")), what="both jobs done")
        wait_for(lambda: not inflight_ids(resq, worker_id), timeout=BOUND_S, what="their acks")
        assert int(resq.redis.get(resq.keys.stat_processed)) == 2
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    finally:
        worker.stop()
