"""The loner plugin with real worker processes: a duplicate of a running job is
skipped, the ``queued`` scope releases at start, and a worker killed with
SIGKILL while holding a lock (recovery keeps the lock; the poison pill frees it)."""

from __future__ import annotations

import loner_jobs as jobs
from loner_helpers import QUEUE, holder, lock_key_of, queued_ids, reap_when_dead, wait_for

import resqplug
from resqplug.worker.reaper import Reaper


def started(client: resqplug.Resq, job_id: str, times: int = 1) -> bool:
    return jobs.ids(client, "start").count(job_id) >= times


def finished(client: resqplug.Resq, job_id: str) -> bool:
    return job_id in jobs.ids(client, "done")


def test_duplicate_while_running_is_skipped(default_client, recorder, spawn):
    worker = spawn("-q", QUEUE)  # fork mode: the job runs (and releases) in a child
    first = resqplug.enqueue(jobs.Gated, "t1")
    wait_for(lambda: started(default_client, first), 15, "the job to start")
    assert default_client.size(QUEUE) == 0  # taken: running, not queued

    assert resqplug.enqueue(jobs.Gated, "t1") is None
    assert default_client.size(QUEUE) == 0
    assert holder(jobs.Gated, "t1") == first
    assert [e for _, e in recorder.skipped] == [first]

    jobs.open_gate(default_client, "t1")
    wait_for(lambda: finished(default_client, first), 10, "the job to finish")
    wait_for(lambda: holder(jobs.Gated, "t1") is None, 5, "the lock to be released")
    second = resqplug.enqueue(jobs.Gated, "t1")
    assert second is not None and second != first
    wait_for(lambda: finished(default_client, second), 10, "the second copy to run")
    wait_for(lambda: holder(jobs.Gated, "t1") is None, 5, "the lock to be released")
    assert worker.alive()


def test_queued_scope_releases_when_the_job_starts(default_client, recorder, spawn):
    spawn("--no-fork", "-q", QUEUE)
    first = resqplug.enqueue(jobs.GatedQueuedScope, "t2")
    assert resqplug.enqueue(jobs.GatedQueuedScope, "t2") is None  # unique while queued
    wait_for(lambda: started(default_client, first), 15, "the job to start")
    wait_for(lambda: holder(jobs.GatedQueuedScope, "t2") is None, 5, "release at start")

    # During the run a copy may be enqueued; it waits on a queue no worker
    # serves, so it stays queued while the first copy finishes.
    second = resqplug.enqueue_to("loner-held", jobs.GatedQueuedScope, "t2")
    assert second is not None and second != first
    assert resqplug.enqueue(jobs.GatedQueuedScope, "t2") is None  # the copy holds it now

    jobs.open_gate(default_client, "t2")
    wait_for(lambda: finished(default_client, first), 10, "the first copy to finish")
    assert holder(jobs.GatedQueuedScope, "t2") == second  # not freed by the first copy
    assert queued_ids(default_client, "loner-held") == [second]
    assert [e for _, e in recorder.skipped] == [first, second]


def test_worker_killed_while_holding_the_lock(default_client, recorder, spawn):
    doomed = spawn("--no-fork", "-q", QUEUE)
    job_id = resqplug.enqueue(jobs.KilledOnce, "t3")
    wait_for(lambda: started(default_client, job_id), 15, "the job to start")
    doomed.kill()  # kill -9 while it runs the job and holds its lock
    assert holder(jobs.KilledOnce, "t3") == job_id

    assert reap_when_dead(default_client) == 1
    # Recovered: queued again with the same id, and it still holds its lock.
    assert queued_ids(default_client) == [job_id]
    assert holder(jobs.KilledOnce, "t3") == job_id
    assert resqplug.enqueue(jobs.KilledOnce, "t3") is None
    assert queued_ids(default_client) == [job_id]
    assert [e for _, e in recorder.skipped] == [job_id]

    spawn("--no-fork", "-q", QUEUE)
    wait_for(lambda: finished(default_client, job_id), 15, "the recovered job to run")
    wait_for(lambda: holder(jobs.KilledOnce, "t3") is None, 5, "the lock to be released")
    starts = jobs.runs(default_client, "start")
    assert [s["id"] for s in starts] == [job_id, job_id]
    assert [s["recoveries"] for s in starts] == [0, 1]
    assert jobs.ids(default_client, "done") == [job_id]
    assert default_client.failures.count() == 0
    assert resqplug.enqueue(jobs.KilledOnce, "t3") is not None


def test_poison_pill_releases_the_lock(default_client, spawn):
    doomed = spawn("--no-fork", "-q", QUEUE)
    job_id = resqplug.enqueue(jobs.KilledOnce, "t4")
    wait_for(lambda: started(default_client, job_id), 15, "the job to start")
    doomed.kill()

    # A reaper that allows no recovery fails the job as a poison pill.
    reaper = Reaper(default_client, "loner-test-reaper", max_recoveries=0)
    assert wait_for(reaper.reap, 10, "the reaper to handle the dead worker's job") == 1
    record = default_client.failures.get(job_id)
    assert record is not None and record["exception"] == "DirtyExit"
    assert default_client.size(QUEUE) == 0
    assert holder(jobs.KilledOnce, "t4") is None
    assert not default_client.redis.exists(lock_key_of(default_client, jobs.KilledOnce, "t4"))
    assert resqplug.enqueue(jobs.KilledOnce, "t4") is not None
