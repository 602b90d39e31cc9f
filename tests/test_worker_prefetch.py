"""Prefetched batches, with real workers: a slow job does not hold back the jobs
fetched with it, and a job handed over to a child ahead of time runs exactly
once, whether the child started it or the parent took it back."""

from __future__ import annotations

import signal
import subprocess

import pytest
import worker_jobs as wj
from helpers import CORE_ONLY, WorkerProcess, env, job_children, listed, resqplug_cmd, wait_for

import resqplug
from resqplug.worker.run.fork.warmup import WARM_UP_ID, WARM_UP_RUNS

# Without the other plugins jobs are fast enough for batches to grow.
MODES = {
    "nofork": ["--no-fork"],
    "fork": ["--fork"],
    "fork, 10 jobs per child": ["--fork", "--max-jobs-per-child", "10"],
}


def run_counts(resq: resqplug.Resq) -> dict[str, int]:
    runs = resq.redis.hgetall(resq.keys.plugin("test", "runs"))
    return {k.decode(): int(v) for k, v in runs.items()}


def inflight_total(resq: resqplug.Resq) -> int:
    keys = resq.redis.scan_iter(match=resq.keys.inflight("*"))
    return sum(resq.redis.llen(k) for k in keys)


def free_worker_takes(
    resq: resqplug.Resq,
    redis_url: str,
    namespace: str,
    busy: WorkerProcess,
    slow: list[str],
    after: list[str],
) -> None:
    """While ``busy`` runs the ``slow`` jobs, a second worker does ``after``;
    then both stop gracefully."""
    free = None
    try:
        wait_for(lambda: set(slow) <= set(listed(resq, "started")), what="slow jobs started")
        free = WorkerProcess(redis_url, namespace, "-q", "work", "--no-fork")
        wait_for(lambda: set(after) <= set(listed(resq, "done")), timeout=4, what="later jobs")
        assert not set(slow) & set(listed(resq, "done"))
        busy.signal(signal.SIGQUIT)
        assert busy.wait() == 0
    finally:
        busy.stop()
        if free is not None:
            free.signal(signal.SIGQUIT)
            assert free.wait() == 0


@pytest.mark.parametrize("mode", MODES)
def test_jobs_fetched_with_a_slow_job_go_to_a_free_worker(resq, redis_url, namespace, mode):
    # Fast jobs first, so the batches grow (1, 2, 4, 8, then 16 with the slow
    # job in the middle of it).
    before = resq.enqueue_many(wj.WRecord, [(i,) for i in range(20)])
    slow = resq.enqueue(wj.WSleep, 5)
    after = resq.enqueue_many(wj.WRecord, [(i,) for i in range(20, 40)])
    busy = WorkerProcess(redis_url, namespace, "-q", "work", *MODES[mode], extra_env=CORE_ONLY)
    free_worker_takes(resq, redis_url, namespace, busy, [slow], after)
    assert sorted(listed(resq, "done")) == sorted([*before, slow, *after])
    assert set(run_counts(resq).values()) == {1}
    assert inflight_total(resq) == 0


def test_quit_amid_hand_overs_runs_every_job_exactly_once(resq, redis_url, namespace):
    ids = resq.enqueue_many(wj.WRecord, [(i,) for i in range(400)])
    worker = WorkerProcess(
        redis_url,
        namespace,
        "-q",
        "work",
        "--fork",
        "--max-jobs-per-child",
        "50",
        extra_env=CORE_ONLY,
    )
    try:
        wait_for(lambda: len(listed(resq, "done")) >= 100, what="100 jobs done")
        worker.signal(signal.SIGQUIT)  # lands while the child has the next job
        assert worker.wait() == 0
    finally:
        worker.stop()
    assert inflight_total(resq) == 0
    drain = WorkerProcess(redis_url, namespace, "-q", "work", "--burst", "--no-fork")
    assert drain.wait() == 0
    assert sorted(listed(resq, "done")) == sorted(ids)
    assert set(run_counts(resq).values()) == {1}


@pytest.mark.parametrize("fork_server", ["1", "0"])
@pytest.mark.parametrize("per_child", [1, 4])
def test_fork_hooks_run_in_the_forking_process_and_in_each_child_with_its_job(
    resq, redis_url, namespace, per_child, fork_server
):
    ids = resq.enqueue_many(wj.WRecord, [(i,) for i in range(24)])
    args = ["--burst", "--fork", "--max-jobs-per-child", str(per_child)]
    worker = WorkerProcess(
        redis_url,
        namespace,
        "-q",
        "work",
        *args,
        "--app",
        "worker_fork_hooks",
        extra_env={**CORE_ONLY, "RESQPLUG_FORK_SERVER": fork_server},
    )
    assert worker.wait() == 0
    assert sorted(listed(resq, "done")) == sorted(ids)
    before = [entry.split(":") for entry in listed(resq, "before_fork")]
    after = [entry.split(":") for entry in listed(resq, "after_fork")]
    # before_fork runs in the process that forks: the fork server, or the
    # worker itself without one; after_fork in the children of that process.
    forkers = {pid for pid, _ in before}
    assert len(forkers) == 1
    assert (forkers == {str(worker.pid)}) == (fork_server == "0")
    # after_fork runs in every child that got a job (a spare may get none),
    # with the first job that child ran; a child forked for a known job saw
    # that one in before_fork too.
    first_jobs = {child: job for child, _, job in after}
    assert len(first_jobs) == len(after) <= len(before)
    assert {parent for _, parent, _ in after} == forkers
    assert set(first_jobs.values()) <= set(ids)
    assert {job for _, job in before if job != "-"} <= set(first_jobs.values())
    # warm_up ran in the forking process before its first fork (children
    # inherit what it warmed: none of them calls it), with a job no queue
    # holds; and in the worker, which forks while its fork server starts.
    warmed = [entry.split(":") for entry in listed(resq, "warm_up")]
    warmers = {pid for pid, _, _ in warmed}
    assert forkers <= warmers <= forkers | {str(worker.pid)}
    assert len(warmed) == WARM_UP_RUNS * len(warmers)
    assert {(queue, job) for _, queue, job in warmed} == {("warm-up", WARM_UP_ID)}


def test_the_parents_warm_up_before_forking_is_seen_by_no_hook_stat_or_log(
    resq, redis_url, namespace
):
    ids = resq.enqueue_many(wj.WRecord, [(i,) for i in range(6)])
    work = ["work", "-q", "work", "--burst", "--fork", "--app", "worker_jobs,worker_fork_hooks"]
    done = subprocess.run(
        resqplug_cmd(redis_url, namespace, "-v", *work),
        env=env(CORE_ONLY),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    for hook in ("before_perform", "after_perform"):
        assert sorted(listed(resq, hook)) == sorted(ids)
    assert resq.redis.get(resq.keys.stat_processed) == b"6"
    assert "warm-up" not in done.stderr.lower()
    defined = listed(resq, "job_defined")
    assert "WRecord" in defined and not any("Warm" in name for name in defined)
    assert done.stderr.count("done WRecord") == 6, done.stderr


@pytest.mark.parametrize("fork_server", ["never", "auto", "always"])
def test_an_idle_fork_worker_lets_the_children_it_forked_ahead_go(
    resq, redis_url, namespace, fork_server
):
    settings = {**CORE_ONLY, "RESQPLUG_FORK_SERVER": fork_server}
    worker = WorkerProcess(redis_url, namespace, "-q", "work", "--fork", extra_env=settings)
    try:
        resq.enqueue_many(wj.WRecord, [(i,) for i in range(10)])
        wait_for(lambda: len(listed(resq, "done")) == 10, what="10 jobs done")
        wait_for(lambda: job_children(worker.pid) == [], timeout=5, what="no children while idle")
        resq.enqueue(wj.WRecord, 10)  # and the next job still runs
        wait_for(lambda: len(listed(resq, "done")) == 11, what="the job after the idle time")
    finally:
        worker.stop()


@pytest.mark.parametrize("mode", MODES)
def test_bad_payloads_inside_a_batch_are_failed_and_the_rest_runs_once(
    resq, redis_url, namespace, mode
):
    first = resq.enqueue_many(wj.WRecord, [(i,) for i in range(20)])
    queue = resq.keys.queue("work")
    resq.redis.rpush(queue, b"not json at all", b'{"class":"Nope","args":[],"id":"nope"}')
    then = resq.enqueue_many(wj.WRecord, [(i,) for i in range(20, 40)])
    worker = WorkerProcess(
        redis_url, namespace, "-q", "work", "--burst", *MODES[mode], extra_env=CORE_ONLY
    )
    assert worker.wait() == 0
    assert sorted(listed(resq, "done")) == sorted(first + then)
    assert set(run_counts(resq).values()) == {1}
    errors = sorted(f["error"] for f in resq.failures.list(0, 10))
    assert len(errors) == 2
    assert "not JSON" in errors[0]
    assert "unknown job class 'Nope'" in errors[1]


def test_payloads_too_big_to_hand_over_still_run_once(resq, redis_url, namespace):
    ids = resq.enqueue_many(wj.WRecord, [(i, "x" * 10_000) for i in range(30)])
    args = ["--burst", "--fork", "--max-jobs-per-child", "10"]
    worker = WorkerProcess(redis_url, namespace, "-q", "work", *args, extra_env=CORE_ONLY)
    assert worker.wait() == 0
    assert sorted(listed(resq, "done")) == sorted(ids)
    assert set(run_counts(resq).values()) == {1}


def test_jobs_waiting_for_busy_threads_go_to_a_free_worker(resq, redis_url, namespace):
    slow = resq.enqueue_many(wj.WSleep, [(5,), (5,)])
    after = resq.enqueue_many(wj.WRecord, [(i,) for i in range(10)])
    busy = WorkerProcess(redis_url, namespace, "-q", "work", "--threads", "2", extra_env=CORE_ONLY)
    free_worker_takes(resq, redis_url, namespace, busy, slow, after)
    assert sorted(listed(resq, "done")) == sorted([*slow, *after])
    assert set(run_counts(resq).values()) == {1}
    assert inflight_total(resq) == 0
