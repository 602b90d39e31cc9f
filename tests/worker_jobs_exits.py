"""Jobs that end with a BaseException that is not an Exception, and a quick
no-op (loaded with --app worker_jobs,worker_jobs_exits), for
tests/test_worker_job_exits.py, test_worker_outcomes.py and the inline tests."""

from __future__ import annotations

import asyncio
import builtins
import sys
from collections.abc import Callable

from worker_jobs import key, record_start

import resqplug


class JobOwnBaseError(BaseException):
    """A BaseException of the job's own."""


MAKERS: dict[str, Callable[[], BaseException]] = {
    "SystemExit": lambda: SystemExit(3),
    "KeyboardInterrupt": lambda: KeyboardInterrupt("from the job"),
    "GeneratorExit": lambda: GeneratorExit("from the job"),
    "CancelledError": lambda: asyncio.CancelledError("from the job"),
    "JobOwnBaseError": lambda: JobOwnBaseError("from the job"),
}
_group = getattr(builtins, "BaseExceptionGroup", None)  # Python 3.11+
if _group is not None:
    MAKERS["BaseExceptionGroup"] = lambda: _group("from the job", [SystemExit(1)])
KINDS = tuple(MAKERS)  # named as the failure record names them


def base_exception(kind: str) -> BaseException:
    return MAKERS[kind]()


class XRaise(resqplug.Job):
    """Raises the BaseException named by ``kind``."""

    queue = "work"

    def perform(self, kind: str) -> None:
        record_start(self)
        raise base_exception(kind)


class XExit(resqplug.Job):
    """Calls sys.exit(code)."""

    queue = "work"

    def perform(self, code: int) -> None:
        record_start(self)
        sys.exit(code)


class XExitOnFailure(resqplug.Job):
    """Fails with ValueError; its own failure methods then call sys.exit(4)
    and record that the next one still ran."""

    queue = "work"

    def perform(self) -> None:
        record_start(self)
        raise ValueError("the job's own error")

    def on_failure_1_exit(self, exc: BaseException) -> None:
        sys.exit(4)

    def on_failure_2_record(self, exc: BaseException) -> None:
        resqplug.default_client().redis.rpush(key("failure_methods"), self.id)


class XNoop(resqplug.Job):
    """Does nothing, quickly (no Redis): batches of these grow fast."""

    queue = "work"

    def perform(self, *args: object) -> None:
        pass
