"""The test project's tasks (found by the worker: djapp is an installed app)."""

from __future__ import annotations

import re
import time
from typing import Any

from django.db import connection

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task


@task
def add(a: int, b: int) -> int:
    return a + b


@task(queue_name="emails")
def send_mail(to: str, subject: str = "") -> dict[str, str]:
    return {"to": to, "subject": subject}


@task
def fail(message: str) -> None:
    raise ValueError(message)


@task(takes_context=True)
def whoami(context: Any) -> dict[str, Any]:
    return {"id": context.task_result.id, "attempt": context.attempt}


@task
async def async_add(a: int, b: int) -> int:
    return a + b


@task(priority=10)
def urgent() -> str:
    return "urgent"


@task
def slow(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


@task
def read_note(table: str, row_id: int) -> str | None:
    """The note of a row the enqueuing transaction wrote (None if not visible)."""
    if not re.fullmatch(r"resqplug_dj_[0-9a-f]+", table):
        raise ValueError(f"not a test table: {table}")
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT note FROM "{table}" WHERE id = %s', [row_id])
        row = cursor.fetchone()
    return row[0] if row else None
