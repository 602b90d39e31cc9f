"""A stop (USR1, a job's timeout, the end of TERM's shutdown wait, INT) only
ever interrupts a job's own run: one that arrives once the job is done, while
the worker logs or records its outcome, leaves that outcome alone. A finished
job is recorded, never failed for it, never put back to run again."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
import worker_jobs_late as late
from helpers import CORE_ONLY, env, registered_workers, resqplug_cmd, wait_for

import resqplug
from resqplug.worker.options import WorkerOptions
from resqplug.worker.worker import Worker


def late_worker(
    redis_url: str, namespace: str, runs: Path, *args: str, **extra: str
) -> subprocess.Popen[str]:
    cmd = resqplug_cmd(redis_url, namespace, "-v", "work", "--app", "worker_jobs_late", *args)
    extra_env = {**CORE_ONLY, "LATE_RUNS": str(runs), **extra}
    return subprocess.Popen(cmd, env=env(extra_env), stderr=subprocess.PIPE, text=True)


def processed(resq: resqplug.Resq) -> int:
    return int(resq.redis.get(resq.keys.stat_processed) or 0)


@pytest.mark.parametrize(("name", "job"), [("SIGUSR1", late.Late), ("", late.LateTimed)])
def test_a_kill_or_timeout_after_the_run_leaves_a_done_job_done_in_process(
    resq, redis_url, namespace, tmp_path, name, job
):
    runs = tmp_path / "runs"
    worker = late_worker(redis_url, namespace, runs, "-q", "late", "--no-fork", LATE_SIGNAL=name)
    try:
        wait_for(lambda: registered_workers(resq.redis, namespace), what="registered")
        resq.enqueue(job)
        wait_for(lambda: processed(resq) == 1 or worker.poll() is not None, what="recorded")
        assert worker.poll() is None, "the worker exited"
        assert resq.failures.count() == 0
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
    finally:
        worker.kill()
        worker.communicate()
    assert len(runs.read_text().splitlines()) == 1


def test_the_shutdown_deadline_after_the_run_does_not_put_a_done_job_back(
    resq, redis_url, namespace, tmp_path
):
    runs = tmp_path / "runs"
    args = ("-q", "late", "--no-fork", "--shutdown-timeout", "0.2")
    worker = late_worker(redis_url, namespace, runs, *args, LATE_SIGNAL="SIGTERM")
    try:
        wait_for(lambda: registered_workers(resq.redis, namespace), what="registered")
        resq.enqueue(late.Late)
        assert worker.wait(20) == 0
    finally:
        worker.kill()
        worker.communicate()
    assert resq.size("late") == 0
    assert processed(resq) == 1
    assert len(runs.read_text().splitlines()) == 1


@pytest.mark.parametrize("fork_server", ["0", "1"])
def test_a_childs_timeout_after_the_run_leaves_a_done_job_done(
    resq, redis_url, namespace, tmp_path, fork_server
):
    runs = tmp_path / "runs"
    server = {"RESQPLUG_FORK_SERVER": fork_server}
    worker = late_worker(redis_url, namespace, runs, "-q", "late", "--fork", **server)
    try:
        wait_for(lambda: registered_workers(resq.redis, namespace), what="registered")
        resq.enqueue(late.LateTimed)
        wait_for(lambda: processed(resq) == 1, what="recorded")
        assert resq.failures.count() == 0, resq.failures.list()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
    finally:
        worker.kill()
        worker.communicate()


@pytest.mark.parametrize(
    ("sig", "args"),
    [(signal.SIGUSR1, ()), (signal.SIGTERM, ("--shutdown-timeout", "0.2"))],
    ids=["USR1", "TERM-deadline"],
)
def test_a_fork_worker_never_kills_a_child_whose_job_is_done(
    resq, redis_url, namespace, tmp_path, sig, args
):
    """USR1, or the end of TERM's wait, while a child logs its finished job."""
    runs = tmp_path / "runs"
    worker = late_worker(redis_url, namespace, runs, "-q", "late", "--fork", *args)
    try:
        wait_for(lambda: registered_workers(resq.redis, namespace), what="registered")
        resq.enqueue(late.Late)
        logging = tmp_path / "runs.logging"
        wait_for(logging.exists, what="the child logs its done line")
        worker.send_signal(sig)
        wait_for(lambda: processed(resq) == 1, what="recorded")
        assert resq.failures.count() == 0, resq.failures.list()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
    finally:
        worker.kill()
        worker.communicate()
    assert resq.size("late") == 0
    assert len(runs.read_text().splitlines()) == 1


def test_threads_record_outcomes_that_came_at_the_deadline_before_putting_back(
    resq, namespace, tmp_path, monkeypatch
):
    """INT (or the end of TERM's wait) while one job is done, its outcome not
    yet collected, and another still runs: only the running one goes back."""
    monkeypatch.setenv("LATE_RUNS", str(tmp_path / "runs"))
    worker = Worker(resq, WorkerOptions(queues=["late"], mode="threads", threads=1))
    done_id, running_id = resq.enqueue(late.Late), resq.enqueue(late.Late)
    threads = worker.mode
    finished, running = worker.inflight.fetch(2)
    threads.held.update([finished.entry, running.entry])
    threads.done.put(worker.processor.process(finished))
    worker.control.terminate(0.0)  # INT

    threads.drain()
    worker.feed.flush()
    threads.close()
    worker._leave()

    assert [job["id"] for job in resq.peek("late", 0, 5)] == [running_id]
    assert processed(resq) == 1, done_id
    assert resq.failures.count() == 0
    assert resq.redis.llen(worker.inflight.key) == 0
