"""Canonical JSON for job payloads: validation, encoding and decoding.

A payload is ``{"class":..,"args":[..],"id":..,"enqueued_at":..,"meta":{..}}``,
compact and UTF-8 (not ``\\u``-escaped), with ``class`` and ``args`` first so it
is byte-compatible with what Ruby Resque writes and reads.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
from typing import Any

from .errors import PayloadError, QueueNameError

DEFAULT_MAX_PAYLOAD_BYTES = 512 * 1024
MAX_DEPTH = 64
_QUEUE_NAME_RE = re.compile(r"^[^\s:*?\[\]\x00-\x1f\x7f]{1,128}$")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_JOB_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
# The meta fields the core itself reads, each with its least valid value:
# ``attempt`` (Job.attempt, 1 for the first run) and ``recoveries`` (the reaper).
CORE_META_COUNTS = {"attempt": 1, "recoveries": 0}
MAX_COUNT = 2**63 - 1

_dumps = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
).encode


def new_job_id() -> str:
    """A random (version 4) UUID as 32 hex digits, without building a UUID object."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex()


_valid_queue_names: set[str] = set()


def validate_queue_name(name: object) -> str:
    if name in _valid_queue_names:
        return name  # type: ignore[return-value]
    if not isinstance(name, str) or not _QUEUE_NAME_RE.match(name):
        raise QueueNameError(
            f"invalid queue name {name!r}: 1-128 characters, no whitespace, "
            "control characters, ':', '*', '?', '[' or ']'"
        )
    if len(_valid_queue_names) < 10_000:
        _valid_queue_names.add(name)
    return name


def validate_job_id(job_id: object) -> str:
    if not isinstance(job_id, str) or not _JOB_ID_RE.match(job_id):
        raise PayloadError(f"invalid job id {job_id!r}: 1-64 letters, digits, '_' or '-'")
    return job_id


def _describe(value: object) -> str:
    kind = type(value).__name__
    if isinstance(value, float):
        return f"float {value!r} (NaN and infinity are not JSON)"
    if isinstance(value, tuple):
        return "tuple (it would come back as a list; pass a list)"
    return f"{kind} {value!r:.60}"


def _check(value: Any, path: str, depth: int) -> None:
    """Raise PayloadError unless ``value`` survives a JSON round trip unchanged."""
    kind = type(value)
    if kind is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise PayloadError(f"{path} is a string with a lone surrogate (not valid UTF-8)")
        return
    if kind is int:
        # 2,100 bits are at most 633 digits: such an int converts to text whatever
        # sys.set_int_max_str_digits says (640 at least), so only bigger ones are tried.
        if value.bit_length() > 2100:
            _check_int_digits(value, path)
        return
    if kind is bool or value is None:
        return
    if kind is float:
        if not math.isfinite(value):
            raise PayloadError(f"{path} is not JSON-safe: {_describe(value)}")
        return
    if depth >= MAX_DEPTH:
        raise PayloadError(f"{path} is nested deeper than {MAX_DEPTH} levels")
    if kind is list:
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", depth + 1)
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise PayloadError(f"{path} has a non-string key {key!r} (JSON keys are strings)")
            _check(key, f"{path} key {key!r}", depth + 1)
            _check(item, f"{path}[{key!r}]", depth + 1)
        return
    raise PayloadError(f"{path} is not JSON-safe: {_describe(value)}")


def _check_int_digits(value: int, path: str) -> None:
    try:
        int.__repr__(value)
    except ValueError:
        raise PayloadError(
            f"{path} is an int of more than {sys.get_int_max_str_digits()} digits, "
            "too long to write as JSON (sys.set_int_max_str_digits)"
        ) from None


def check_args(args: list[Any]) -> None:
    """Raise PayloadError naming the first argument path that is not JSON-safe."""
    _check(args, "args", 0)


def check_meta(meta: dict[str, Any]) -> None:
    """Raise PayloadError unless ``meta`` is JSON-safe and its core fields are valid."""
    _check(meta, "meta", 0)
    if meta:
        check_core_meta(meta)


def check_core_meta(meta: dict[str, Any]) -> None:
    """Raise PayloadError unless the meta fields the core reads are valid: the
    one check for every payload read (decode) and written (encode)."""
    for name, least in CORE_META_COUNTS.items():
        if name in meta:
            value = meta[name]
            if type(value) is not int or not least <= value <= MAX_COUNT:
                raise PayloadError(
                    f"meta.{name} must be an int from {least} to 2**63-1, "
                    f"got {type(value).__name__} {value!r:.60}"
                )


def encode(
    class_name: str,
    args: list[Any],
    job_id: str,
    enqueued_at: float | None,
    meta: dict[str, Any],
    max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> str:
    """Encode a validated job as canonical payload text, enforcing the size limit."""
    check_meta(meta)
    doc: dict[str, Any] = {"class": class_name, "args": args, "id": job_id}
    if enqueued_at is not None:
        doc["enqueued_at"] = enqueued_at
    doc["meta"] = meta
    text = _dumps(doc)
    # Cheap upper bound first: UTF-8 never takes more than 4 bytes per character.
    if len(text) * 4 > max_bytes:
        size = len(text.encode("utf-8"))
        if size > max_bytes:
            raise PayloadError(
                f"payload of {class_name} is {size} bytes, over the limit of {max_bytes} bytes"
            )
    return text


def args_prefix(class_name: str, args: list[Any] | None) -> str:
    """The exact text a payload for ``class_name`` (and ``args``) starts with."""
    if args is None:
        return '{"class":' + _dumps(class_name) + ',"args":'
    return _dumps({"class": class_name, "args": args})[:-1]


def canonical(value: Any) -> str:
    """Canonical JSON (sorted keys) of any JSON-safe value, for identities."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def dumps(value: Any) -> str:
    """Compact JSON, the same encoding payloads use."""
    return _dumps(value)


def _text(raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError(f"invalid payload: not UTF-8 ({exc.reason} at byte {exc.start})")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PayloadError(f"invalid payload: not UTF-8 (a lone surrogate at {exc.start})")
    return raw


def _refuse_constant(name: str) -> Any:
    raise PayloadError(f"invalid payload: {name} is not JSON (enqueue refuses it too)")


def _finite_float(token: str) -> float:
    value = float(token)
    if not _isfinite(value):
        raise PayloadError(f"invalid payload: the number {token:.40} is out of a float's range")
    return value


_isfinite = math.isfinite
# Hooks rather than a walk over the document: parse_constant runs only for
# NaN/Infinity and parse_float only per float, so the usual payload pays nothing.
_decoder = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def _parse(text: str) -> Any:
    """JSON text as Python values, refusing what encode refuses to write (NaN,
    infinities, ints too long for text); PayloadError says why."""
    try:
        return _decoder.decode(text)
    except PayloadError:
        raise
    except json.JSONDecodeError as exc:
        raise PayloadError(f"invalid payload: not JSON ({exc})") from None
    except ValueError as exc:  # an int over sys.get_int_max_str_digits
        raise PayloadError(f"invalid payload: an int too long to read ({exc})") from None
    except RecursionError:
        raise PayloadError("invalid payload: nested too deeply to read") from None


def check_doc(doc: dict[str, Any]) -> None:
    """Raise PayloadError unless ``doc`` has a payload's shape: class, args,
    id (if any), meta with valid core fields, enqueued_at. Shared by decode and
    every path that enqueues a decoded payload again."""
    name = doc.get("class")
    if not isinstance(name, str) or not name:
        raise PayloadError(f"invalid payload: 'class' must be a non-empty string, got {name!r:.60}")
    if not isinstance(doc.get("args"), list):
        raise PayloadError(
            f"invalid payload: 'args' must be a list, got {type(doc.get('args')).__name__}"
        )
    if "id" in doc:
        validate_job_id(doc["id"])
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise PayloadError("invalid payload: 'meta' must be an object")
    if meta:
        try:
            check_core_meta(meta)
        except PayloadError as exc:
            raise PayloadError(f"invalid payload: {exc}") from None
    at = doc.get("enqueued_at")
    if at is not None and (type(at) not in (int, float)):
        raise PayloadError("invalid payload: 'enqueued_at' must be a number")


def decode(raw: bytes | str) -> dict[str, Any]:
    """Parse and shape-check payload text; PayloadError says what is wrong."""
    text = _text(raw)
    doc = _parse(text)
    if not isinstance(doc, dict):
        raise PayloadError(f"invalid payload: a JSON {type(doc).__name__}, not an object")
    if "id" not in doc:
        # Payloads written by Ruby Resque carry no id: derive a stable one from the text.
        doc["id"] = hashlib.sha1(text.encode("utf-8")).hexdigest()[:32]
    check_doc(doc)
    if _ESCAPED_SURROGATE.search(text):
        _check_strings(doc)
    return doc


def _check_strings(doc: dict[str, Any]) -> None:
    """Escaped lone surrogates parse into text that cannot be written back as
    UTF-8: refuse them wherever they are (args, meta, any field)."""
    try:
        for key, value in doc.items():
            _check(key, "a payload key", 0)
            _check(value, key, 0)
    except PayloadError as exc:
        raise PayloadError(f"invalid payload: {exc}") from None
