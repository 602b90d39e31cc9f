"""``ResqplugBackend``: Django's Tasks framework on resqplug.

``TASKS = {"default": {"BACKEND": "resqplug.contrib.django.ResqplugBackend",
"QUEUES": [...], "OPTIONS": {...}}}``. A task's ``enqueue()`` writes a
Resque-compatible ``DjangoTask`` job whose id is the ``TaskResult`` id;
resqplug workers run it (see ``resqplug.contrib.django.worker``); results come
from the status plugin. docs/django.md describes the options and choices."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable
from typing import Any

import resqplug
from resqplug import QueueNameError
from resqplug.payload import new_job_id, validate_queue_name

from . import results
from .compat import (
    DEFAULT_TASK_PRIORITY,
    BaseTaskBackend,
    TaskResult,
    TaskResultStatus,
    task_enqueued,
)
from .errors import NoSuchResult, TaskNotEnqueued, UnsupportedTask
from .jobs import DjangoTask, as_datetime

JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
OPTIONS = ("REDIS_URL", "NAMESPACE", "ENQUEUE_ON_COMMIT", "DATABASE", "TASK_MODULES")
_clients: dict[tuple[str | None, str | None], resqplug.Resq] = {}


class ResqplugBackend(BaseTaskBackend):  # type: ignore[misc]
    """Tasks as resqplug jobs. ``supports_defer`` holds when the scheduler
    plugin is loaded and ``supports_get_result`` when the status plugin is;
    priorities are accepted and not used for ordering (queues order work)."""

    supports_async_task = True  # a worker runs a coroutine task to its end
    supports_priority = False
    supports_defer = True
    supports_get_result = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        options = {str(k).upper(): v for k, v in self.options.items()}
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise resqplug.ConfigError(
                f"unknown OPTIONS of the resqplug task backend {alias!r}: "
                f"{', '.join(unknown)} (known: {', '.join(OPTIONS)})"
            )
        self.redis_url: str | None = options.get("REDIS_URL")
        self.namespace: str | None = options.get("NAMESPACE")
        self.enqueue_on_commit = bool(options.get("ENQUEUE_ON_COMMIT", True))
        self.database: str = options.get("DATABASE", "default")
        self._check_database()
        plugins = resqplug.get_plugins().names()
        self.supports_defer = "scheduler" in plugins
        self.supports_get_result = "status" in plugins

    def _check_database(self) -> None:
        from django.conf import settings

        if self.enqueue_on_commit and self.database not in settings.DATABASES:
            raise resqplug.ConfigError(
                f"the resqplug task backend {self.alias!r} waits for commits on database "
                f"{self.database!r}, which is not in DATABASES (set OPTIONS['DATABASE'])"
            )

    def check(self, **kwargs: Any) -> list[Any]:
        """Django's system checks: a warning for what this process lacks."""
        from django.core.checks import Warning as CheckWarning

        found = []
        if not self.supports_get_result:
            found.append(
                CheckWarning(
                    "resqplug task results are unavailable: the resqplug-status plugin "
                    "is not installed (or is disabled); get_result() and refresh() will raise",
                    id="resqplug.W001",
                )
            )
        return found

    @property
    def client(self) -> resqplug.Resq:
        """The resqplug client: one for ``REDIS_URL``/``NAMESPACE`` when given,
        else resqplug's default one (``RESQPLUG_REDIS_URL``, ``configure()``)."""
        if self.redis_url is None and self.namespace is None:
            return resqplug.default_client()
        key = (self.redis_url, self.namespace)
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = resqplug.Resq(self.redis_url, self.namespace)
        return client

    def validate_task(self, task: Any) -> None:
        if task.run_after is not None and not self.supports_defer:
            raise UnsupportedTask(
                "run_after needs the resqplug-scheduler plugin (pip install resqplug-scheduler, "
                "and run `resqplug scheduler` or workers with --with-scheduler)"
            )
        try:
            validate_queue_name(task.queue_name)
        except QueueNameError as exc:
            raise UnsupportedTask(str(exc)) from None
        if task.priority != DEFAULT_TASK_PRIORITY:  # accepted, not used: see the docstring
            self._check_priority(task.priority)
            task = dataclasses.replace(task, priority=DEFAULT_TASK_PRIORITY)
        super().validate_task(task)

    @staticmethod
    def _check_priority(priority: Any) -> None:
        if not isinstance(priority, int) or not -100 <= priority <= 100:
            raise UnsupportedTask("priority must be a whole number between -100 and 100.")

    def enqueue(self, task: Any, args: Iterable[Any], kwargs: dict[str, Any]) -> Any:
        """Write the task's job now, or when the transaction of ``DATABASE``
        commits (``ENQUEUE_ON_COMMIT``, the default): the job is built and
        checked now either way, so a bad argument raises here."""
        self.validate_task(task)
        result = TaskResult(
            task=task,
            id=new_job_id(),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=list(args),
            kwargs=dict(kwargs),
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        call = [task.module_path, result.args, result.kwargs]
        job = self.client.build(DjangoTask, call, queue=task.queue_name, job_id=result.id)
        push = functools.partial(self._push, task, job, result)
        if self.enqueue_on_commit:
            from django.db import transaction

            transaction.on_commit(push, using=self.database)
        else:
            push()
        return result

    def _push(self, task: Any, job: resqplug.Job, result: Any) -> None:
        if task.run_after is not None:
            from resqplug_scheduler import Scheduler

            written = Scheduler(self.client).schedule(job, task.run_after)
        else:
            written = self.client.push(job)
        if written is None:
            raise TaskNotEnqueued(
                f"task {task.module_path} ({job.id}) was not enqueued: a resqplug plugin "
                "vetoed its job or refused it as a duplicate"
            )
        object.__setattr__(result, "enqueued_at", as_datetime(job.enqueued_at))
        task_enqueued.send(type(self), task_result=result)

    def get_result(self, result_id: str) -> Any:
        """The task's result from the status plugin (``StatusPluginMissing``
        without it); Django's ``TaskResultDoesNotExist`` for an unknown id."""
        if not isinstance(result_id, str) or not JOB_ID.fullmatch(result_id):
            raise NoSuchResult(f"no task result {result_id!r} (not a job id)")
        return results.read(result_id, self.alias, self.client)
