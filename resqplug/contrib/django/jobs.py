"""The resqplug job that runs Django tasks, and the registry it finds them in.

A task's job is ``{"class":"DjangoTask","args":["<module path>",[args],{kwargs}],...}``.
The module path is looked up in a registry of the ``Task`` objects found in
the ``tasks`` module of every installed app and in the modules the backend's
``OPTIONS["TASK_MODULES"]`` names: nothing is ever imported because a job
names it, so a job naming anything else fails with ``UnknownTaskError``."""

from __future__ import annotations

import importlib
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

import resqplug
from resqplug import PayloadError

from .compat import (
    Task,
    TaskContext,
    TaskError,
    TaskResult,
    TaskResultStatus,
    normalize_json,
    task_finished,
    task_started,
)
from .errors import UnknownTaskError

JOB_NAME = "DjangoTask"
BACKEND_PATH = "resqplug.contrib.django.ResqplugBackend"


class TaskRegistry:
    """Tasks by module path, found once per process (on first use)."""

    def __init__(self) -> None:
        self._tasks: dict[str, Any] = {}
        self._built = False
        self._lock = threading.Lock()

    def build(self) -> None:
        """Import each installed app's ``tasks`` module (if it has one) and the
        modules named by ``TASK_MODULES``, and record the tasks they hold."""
        from django.apps import apps
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("tasks")
        found = [f"{app.name}.tasks" for app in apps.get_app_configs()]
        modules = [importlib.import_module(name) for name in configured_modules()]
        modules += [m for m in map(_loaded, found) if m is not None]
        with self._lock:
            for module in modules:
                self._tasks.update(tasks_in(module))
            self._built = True

    def resolve(self, path: object) -> Any:
        if not isinstance(path, str):
            raise PayloadError(f"a {JOB_NAME} job must name its task as a string, got {path!r:.80}")
        if not self._built:
            self.build()
        task = self._tasks.get(path)
        if task is None:
            raise UnknownTaskError(
                f"unknown Django task {path!r}: not in the tasks modules of INSTALLED_APPS "
                "or the backend's OPTIONS['TASK_MODULES'] (a job never imports what it names)"
            )
        return task

    def names(self) -> list[str]:
        if not self._built:
            self.build()
        return sorted(self._tasks)


def _loaded(name: str) -> ModuleType | None:
    return sys.modules.get(name)


def tasks_in(module: ModuleType) -> dict[str, Any]:
    return {v.module_path: v for v in vars(module).values() if isinstance(v, Task)}


def configured_modules() -> list[str]:
    """``OPTIONS["TASK_MODULES"]`` of every resqplug backend in ``TASKS``."""
    from django.conf import settings

    names: list[str] = []
    for params in getattr(settings, "TASKS", {}).values():
        if params.get("BACKEND") == BACKEND_PATH:
            names += params.get("OPTIONS", {}).get("TASK_MODULES", [])
    return names


registry = TaskRegistry()


def as_datetime(epoch: float | None) -> datetime | None:
    """A time from resqplug (epoch seconds) as Django gives times: aware (UTC)
    with ``USE_TZ``, else naive local time."""
    from django.conf import settings

    if epoch is None:
        return None
    if settings.USE_TZ:
        return datetime.fromtimestamp(epoch, tz=timezone.utc)
    return datetime.fromtimestamp(epoch)


class DjangoTask(resqplug.Job):
    """Runs a Django task in a resqplug worker: ``args`` are the task's module
    path, its args and its kwargs."""

    name = JOB_NAME

    def perform(self, path: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        task = registry.resolve(path)
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise PayloadError(f"a {JOB_NAME} job takes [path, [args], {{kwargs}}]")
        from django.db import close_old_connections

        close_old_connections()
        try:
            return self._run(task, args, kwargs)
        finally:
            close_old_connections()

    def _run(self, task: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        result = self.task_result(task, args, kwargs)
        sender = type(task.get_backend())
        task_started.send(sender=sender, task_result=result)
        try:
            if task.takes_context:
                value = task.call(TaskContext(task_result=result), *args, **kwargs)
            else:
                value = task.call(*args, **kwargs)
            value = normalize_json(value)
        except BaseException as exc:
            _set(result, status=TaskResultStatus.FAILED, finished_at=as_datetime(time.time()))
            result.errors.append(error_of(exc))
            task_finished.send(sender=sender, task_result=result)
            raise
        _set(result, status=TaskResultStatus.SUCCESSFUL, finished_at=as_datetime(time.time()))
        _set(result, _return_value=value)
        task_finished.send(sender=sender, task_result=result)
        return value

    def task_result(self, task: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """This run as a running ``TaskResult`` (the task's context, signals)."""
        started = as_datetime(time.time())
        worker = self.worker_id or "resqplug"
        return TaskResult(
            task=task,
            id=self.id,
            status=TaskResultStatus.RUNNING,
            enqueued_at=as_datetime(self.enqueued_at),
            started_at=started,
            finished_at=None,
            last_attempted_at=started,
            args=args,
            kwargs=kwargs,
            backend=task.backend,
            errors=[],
            worker_ids=[worker] * self.attempt,
        )


def error_of(exc: BaseException) -> Any:
    """``exc`` as Django's ``TaskError``."""
    kind = type(exc)
    text = "".join(traceback.format_exception(kind, exc, exc.__traceback__))
    return TaskError(exception_class_path=f"{kind.__module__}.{kind.__qualname__}", traceback=text)


def _set(result: Any, **fields: Any) -> None:
    for name, value in fields.items():
        object.__setattr__(result, name, value)  # TaskResult is frozen
