"""Workers against a Redis that is unreachable, killed or restarted, and against
payloads written by Ruby Resque (REFERENCE.md section D, scenarios 10, 11, 13)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import worker_jobs
import worker_jobs_faults
from helpers import CORE_ONLY, WorkerProcess, env, registered_workers, resqplug_cmd, wait_for
from redis_server import RedisServer, needs_redis_server

import resqplug
from resqplug.keys import Keys

OUTAGE_S = 3.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer("--save", "", "--appendonly", "no", "--dir", str(tmp_path))
    srv.first_start()
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture
def aof_server(tmp_path: Path) -> Iterator[RedisServer]:
    """Persists every write (AOF, fsync always), so a restart keeps all data."""
    srv = RedisServer.persistent(tmp_path)
    srv.first_start()
    try:
        yield srv
    finally:
        srv.kill()


class FaultWorker(WorkerProcess):
    """``resqplug work`` with the extra job module of these tests."""

    def __init__(
        self, redis_url: str, namespace: str, *args: str, extra_env: dict[str, str] | None = None
    ) -> None:
        cmd = resqplug_cmd(
            redis_url, namespace, "work", "--app", "worker_jobs,worker_jobs_faults", *args
        )
        self.proc = subprocess.Popen(
            cmd, env=env(extra_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.pid = self.proc.pid


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def done_ids(client: redis.Redis, namespace: str) -> list[str]:
    key = Keys(namespace).plugin("test", "done")
    return [x.decode() for x in client.lrange(key, 0, -1)]


def outage(server: RedisServer, worker: WorkerProcess) -> float:
    """Kill Redis for OUTAGE_S seconds, restart it empty; returns the worker's CPU
    seconds spent meanwhile."""
    before = cpu_seconds(worker.pid)
    server.kill()
    time.sleep(OUTAGE_S)  # the injected fault: Redis is away this long
    assert worker.proc.poll() is None, "worker exited while Redis was down"
    spent = cpu_seconds(worker.pid) - before
    assert server.start(), "redis-server could not restart on its port"
    return spent


# --- Redis refusing connections at start (scenario 10) -------------------------------


@pytest.mark.parametrize("command", [["work", "-q", "a"], ["workers", "-c", "1", "-q", "a"]])
def test_unreachable_redis_is_one_redacted_line_and_exit_3(command):
    cmd = resqplug_cmd("redis://:sekret@127.0.0.1:1/0", "t-unreachable", *command)
    done = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=30)

    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "cannot connect" in lines[0]
    assert "***" in lines[0]
    assert "sekret" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


# --- Redis killed and restarted without persistence (scenario 11) --------------------


@needs_redis_server
def test_idle_worker_survives_a_redis_restart_without_spinning(server, namespace):
    worker = WorkerProcess(server.url, namespace, "-q", "work", "--no-fork")
    client = server.client()
    try:
        (wid,) = wait_for(lambda: registered_workers(client, namespace), what="registered")

        spent = outage(server, worker)

        assert spent < 1.0, f"worker used {spent:.2f}s of CPU while Redis was down"
        client = server.client()
        wait_for(
            lambda: registered_workers(client, namespace) == [wid],
            what="worker registered again on the restarted (empty) Redis",
        )
        job_id = resqplug.Resq(server.url, namespace).enqueue(worker_jobs.WRecord, 1)
        wait_for(
            lambda: done_ids(client, namespace) == [job_id], timeout=15, what="job after restart"
        )
        worker.signal(signal.SIGTERM)
        assert worker.wait(10) == 0
        err = worker.output()
        assert "Traceback" not in err
        assert "Redis unavailable" in err, err
    finally:
        worker.stop()


def worker_blocked_in_its_registration(server: RedisServer, namespace: str) -> WorkerProcess:
    """A worker that has read the server's version and waits in its registration:
    writes wait while the clients are paused."""
    server.client().client_pause(10_000, all=False)
    worker = WorkerProcess(server.url, namespace, "-q", "work", "--no-fork")
    try:
        wait_for(
            lambda: server.client().info("clients")["blocked_clients"] == 1,
            what="worker blocked in its registration",
        )
    except BaseException:
        worker.stop()
        raise
    return worker


@needs_redis_server
def test_redis_lost_while_the_worker_registers_is_an_outage_not_a_failed_start(server, namespace):
    worker = worker_blocked_in_its_registration(server, namespace)
    try:
        server.kill()
        assert server.start(), "redis-server could not restart on its port"
        client = server.client()
        wait_for(lambda: registered_workers(client, namespace), what="registered again")
        assert worker.proc.poll() is None
        job_id = resqplug.Resq(server.url, namespace).enqueue(worker_jobs.WRecord, 1)
        wait_for(lambda: done_ids(client, namespace) == [job_id], timeout=15, what="job ran")
        worker.signal(signal.SIGTERM)
        assert worker.wait(10) == 0
        assert "Redis unavailable" in worker.output()
    finally:
        worker.stop()


@needs_redis_server
def test_a_worker_stopped_before_it_could_register_exits_cleanly(server, namespace):
    worker = worker_blocked_in_its_registration(server, namespace)
    try:
        server.kill()  # and it stays away
        worker.signal(signal.SIGTERM)
        assert worker.wait(10) == 0
        assert "Traceback" not in worker.output()
    finally:
        worker.stop()


@needs_redis_server
def test_busy_worker_survives_a_redis_restart_without_spinning(server, namespace):
    worker = WorkerProcess(server.url, namespace, "-q", "work", "--no-fork")
    client = server.client()
    resq = resqplug.Resq(server.url, namespace)
    try:
        wait_for(lambda: registered_workers(client, namespace), what="registered")
        resq.enqueue(worker_jobs.WSleep, 1.0)
        wait_for(lambda: client.hlen(resq.keys.plugin("test", "runs")), what="job started")

        spent = outage(server, worker)

        assert spent < 1.0, f"worker used {spent:.2f}s of CPU while Redis was down"
        client = server.client()
        job_id = resq.enqueue(worker_jobs.WRecord, 2)
        wait_for(
            lambda: job_id in done_ids(client, namespace), timeout=15, what="job after restart"
        )
        assert worker.proc.poll() is None
        worker.signal(signal.SIGTERM)
        assert worker.wait(10) == 0
        err = worker.output()
        assert "Traceback" not in err
        assert "ack failed" in err, err
    finally:
        worker.stop()


@needs_redis_server
def test_ack_is_retried_until_redis_is_back(aof_server, namespace, tmp_path):
    """Scenario 13: the job ends while Redis is down; its outcome is recorded once
    Redis is back (here with its data, AOF), and the job does not run again."""
    log = tmp_path / "runs.txt"
    worker = FaultWorker(aof_server.url, namespace, "-q", "work", "--no-fork")
    resq = resqplug.Resq(aof_server.url, namespace)
    client = aof_server.client()
    try:
        (wid,) = wait_for(lambda: registered_workers(client, namespace), what="registered")
        job_id = resq.enqueue(worker_jobs_faults.FQuiet, str(log), 0.5)
        wait_for(lambda: log.exists(), what="job started")
        aof_server.kill()
        wait_for(lambda: f"done {job_id}" in log.read_text(), what="job finished")
        time.sleep(1.0)  # the ack fails and is retried while Redis is away
        assert aof_server.start()
        client = aof_server.client()

        wait_for(lambda: client.get(resq.keys.stat_processed) == b"1", what="ack recorded")
        wait_for(lambda: client.get(resq.keys.stat_processed_of(wid)) == b"1", what="ack")
        assert client.llen(resq.keys.inflight(wid)) == 0
        assert client.llen(resq.keys.failed) == 0
        worker.signal(signal.SIGTERM)
        assert worker.wait(10) == 0
        assert log.read_text().splitlines() == [f"start {job_id}", f"done {job_id}"]
        assert resq.size("work") == 0
    finally:
        worker.stop()


def test_late_ack_after_a_stall_longer_than_the_lease_keeps_the_recovered_copy(
    redis_url, namespace, resq
):
    """Scenario 14: a worker frozen (SIGSTOP) past its lease has its job recovered
    and re-run elsewhere; its late ack records nothing and it logs "lease lost"."""
    runs = resq.keys.plugin("test", "runs")
    started = resq.keys.plugin("test", "started")
    stalled = WorkerProcess(redis_url, namespace, "-q", "work", "--no-fork")
    other: WorkerProcess | None = None
    try:
        (stalled_id,) = wait_for(lambda: registered_workers(resq.redis, namespace), what="up")
        job_id = resq.enqueue(worker_jobs.WSleep, 1.0)
        wait_for(lambda: resq.redis.llen(started) == 1, what="job started")
        stalled.signal(signal.SIGSTOP)
        other = WorkerProcess(redis_url, namespace, "-q", "work", "--no-fork")

        wait_for(lambda: resq.redis.llen(started) == 2, what="recovered copy started elsewhere")
        stalled.signal(signal.SIGCONT)
        wait_for(lambda: len(done_ids(resq.redis, namespace)) == 2, what="both runs done")
        wait_for(lambda: resq.redis.get(resq.keys.stat_processed) == b"1", what="one ack")

        assert resq.redis.hget(runs, job_id) == b"2"
        last_meta = resq.redis.hget(resq.keys.plugin("test", "meta"), job_id)
        assert json.loads(last_meta) == {"recoveries": 1}
        assert resq.size("work") == 0
        wait_for(lambda: not resq.redis.llen(resq.keys.inflight(stalled_id)), what="acked")
        assert resq.failures.count() == 0
        stalled.signal(signal.SIGTERM)
        assert stalled.wait(10) == 0
        assert "lease lost" in stalled.output()
    finally:
        if stalled.proc.poll() is None:
            stalled.signal(signal.SIGCONT)
        stalled.stop()
        if other is not None:
            other.stop()


# --- payloads written by Ruby Resque --------------------------------------------------


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_ruby_resque_payload_without_id_runs(mode, redis_url, namespace, resq):
    raw = '{"class":"WRecord","args":[1]}'
    resq.redis.rpush(resq.keys.queue("work"), raw)
    resq.redis.sadd(resq.keys.queues, "work")
    worker = WorkerProcess(redis_url, namespace, "-q", "work", "--burst", mode)
    try:
        assert worker.wait(20) == 0
    finally:
        worker.stop()

    derived = hashlib.sha1(raw.encode()).hexdigest()[:32]
    assert done_ids(resq.redis, namespace) == [derived]
    assert resq.redis.hgetall(resq.keys.plugin("test", "runs")) == {derived.encode(): b"1"}
    assert resq.failures.count() == 0
    assert resq.redis.get(resq.keys.stat_processed) == b"1"


@needs_redis_server
@pytest.mark.parametrize("mode", [["--no-fork"], ["--fork", "--max-jobs-per-child", "10"]])
def test_redis_gone_while_a_slow_job_holds_a_batch_loses_nothing(
    aof_server, namespace, tmp_path, mode
):
    """The batch behind a slow job cannot go back while Redis is away: those
    jobs stay with this worker (or in its in-flight list) and all of them run."""
    log = tmp_path / "runs.txt"
    resq = resqplug.Resq(aof_server.url, namespace)
    fast = [(str(log), 0) for _ in range(20)]
    ids = resq.enqueue_many(worker_jobs_faults.FQuiet, fast)
    slow = resq.enqueue(worker_jobs_faults.FQuiet, str(log), 1.5)
    ids += [slow, *resq.enqueue_many(worker_jobs_faults.FQuiet, fast)]
    core_only = {"RESQPLUG_DISABLE_PLUGINS": CORE_ONLY["RESQPLUG_DISABLE_PLUGINS"]}
    worker = FaultWorker(aof_server.url, namespace, "-q", "work", *mode, extra_env=core_only)
    try:
        wait_for(lambda: log.exists() and f"start {slow}" in log.read_text(), what="slow job")
        aof_server.kill()
        time.sleep(0.5)  # the give-back behind the slow job meets no Redis
        assert aof_server.start()
        done = lambda: {line.split()[1] for line in log.read_text().splitlines() if "done" in line}  # noqa: E731
        wait_for(lambda: set(ids) <= done(), timeout=20, what="every job done")
        assert worker.proc.poll() is None
        worker.signal(signal.SIGTERM)
        assert worker.wait(10) == 0
        assert "Traceback" not in worker.output()
    finally:
        worker.stop()
