"""A plugin whose failure hooks call sys.exit (loaded with --app
worker_jobs,worker_plugin_exits), for tests/test_worker_job_exits.py."""

from __future__ import annotations

import sys

import resqplug


class ExitingFailureHooks:
    @resqplug.hookimpl
    def on_failure(self, job: resqplug.Job, exc: BaseException) -> None:
        sys.exit(5)

    @resqplug.hookimpl
    def handle_failure(self, job: resqplug.Job, exc: BaseException) -> str | None:
        sys.exit(6)


resqplug.register(ExitingFailureHooks(), name="exiting_failure_hooks")
