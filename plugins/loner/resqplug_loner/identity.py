"""What makes two jobs "the same", and the lock settings of a unique class."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

import resqplug
from resqplug.ext import JobOption, canonical

META = "loner"  # meta["loner"]: the digest of the job's identity, kept from its enqueue
_DIGEST_RE = re.compile(r"^[0-9a-f]{40}$")
DEFAULT_TTL_S = 6 * 3600
SCOPES = ("until_done", "queued")
# Checked by read_uniqueness when a class is defined (with messages naming the class).
OPTIONS = (
    JobOption("unique", False, doc="one copy of the job (class + args) at a time"),
    JobOption("unique_for", DEFAULT_TTL_S, doc="lock TTL in seconds"),
    JobOption("unique_key", None, doc="method (*args) -> str: the job's identity"),
    JobOption("unique_scope", "until_done", doc="'until_done' or 'queued' (released at start)"),
)


@dataclass(frozen=True)
class Uniqueness:
    ttl_s: float
    scope: str


def read_uniqueness(job_class: type) -> Uniqueness | None:
    """The class's settings, or None if it is not unique. ConfigError names
    the bad attribute."""
    owner = job_class.__qualname__
    unique = getattr(job_class, "unique", False)
    unique_for = getattr(job_class, "unique_for", None)
    if not unique and unique_for is None:
        return None
    if unique_for is not None and (
        isinstance(unique_for, bool)
        or not isinstance(unique_for, (int, float))
        or not math.isfinite(unique_for)
        or unique_for <= 0
    ):
        raise resqplug.ConfigError(f"{owner}.unique_for must be seconds > 0, got {unique_for!r}")
    scope = getattr(job_class, "unique_scope", "until_done")
    if scope not in SCOPES:
        raise resqplug.ConfigError(f"{owner}.unique_scope must be one of {SCOPES}, got {scope!r}")
    key_fn = getattr(job_class, "unique_key", None)
    if key_fn is not None and not callable(key_fn):
        raise resqplug.ConfigError(f"{owner}.unique_key must be a method (*args) -> str")
    return Uniqueness(float(unique_for or DEFAULT_TTL_S), scope)


def identity(job: resqplug.Job) -> str:
    """The job's identity: its ``unique_key(*args)``, else class + canonical args."""
    key_fn = getattr(job, "unique_key", None)
    if key_fn is not None:
        return f"{job.class_name}:{key_fn(*job.args)}"
    return f"{job.class_name}:{canonical(job.args)}"


def digest(job: resqplug.Job) -> str:
    return hashlib.sha1(identity(job).encode("utf-8")).hexdigest()


def lock_key(client: Any, job: resqplug.Job, job_digest: str | None = None) -> str:
    """The job's lock key in the namespace of ``client`` (a client, or its
    ``keys``: ``resqplug.ext.keys_for(job)`` needs no connection)."""
    keys = getattr(client, "keys", client)
    return str(keys.plugin("loner", "lock", job.class_name, job_digest or digest(job)))


def recorded_lock_key(client: resqplug.Resq, job: resqplug.Job) -> str | None:
    """The lock key recorded in the job's payload at enqueue (any process can
    find it, without the job's class or its ``unique_key``), or None when the
    payload has none or a malformed one (untrusted input)."""
    value = job.meta.get(META)
    if isinstance(value, str) and _DIGEST_RE.match(value):
        return lock_key(client, job, value)
    return None


def lock_pattern(client: resqplug.Resq) -> str:
    return client.keys.plugin("loner", "lock", "*")


def describe(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
