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
from typing import Any, NamedTuple

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
    """A fragment's source, marked to run once per script call for all the
    writes that name it with the same keys and shared args: the core groups
    them and calls the fragment once per group, after its own step, with
    ``KEYS`` (the group's keys, once), ``ARGV`` (the writes' args, one write
    after another, in the order of the jobs), ``COUNT`` (the number of
    writes), ``JOBS`` (per write, the payload text of its job in the scripts
    that write the job: enqueue, ``enqueue_many``, a delayed add or move; ''
    in the ack and in writes applied alone) and ``SHARED`` (the group's
    shared args). Redis's work per job then costs one command per group
    (``HSET h id1 v1 id2 v2 ...``) instead of one per job, and what the jobs
    have in common crosses once. The writes of a group must all have the
    same number of args, so the fragment can walk them. Writes of a job whose
    ack is skipped (its lease was lost) are left out. One call holds the
    whole group: an error raised on one job's data loses every write of the
    call, so a batched fragment must not raise on what it reads from Redis."""

    __slots__ = ()


class Write(NamedTuple):
    """One write of a plugin: the fragment ``script`` (a name the plugin
    registered through ``write_scripts``) run with ``keys`` and ``args``.
    ``shared``, for a batched fragment only: args its writes in one call
    have in common (the fragment's SHARED), sent once per call. A named
    tuple: built for every job, it must be cheap to build."""

    script: str
    keys: tuple[str, ...] = ()
    args: tuple[WriteArg, ...] = ()
    shared: tuple[WriteArg, ...] = ()


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
        f'WRITES["{name}"] = function(KEYS, ARGV, COUNT, JOBS, SHARED)\n{text}\nend\n'
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
    for values in (write.args, write.shared):
        if not _ARG_TYPES.issuperset(map(type, values)) and not all(
            isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in values
        ):
            return f"an argument of write {write.script!r} is not a str, int or float"
    return None


class Carried:
    """The writes one script call carries, appended to its KEYS and ARGV job
    by job (``job``), then ``close``. A job's plain writes go with it: their
    count, then each as name, key count, arg count, args (keys to KEYS). Its
    batched writes are grouped by fragment, keys and shared args into a
    section after every job's (``close``; its layout: writes.lua). The last
    ARGV is where that section starts."""

    __slots__ = ("_batched", "_fragments", "_groups", "_jobs", "_last")

    def __init__(self, fragments: Mapping[str, str]) -> None:
        self._fragments = fragments
        self._batched = batched_names(fragments)
        self._groups: dict[tuple[str, tuple[str, ...], tuple[WriteArg, ...]], _Group] = {}
        self._jobs = 0
        self._last: tuple[Write, _Group] | None = None  # the last batched write and its group

    def job(
        self, writes: Sequence[Write], keys: list[str], argv: list[Any], ran: str | None = None
    ) -> None:
        """Append the next job's ``writes``. A malformed write refuses the
        call (ConfigError), or, for a job that already ran (``ran``: its id),
        is logged and left out, so the job's outcome is still recorded."""
        self._jobs += 1
        plain: list[Write] = []
        for write in writes:
            if self._joins_last(write):
                continue
            found = problem(write, self._fragments)
            if found is None:
                if write.script in self._batched:
                    found = self._gather(write)
                elif write.shared:
                    found = f"write {write.script!r} has shared args: its fragment is not batched"
                else:
                    plain.append(write)
                    continue
                if found is None:
                    continue
            if ran is None:
                raise ConfigError(f"a plugin write is refused: {found}")
            log.error("a plugin write of job %s is dropped: %s", ran, found)
        _append(plain, keys, argv)

    def _joins_last(self, write: Write) -> bool:
        """Whether ``write`` joined the group of the last batched write: the
        common case of one plugin's write per job, with the same keys object
        (checked already) and shared args; its args are still checked."""
        last = self._last
        if last is None or type(write) is not Write:
            return False
        seen, group = last
        if (
            write.keys is not seen.keys
            or write.script != seen.script
            or write.shared != seen.shared
            or len(write.args) != group.per_write
            or not _ARG_TYPES.issuperset(map(type, write.args))
        ):
            return False
        group.add(self._jobs, write.args)
        return True

    def _gather(self, write: Write) -> str | None:
        """Add a batched write to its group; what is wrong with it, if its
        number of args differs from the group's."""
        index = (write.script, write.keys, write.shared)
        group = self._groups.get(index)
        if group is None:
            group = self._groups[index] = _Group(len(write.args))
        elif len(write.args) != group.per_write:
            name, count, others = write.script, len(write.args), group.per_write
            return f"batched write {name!r} has {count} args, the others of its call {others}"
        group.add(self._jobs, write.args)
        self._last = (write, group)
        return None

    def close(self, keys: list[str], argv: list[Any]) -> None:
        """Append the batched section and, last, where it starts."""
        start = len(argv) + 1
        argv.append(len(self._groups))
        for (name, shared_keys, shared), group in self._groups.items():
            keys += shared_keys
            argv += (name, len(shared_keys), len(shared), group.per_write, len(group.jobs))
            if group.dense:
                argv.append("*")
            else:
                argv += (len(group.jobs), *group.jobs)
            argv += shared
            argv += group.args
        argv.append(start)


class _Group:
    """The writes of one batched group: their jobs' numbers, whether those
    are 1, 2, 3, ... (then they need not be sent), and their args."""

    __slots__ = ("args", "dense", "jobs", "per_write")

    def __init__(self, per_write: int) -> None:
        self.per_write = per_write
        self.jobs: list[int] = []
        self.args: list[WriteArg] = []
        self.dense = True

    def add(self, job: int, args: tuple[WriteArg, ...]) -> None:
        if self.dense and job != len(self.jobs) + 1:
            self.dense = False
        self.jobs.append(job)
        self.args += args


_batched_of: dict[int, tuple[Mapping[str, str], frozenset[str]]] = {}


def batched_names(fragments: Mapping[str, str]) -> frozenset[str]:
    """The names of the batched fragments in ``fragments``, found once per
    fragments object (the plugin manager keeps one until plugins change)."""
    known = _batched_of.get(id(fragments))
    if known is not None and known[0] is fragments:
        return known[1]
    names = frozenset(name for name, text in fragments.items() if isinstance(text, Batched))
    if len(_batched_of) > 64:
        _batched_of.clear()
    _batched_of[id(fragments)] = (fragments, names)
    return names


def flatten(
    writes: Sequence[Write], fragments: Mapping[str, str], keys: list[str], argv: list[Any]
) -> None:
    """Append one job's ``writes`` to a script call's KEYS and ARGV (a call
    carrying one job: ``Carried`` with one job). ConfigError if one is
    malformed (the caller's enqueue is refused)."""
    carried = Carried(fragments)
    carried.job(writes, keys, argv)
    carried.close(keys, argv)


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
            row = [write.script, list(write.keys), list(write.args)]
            rows.append([*row, list(write.shared)] if write.shared else row)
        else:
            log.error("a plugin write is dropped: %s", found)
    return json.dumps(rows) if rows else ""


def from_text(text: str) -> tuple[Write, ...]:
    """Writes read back from ``to_text`` (written by this worker's own child)."""
    if not text:
        return ()
    return tuple(
        Write(row[0], tuple(row[1]), tuple(row[2]), tuple(row[3]) if len(row) > 3 else ())
        for row in json.loads(text)
    )
