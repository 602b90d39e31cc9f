"""Helpers for the cleaner plugin's tests: failure records written straight into
the core's store, snapshots of the store, the CLI, real worker processes."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import resqplug
from resqplug.failure import encode_record, timestamp
from resqplug.payload import new_job_id
from resqplug.pytest_fixtures import FAST_LEASE, child_env, resqplug_cmd, wait_for  # noqa: F401 - re-exported for the tests

HERE = Path(__file__).resolve().parent
APP = "cleaner_jobs"


# --- failure records ----------------------------------------------------------


def record(
    job_class: str = "ImportFeed",
    args: Iterable[Any] = (1,),
    *,
    exception: str = "TimeoutError",
    module: str = "builtins",
    error: str = "timed out",
    queue: str = "default",
    at: float | None = None,
    job_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A failure record in the core's format (resqplug/failure.py ``build``)."""
    at = time.time() if at is None else at
    job_id = job_id or new_job_id()
    doc: dict[str, Any] = {
        "failed_at": timestamp(at),
        "payload": {
            "class": job_class,
            "args": list(args),
            "id": job_id,
            "enqueued_at": at - 1,
            "meta": {},
        },
        "exception": exception,
        "error": error,
        "backtrace": [f"/app/jobs.py:12 in perform ({job_class})"],
        "worker": "host:1:default",
        "queue": queue,
        "id": job_id,
        "failed_at_ts": at,
        "exception_module": module,
    }
    doc.update(extra)
    return doc


def ruby_record(
    job_class: str = "LegacyMailer",
    args: Iterable[Any] = ("hello@example.com",),
    failed_at: str = "2026/01/12 15:23:55 EST",
    **fields: Any,
) -> dict[str, Any]:
    """A record as Ruby's Resque writes it: no id, no failed_at_ts, no module."""
    doc: dict[str, Any] = {
        "failed_at": failed_at,
        "payload": {"class": job_class, "args": list(args)},
        "exception": "Net::ReadTimeout",
        "error": "Net::ReadTimeout with #<TCPSocket:(closed)>",
        "backtrace": ["/app/lib/mailer.rb:10:in `perform'"],
        "worker": "ruby-host:4242:mail",
        "queue": "mail",
    }
    doc.update(fields)
    return doc


class Failed:
    """Writes records straight into the failed list and its index, as the core's
    ack step does (RPUSH + HSET id -> record)."""

    def __init__(self, client: resqplug.Resq) -> None:
        self.client = client
        self.keys = client.keys

    def add(self, *docs: dict[str, Any] | str | bytes) -> list[str]:
        """Append records (dicts are encoded; text is written as is); returns the
        ids ('' for records without one)."""
        pipe = self.client.redis.pipeline(transaction=True)
        ids = []
        for doc in docs:
            text = encode_record(doc) if isinstance(doc, dict) else doc
            job_id = str(doc.get("id") or "") if isinstance(doc, dict) else ""
            pipe.rpush(self.keys.failed, text)
            if job_id:
                pipe.hset(self.keys.failed_index, job_id, text)
            ids.append(job_id)
        pipe.execute()
        return ids

    def bulk(self, docs: Iterable[dict[str, Any]], chunk: int = 2000) -> int:
        """Append many records quickly, ``chunk`` per round trip."""
        count = 0
        texts: list[str] = []
        index: dict[str, str] = {}

        def flush() -> None:
            pipe = self.client.redis.pipeline(transaction=False)
            pipe.rpush(self.keys.failed, *texts)
            if index:
                pipe.hset(self.keys.failed_index, mapping=index)
            pipe.execute()
            texts.clear()
            index.clear()

        for doc in docs:
            text = encode_record(doc)
            texts.append(text)
            if doc.get("id"):
                index[str(doc["id"])] = text
            count += 1
            if len(texts) >= chunk:
                flush()
        if texts:
            flush()
        return count

    def docs(self) -> list[dict[str, Any]]:
        return [json.loads(r) for r in self.client.redis.lrange(self.keys.failed, 0, -1)]

    def raw(self) -> list[bytes]:
        return list(self.client.redis.lrange(self.keys.failed, 0, -1))

    def ids(self) -> list[str]:
        return [str(d.get("id") or "") for d in self.docs()]

    def index(self) -> dict[str, bytes]:
        return {k.decode(): v for k, v in self.client.redis.hgetall(self.keys.failed_index).items()}

    def assert_index_consistent(self) -> None:
        """Every record with an id has exactly its index entry, and no index
        entry points to a record that is not in the list."""
        rows = self.raw()
        expected = {}
        for row in rows:
            try:
                doc = json.loads(row)
            except ValueError:
                continue
            if isinstance(doc, dict) and doc.get("id"):
                expected[str(doc["id"])] = row
        assert self.index() == expected


def queued(client: resqplug.Resq, queue: str) -> list[dict[str, Any]]:
    return [json.loads(r) for r in client.redis.lrange(client.keys.queue(queue), 0, -1)]


def queued_ids(client: resqplug.Resq, queue: str) -> list[str]:
    return [doc["id"] for doc in queued(client, queue)]


def snapshot(client: resqplug.Resq) -> dict[bytes, Any]:
    """Every key of the namespace with its type and value (for "nothing changed")."""
    r = client.redis
    out: dict[bytes, Any] = {}
    for key in r.scan_iter(match=f"{client.namespace}:*", count=1000):
        kind = r.type(key)
        if kind == b"list":
            out[key] = r.lrange(key, 0, -1)
        elif kind == b"hash":
            out[key] = r.hgetall(key)
        elif kind == b"set":
            out[key] = r.smembers(key)
        elif kind == b"string":
            out[key] = r.get(key)
        else:
            out[key] = kind
    return out


# --- processes ----------------------------------------------------------------


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child process's environment, with this folder on PYTHONPATH."""
    return child_env(HERE, extra)


def cli(
    redis_url: str, namespace: str, *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``resqplug --redis URL --namespace NS ARGS...`` to completion."""
    return subprocess.run(
        resqplug_cmd(redis_url, namespace, *args),
        env=env(),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
