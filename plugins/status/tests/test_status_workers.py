"""Statuses with real worker processes (``resqplug work --app status_jobs``):
kill in each execution model, recovery after kill -9, poison pills, and wait
woken by a job finishing in another process."""

from __future__ import annotations

import signal
import socket
import time

import pytest
import resqplug_status
import status_jobs as sj
from resqplug_status import STATES, StatusStore
from status_helpers import ResqplugProcess, Spawn, pid_alive, wait_for

import resqplug
from resqplug.worker.reaper import Reaper

Q = "status"


def status_of(job_id: str) -> resqplug_status.Status:
    status = resqplug_status.get(job_id)
    assert status is not None, f"no status for {job_id}"
    return status


def states_of(store: StatusStore, job_id: str) -> list[str]:
    r = store.client.redis
    return [s for s in STATES if r.zscore(store.state_index + s, job_id) is not None]


def running(client: resqplug.Resq, job_id: str, worker: ResqplugProcess) -> None:
    """Wait until ``job_id`` runs (its status says so and the job started)."""

    def started() -> bool:
        assert worker.alive(), f"worker exited:\n{worker.output()}"
        status = resqplug_status.get(job_id)
        return (
            status is not None
            and status.status == "working"
            and job_id in sj.events(client, "started")
        )

    wait_for(started, 20, f"job {job_id} to run")


def final(job_id: str, worker: ResqplugProcess, timeout: float = 10) -> resqplug_status.Status:
    status = resqplug_status.wait(job_id, timeout=timeout)
    assert status is not None
    assert status.final, f"{job_id} is {status.status}; worker log:\n{worker.output()}"
    return status


def kills_pending(client: resqplug.Resq) -> int:
    return int(client.redis.scard(StatusStore(client).kills))


# --- kill a running job ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["fork", "nofork"])
def test_kill_stops_a_running_job_at_once(
    mode: str, spawn: Spawn, default_client: resqplug.Resq
) -> None:
    worker = spawn("--fork" if mode == "fork" else "--no-fork")
    job_id = resqplug.enqueue(sj.StatusSleep, 30)  # asleep in C: no cooperation
    assert job_id is not None
    running(default_client, job_id, worker)
    working = status_of(job_id)
    assert working.attempt == 1
    assert working.worker.startswith(socket.gethostname())
    job_pid = sj.pid_of(default_client, job_id)
    assert job_pid is not None
    assert (job_pid != worker.pid) if mode == "fork" else (job_pid == worker.pid)

    t0 = time.time()
    assert resqplug_status.kill(job_id) is True
    status = final(job_id, worker)
    took = time.time() - t0

    assert status.status == "killed"
    assert took < 5.0, f"the kill took {took:.2f}s"  # the job sleeps 30 s
    assert status.started_at <= status.finished_at
    assert states_of(StatusStore(default_client), job_id) == ["killed"]
    if mode == "fork":
        wait_for(lambda: not pid_alive(job_pid), 5, "the job's child to die")
    assert job_id not in sj.events(default_client, "finished")
    assert default_client.failures.get(job_id) is None  # a kill is not a failure
    assert default_client.stats()["failed"] == 0
    assert kills_pending(default_client) == 0

    # the worker goes on
    after = resqplug.enqueue(sj.StatusSleep, 0.3)
    assert after is not None
    assert final(after, worker).status == "completed"
    assert worker.alive()
    assert default_client.failures.count() == 0


def test_kill_in_threads_mode_stops_the_job_at_its_next_tick(
    spawn: Spawn, default_client: resqplug.Resq
) -> None:
    worker = spawn("--threads", "2")
    job_id = resqplug.enqueue(sj.StatusTicker, 30)
    # On the other thread meanwhile; long enough to still be running when a
    # loaded machine gets round to checking it.
    other = resqplug.enqueue(sj.StatusSleep, 4.0)
    assert job_id is not None and other is not None
    running(default_client, job_id, worker)
    running(default_client, other, worker)
    # Its ticks are progress too (the first one lands just after it started).
    wait_for(
        lambda: str(status_of(job_id).fields.get("message", "")).startswith("tick "),
        5,
        "a tick message",
    )

    t0 = time.time()
    assert resqplug_status.kill(job_id) is True
    status = final(job_id, worker)
    took = time.time() - t0

    assert status.status == "killed"
    assert took < 4.0, f"the kill took {took:.2f}s"  # the job runs 30 s
    assert "killed" in status.error
    assert job_id not in sj.events(default_client, "finished")
    assert default_client.failures.get(job_id) is None
    assert kills_pending(default_client) == 0

    assert final(other, worker, 20).status == "completed"  # the other job is untouched
    after = resqplug.enqueue(sj.StatusRecord, "after")
    assert after is not None
    assert final(after, worker).status == "completed"
    assert worker.alive()
    assert default_client.stats()["failed"] == 0


def test_kill_of_a_queued_job_kills_it_when_a_worker_takes_it(
    spawn: Spawn, default_client: resqplug.Resq
) -> None:
    job_id = resqplug.enqueue(sj.StatusRecord, "never")
    assert job_id is not None
    assert resqplug_status.kill(job_id) is True
    assert status_of(job_id).status == "killed"  # at once: it never starts

    worker = spawn("--fork")
    status = final(job_id, worker, timeout=20)
    assert status.status == "killed"
    assert sj.events(default_client, "started") == []  # it never ran
    assert default_client.failures.get(job_id) is None
    wait_for(lambda: default_client.size(Q) == 0, 5, "the queue to empty")
    assert kills_pending(default_client) == 0  # dropped with the job
    assert worker.alive()


def test_a_cooperative_kill_in_fork_mode_does_not_kill_the_next_job(
    spawn: Spawn, default_client: resqplug.Resq
) -> None:
    # KillRaceSync makes the job finish right after the worker got the
    # heartbeat's USR1 (a race that otherwise happens now and then).
    worker = spawn("--fork", sync_kills=True)
    for _ in range(3):  # the heartbeat may (rarely) win before the job sees its kill
        job_id = resqplug.enqueue(sj.StatusTicker, 30, 0.002)
        assert job_id is not None
        running(default_client, job_id, worker)
        assert resqplug_status.kill(job_id) is True
        assert final(job_id, worker).status == "killed"

        innocent = resqplug.enqueue(sj.StatusSleep, 0.4)
        assert innocent is not None
        status = final(innocent, worker)
        assert status.status == "completed", f"innocent job {status.status}: {status.fields}"
        assert default_client.failures.get(innocent) is None


# --- recovery after kill -9 -------------------------------------------------------------


def kill_worker_running(
    spawn: Spawn, client: resqplug.Resq, *args: str
) -> tuple[str, ResqplugProcess]:
    worker = spawn(*args)
    job_id = resqplug.enqueue(sj.StatusRecoverable, 30)
    assert job_id is not None
    running(client, job_id, worker)
    job_pid = sj.pid_of(client, job_id)
    assert job_pid is not None
    worker.proc.send_signal(signal.SIGKILL)
    worker.proc.wait(10)
    wait_for(lambda: not pid_alive(job_pid), 5, "the job's process to die")
    assert status_of(job_id).status == "working"  # nobody could write anything else
    return job_id, worker


def test_a_job_of_a_sigkilled_worker_is_queued_again_then_completes(
    spawn: Spawn, default_client: resqplug.Resq
) -> None:
    job_id, _ = kill_worker_running(spawn, default_client, "--fork")
    reaper = Reaper(default_client, "status-test-reaper", max_recoveries=3)
    wait_for(lambda: reaper.reap() >= 1, 10, "the dead worker's lease to expire")

    status = status_of(job_id)
    assert status.status == "queued"
    assert status.recoveries == 1
    assert not status.final
    store = StatusStore(default_client)
    assert states_of(store, job_id) == ["queued"]
    assert store.expires_in(job_id) is None

    worker = spawn("--no-fork")  # the re-run
    status = final(job_id, worker, timeout=20)
    assert status.status == "completed"
    assert status.result == "recovered"
    assert status.recoveries == 1
    assert status.worker.split(":")[1] == str(worker.pid)  # the worker id
    assert states_of(store, job_id) == ["completed"]


def test_a_poison_pill_ends_failed_not_working(spawn: Spawn, default_client: resqplug.Resq) -> None:
    job_id, _ = kill_worker_running(spawn, default_client, "--no-fork")
    # the reaper of another worker process gives up on it at once
    reaper = spawn("--no-fork", "--max-recoveries", "0")
    status = final(job_id, reaper, timeout=20)

    assert status.status == "failed"
    assert status.exception == "DirtyExit"
    assert "poison pill" in status.error
    assert states_of(StatusStore(default_client), job_id) == ["failed"]
    # The status is written by the failure hooks just before the record lands.
    wait_for(lambda: default_client.failures.get(job_id), 5, "the failure record")
    assert default_client.size(Q) == 0
    assert sj.events(default_client, "finished") == []


# --- wait, woken by another process ----------------------------------------------------


def test_wait_returns_promptly_when_a_worker_process_completes_the_job(
    spawn: Spawn, default_client: resqplug.Resq
) -> None:
    worker = spawn("--no-fork")
    job_id = resqplug.enqueue(sj.StatusSleep, 0.8)
    assert job_id is not None
    running(default_client, job_id, worker)

    status = resqplug_status.wait(job_id, timeout=15)
    returned = time.time()
    assert status is not None
    assert status.status == "completed"
    assert status.result == "slept"
    lag = returned - status.finished_at
    assert lag < 0.5, f"wait returned {lag:.3f}s after the job finished"
    assert status.worker.split(":")[1] == str(worker.pid)  # the worker id
    assert status.enqueued_at <= status.started_at <= status.finished_at


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_a_job_its_worker_puts_back_on_int_is_queued_without_its_progress(
    spawn: Spawn, default_client: resqplug.Resq, mode: str
) -> None:
    worker = spawn(mode)
    job_id = resqplug.enqueue(sj.StatusSlowProgress, 600)  # 30 s of steps
    assert job_id is not None
    running(default_client, job_id, worker)
    wait_for(lambda: status_of(job_id).pct_complete is not None, 10, "progress")
    worker.proc.send_signal(signal.SIGINT)
    assert worker.proc.wait(20) == 0
    status = status_of(job_id)
    assert status.status == "queued", status.fields
    assert status.pct_complete is None and status.fields.get("message") == ""
    assert default_client.size("status") == 1
