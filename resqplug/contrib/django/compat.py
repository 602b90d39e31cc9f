"""The Tasks framework of this process: Django's own ``django.tasks`` (Django
6+) when it is there, else the ``django-tasks`` backport (``django_tasks``,
Django 4.2-5.2). One implementation serves both: they share the API, and the
few names that differ are given here under one name.

Everything is typed ``Any``: the two packages are typed differently (and
Django itself has no types), and only one of them is installed."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from resqplug import ConfigError


def _framework() -> tuple[str, ModuleType]:
    for name in ("django.tasks", "django_tasks"):
        try:
            return name, importlib.import_module(name)
        except ImportError:
            continue
    raise ConfigError(
        "resqplug.contrib.django needs Django's Tasks framework: Django 6 or later, "
        "or `pip install django-tasks` (the backport, for Django 4.2-5.2)"
    )


FRAMEWORK, _tasks = _framework()
_base = importlib.import_module(f"{FRAMEWORK}.base")
_exceptions = importlib.import_module(f"{FRAMEWORK}.exceptions")
_signals = importlib.import_module(f"{FRAMEWORK}.signals")

BaseTaskBackend: Any = importlib.import_module(f"{FRAMEWORK}.backends.base").BaseTaskBackend
Task: Any = _base.Task
TaskResult: Any = _base.TaskResult
TaskContext: Any = _base.TaskContext
TaskError: Any = _base.TaskError
TaskResultStatus: Any = _base.TaskResultStatus
DEFAULT_TASK_PRIORITY: int = _base.DEFAULT_TASK_PRIORITY
task_backends: Any = _tasks.task_backends
InvalidTask: Any = getattr(_exceptions, "InvalidTask", None) or _exceptions.InvalidTaskError
TaskResultDoesNotExist: Any = _exceptions.TaskResultDoesNotExist
task_enqueued: Any = _signals.task_enqueued
task_started: Any = _signals.task_started
task_finished: Any = _signals.task_finished

if FRAMEWORK == "django.tasks":
    normalize_json: Any = importlib.import_module("django.utils.json").normalize_json
else:
    normalize_json = importlib.import_module("django_tasks.utils").normalize_json
