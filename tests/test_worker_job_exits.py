"""A job's BaseException (SystemExit, KeyboardInterrupt, GeneratorExit,
CancelledError, its own) fails that job, in every execution model, and the
worker, its threads and its children go on; only the worker's own signals
stop it."""

from __future__ import annotations

import pytest
import worker_jobs as wj
import worker_jobs_exits as wx
from helpers import CORE_ONLY, WorkerProcess, listed

import resqplug

MODES = {
    "fork": ["--fork"],
    "fork, 10 jobs per child": ["--fork", "--max-jobs-per-child", "10"],
    "nofork": ["--no-fork"],
    "threads": ["--threads", "2"],
}


def burst(
    redis_url: str, namespace: str, mode: str, apps: str = "worker_jobs,worker_jobs_exits"
) -> WorkerProcess:
    return WorkerProcess(
        redis_url,
        namespace,
        "-q",
        "work",
        "--burst",
        "--app",
        apps,
        *MODES[mode],
        extra_env=CORE_ONLY,
    )


def failed_as(resq: resqplug.Resq, job_id: str) -> str:
    record = resq.failures.get(job_id)
    return f"{record['exception']}: {record['error']}"


@pytest.mark.parametrize("mode", MODES)
def test_a_jobs_base_exception_fails_that_job_and_the_worker_goes_on(
    resq, redis_url, namespace, mode
):
    # More of them than threads: a thread that died would leave the last ones unrun.
    raised = {kind: resq.enqueue(wx.XRaise, kind) for kind in wx.KINDS}
    after = resq.enqueue(wj.WRecord, 1)
    worker = burst(redis_url, namespace, mode)
    assert worker.wait(30) == 0, worker.output()
    assert listed(resq, "done") == [after]
    assert {kind: resq.failures.get(job_id)["exception"] for kind, job_id in raised.items()} == {
        kind: kind for kind in wx.KINDS
    }
    assert int(resq.redis.get(resq.keys.stat_failed)) == len(wx.KINDS)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("code", [3, 0])
def test_sys_exit_in_a_job_fails_it_with_its_code_and_the_worker_exits_0(
    resq, redis_url, namespace, mode, code
):
    exits = [resq.enqueue(wx.XExit, code) for _ in range(3)]
    after = resq.enqueue(wj.WRecord, 1)
    worker = burst(redis_url, namespace, mode)
    assert worker.wait(30) == 0, worker.output()
    assert [failed_as(resq, job_id) for job_id in exits] == [f"SystemExit: {code}"] * 3
    assert listed(resq, "done") == [after]


@pytest.mark.parametrize("mode", MODES)
def test_a_jobs_failure_method_exiting_neither_stops_the_worker_nor_the_next_method(
    resq, redis_url, namespace, mode
):
    failing = [resq.enqueue(wx.XExitOnFailure) for _ in range(3)]
    after = resq.enqueue(wj.WRecord, 1)
    worker = burst(redis_url, namespace, mode)
    assert worker.wait(30) == 0, worker.output()
    failed = {failed_as(resq, job_id) for job_id in failing}
    assert failed == {"ValueError: the job's own error"}
    assert sorted(listed(resq, "failure_methods")) == sorted(failing)
    assert listed(resq, "done") == [after]


@pytest.mark.parametrize("mode", MODES)
def test_a_plugins_failure_hooks_exiting_neither_stop_the_worker_nor_the_failure(
    resq, redis_url, namespace, mode
):
    failing = [resq.enqueue(wj.WFail, "boom") for _ in range(3)]
    after = resq.enqueue(wj.WRecord, 1)
    worker = burst(redis_url, namespace, mode, apps="worker_jobs,worker_plugin_exits")
    assert worker.wait(30) == 0, worker.output()
    assert {failed_as(resq, job_id) for job_id in failing} == {"ValueError: boom"}
    assert listed(resq, "done") == [after]
