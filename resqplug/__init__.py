"""resqplug: background jobs on Redis, in the line of Resque, built on pluggy hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from .config import client_for, configure, default_client
from .errors import (
    ConfigError,
    ConnectionError,
    DirtyExit,
    DontDequeue,
    DontEnqueue,
    DontPerform,
    DuplicateJobNameError,
    JobAborted,
    JobTimeout,
    NotFoundError,
    PayloadError,
    QueueFullError,
    QueueNameError,
    ResqplugError,
    UnknownFailureError,
    UnknownJobError,
    UnknownOptionError,
)
from .hookspecs import hookimpl, hookspec
from .job import EnqueueGuard, FunctionJob, Job, job
from .plugins import get_plugins, register, unregister
from .writes import Write

if TYPE_CHECKING:
    from .client import Resq


def __getattr__(name: str) -> Any:
    # Resq (and with it redis-py) is imported on first use: the process that
    # forks job children holds only what jobs need, and every page it holds
    # makes each fork dearer.
    if name == "Resq":
        from .client import Resq

        return Resq
    if name == "web":  # the dashboard (resqplug.web.create_app), as documented
        import importlib

        return importlib.import_module(".web", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "ConnectionError",
    "DirtyExit",
    "DontDequeue",
    "DontEnqueue",
    "DontPerform",
    "DuplicateJobNameError",
    "EnqueueGuard",
    "FunctionJob",
    "Job",
    "JobAborted",
    "JobTimeout",
    "NotFoundError",
    "PayloadError",
    "QueueFullError",
    "QueueNameError",
    "Resq",
    "ResqplugError",
    "UnknownFailureError",
    "UnknownJobError",
    "UnknownOptionError",
    "Write",
    "__version__",
    "client_for",
    "configure",
    "default_client",
    "dequeue",
    "enqueue",
    "enqueue_many",
    "enqueue_to",
    "failures",
    "get_plugins",
    "hookimpl",
    "hookspec",
    "job",
    "peek",
    "queues",
    "register",
    "remove_queue",
    "size",
    "stats",
    "unregister",
]


def enqueue(target: Any, *args: Any) -> str | None:
    """Enqueue a job on its class queue; returns its id, or None if vetoed."""
    return default_client().enqueue(target, *args)


def enqueue_to(queue: str, target: Any, *args: Any) -> str | None:
    return default_client().enqueue_to(queue, target, *args)


def enqueue_many(target: Any, args_list: Any, *, queue: str | None = None) -> list[str | None]:
    return default_client().enqueue_many(target, args_list, queue=queue)


def dequeue(target: Any, *args: Any) -> int:
    return default_client().dequeue(target, *args)


def queues() -> list[str]:
    return default_client().queues()


def size(queue: str) -> int:
    return default_client().size(queue)


def peek(queue: str, start: int = 0, count: int = 1) -> list[dict[str, Any]]:
    return default_client().peek(queue, start, count)


def remove_queue(queue: str) -> int:
    return default_client().remove_queue(queue)


def stats() -> dict[str, int]:
    return default_client().stats()


class _DefaultFailures:
    """``resqplug.failures``: the failure store of the default client."""

    def __getattr__(self, name: str) -> Any:
        return getattr(default_client().failures, name)


failures: Any = _DefaultFailures()
