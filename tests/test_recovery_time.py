"""How long a SIGKILLed worker's job waits before it runs again
(docs/reliability.md): not before the dead worker's lease has run out, and
then within one reaper interval (2 heartbeats, on the heartbeat thread's
ticks) of a live worker."""

from __future__ import annotations

import signal

import worker_jobs as wj
from helpers import WorkerProcess, listed, registered_workers, wait_for

from resqplug.worker.registry import redis_time
from resqplug.worker.worker import TICK_S

HEARTBEAT_S, DEAD_AFTER_S = 0.5, 2.0
LEASE = {"RESQPLUG_HEARTBEAT_S": str(HEARTBEAT_S), "RESQPLUG_DEAD_AFTER_S": str(DEAD_AFTER_S)}
SLACK_S = 1.5  # a loaded machine: the job's own start-up, scheduling


def test_a_sigkilled_workers_job_runs_again_once_its_lease_expires_and_a_reaper_passes(
    resq, redis_url, namespace
):
    victim = WorkerProcess(redis_url, namespace, "-q", "work", "--no-fork", extra_env=LEASE)
    survivor = None
    try:
        job = resq.enqueue(wj.WSleep, 60)
        wait_for(lambda: listed(resq, "started") == [job], timeout=30, what="the job started")
        survivor = WorkerProcess(redis_url, namespace, "-q", "work", "--no-fork", extra_env=LEASE)
        wait_for(lambda: len(registered_workers(resq.redis, namespace)) == 2, timeout=30)
        (victim_id,) = [
            w for w in registered_workers(resq.redis, namespace) if f":{victim.pid}:" in w
        ]
        victim.signal(signal.SIGKILL)
        victim.wait()
        expiry = resq.redis.zscore(resq.keys.leases, victim_id)  # its last renewal's

        wait_for(lambda: len(listed(resq, "started")) == 2, timeout=DEAD_AFTER_S + 10)
        back = redis_time(resq.redis)

        assert back >= expiry, "recovered before the dead worker's lease ran out"
        reaper_interval = 2 * HEARTBEAT_S + TICK_S  # reaps every 2 beats, checked each tick
        assert back - expiry <= reaper_interval + SLACK_S
    finally:
        victim.stop()
        if survivor is not None:
            survivor.stop()
