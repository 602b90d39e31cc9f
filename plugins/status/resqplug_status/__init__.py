"""resqplug-status: every job id gets a status (queued, scheduled, retrying,
working, completed, failed, killed) with times, progress and result."""

from __future__ import annotations

from .api import get, kill, list_statuses, remove, wait
from .plugin import JobKilled, StatusPlugin
from .store import FINAL, STATES, Status, StatusStore

list = list_statuses  # noqa: A001 - the API name the issue asks for

__version__ = "0.1.0"
__all__ = [
    "FINAL",
    "STATES",
    "JobKilled",
    "Status",
    "StatusPlugin",
    "StatusStore",
    "get",
    "kill",
    "list",
    "list_statuses",
    "plugin",
    "remove",
    "wait",
]

plugin = StatusPlugin()
