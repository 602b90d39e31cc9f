"""Workers against a Redis that is out of memory (maxmemory with noeviction):
an outage to ride out, not a crash. They keep their leases, take and
acknowledge jobs (which frees memory), start without being listed, and are
listed once Redis accepts writes again. Each test fills its own redis-server."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import worker_jobs_faults as wjf
from helpers import CORE_ONLY, env, registered_workers, resqplug_cmd, wait_for
from test_worker_faults import FaultWorker, RedisServer, needs_redis_server

import resqplug
from resqplug.errors import QueueFullError
from resqplug.worker.registry import redis_time

pytestmark = needs_redis_server
HEADROOM = 1_500_000  # bytes of maxmemory above what the empty server uses
FILLER = "x" * 2000


@pytest.fixture(autouse=True)
def _core_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Enqueues write nothing but the jobs (no status records, say), so draining
    them frees what filled Redis."""
    for name, value in CORE_ONLY.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def full_server(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer(
        "--save", "", "--appendonly", "no", "--dir", str(tmp_path),
        "--maxmemory-policy", "noeviction",
    )  # fmt: skip
    srv.first_start()
    try:
        yield srv
    finally:
        srv.kill()


def used_memory(resq: resqplug.Resq) -> int:
    return int(resq.redis.info("memory")["used_memory"])


def fill(resq: resqplug.Resq, queue: str) -> int:
    """Enqueue to ``queue`` until Redis refuses (QueueFullError), then lower the
    limit below what is used by a quarter of what the jobs take (so it stays
    out of memory while connections come and go, until the jobs are mostly
    gone); returns how many."""
    empty = used_memory(resq)
    resq.redis.config_set("maxmemory", empty + HEADROOM)
    count = 0
    with pytest.raises(QueueFullError):
        while True:
            resq.enqueue_to(queue, wjf.FNoop, FILLER)
            count += 1
    full = used_memory(resq)
    resq.redis.config_set("maxmemory", full - (full - empty) // 4)
    return count


def hand_over(resq: resqplug.Resq, source: str, queue: str) -> None:
    """Move the full ``source`` queue to ``queue`` (RENAME: allowed when out of
    memory, unlike an enqueue), so a worker of ``queue`` has jobs to drain."""
    resq.redis.rename(resq.keys.queue(source), resq.keys.queue(queue))


def out_of_memory(resq: resqplug.Resq) -> bool:
    memory = resq.redis.info("memory")
    return int(memory["used_memory"]) > int(memory["maxmemory"])


def stat(resq: resqplug.Resq, name: str) -> int:
    return int(resq.redis.get(f"{resq.keys.namespace}:stat:{name}") or 0)


def worker(server: RedisServer, namespace: str, queues: str = "work") -> FaultWorker:
    return FaultWorker(server.url, namespace, "-q", queues, extra_env=CORE_ONLY)


def notices(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "out of memory" in line]


# One queue: an idle worker blocks in BLMOVE, which Redis refuses; several: in
# BLPOP on wake-up lists, which it allows.
@pytest.mark.parametrize("queues", ["work", "spare,work"])
def test_a_running_worker_keeps_its_lease_and_drains_while_redis_is_out_of_memory(
    full_server, namespace, queues
):
    resq = resqplug.Resq(full_server.url, namespace)
    running = worker(full_server, namespace, queues)
    try:
        wait_for(lambda: registered_workers(resq.redis, namespace), what="registration")
        (worker_id,) = registered_workers(resq.redis, namespace)
        count = fill(resq, "elsewhere")
        time.sleep(3.0)  # the point: two leases' worth (1.5 s) of heartbeats under OOM
        assert running.proc.poll() is None, running.output()
        assert resq.redis.zscore(resq.keys.leases, worker_id) > redis_time(resq.redis)

        hand_over(resq, "elsewhere", "work")
        wait_for(lambda: stat(resq, "processed") == count, timeout=60, what="the drain")
        assert stat(resq, "failed") == 0
        assert registered_workers(resq.redis, namespace) == [worker_id]
        running.signal(signal.SIGTERM)
        assert running.wait(30) == 0
    finally:
        running.stop()
    stderr = running.output()
    assert 1 <= len(notices(stderr)) <= 3, stderr  # once, or a few flips at the limit


def test_a_worker_started_while_redis_is_out_of_memory_drains_and_is_listed_later(
    full_server, namespace
):
    resq = resqplug.Resq(full_server.url, namespace)
    count = fill(resq, "elsewhere")
    started = worker(full_server, namespace)
    try:
        # Started, with a lease (its jobs are recoverable), not listed yet.
        wait_for(lambda: resq.redis.zcard(resq.keys.leases) == 1, what="the lease")
        time.sleep(2.0)  # the point: it stays up, unlisted, while Redis is full
        assert started.proc.poll() is None, started.output()
        assert registered_workers(resq.redis, namespace) == []

        hand_over(resq, "elsewhere", "work")
        wait_for(lambda: stat(resq, "processed") == count, timeout=60, what="the drain")
        assert not out_of_memory(resq)
        wait_for(lambda: registered_workers(resq.redis, namespace), what="the listing")
        assert stat(resq, "failed") == 0
        started.signal(signal.SIGTERM)
        assert started.wait(30) == 0
    finally:
        started.stop()
    assert registered_workers(resq.redis, namespace) == []
    assert resq.redis.zcard(resq.keys.leases) == 0
    stderr = started.output()
    assert 1 <= len(notices(stderr)) <= 3, stderr  # once, or a few flips at the limit


def test_a_worker_leaving_while_redis_is_out_of_memory_unregisters(full_server, namespace):
    resq = resqplug.Resq(full_server.url, namespace)
    running = worker(full_server, namespace)
    try:
        wait_for(lambda: registered_workers(resq.redis, namespace), what="registration")
        fill(resq, "elsewhere")
        running.signal(signal.SIGTERM)
        assert running.wait(30) == 0, running.output()
    finally:
        running.stop()
    assert out_of_memory(resq)
    assert registered_workers(resq.redis, namespace) == []
    assert resq.redis.zcard(resq.keys.leases) == 0


def test_a_burst_worker_drains_a_full_redis_and_exits_0(full_server, namespace):
    resq = resqplug.Resq(full_server.url, namespace)
    count = fill(resq, "work")
    burst = FaultWorker(full_server.url, namespace, "-q", "work", "--burst", extra_env=CORE_ONLY)
    try:
        assert burst.wait(60) == 0, burst.output()
    finally:
        burst.stop()
    assert stat(resq, "processed") == count
    assert resq.size("work") == 0


def test_an_enqueue_from_the_cli_refused_for_memory_is_one_line_and_exit_7(full_server, namespace):
    resq = resqplug.Resq(full_server.url, namespace)
    fill(resq, "work")
    cmd = resqplug_cmd(full_server.url, namespace, "enqueue", "FNoop", '"x"')
    result = subprocess.run(
        [*cmd, "--app", "worker_jobs_faults"], env=env(CORE_ONLY), capture_output=True, text=True
    )
    assert result.returncode == 7, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "out of memory" in result.stderr


def test_jobs_fetched_behind_a_slow_one_go_back_while_redis_is_out_of_memory(
    full_server, namespace, tmp_path
):
    """Fast jobs grow the fetched batches; a slow one then gives back the jobs
    fetched behind it (requeue.lua), which Redis out of memory must allow: it
    frees as much as it adds."""
    resq = resqplug.Resq(full_server.url, namespace)
    for _ in range(60):
        resq.enqueue_to("work", wjf.FNoop)
    resq.enqueue_to("work", wjf.FQuiet, str(tmp_path / "slow"), 0.5)
    for _ in range(10):
        resq.enqueue_to("work", wjf.FNoop)
    fill(resq, "elsewhere")
    running = worker(full_server, namespace)
    try:
        wait_for(
            lambda: stat(resq, "processed") == 71 or running.proc.poll() is not None,
            timeout=60,
            what="the jobs, or the worker's exit",
        )
        assert running.proc.poll() is None, running.output()
        assert out_of_memory(resq)  # the point: all of it while Redis was out of memory
        running.signal(signal.SIGTERM)
        assert running.wait(30) == 0
    finally:
        running.stop()
