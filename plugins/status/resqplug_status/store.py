"""Statuses in Redis, an index per state for listing, pub/sub for waiting.

A status lives in one of three places (never two):
- the shared waiting hash, one field per job, from its enqueue until its run
  ends or something else is said of it (status_enqueued.lua);
- the shared finals hash, one field per job whose run ended without a status
  of its own; it leaves with its index entry once expired (status_final.lua);
- the job's own hash, once anything else is said of it (seen running,
  progress, retrying, killed, recovered: status_set.lua); a final state there
  expires with the hash.
Reads look in all three; the batch of an enqueue_many or an ack writes the
shared hashes with a few commands instead of a hash per job."""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from json.encoder import encode_basestring as _quote  # a str as a JSON string (C)
from typing import Any

import resqplug
from resqplug.ext import Batched

FINAL = ("completed", "failed", "killed")
WAITING = ("queued", "scheduled", "retrying")  # not started: a kill means it never runs
STATES = (*WAITING, "working", *FINAL)
DEFAULT_EXPIRE_S = 86_400
KILL_REQUESTED = "!kill"  # what start() returns when a kill was requested
# Modes of status_set.lua (see its header).
ALWAYS, UNLESS_KILLED, IF_WAITING, WHILE_RUNNING, UNLESS_FINAL, SAME_STATE = (
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
)
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
    return {
        "status.set": _script("status_set"),
        "status.enqueued": Batched(_script("status_enqueued")),
        "status.final": Batched(_script("status_final")),
    }


# What a job was enqueued as ("enqueued", in every record): its due time (''
# when none), its queue and its payload, tab-separated. status_enqueued.lua
# takes the payload from the script writing the job (its JOBS), so a batch of
# an enqueue_many costs no JSON here; a payload over its PAYLOAD_LIMIT keeps
# its class and id but not its args.
ARGS_SHOWN = 2048  # longer args text reads as {"truncated": true, "size": n}


def enqueued_text(job: resqplug.Job, due: str, attempt: int, args: list[Any]) -> str:
    """The "enqueued" text of a job enqueued again (a retry): written from
    Python, as the enqueue script would have kept it."""
    doc: dict[str, Any] = {"class": job.class_name, "args": args, "id": job.id}
    doc["enqueued_at"] = job.enqueued_at
    doc["meta"] = {**job.meta, "attempt": attempt}
    return f"{due}\t{job.queue}\t{json.dumps(doc, separators=(',', ':'), default=str)}"


def parse_enqueued(text: str) -> dict[str, Any]:
    """What a job was enqueued as, from its "enqueued" text; untrusted: a
    field that is missing or of the wrong type is left out."""
    due, queue, payload = [*text.split("\t", 2), "", ""][:3]
    fields: dict[str, Any] = {"due": due, "queue": queue}
    try:
        doc = json.loads(payload) if payload else {}
    except (ValueError, RecursionError):
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    meta = doc.get("meta")
    attempt = meta.get("attempt", 1) if isinstance(meta, dict) else 1
    fields["attempt"] = str(attempt) if type(attempt) is int else "1"
    if isinstance(doc.get("class"), str):
        fields["class"] = doc["class"]
    if type(doc.get("enqueued_at")) in (int, float):
        fields["enqueued_at"] = repr(doc["enqueued_at"])
    if "args" in doc:
        args = json.dumps(doc["args"])
        size = len(args)
        fields["args"] = args if size <= ARGS_SHOWN else f'{{"truncated": true, "size": {size}}}'
    return {k: v for k, v in fields.items() if v != ""}


def json_object(fields: dict[str, Any]) -> str:
    """``fields`` but the None ones as a JSON object: written directly for the
    plain values a run's fields are (it runs for every job), else by json."""
    parts = []
    for name, value in fields.items():
        kind = type(value)
        if value is None:
            continue
        if kind is str:
            parts.append(f"{_quote(name)}:{_quote(value)}")
        elif kind is int or (kind is float and math.isfinite(value)):
            parts.append(f"{_quote(name)}:{value!r}")
        else:
            return json.dumps({k: v for k, v in fields.items() if v is not None})
    return "{" + ",".join(parts) + "}"


def parse_final_json(text: str) -> dict[str, Any]:
    """A run's fields as status_final.lua stored them; untrusted: anything but
    a JSON object of plain values gives nothing."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {
        str(k): v
        for k, v in doc.items()
        if isinstance(v, (str, int, float)) and v is not True and v is not False
    }


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
        self.waiting: str = keys.plugin("status", "waiting")
        self.finals: str = keys.plugin("status", "finals")
        self.kills: str = keys.cancelled  # kill requests: see status_kill.lua
        # Jobs someone waits on (wait()), scored by when the wait ends: a
        # batched final state is published only for them (status_final.lua).
        self.waiters: str = keys.plugin("status", "waiters")
        self._batch_keys = (self.waiting, self.finals, self.state_index)
        self._stamped, self._stamp = 0.0, ""
        self._quoted: dict[str, str] = {}  # worker names as JSON strings (one per worker)
        self._completed = ("completed", expire_s)
        self._final_keys = (
            self.waiting,
            self.finals,
            self.state_index,
            self._prefix,
            self.waiters,
        )

    def key(self, job_id: str) -> str:
        """The job's own hash (it may not have one: see the module's doc)."""
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
        keys = (self.key(job_id), self.state_index, self.kills, self.waiting, self.finals)
        return resqplug.Write("status.set", keys, tuple(args))

    def enqueued(self, job: resqplug.Job) -> resqplug.Write:
        """The status of a job being enqueued: "queued", or "scheduled" when it
        has a due time. A first attempt's goes to the waiting hash
        (status_enqueued.lua, batched: it runs for every job); a later one's
        (a retry) to the job's own hash, which holds its earlier runs' story."""
        now = job.enqueued_at or time.time()
        state = "queued" if job.due is None else "scheduled"
        stamp = self._stamp if now == self._stamped else repr(now)  # a batch shares its time
        self._stamped, self._stamp = now, stamp
        due = "" if job.due is None else repr(job.due)
        if bool(job.meta) and (job.attempt != 1 or "recoveries" in job.meta):
            enqueued = enqueued_text(job, due, job.attempt, job.args)
            return self.write(job.id, state, {"enqueued": enqueued})
        shared = (state, stamp, due, job.queue, "new" if job.new_id else "")
        return resqplug.Write("status.enqueued", self._batch_keys, (job.id,), shared)

    def completed(self, job_id: str, running: dict[str, Any]) -> resqplug.Write:
        """The final state of a first run that completed with no result, from
        its ``running`` fields (started_at, worker): ``ended`` for the most
        common run, its JSON written directly."""
        worker = running["worker"]
        quoted = self._quoted.get(worker)
        if quoted is None:
            quoted = self._quoted[worker] = _quote(worker)
        run = (
            f'{{"started_at":{running["started_at"]!r},"attempt":1,"worker":{quoted},'
            f'"finished_at":{time.time()!r}}}'
        )
        return resqplug.Write("status.final", self._final_keys, (job_id, run), self._completed)

    def ended(self, job_id: str, state: str, fields: dict[str, Any]) -> resqplug.Write:
        """The final state of a run, with its fields (status_final.lua, batched:
        it rides the ack of every job)."""
        args = (job_id, json_object(fields))
        return resqplug.Write("status.final", self._final_keys, args, (state, self.expire_s))


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
        if state in FINAL and mode != SAME_STATE:  # a kill request ends with the job
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
        """Set fields without changing the state (nothing if there is none)."""
        flat = {k: v for k, v in fields.items() if v is not None}
        status = self.get(job_id) if flat else None
        if status is not None:
            self._write(job_id, status.status, flat, mode=SAME_STATE)

    def get(self, job_id: str) -> Status | None:
        pipe = self.client.redis.pipeline(transaction=False)
        self._read(pipe, job_id)
        status = self._parse(job_id, *pipe.execute())
        running = RUNNING.get(job_id)
        if status is not None and running is not None and status.status in WAITING:
            return Status(job_id, "working", {**status.fields, **running})  # not said yet
        return status

    def add_waiter(self, job_id: str, until: float) -> None:
        """Say that someone waits for the job's final state until ``until``
        (unix time): its batched final state is then published. Call it after
        subscribing and before reading the status, so no final is missed."""
        self.client.redis.zadd(self.waiters, {job_id: until}, gt=True)

    def expires_in(self, job_id: str) -> float | None:
        """Seconds until the job's status expires; None if it never does (not
        final) or there is none."""
        status = self.get(job_id)
        if status is None or not status.final:
            return None
        ttl = self.client.redis.ttl(self.key(job_id))
        if ttl >= 0:
            return float(ttl)
        updated = status.fields.get("updated_at")
        return (
            max(0.0, updated + self.expire_s - time.time()) if isinstance(updated, float) else 0.0
        )

    def _read(self, pipe: Any, job_id: str) -> None:
        pipe.hget(self.waiting, job_id)
        pipe.hgetall(self.key(job_id))
        pipe.hget(self.finals, job_id)

    def _parse(
        self, job_id: str, waiting: bytes | None, own: dict[bytes, bytes], final: bytes | None
    ) -> Status | None:
        """The status from where it is: the waiting record, else the finals
        record (None once expired), else the job's own hash."""
        if waiting is not None:
            state, updated, enqueued = ([*_text(waiting).split("\t", 2), "", ""])[:3]
            return self._status(
                job_id, {"status": state, "updated_at": updated, "enqueued": enqueued}
            )
        if final is not None:
            head, _, was = _text(final).partition("\n")
            state, updated, run = [*head.split("\t", 2), "", ""][:3]
            enqueued = [*was.split("\t", 2), "", ""][2]
            fields = {"status": state, "updated_at": updated, "enqueued": enqueued, "final": run}
            status = self._status(job_id, fields)
            age = status.fields.get("updated_at")
            if isinstance(age, float) and age + self.expire_s < time.time():
                return None  # expired: the next final write of its state prunes it
            return status
        if own:
            return self._status(job_id, {_text(k): _text(v) for k, v in own.items()})
        return None

    @staticmethod
    def _status(job_id: str, raw: dict[str, str]) -> Status:
        """A status from its fields as stored: what it was enqueued as, then
        its own fields, then its run's (the latest say wins)."""
        fields: dict[str, Any] = parse_enqueued(raw.pop("enqueued", ""))
        final = parse_final_json(raw.pop("final", ""))
        fields.update(raw)
        fields.setdefault("created_at", fields.get("enqueued_at", ""))
        for name in _NUMBERS:
            if name in fields and fields[name] != "":
                fields[name] = _number(fields[name])
        for name in ("attempt", "recoveries"):
            if name in fields and isinstance(value := _number(fields[name]), float):
                fields[name] = int(value)
        fields.update(final)
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
            self._read(pipe, job_id)
        replies = pipe.execute()
        out, gone = [], []
        for n, (_, job_id, name) in enumerate(chosen):
            status = self._parse(job_id, *replies[3 * n : 3 * n + 3])
            (out.append(status) if status is not None else gone.append((job_id, name)))
        self._forget(gone)
        return out

    def _forget(self, gone: Iterable[tuple[str, str]]) -> None:
        """Index entries whose status expired, and their stale records."""
        pipe = self.client.redis.pipeline(transaction=False)
        for job_id, name in gone:
            pipe.zrem(self.state_index + name, job_id)
            pipe.hdel(self.finals, job_id)
        pipe.execute()

    def count(self, state: str | None = None) -> int:
        pipe = self.client.redis.pipeline(transaction=False)
        for name in (state,) if state else STATES:
            pipe.zcard(self.state_index + name)
        return sum(int(n) for n in pipe.execute())

    def remove(self, job_id: str) -> bool:
        status = self.get(job_id)
        pipe = self.client.redis.pipeline(transaction=True)
        pipe.delete(self.key(job_id))
        pipe.hdel(self.waiting, job_id)
        pipe.hdel(self.finals, job_id)
        if status is not None:
            pipe.zrem(self.state_index + status.status, job_id)
        pipe.srem(self.kills, job_id, f"!{job_id}")
        return any(pipe.execute()[:3])

    def request_kill(self, job_id: str) -> tuple[str, bool]:
        """Request the kill of an unfinished job, atomically with reading its
        state. Returns the state ('' when unknown or final: nothing requested)
        and whether this call made the request (False: it was made before)."""
        keys = [self.key(job_id), self.kills, self.waiting, self.finals]
        reply = self._kill(keys, [job_id])
        state = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0] or "")
        return state, len(reply) > 1 and int(reply[1]) == 1

    def kill_requested(self, job_id: str) -> bool:
        return any(self.client.redis.smismember(self.kills, [job_id, f"!{job_id}"]))


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")
