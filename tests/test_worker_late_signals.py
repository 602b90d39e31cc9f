"""A stop (USR1, a job's timeout, the end of TERM's shutdown wait, INT) only
ever interrupts a job's own run: one that arrives once the job is done, while
the worker logs or records its outcome, leaves that outcome alone. A finished
job is recorded, never failed for it, never put back to run again."""

from __future__ import annotations

import worker_jobs_late as late

import resqplug
from resqplug.worker.options import WorkerOptions
from resqplug.worker.worker import Worker


def processed(resq: resqplug.Resq) -> int:
    return int(resq.redis.get(resq.keys.stat_processed) or 0)


def test_threads_record_outcomes_that_came_at_the_deadline_before_putting_back(
    resq, namespace, tmp_path, monkeypatch
):
    """INT (or the end of TERM's wait) while one job is done, its outcome not
    yet collected, and another still runs: only the running one goes back."""
    monkeypatch.setenv("LATE_RUNS", str(tmp_path / "runs"))
    worker = Worker(resq, WorkerOptions(queues=["late"], mode="threads", threads=1))
    done_id, running_id = resq.enqueue(late.Late), resq.enqueue(late.Late)
    executor = worker.executor
    finished, running = worker.inflight.fetch(2)
    executor.held.update([finished.entry, running.entry])
    executor.done.put(worker.processor.process(finished))
    worker.control.terminate(0.0)  # INT

    executor.drain()
    worker.flush()
    executor.close()
    worker._leave()

    assert [job["id"] for job in resq.peek("late", 0, 5)] == [running_id]
    assert processed(resq) == 1, done_id
    assert resq.failures.count() == 0
    assert resq.redis.llen(worker.inflight.key) == 0
