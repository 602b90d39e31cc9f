"""Task results read from the status plugin (the job id is the result id):
its states as Django's, its result as the return value, the failure record
(or the status's error) as the task's errors."""

from __future__ import annotations

import builtins
import json
from typing import Any

import resqplug

from .compat import TaskError, TaskResult, TaskResultStatus
from .errors import NoSuchResult, StatusPluginMissing
from .jobs import JOB_NAME, as_datetime, registry

STATES = {
    "queued": TaskResultStatus.READY,
    "scheduled": TaskResultStatus.READY,
    "retrying": TaskResultStatus.READY,
    "working": TaskResultStatus.RUNNING,
    "completed": TaskResultStatus.SUCCESSFUL,
    "failed": TaskResultStatus.FAILED,
    "killed": TaskResultStatus.FAILED,
}


def status_available() -> bool:
    """Whether the status plugin is installed and not disabled."""
    return "status" in resqplug.get_plugins().names()


def status_api() -> Any:
    if not status_available():
        raise StatusPluginMissing(
            "Django task results need the resqplug-status plugin (pip install resqplug-status); "
            "it is not installed here, or RESQPLUG_DISABLE_PLUGINS disables it"
        )
    import resqplug_status

    return resqplug_status


def read(result_id: str, alias: str, client: resqplug.Resq) -> Any:
    """The ``TaskResult`` of job ``result_id``; ``NoSuchResult`` if there is none."""
    api = status_api()
    status = api.get(result_id, client)
    if status is None:
        raise NoSuchResult(f"no task result {result_id!r} (unknown id, or its status expired)")
    fields = status.fields
    failure = (
        client.failures.get(result_id)
        if STATES.get(status.status) == TaskResultStatus.FAILED
        else None
    )
    if fields.get("class") != JOB_NAME:
        raise NoSuchResult(f"job {result_id} is not a Django task")
    path, args, kwargs = _call(fields, failure)
    if path is None:
        raise NoSuchResult(
            f"the status of job {result_id} does not keep its args (over 2 KiB of JSON): "
            "its task cannot be told"
        )
    state = STATES.get(status.status, TaskResultStatus.READY)
    result = TaskResult(
        task=registry.resolve(path),
        id=result_id,
        status=state,
        enqueued_at=as_datetime(_number(fields.get("enqueued_at"))),
        started_at=as_datetime(_number(fields.get("started_at"))),
        finished_at=as_datetime(_number(fields.get("finished_at"))),
        last_attempted_at=as_datetime(_number(fields.get("started_at"))),
        args=args,
        kwargs=kwargs,
        backend=alias,
        errors=_errors(status, failure) if state == TaskResultStatus.FAILED else [],
        worker_ids=_workers(fields),
    )
    if state == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", status.result)
    return result


def _call(fields: dict[str, Any], failure: dict[str, Any] | None) -> tuple[Any, list[Any], Any]:
    """(path, args, kwargs) from the status's args, or from the failure
    record's payload when the status kept no args (over 2 KiB of JSON)."""
    try:
        stored = json.loads(str(fields.get("args")))
    except (ValueError, RecursionError):
        stored = None
    if not _is_call(stored) and failure is not None:
        stored = (failure.get("payload") or {}).get("args")
    if not _is_call(stored):
        return None, [], {}
    return stored[0], stored[1], stored[2]


def _is_call(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], str)
        and isinstance(value[1], list)
        and isinstance(value[2], dict)
    )


def _number(value: Any) -> float | None:
    return value if isinstance(value, float) else None


def _workers(fields: dict[str, Any]) -> list[str]:
    """The workers that ran it, one per attempt (the status keeps the last)."""
    worker, attempt = fields.get("worker"), fields.get("attempt", 1)
    if not isinstance(worker, str) or not worker:
        return []
    return [worker] * (attempt if isinstance(attempt, int) and attempt > 0 else 1)


def _errors(status: Any, failure: dict[str, Any] | None) -> list[Any]:
    """The run's error: from the failure record (class path and backtrace),
    else from the status (a killed job, or a record not yet written)."""
    if failure is not None and failure.get("exception"):
        name, module = str(failure["exception"]), failure.get("exception_module")
        lines = [str(line) for line in failure.get("backtrace") or []]
        text = "\n".join([*lines, f"{name}: {failure.get('error', '')}"])
        return [
            TaskError(exception_class_path=f"{module}.{name}" if module else name, traceback=text)
        ]
    fields = status.fields
    if status.status == "killed":
        path = "resqplug_status.JobKilled"
        text = f"JobKilled: {fields.get('reason') or fields.get('error') or 'killed'}"
    else:
        name = str(fields.get("exception") or "Exception")
        path = f"builtins.{name}" if isinstance(getattr(builtins, name, None), type) else name
        text = f"{name}: {fields.get('error', '')}"
    return [TaskError(exception_class_path=path, traceback=text)]
