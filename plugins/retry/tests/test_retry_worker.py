"""The retry plugin in real worker processes (``resqplug work --app retry_jobs``):
delays measured with Redis server time, delayed retries moved by a running
worker (from the retry plugin's own delayed set; with the scheduler's, in
tests/plugins_together), and a worker killed with ``kill -9`` in the middle of
a retried attempt."""

from __future__ import annotations

import signal
from typing import Any

import pytest
import retry_jobs as rj
from retry_helpers import retry_set, wait_for

import resqplug

Q = "retry"
# A delayed retry is moved by a worker's heartbeat thread about every 0.5 s;
# a busy test machine (-n 4, forking workers) may add a little.
LATE_AT_MOST_S = 2.0


def stats(client: resqplug.Resq) -> tuple[int, int]:
    s = client.stats()
    return s["processed"], s["failed"]


def check_delays(client: resqplug.Resq, job_id: str, delays: list[float]) -> list[dict[str, Any]]:
    """Attempt n+1 was scheduled ``delays[n-1]`` after attempt n failed, did
    not start before that, and started soon after (all Redis server time)."""
    starts = rj.events(client, job_id, "start")
    fails = rj.events(client, job_id, "fail")
    assert [s["attempt"] for s in starts] == list(range(1, len(delays) + 2))
    assert [f["attempt"] for f in fails] == list(range(1, len(delays) + 1))
    for n, delay in enumerate(delays, start=1):
        failed_at, retry = fails[n - 1]["at"], starts[n]
        planned = retry["next_at"] - failed_at
        assert delay - 1e-6 <= planned < delay + 0.25, (n, delay, planned)
        assert retry["at"] >= retry["next_at"] - 1e-6, (n, "ran before it was due")
        late = retry["at"] - retry["next_at"]
        assert late < LATE_AT_MOST_S, (n, "ran too late", late)
    return starts


def test_retry_then_success_in_a_forking_worker(spawn, default_client):
    job_id = default_client.enqueue(rj.RetryFlaky, 2)
    with spawn():
        wait_for(lambda: rj.done(default_client, job_id), 20, "the job to succeed")
        wait_for(lambda: stats(default_client)[0] == 3, 5, "three runs acknowledged")
    starts = rj.events(default_client, job_id, "start")
    assert [s["attempt"] for s in starts] == [1, 2, 3]
    assert {s["id"] for s in starts} == {job_id}
    assert default_client.failures.count() == 0
    assert stats(default_client) == (3, 0)


@pytest.mark.parametrize(
    ("job_class", "delays"),
    [
        (rj.RetryDelayList, [0.2, 0.5]),
        (rj.RetryBackoffList, [0.3, 0.5]),
        (rj.RetryBackoffCallable, [0.2, 0.4]),
    ],
    ids=["per-exception-list", "backoff-list", "backoff-callable"],
)
def test_delays_are_honoured_by_a_worker(spawn, default_client, job_class, delays):
    job_id = default_client.enqueue(job_class, len(delays), "TimeoutError")
    with spawn("--no-fork"):
        wait_for(lambda: rj.done(default_client, job_id), 20, "the job to succeed")
        wait_for(lambda: stats(default_client)[0] == 3, 5, "three runs acknowledged")
    check_delays(default_client, job_id, delays)
    assert default_client.failures.count() == 0
    assert stats(default_client) == (3, 0)


def test_delayed_retry_is_moved_by_a_running_worker(spawn, default_client):
    delayed = retry_set(default_client)
    job_id = default_client.enqueue(rj.RetryDelayed, 1)
    with spawn("--no-fork"):
        # The retry waits (same id, attempt 2) in the delayed set, not in the queue...
        item = wait_for(lambda: delayed.find(job_id), 10, "the retry in the delayed set")
        assert item.payload["meta"]["attempt"] == 2
        assert len(rj.events(default_client, job_id, "start")) == 1
        # ...and the worker itself moves it when due: no scheduler process runs.
        wait_for(lambda: rj.done(default_client, job_id), 10, "the retry to run")
    check_delays(default_client, job_id, [1.0])
    assert delayed.count() == 0


def test_kill_9_mid_attempt_keeps_the_attempt_count(spawn, default_client):
    job_id = default_client.enqueue(rj.RetrySleepy, 60)
    first = spawn("--no-fork")
    try:
        wait_for(
            lambda: rj.events(default_client, job_id, "sleeping"), 20, "attempt 2 to be running"
        )
        first.signal(signal.SIGKILL)
        first.proc.wait(10)
        with spawn("--no-fork") as second:
            wait_for(lambda: rj.done(default_client, job_id), 30, "the job to finish")
    finally:
        first.kill()
    starts = rj.events(default_client, job_id, "start")
    # Attempt 2 ran again after the reaper recovered it (payload meta kept its
    # attempt number), failed, and attempt 3 followed.
    assert [s["attempt"] for s in starts] == [1, 2, 2, 3]
    assert {s["id"] for s in starts} == {job_id}
    assert [s["recoveries"] for s in starts[:3]] == [0, 0, 1]
    assert [s["pid"] for s in starts] == [first.pid, first.pid, second.pid, second.pid]
    assert default_client.failures.count() == 0
    assert stats(default_client)[1] == 0
