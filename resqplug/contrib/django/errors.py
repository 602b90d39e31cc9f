"""The errors of the Django layer: all under ``resqplug.ResqplugError``; the
ones Django's own code catches also derive from its exception of the case."""

from __future__ import annotations

from resqplug import ConfigError, ResqplugError, UnknownJobError

from .compat import InvalidTask, TaskResultDoesNotExist


class UnknownTaskError(UnknownJobError):
    """A job names a Django task that is not in this process's task registry
    (a task is found in the registry, never imported because a job names it)."""


class UnsupportedTask(ResqplugError, InvalidTask):  # type: ignore[misc]
    """The task cannot run on resqplug as declared (``run_after`` without the
    scheduler plugin, a queue name resqplug refuses)."""


class StatusPluginMissing(ConfigError):
    """Results (``get_result``, ``TaskResult.refresh``) need the status plugin."""


class TaskNotEnqueued(ResqplugError):
    """A resqplug plugin vetoed the task's job (``DontEnqueue``) or refused it
    (a unique job already queued): nothing was written."""


class NoSuchResult(ResqplugError, TaskResultDoesNotExist):  # type: ignore[misc]
    """No task result has this id (unknown, not a Django task, or expired)."""
