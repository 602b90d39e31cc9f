"""The failed-job store: Resque's ``failed`` list plus an index by job id.

Records keep Resque's fields (failed_at, payload, exception, error, backtrace,
worker, queue) and add ``id``, ``failed_at_ts`` and ``exception_module``. A job id
has at most one record: a newer failure of the same job replaces the older.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import hashlib
import json
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from . import discard
from . import payload as payload_mod
from .errors import PayloadError, QueueNameError, UnknownFailureError
from .job import EnqueueGuard, Job
from .keys import Keys
from .payload import new_job_id

if TYPE_CHECKING:
    from .client import Resq

RAW_LIMIT = 4096
RETRY_ONCE_TTL_MS = 7 * 86_400_000
_HIDDEN_FRAMES = ("/pluggy/", "/resqplug/runner.py", "/resqplug/builtin.py")


def timestamp(at: float | None = None) -> str:
    """Resque's failed_at format, always in UTC."""
    return time.strftime("%Y/%m/%d %H:%M:%S UTC", time.gmtime(at))


def backtrace(exc: BaseException, limit: int = 50) -> list[str]:
    frames = traceback.extract_tb(exc.__traceback__)
    shown = [f for f in frames if not any(h in f.filename for h in _HIDDEN_FRAMES)]
    return [f"{f.filename}:{f.lineno} in {f.name}" for f in shown[-limit:]]


def exception_name(exc: BaseException) -> tuple[str, str]:
    kind = type(exc)
    return kind.__qualname__, kind.__module__


def build(
    doc: dict[str, Any] | None,
    exc: BaseException,
    *,
    worker: str,
    queue: str,
    job_id: str,
    raw: str | None = None,
    action: str | None = None,
) -> str:
    """One failure record as JSON. ``doc`` is the decoded payload, or None when
    the payload could not be decoded (then ``raw`` is kept, truncated).
    ``action`` is what a plugin did with the failure while asking for its
    record too (``"retried+record"``: the job lives on under the same id)."""
    name, module = exception_name(exc)
    now = time.time()
    record: dict[str, Any] = {
        "failed_at": timestamp(now),
        "payload": doc if doc is not None else {"raw": (raw or "")[:RAW_LIMIT]},
        "exception": name,
        "error": message(exc)[:RAW_LIMIT],
        "backtrace": backtrace(exc),
        "worker": worker,
        "queue": queue,
        "id": job_id,
        "failed_at_ts": now,
        "exception_module": module,
    }
    if action is not None:
        record["action"] = action
    return encode_record(record)


def encode_record(record: dict[str, Any]) -> str:
    # ASCII escapes: a record must be writable whatever text the job produced.
    return json.dumps(record, separators=(",", ":"), ensure_ascii=True)


def message(exc: BaseException) -> str:
    """The exception's text, always printable and encodable (lone surrogates escaped)."""
    try:
        text = str(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__}>"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def retry_guard(keys: Keys, job_id: str, record: dict[str, Any], token: str) -> EnqueueGuard:
    """A guard that lets one failure record be enqueued again at most once (for
    a week), whoever retries it (`failures.retry`, the cleaner): a second retry
    of the same record would put a second copy of the same job id in a queue.
    The record is identified by its failure time and error, which stay the
    same when it is marked ``retried_at``."""
    identity = "|".join(
        payload_mod.canonical(record.get(field))
        for field in ("failed_at", "failed_at_ts", "error", "payload")
    )
    digest = hashlib.sha1(identity.encode("utf-8", "backslashreplace")).hexdigest()[:16]
    return EnqueueGuard(keys.failure_retried(job_id, digest), token, RETRY_ONCE_TTL_MS)


def job_payload(job: Job) -> dict[str, Any]:
    return {
        "class": job.class_name,
        "args": job.args,
        "id": job.id,
        "enqueued_at": job.enqueued_at,
        "meta": job.meta,
    }


def _load(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, an int too long, nested too deep
        return {"raw": raw.decode("utf-8", "replace")[:RAW_LIMIT]}
    return doc if isinstance(doc, dict) else {"raw": str(doc)[:RAW_LIMIT]}


F = TypeVar("F", bound=Callable[..., Any])


def translated(url: str) -> contextlib.AbstractContextManager[None]:
    """connection.translated, imported on use: building failure records (in a
    job's process) needs no Redis client, only the store does."""
    from .connection import translated as translating

    return translating(url)


def _translated(method: F) -> F:
    """Report Redis connection trouble as resqplug.ConnectionError."""

    @functools.wraps(method)
    def wrapper(self: FailureStore, *args: Any, **kwargs: Any) -> Any:
        with translated(self.client.url):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class FailureStore:
    """``resqplug.failures``: list, count, show, retry, remove and clear failures."""

    def __init__(self, client: Resq) -> None:
        self.client = client
        self.redis = client.redis
        self.keys = client.keys

    @_translated
    def count(self) -> int:
        return int(self.redis.llen(self.keys.failed))

    @_translated
    def list(self, start: int = 0, count: int = 20) -> list[dict[str, Any]]:
        """Records ``start`` .. ``start + count - 1``, oldest first."""
        if count <= 0:
            return []
        rows = self.redis.lrange(self.keys.failed, start, start + count - 1)
        return [_load(r) for r in rows]

    def iter(self, batch: int = 500) -> Iterator[dict[str, Any]]:
        """Every record, read in windows of ``batch``."""
        start = 0
        while True:
            rows = self.list(start, batch)
            if not rows:
                return
            yield from rows
            start += batch

    @_translated
    def _raw(self, job_id: str) -> bytes | None:
        raw: bytes | None = self.redis.hget(self.keys.failed_index, job_id)
        return raw

    def get(self, job_id: str) -> dict[str, Any] | None:
        raw = self._raw(job_id)
        return _load(raw) if raw is not None else None

    def retry(self, job_id: str, *, remove: bool = False, queue: str | None = None) -> str | None:
        """Enqueue the failed job again, same id, through the enqueue hooks, and
        mark its record ``retried_at`` (or remove it). Returns the job id, or None
        if a hook vetoed the enqueue or this record was already retried."""
        raw = self._raw(job_id)
        if raw is None:
            raise UnknownFailureError(f"no failed job with id {job_id!r}")
        record = _load(raw)
        doc = record.get("payload")
        if not isinstance(doc, dict) or "class" not in doc or "args" not in doc:
            raise PayloadError(f"failed job {job_id} has no valid payload to retry")
        target = queue or record.get("queue") or "default"
        guard = retry_guard(self.keys, job_id, record, new_job_id())
        try:
            new_id = self.client.enqueue_payload(doc, target, job_id=job_id, guards=[guard])
        except PayloadError as exc:
            raise PayloadError(f"failed job {job_id} cannot be retried: {exc}") from None
        if new_id is None:
            return None
        if remove:
            with translated(self.client.url):
                self._remove(job_id)  # enqueued again: nothing is discarded
        else:
            record["retried_at"] = timestamp()
            with translated(self.client.url):
                self.client.scripts.failure_replace(
                    [self.keys.failed, self.keys.failed_index],
                    [job_id, raw, encode_record(record)],
                )
        return new_id

    def why_not_retried(self, job_id: str) -> str:
        """Why ``retry(job_id)`` enqueued nothing (it returned None), in words."""
        return self._not_retried(job_id)[1]

    def _not_retried(self, job_id: str) -> tuple[str, str]:
        """(kind, words) of why ``retry(job_id)`` enqueued nothing."""
        raw = self._raw(job_id)
        if raw is None:
            return "cannot be retried", "its failure record is gone"
        record = _load(raw)
        if record.get("retried_at"):
            return "already retried", f"it was retried already, at {record['retried_at']}"
        guard = retry_guard(self.keys, job_id, record, "")
        with translated(self.client.url):
            if self.redis.exists(guard.key):
                return (
                    "already retried",
                    "it was retried already (a record is enqueued again at most once)",
                )
        return "vetoed or refused", (
            "a before_enqueue hook vetoed it, or an enqueue guard refused it "
            "(for example, a unique job of the same identity is queued)"
        )

    def ids(self) -> builtins.list[str]:
        """The job ids that have a failure record."""
        return list(self._ids())

    def retry_all(
        self,
        progress: Callable[[int], None] | None = None,
        *,
        remove: bool = False,
        skipped: Counter[str] | None = None,
    ) -> int:
        """Retry every record that has an id; returns how many were enqueued,
        and counts in ``skipped`` why the others were not."""
        done = 0
        for job_id in self.ids():
            try:
                if self.retry(job_id, remove=remove) is not None:
                    done += 1
                elif skipped is not None:
                    skipped[self._not_retried(job_id)[0]] += 1
            except (UnknownFailureError, PayloadError, QueueNameError):
                if skipped is not None:  # gone meanwhile, or a record that cannot be retried
                    skipped["cannot be retried"] += 1
            if progress:
                progress(1)
        return done

    def _ids(self) -> Iterator[str]:
        with translated(self.client.url):
            keys = [k for k, _ in self.redis.hscan_iter(self.keys.failed_index, count=500)]
        for key in keys:
            yield key.decode()

    @_translated
    def remove(self, job_id: str) -> None:
        """Remove the failure record of ``job_id``; its job is discarded."""
        record = self._remove(job_id)
        discard.announce(self.client, [record], discard.record_job, "failure removed")

    def _remove(self, job_id: str) -> bytes:
        record: bytes | None = self.client.scripts.failure_remove(
            [self.keys.failed, self.keys.failed_index], [job_id]
        )
        if record is None:
            raise UnknownFailureError(f"no failed job with id {job_id!r}")
        return record

    @_translated
    def clear(self) -> int:
        """Remove every failure record; returns how many there were. With
        listeners of ``job_discarded``, the records are moved aside in the same
        step and their jobs announced in batches (never read whole)."""
        listening = discard.listening(self.client.plugins)
        held = self.keys.discarding(new_job_id())
        keys = [self.keys.failed, self.keys.failed_index, held]
        count = int(self.client.scripts.failure_clear(keys, [discard.HOLD_MS if listening else 0]))
        if listening and count:
            discard.announce_held(self.client, held, discard.record_job, "failures cleared")
        return count
