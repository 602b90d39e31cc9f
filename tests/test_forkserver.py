"""The fork server: fork-mode job children are forked by a lean process of the
worker's, which loads the Redis client only once jobs need it. Real worker
processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import worker_jobs as wj
from helpers import (
    CORE_ONLY,
    WorkerProcess,
    child_pids,
    env,
    fork_server_pids,
    job_children,
    listed,
    process_gone,
    resqplug_cmd,
    wait_for,
)

import resqplug
from resqplug.plugins import Plugins

ALWAYS = {**CORE_ONLY, "RESQPLUG_FORK_SERVER": "always"}


# What a fork server and its job children import: none of it may load redis-py.
JOB_SIDE_MODULES = (
    "resqplug.worker.run.fork.server",
    "resqplug.worker.run.fork.child",
    "resqplug.worker.run.fork.protocol",
    "resqplug.worker.run.fork.warmup",
    "resqplug.worker.options",
    "resqplug.worker.processor",
    "resqplug.worker.taken",
    "resqplug.worker.control",
)


def test_the_job_side_of_resqplug_imports_no_redis_client() -> None:
    code = (
        f"import sys, resqplug, {', '.join(JOB_SIDE_MODULES)}\n"
        "assert 'redis' not in sys.modules, sorted(m for m in sys.modules if 'redis' in m)\n"
        "assert resqplug.Resq.__module__ == 'resqplug.client'\n"
        "assert 'redis' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_server_loads_the_redis_client_once_a_child_needed_it(resq, redis_url, namespace):
    ids = resq.enqueue_many(wj.WClientLoaded, [(i,) for i in range(8)])
    worker = WorkerProcess(redis_url, namespace, "-q", "work", "--burst", extra_env=ALWAYS)
    assert worker.wait() == 0, worker.output()
    loaded = dict(entry.split(":") for entry in listed(resq, "client_loaded"))
    assert sorted(loaded) == sorted(ids)
    assert loaded[ids[0]] == "0"  # the first child imported it itself ...
    assert loaded[ids[-1]] == "1"  # ... and later ones inherited it from the server


def test_a_backlog_starts_the_fork_server_and_idleness_stops_it(resq, redis_url, namespace):
    idle_1s = {**CORE_ONLY, "RESQPLUG_FORK_SERVER_IDLE_S": "1"}
    worker = WorkerProcess(redis_url, namespace, "-q", "work", "--fork", extra_env=idle_1s)
    try:
        one = resq.enqueue(wj.WRecord, 0)
        wait_for(lambda: listed(resq, "done") == [one], what="a single job done")
        assert fork_server_pids(worker.pid) == []  # no backlog: forked by the worker
        resq.enqueue_many(wj.WRecord, [(i,) for i in range(1, 200)])
        wait_for(lambda: len(listed(resq, "done")) == 200, timeout=30, what="the backlog done")
        servers = {int(p.split(":")[1]) for p in listed(resq, "pids")} - {worker.pid}
        assert len(servers) == 1  # later children came from one fork server
        wait_for(lambda: child_pids(worker.pid) == [], timeout=5, what="idle: one process")
        last = resq.enqueue(wj.WRecord, 200)
        wait_for(lambda: len(listed(resq, "done")) == 201, what="the job after the idle time")
        assert listed(resq, "done")[-1] == last
    finally:
        worker.stop()


def test_a_fork_server_has_no_children_while_idle(resq, redis_url, namespace):
    worker = WorkerProcess(redis_url, namespace, "-q", "work", "--fork", extra_env=ALWAYS)
    try:
        resq.enqueue_many(wj.WRecord, [(i,) for i in range(5)])
        wait_for(lambda: len(listed(resq, "done")) == 5, what="5 jobs done")
        assert len(fork_server_pids(worker.pid)) == 1
        parents = {int(p.split(":")[1]) for p in listed(resq, "pids")}
        assert parents == set(fork_server_pids(worker.pid))
        wait_for(lambda: job_children(worker.pid) == [], timeout=5, what="no children while idle")
    finally:
        worker.stop()


def test_a_killed_fork_server_fails_the_running_job_and_another_takes_over(
    resq, redis_url, namespace
):
    worker = WorkerProcess(redis_url, namespace, "-q", "work", "--fork", extra_env=ALWAYS)
    try:
        slow = resq.enqueue(wj.WSleep, 30)
        wait_for(lambda: listed(resq, "started") == [slow], what="the slow job started")
        server = fork_server_pids(worker.pid)[0]
        os.kill(server, signal.SIGKILL)
        wait_for(lambda: resq.failures.count() == 1, what="the slow job failed")
        assert "killed by signal 9" in resq.failures.get(slow)["error"]
        after = resq.enqueue(wj.WRecord, 1)
        wait_for(lambda: listed(resq, "done") == [after], what="the next job done")
        assert worker.proc.poll() is None
        assert fork_server_pids(worker.pid) not in ([], [server])
    finally:
        worker.stop()


def test_a_killed_worker_takes_its_fork_server_and_children_along(resq, redis_url, namespace):
    worker = WorkerProcess(redis_url, namespace, "-q", "work", "--fork", extra_env=ALWAYS)
    slow = resq.enqueue(wj.WSleep, 30)
    wait_for(lambda: listed(resq, "started") == [slow], what="the slow job started")
    server = fork_server_pids(worker.pid)[0]
    children = child_pids(server)
    assert children
    worker.signal(signal.SIGKILL)
    worker.wait()
    wait_for(lambda: all(process_gone(p) for p in (server, *children)), timeout=5, what="all gone")


def test_without_a_usable_fork_server_the_worker_forks_itself(resq, redis_url, namespace):
    ids = resq.enqueue_many(wj.WRecord, [(i,) for i in range(3)])
    args = ["-q", "work", "--burst", "--app", "worker_jobs_no_server"]
    worker = WorkerProcess(redis_url, namespace, *args, extra_env=ALWAYS)
    assert worker.wait() == 0
    assert sorted(listed(resq, "done")) == sorted(ids)
    assert {p.split(":")[1] for p in listed(resq, "pids")} == {str(worker.pid)}
    assert "no fork server (ImportError: this module does not load" in worker.output()


def test_the_server_loads_the_same_entry_point_plugins_without_package_metadata(
    resq, redis_url, namespace
):
    installed = resqplug.get_plugins().entry_point_specs()
    assert {name for name, _ in installed} >= {"retry", "status"}  # the dev set-up has them all
    fresh = Plugins(load_entry_points=False)
    fresh.load_specs(installed)
    assert sorted(fresh.names()) == sorted(resqplug.get_plugins().names())
    ids = resq.enqueue_many(wj.WRecord, [(i,) for i in range(3)])
    all_plugins = {"RESQPLUG_FORK_SERVER": "always"}
    worker = WorkerProcess(redis_url, namespace, "-q", "work", "--burst", extra_env=all_plugins)
    assert worker.wait() == 0
    assert sorted(listed(resq, "done")) == sorted(ids)
    assert str(worker.pid) not in {p.split(":")[1] for p in listed(resq, "pids")}
    assert "no fork server" not in worker.output()


def test_a_worker_done_before_its_fork_server_is_up_exits_at_once_and_quietly(
    resq, redis_url, namespace
):
    ids = resq.enqueue_many(wj.WRecord, [(i,) for i in range(3)])  # a backlog: a server starts
    started = time.monotonic()
    worker = WorkerProcess(redis_url, namespace, "-q", "work", "--burst", extra_env=CORE_ONLY)
    assert worker.wait() == 0
    assert time.monotonic() - started < 5
    assert sorted(listed(resq, "done")) == sorted(ids)
    assert "Traceback" not in worker.output()


@pytest.mark.parametrize("policy", ["auto", "always"])
def test_a_child_for_several_jobs_survives_the_idle_time(resq, redis_url, namespace, policy):
    settings = {**CORE_ONLY, "RESQPLUG_FORK_SERVER": policy, "RESQPLUG_FORK_SERVER_IDLE_S": "0.5"}
    args = ["-q", "work", "--fork", "--max-jobs-per-child", "5"]
    worker = WorkerProcess(redis_url, namespace, *args, extra_env=settings)
    try:
        # 202 = 40 x 5 + 2: the last child waits for 3 more jobs when the
        # worker goes idle, and it is the server's.
        resq.enqueue_many(wj.WRecord, [(i,) for i in range(202)])
        wait_for(lambda: len(listed(resq, "done")) == 202, timeout=30, what="the backlog done")
        assert listed(resq, "pids")[-1].split(":")[1] != str(worker.pid)
        if policy == "auto":
            wait_for(lambda: fork_server_pids(worker.pid) == [], what="the idle server stopped")
        else:
            time.sleep(1.5)  # three idle times pass: the point is that nothing happens
            assert fork_server_pids(worker.pid) != []
        resq.enqueue_many(wj.WRecord, [(i,) for i in range(202, 205)])
        wait_for(lambda: len(listed(resq, "done")) == 205, what="the jobs after the idle time")
        assert resq.failures.count() == 0
    finally:
        worker.stop()


def test_a_job_that_kills_its_fork_server_fails_alone(resq, redis_url, namespace):
    before = resq.enqueue_many(wj.WRecord, [(i,) for i in range(30)])
    killer = resq.enqueue(wj.WKillParent)
    after = resq.enqueue_many(wj.WRecord, [(i,) for i in range(30, 60)])
    worker = WorkerProcess(redis_url, namespace, "-q", "work", "--burst", extra_env=ALWAYS)
    assert worker.wait(30) == 0
    assert sorted(listed(resq, "done")) == sorted(before + after)
    assert [f["id"] for f in resq.failures.list(0, 10)] == [killer]
    assert "the fork server is gone" in worker.output()


def test_a_worker_that_cannot_start_a_fork_server_forks_its_children(resq, redis_url, namespace):
    ids = resq.enqueue_many(wj.WRecord, [(i,) for i in range(5)])
    args = ["-q", "work", "--burst", "--app", "worker_jobs_bad_python"]
    worker = WorkerProcess(redis_url, namespace, *args, extra_env=ALWAYS)
    assert worker.wait() == 0
    assert sorted(listed(resq, "done")) == sorted(ids)
    assert {p.split(":")[1] for p in listed(resq, "pids")} == {str(worker.pid)}
    assert "no fork server (cannot start '/nonexistent/python'" in worker.output()


def test_auto_does_not_fork_from_a_server_that_holds_the_redis_client(resq, redis_url, namespace):
    ids = resq.enqueue_many(wj.WRecord, [(i,) for i in range(100)])  # a backlog
    args = ["-q", "work", "--burst", "--app", "worker_jobs_redis_client"]  # imports redis-py
    worker = WorkerProcess(redis_url, namespace, *args)
    assert worker.wait(30) == 0
    assert sorted(listed(resq, "done")) == sorted(ids)
    assert {p.split(":")[1] for p in listed(resq, "pids")} == {str(worker.pid)}


def test_auto_forks_from_the_server_with_every_bundled_plugin_loaded(resq, redis_url, namespace):
    ids = resq.enqueue_many(wj.WRecord, [(i,) for i in range(300)])  # a backlog
    worker = WorkerProcess(redis_url, namespace, "-q", "work", "--burst")  # plugins: all found
    assert worker.wait(60) == 0
    assert sorted(listed(resq, "done")) == sorted(ids)
    parents = {p.split(":")[1] for p in listed(resq, "pids")}
    assert parents - {str(worker.pid)}, "every job was forked by the worker itself"


def test_an_unknown_fork_server_setting_is_one_line_and_exit_4(redis_url, namespace):
    done = subprocess.run(
        resqplug_cmd(redis_url, namespace, "work", "-q", "work", "--burst"),
        env=env({"RESQPLUG_FORK_SERVER": "sometimes"}),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 4
    assert done.stderr.strip().splitlines() == [
        "resqplug: error: RESQPLUG_FORK_SERVER='sometimes': use auto, always or never"
    ]


@pytest.mark.parametrize("policy", ["always", "never"])
def test_a_program_a_job_started_does_not_keep_its_dead_child_alive_for_the_worker(
    resq, redis_url, namespace, policy
):
    settings = {**CORE_ONLY, "RESQPLUG_FORK_SERVER": policy}
    worker = WorkerProcess(redis_url, namespace, "-q", "work", "--fork", extra_env=settings)
    try:
        dying = resq.enqueue(wj.WSpawnThenDie, 8)  # its "sleep 8" outlives it
        wait_for(lambda: resq.failures.count() == 1, timeout=4, what="the job failed")
        assert "killed by signal 9" in resq.failures.get(dying)["error"]
    finally:
        worker.stop()
