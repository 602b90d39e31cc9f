"""Statuses in Redis: one hash per job id, an index per state for listing,
pub/sub for waiting."""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import resqplug

FINAL = ("completed", "failed", "killed")
WAITING = ("queued", "scheduled", "retrying")  # not started: a kill means it never runs
STATES = (*WAITING, "working", *FINAL)
DEFAULT_EXPIRE_S = 86_400
KILL_REQUESTED = "!kill"  # what start() returns when a kill was requested
# Modes of status_set.lua (see its header).
ALWAYS, UNLESS_KILLED, IF_WAITING, WHILE_RUNNING, UNLESS_FINAL = "0", "1", "2", "3", "4"
RESULT_LIMIT = 64 * 1024
_NUMBERS = (
    "created_at",
    "updated_at",
    "enqueued_at",
    "started_at",
    "finished_at",
    "due",
    "num",
    "total",
)


def _number(text: str) -> float | str:
    """A number field as this plugin writes it; anything else stays text."""
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


@dataclass(frozen=True)
class Status:
    id: str
    status: str
    fields: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "fields":  # copy/pickle probe these first
            raise AttributeError(name)
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def pct_complete(self) -> float | None:
        num, total = self.fields.get("num"), self.fields.get("total")
        if self.status == "completed":
            return 100.0
        if not isinstance(num, float) or not isinstance(total, float) or not total:
            return None  # none yet, or not numbers (written by another tool)
        return round(100.0 * num / total, 1)

    @property
    def result(self) -> Any:
        """The job's JSON result; PayloadError if the stored text is not JSON."""
        raw = self.fields.get("result")
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, an int too long, too deep
            raise resqplug.PayloadError(f"the result of job {self.id} is not JSON") from None


@functools.cache
def _script(name: str) -> str:
    return resources.files("resqplug_status").joinpath(f"lua/{name}.lua").read_text("utf-8")


def fragments() -> dict[str, str]:
    """The write fragments this plugin registers (hook ``write_scripts``)."""
    return {"status.set": _script("status_set")}


# Jobs running in this process, by id: what their status says once their
# worker reports them (a job reading its own status sees "working" at once).
RUNNING: dict[str, dict[str, Any]] = {}
RUNNING_CAP = 1024


class StatusNames:
    """The plugin's key names in one namespace, and its writes built from
    them: no client is needed (a fork child builds its job's writes without
    connecting to Redis; the worker applies them with the ack)."""

    def __init__(self, keys: Any, expire_s: int = DEFAULT_EXPIRE_S) -> None:
        self.expire_s = expire_s
        self.state_index: str = keys.plugin("status", "index") + ":"
        self._prefix: str = keys.plugin("status", "job", "")
        self.kills: str = keys.cancelled  # kill requests: see status_kill.lua

    def key(self, job_id: str) -> str:
        return self._prefix + job_id

    def channel(self, job_id: str) -> str:
        """Where the job's final state is published (named like its hash)."""
        return self._prefix + job_id

    def write(
        self, job_id: str, state: str, fields: dict[str, Any], mode: str = ALWAYS
    ) -> resqplug.Write:
        """The status change as a Write, to ride the core's script for the job
        (``job.writes``); ``mode`` as in status_set.lua."""
        ttl = self.expire_s if state in FINAL else 0
        args: list[str | int | float] = [job_id, state, time.time(), ttl, mode]
        for name, value in fields.items():
            if value is not None:
                args += (name, value if isinstance(value, (str, float, int)) else json.dumps(value))
        keys = (self.key(job_id), self.state_index, self.kills)
        return resqplug.Write("status.set", keys, tuple(args))

    def enqueued(self, job: resqplug.Job, args_text: str) -> resqplug.Write:
        """``write`` of a job being enqueued: "queued", or "scheduled" when it
        has a due time (built directly: it runs for every job enqueued)."""
        now = job.enqueued_at or time.time()
        state = "queued" if job.due is None else "scheduled"
        args: tuple[str | int | float, ...] = (job.id, state, now, 0, ALWAYS, "class")
        args += (job.class_name, "queue", job.queue, "args", args_text)
        args += ("enqueued_at", now, "attempt", job.attempt)
        if job.due is not None:
            args += ("due", job.due)
        return resqplug.Write(
            "status.set", (self._prefix + job.id, self.state_index, self.kills), args
        )


class StatusStore(StatusNames):
    """Statuses read and written through ``client`` (one round trip a call)."""

    def __init__(self, client: resqplug.Resq, expire_s: int = DEFAULT_EXPIRE_S) -> None:
        super().__init__(client.keys, expire_s)
        self.client = client
        self._set = client.redis.register_script(_script("status_set"))
        self._kill = client.redis.register_script(_script("status_kill"))

    def set(self, job_id: str, state: str, **fields: Any) -> str:
        """Move ``job_id`` to ``state`` with ``fields``; returns the old state."""
        return self._write(job_id, state, fields)

    def start(self, job_id: str, **fields: Any) -> str:
        """Move ``job_id`` to "working", unless a kill of it was requested: then
        nothing changes and KILL_REQUESTED is returned. One round trip."""
        return self._write(job_id, "working", fields, unless_killed=True)

    def discard(self, job_id: str, **fields: Any) -> bool:
        """Move a job removed unrun to "killed", if it was waiting to run with
        no kill requested (a requested kill is recorded by the worker that
        takes the job). One round trip."""
        return self._write(job_id, "killed", fields, only_waiting=True) != "!busy"

    def _write(
        self,
        job_id: str,
        state: str,
        fields: dict[str, Any],
        unless_killed: bool = False,
        only_waiting: bool = False,
        mode: str | None = None,
    ) -> str:
        if mode is None:
            mode = IF_WAITING if only_waiting else UNLESS_KILLED if unless_killed else ALWAYS
        write = self.write(job_id, state, fields, mode)
        if state in FINAL:  # a kill request ends with the job (the ack does this for a run)
            pipe = self.client.redis.pipeline(transaction=False)
            self._set(write.keys, write.args, client=pipe)
            old = pipe.srem(self.kills, job_id).execute()[0]
        else:
            old = self._set(write.keys, write.args)
        return old.decode() if isinstance(old, bytes) else str(old or "")

    def progress(self, job_id: str, **fields: Any) -> bool:
        """Progress of a running job: "working" (if its worker has not said so
        yet) with ``fields``. False, changing nothing, if its kill was
        requested. One round trip."""
        return self._write(job_id, "working", fields, mode=WHILE_RUNNING) != KILL_REQUESTED

    def set_unless_final(self, job_id: str, state: str, **fields: Any) -> None:
        """Move to ``state`` unless the job's status is final already."""
        self._write(job_id, state, fields, mode=UNLESS_FINAL)

    def seen_running(self, job_id: str, **fields: Any) -> None:
        """The job's worker sees it run: "working", unless it ended already."""
        self._write(job_id, "working", fields, mode=WHILE_RUNNING)

    def update(self, job_id: str, **fields: Any) -> None:
        """Set fields without changing the state."""
        flat = {k: v for k, v in fields.items() if v is not None}
        if flat and self.client.redis.exists(self.key(job_id)):
            pipe = self.client.redis.pipeline(transaction=True)
            pipe.hset(self.key(job_id), mapping={**flat, "updated_at": time.time()})
            pipe.execute()

    def get(self, job_id: str) -> Status | None:
        raw = self.client.redis.hgetall(self.key(job_id))
        if not raw:
            return None
        status = self._status(job_id, raw)
        running = RUNNING.get(job_id)
        if running is not None and status.status in WAITING:  # its worker has not said yet
            return Status(job_id, "working", {**status.fields, **running})
        return status

    @staticmethod
    def _status(job_id: str, raw: dict[bytes, bytes]) -> Status:
        fields: dict[str, Any] = {
            k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in raw.items()
        }
        for name in _NUMBERS:
            if name in fields and fields[name] != "":
                fields[name] = _number(fields[name])
        for name in ("attempt", "recoveries"):
            if name in fields and isinstance(value := _number(fields[name]), float):
                fields[name] = int(value)
        return Status(job_id, fields.pop("status", "unknown"), fields)

    def list(self, state: str | None = None, limit: int = 50, offset: int = 0) -> list[Status]:
        """Most recently updated first; expired entries are dropped from the
        indexes. All states: the per-state indexes merged by update time."""
        states = (state,) if state else STATES
        pipe = self.client.redis.pipeline(transaction=False)
        for name in states:
            pipe.zrevrange(self.state_index + name, 0, offset + limit - 1, withscores=True)
        found = [
            (score, i.decode(), name)
            for name, rows in zip(states, pipe.execute(), strict=True)
            for i, score in rows
        ]
        found.sort(key=lambda row: row[0], reverse=True)
        chosen = found[offset : offset + limit]
        for _, job_id, _ in chosen:
            pipe.hgetall(self.key(job_id))
        out, gone = [], []
        for (_, job_id, name), raw in zip(chosen, pipe.execute(), strict=True):
            (out.append(self._status(job_id, raw)) if raw else gone.append((job_id, name)))
        for job_id, name in gone:
            pipe.zrem(self.state_index + name, job_id)
        pipe.execute()
        return out

    def count(self, state: str | None = None) -> int:
        pipe = self.client.redis.pipeline(transaction=False)
        for name in (state,) if state else STATES:
            pipe.zcard(self.state_index + name)
        return sum(int(n) for n in pipe.execute())

    def remove(self, job_id: str) -> bool:
        state = self.client.redis.hget(self.key(job_id), "status")
        pipe = self.client.redis.pipeline(transaction=True)
        pipe.delete(self.key(job_id))
        if state is not None:
            pipe.zrem(self.state_index + state.decode("utf-8", "replace"), job_id)
        pipe.srem(self.kills, job_id, f"!{job_id}")
        return bool(pipe.execute()[0])

    def request_kill(self, job_id: str) -> tuple[str, bool]:
        """Request the kill of an unfinished job, atomically with reading its
        state. Returns the state ('' when unknown or final: nothing requested)
        and whether this call made the request (False: it was made before)."""
        reply = self._kill([self.key(job_id), self.kills], [job_id])
        state = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0] or "")
        return state, len(reply) > 1 and int(reply[1]) == 1

    def kill_requested(self, job_id: str) -> bool:
        return any(self.client.redis.smismember(self.kills, [job_id, f"!{job_id}"]))
