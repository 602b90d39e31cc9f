"""Hooks the loner plugin adds; implement them with ``@hookimpl(optionalhook=True)``."""

from __future__ import annotations

from typing import Any

from resqplug.ext import hookspec


@hookspec
def duplicate_skipped(job: Any, existing_id: str | None) -> None:
    """``job`` was not enqueued because the job ``existing_id`` with the same
    identity is queued, scheduled or running. Errors are logged."""
