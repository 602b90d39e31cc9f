"""Plugins' Redis writes, carried by the round trip the core makes anyway.

A plugin does not call Redis per job. It appends a :class:`Write` to
``job.writes`` from a hook, and the core applies it inside the script it runs
for that job anyway: the enqueue script (``before_enqueue``: one script per
job, one per queue for ``enqueue_many``) and the worker's batched ack (the
perform hooks, ``on_failure``, ``handle_failure``, ``job_discarded`` when a
worker drops a job). A Write names a Lua fragment the plugin registered at
load (hook ``write_scripts``), with its keys and arguments: data, so it
crosses from a fork child to its parent with the job's outcome.

Atomicity: an enqueue's writes happen in the step that writes the job (not at
all when an enqueue guard refuses it); an ack's writes happen in the step
that records the outcome, and not at all when the worker lost the job (its
lease expired and another worker took it: that run's writes count).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

log = logging.getLogger("resqplug.writes")

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,99}\Z")
FRAGMENTS_MARK = "--@fragments\n"
ALONE_MARK = "--@alone"

WriteArg = str | int | float
# The exact types checked first, at C speed; subclasses (but bool) pass too.
_KEY_TYPES = frozenset({str})
_ARG_TYPES = frozenset({str, int, float})


class Batched(str):
    """A fragment's source, marked to run once per script for all the writes
    that name it: the core gathers them (keys after keys, args after args, in
    the order of the jobs) and calls the fragment once, after its own step,
    with ``KEYS``, ``ARGV``, their number of writes ``COUNT`` and ``JOBS``:
    per write, the payload text of its job in the scripts that write the job
    (enqueue, ``enqueue_many``, a delayed add or move), '' in the ack and in
    writes applied alone, so a fragment can keep a reference to what was
    enqueued without the plugin encoding it again. A
    batched fragment's writes must all have the same number of keys and of
    args, so it can walk them; Redis's work per job then costs one command
    per batch (``HSET h id1 v1 id2 v2 ...``) instead of one per job. Writes of
    a job whose ack is skipped (its lease was lost) are not gathered. One
    call holds the whole batch: an error raised on one job's data loses every
    write of the call, so a batched fragment must not raise on what it reads
    from Redis."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Write:
    """One write of a plugin: the fragment ``script`` (a name the plugin
    registered through ``write_scripts``) run with ``keys`` and ``args``."""

    script: str
    keys: tuple[str, ...] = ()
    args: tuple[WriteArg, ...] = ()


def check_fragments(found: Iterable[tuple[str, Mapping[str, str]]]) -> dict[str, str]:
    """Merge each plugin's ``write_scripts`` answer (plugin name, fragments),
    refusing a bad or twice-registered fragment name."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for plugin, fragments in found:
        for name, text in fragments.items():
            if not isinstance(name, str) or not NAME.match(name):
                raise ConfigError(
                    f"plugin {plugin!r} registers a write script named {name!r}: "
                    "use letters, digits and . _ : - (start with a letter)"
                )
            if name in merged and merged[name] != text:
                raise ConfigError(
                    f"plugins {owner[name]!r} and {plugin!r} both register write script {name!r}"
                )
            merged[name], owner[name] = text, plugin
    return merged


def compose(core: str, prelude: str, fragments: Mapping[str, str]) -> str:
    """The core script ``core`` with the writes prelude and every fragment."""
    defined = "".join(
        f'WRITES["{name}"] = function(KEYS, ARGV, COUNT, JOBS)\n{text}\nend\n'
        + (f'BATCHED["{name}"] = true\n' if isinstance(text, Batched) else "")
        for name, text in sorted(fragments.items())
    )
    head = prelude.split(ALONE_MARK, 1)[0] if core else prelude
    return head.replace(FRAGMENTS_MARK, FRAGMENTS_MARK + defined, 1) + core


def problem(write: Write, fragments: Mapping[str, str] | None) -> str | None:
    """What is wrong with ``write`` (None: nothing); its fragment is not
    looked up when ``fragments`` is None."""
    if not isinstance(write, Write):
        return f"{write!r:.80} is not a resqplug.Write"
    if fragments is not None and write.script not in fragments:
        return f"it names script {write.script!r}, which no loaded plugin registers"
    if not _KEY_TYPES.issuperset(map(type, write.keys)) and not all(
        isinstance(k, str) for k in write.keys
    ):
        return f"a key of write {write.script!r} is not a str"
    if not _ARG_TYPES.issuperset(map(type, write.args)) and not all(
        isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in write.args
    ):
        return f"an argument of write {write.script!r} is not a str, int or float"
    return None


def flatten(
    writes: Sequence[Write], fragments: Mapping[str, str], keys: list[str], argv: list[Any]
) -> None:
    """Append ``writes`` to a script call's KEYS and ARGV: their count, then
    each as name, key count, arg count, args (keys to KEYS, in order).
    ConfigError if one is malformed (the caller's enqueue is refused)."""
    for write in writes:
        found = problem(write, fragments)
        if found is not None:
            raise ConfigError(f"a plugin write is refused: {found}")
    _append(writes, keys, argv)


def flatten_valid(
    writes: Sequence[Write],
    fragments: Mapping[str, str],
    keys: list[str],
    argv: list[Any],
    job_id: str,
) -> None:
    """Like ``flatten`` for a job that already ran: a malformed write is
    logged and left out, so the job's outcome is still recorded."""
    valid = []
    for write in writes:
        found = problem(write, fragments)
        if found is None:
            valid.append(write)
        else:
            log.error("a plugin write of job %s is dropped: %s", job_id, found)
    _append(valid, keys, argv)


def _append(writes: Sequence[Write], keys: list[str], argv: list[Any]) -> None:
    argv.append(len(writes))
    for write in writes:
        keys += write.keys
        argv += (write.script, len(write.keys), len(write.args), *write.args)


def report(errors: Iterable[Any], where: str) -> None:
    """Log the fragments that failed in a script (the step itself happened)."""
    for error in errors:
        text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        log.warning("a plugin write failed in %s: %s", where, text)


def to_text(writes: Sequence[Write]) -> str:
    """Writes as one line of JSON (a fork child's answer to its parent); a
    malformed one is logged and left out (the child must still answer)."""
    rows = []
    for write in writes:
        found = problem(write, None)
        if found is None:
            rows.append([write.script, list(write.keys), list(write.args)])
        else:
            log.error("a plugin write is dropped: %s", found)
    return json.dumps(rows) if rows else ""


def from_text(text: str) -> tuple[Write, ...]:
    """Writes read back from ``to_text`` (written by this worker's own child)."""
    if not text:
        return ()
    return tuple(Write(s, tuple(k), tuple(a)) for s, k, a in json.loads(text))
