"""``resqplug workers -c N``: N workers under one supervisor that replaces a worker
that dies and forwards TERM to all of them."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import pytest
import worker_jobs
from helpers import WorkerProcess, registered_workers, wait_for


def pid_of(worker_id: str) -> int:
    return int(worker_id.split(":")[1])


@pytest.fixture
def supervisor(redis_url: str, namespace: str) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(
        redis_url, namespace, "-c", "2", "-q", "work", "--no-fork", command="workers"
    )
    try:
        yield proc
    finally:
        workers = _children(proc.pid)
        proc.stop()
        # If the supervisor had to be killed, end its workers too.
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def two_workers(resq, namespace: str) -> list[str]:
    return wait_for(
        lambda: (ids := registered_workers(resq.redis, namespace)) and len(ids) == 2 and ids,
        what="two workers registered",
    )


def test_supervisor_runs_count_workers_as_its_children(supervisor, resq, namespace):
    ids = two_workers(resq, namespace)

    pids = {pid_of(w) for w in ids}
    assert len(pids) == 2
    assert supervisor.pid not in pids
    assert pids == set(_children(supervisor.pid))


def test_killed_worker_is_replaced_and_jobs_still_run(supervisor, resq, namespace):
    first = two_workers(resq, namespace)
    victim = first[0]

    os.kill(pid_of(victim), signal.SIGKILL)

    new = wait_for(
        lambda: set(registered_workers(resq.redis, namespace)) - set(first),
        what="a replacement worker",
    )
    (replacement,) = new
    assert pid_of(replacement) in _children(supervisor.pid)
    # The dead worker's entry is reaped by its siblings once its lease expires.
    wait_for(
        lambda: victim not in registered_workers(resq.redis, namespace),
        timeout=20,  # dead-after, plus a reaper lock the victim may have held (5 s)
        what="the killed worker reaped",
    )
    assert sorted(registered_workers(resq.redis, namespace)) == sorted([first[1], replacement])
    ids = resq.enqueue_many(worker_jobs.WRecord, [(i,) for i in range(20)])
    done = resq.keys.plugin("test", "done")
    wait_for(
        lambda: {x.decode() for x in resq.redis.lrange(done, 0, -1)} == set(ids),
        what="jobs done after the replacement",
    )
    assert supervisor.proc.poll() is None


def test_job_of_a_killed_worker_is_recovered(supervisor, resq, namespace):
    first = two_workers(resq, namespace)
    job_id = resq.enqueue(worker_jobs.WSleep, 2.0)
    runs = resq.keys.plugin("test", "runs")
    wait_for(lambda: resq.redis.hget(runs, job_id), what="job started")
    (victim,) = [w for w in first if resq.redis.exists(resq.keys.inflight(w))]

    os.kill(pid_of(victim), signal.SIGKILL)

    wait_for(lambda: resq.redis.hget(runs, job_id) == b"2", timeout=15, what="job re-run")
    assert supervisor.proc.poll() is None


def test_term_stops_the_supervisor_and_its_workers_unregister(supervisor, resq, namespace):
    ids = two_workers(resq, namespace)
    pids = [pid_of(w) for w in ids]

    supervisor.signal(signal.SIGTERM)

    assert supervisor.wait(5) == 0
    assert registered_workers(resq.redis, namespace) == []
    assert resq.redis.zcard(resq.keys.leases) == 0
    for pid in pids:
        wait_for(lambda pid=pid: not _alive(pid), timeout=5, what=f"worker {pid} exited")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_workers_stop_when_the_supervisor_is_killed(supervisor, resq, namespace):
    pids = [pid_of(w) for w in two_workers(resq, namespace)]
    try:
        supervisor.signal(signal.SIGKILL)
        supervisor.wait(5)

        wait_for(lambda: not any(_alive(p) for p in pids), timeout=4, what="orphans exit")
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
