"""Hooks the scheduler plugin adds; implement them with ``@hookimpl(optionalhook=True)``."""

from __future__ import annotations

from typing import Any

from resqplug.ext import hookspec


@hookspec(firstresult=True)
def scheduler_add(client: Any, queue: str, text: str, due: float, job: Any) -> bool | None:
    """Put an encoded payload of ``job`` (already through before_enqueue) into
    the delayed set, due at ``due`` (epoch seconds, Redis time), with the job's
    enqueue guards. The scheduler implements it (returns True); the retry plugin
    calls it for delayed retries."""


@hookspec
def job_scheduled(job: Any, due: float) -> None:
    """``job`` was put in the delayed set for ``due``. Errors are logged."""
