"""What a worker says by default (start, each failed job, stop; each job's
own line with -v) and Resque's environment variables (VERBOSE, VVERBOSE,
COUNT, INTERVAL, PIDFILE, BACKGROUND), so a Resque Procfile keeps working."""

from __future__ import annotations

import subprocess
import time

import worker_jobs as wj
from helpers import env, listed, resqplug_cmd, wait_for

import resqplug


def burst(redis_url: str, namespace: str, *args: str, extra: dict[str, str] | None = None):
    cmd = resqplug_cmd(
        redis_url, namespace, "work", "-q", "work", "--burst", "--app", "worker_jobs"
    )
    return subprocess.run([*cmd, *args], env=env(extra), capture_output=True, text=True, timeout=60)


def test_a_worker_says_it_started_each_failure_and_its_stop(resq, redis_url, namespace):
    done_id = resq.enqueue(wj.WRecord, 1)
    failed_id = resq.enqueue(wj.WFail, "boom")
    result = burst(redis_url, namespace, "--no-fork")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 3, result.stderr
    started, failed, stopped = lines
    assert f"resqplug {resqplug.__version__} worker " in started
    assert f"started: nofork mode on work, {redis_url} namespace {namespace}, plugins " in started
    assert f"failed WFail {failed_id} on work after " in failed
    assert "stopped (exit code 0)" in stopped
    assert done_id not in result.stderr  # a job that went well: only with -v


def test_resques_verbose_variables_show_each_job(resq, redis_url, namespace):
    ids = [resq.enqueue(wj.WRecord, n) for n in range(2)]
    quiet = burst(redis_url, namespace, "--no-fork")
    assert not any(i in quiet.stderr for i in ids)
    for variable in ("VERBOSE", "VVERBOSE"):
        ids = [resq.enqueue(wj.WRecord, n) for n in range(2)]
        told = burst(redis_url, namespace, "--no-fork", extra={variable: "1"})
        assert all(i in told.stderr for i in ids), told.stderr


def test_pidfile_holds_the_workers_pid_while_it_runs(resq, redis_url, namespace, tmp_path):
    pidfile = tmp_path / "worker.pid"
    job_id = resq.enqueue(wj.WSleep, 1.0)
    cmd = resqplug_cmd(
        redis_url, namespace, "work", "-q", "work", "--burst", "--app", "worker_jobs"
    )
    proc = subprocess.Popen(cmd, env=env({"PIDFILE": str(pidfile)}), stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: job_id in listed(resq, "started"), what="the job to start")
        assert pidfile.read_text().strip() == str(proc.pid)
    finally:
        assert proc.wait(30) == 0
    assert not pidfile.exists()


def test_background_detaches_and_the_worker_runs_on(resq, redis_url, namespace, tmp_path):
    pidfile = tmp_path / "worker.pid"
    ids = resq.enqueue_many(wj.WRecord, [(n,) for n in range(3)])
    started = time.monotonic()
    result = burst(
        redis_url, namespace, "--no-fork", extra={"BACKGROUND": "1", "PIDFILE": str(pidfile)}
    )
    assert result.returncode == 0 and time.monotonic() - started < 30
    wait_for(lambda: sorted(listed(resq, "done")) == sorted(ids), what="the jobs to run")
    wait_for(lambda: not pidfile.exists(), what="the background worker to exit")


def test_interval_that_is_not_seconds_is_one_line_and_exit_4(redis_url, namespace):
    result = burst(redis_url, namespace, extra={"INTERVAL": "soon"})
    assert result.returncode == 4
    assert result.stderr.strip() == (
        "resqplug: error: invalid INTERVAL 'soon': give seconds, e.g. INTERVAL=5"
    )


def test_count_sets_how_many_workers_a_supervisor_runs(resq, redis_url, namespace):
    resq.enqueue_many(wj.WRecord, [(n,) for n in range(20)])
    cmd = resqplug_cmd(
        redis_url, namespace, "workers", "-q", "work", "--burst", "--app", "worker_jobs"
    )
    result = subprocess.run(
        cmd, env=env({"COUNT": "3"}), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "started: 3 workers" in result.stderr
    assert result.stderr.count(" worker ") >= 3  # each worker's own start line
    assert len(listed(resq, "done")) == 20
