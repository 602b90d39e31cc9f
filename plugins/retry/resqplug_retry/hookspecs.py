"""Hooks the retry plugin adds; implement them with ``@hookimpl(optionalhook=True)``."""

from __future__ import annotations

from typing import Any

from resqplug.ext import hookspec


@hookspec
def retry_scheduled(job: Any, exc: BaseException, delay: float) -> None:
    """A failed run of ``job`` will run again after ``delay`` seconds.
    ``job.meta["attempt"]`` is the attempt that failed. Errors are logged."""


@hookspec
def retry_exhausted(job: Any, exc: BaseException) -> None:
    """``job`` failed with a retryable exception but has no retries left; its
    failure is recorded. Errors are logged."""
