"""``remove_delayed`` tells plugins each removed job is gone (``job_discarded``)."""

from __future__ import annotations

import resqplug_scheduler as scheduler
import scheduler_jobs as jobs

import resqplug


class Heard:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    @resqplug.hookimpl
    def job_discarded(self, job: resqplug.Job, reason: str) -> None:
        self.seen.append((job.id, job.queue, reason))


def test_remove_delayed_announces_each_removed_job(default_client: resqplug.Resq) -> None:
    heard = Heard()
    resqplug.register(heard, name="schedtest-heard")
    when = 1_900_000_000
    removed = [scheduler.enqueue_at(when + n, jobs.SchedRecord, 1) for n in range(3)]
    removed.append(scheduler.enqueue_at_with_queue("elsewhere", when, jobs.SchedRecord, 1))
    kept = scheduler.enqueue_at(when, jobs.SchedRecord, 2)
    assert scheduler.remove_delayed(jobs.SchedRecord, 1) == 4
    assert sorted(heard.seen) == sorted(
        (job_id, "elsewhere" if n == 3 else "sched", "delayed removed")
        for n, job_id in enumerate(removed)
    )
    assert [d.payload["id"] for d in scheduler.delayed_jobs()] == [kept]
