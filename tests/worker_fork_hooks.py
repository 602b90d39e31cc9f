"""An --app module for the fork-hook tests: a plugin that records in which
process, and for which job, ``warm_up``, ``before_fork``, ``after_fork`` and
the perform hooks run."""

from __future__ import annotations

import os

from worker_jobs import _redis, key

import resqplug


class ForkSpy:
    @resqplug.hookimpl
    def before_fork(self, worker: object, job: resqplug.Job | None) -> None:
        _redis().rpush(key("before_fork"), f"{os.getpid()}:{job.id if job else '-'}")

    @resqplug.hookimpl
    def warm_up(self, job: resqplug.Job) -> None:
        _redis().rpush(key("warm_up"), f"{os.getpid()}:{job.queue}:{job.id}")

    @resqplug.hookimpl
    def after_fork(self, worker: object, job: resqplug.Job) -> None:
        _redis().rpush(key("after_fork"), f"{os.getpid()}:{os.getppid()}:{job.id}")

    @resqplug.hookimpl
    def job_defined(self, job_class: type) -> None:
        _redis().rpush(key("job_defined"), job_class.__name__)

    @resqplug.hookimpl
    def before_perform(self, job: resqplug.Job) -> None:
        _redis().rpush(key("before_perform"), job.id)

    @resqplug.hookimpl
    def after_perform(self, job: resqplug.Job, result: object) -> None:
        _redis().rpush(key("after_perform"), job.id)


resqplug.register(ForkSpy(), name="forkspy")
