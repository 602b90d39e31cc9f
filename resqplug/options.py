"""Job-class options: what plugins declare through ``job_options()`` and how a
job class's attributes are checked against the declarations.

The rule, in one place: an attribute a job class (or a base class of it, not
``Job`` itself) defines is an option candidate when its name is lowercase and
public and its value is not callable and not a descriptor (methods,
properties, classmethods are behaviour, not options). ``Job``'s own attributes
and the declared options of installed plugins are fine. A candidate close to a
declared name (a likely typo) is an ``UnknownOptionError`` naming the close
name; any other candidate is a warning, once per class: it may be the option of
a plugin installed elsewhere (producers and workers may differ), so the job
still enqueues and runs. Constants (``UPPER_CASE``) and ``_private`` names are
never candidates.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, UnknownOptionError
from .job import Job

log = logging.getLogger("resqplug.options")

TYPO_CUTOFF = 0.85  # difflib ratio from which an unknown name is taken for a typo

# Set on each job instance in Job.__init__ (not visible on the class).
_JOB_INSTANCE_ATTRIBUTES = frozenset(
    {"args", "id", "meta", "enqueued_at", "class_name", "guards", "client", "worker_id"}
)
_JOB_ATTRIBUTES = frozenset(dir(Job)) | _JOB_INSTANCE_ATTRIBUTES


@dataclass(frozen=True)
class JobOption:
    """A job-class attribute a plugin reads, declared by its ``job_options()``.

    ``default`` is what the plugin assumes when a class does not set it and
    ``doc`` says what it does (both for people and tools listing options).
    When ``type`` is given, a class that sets the option to a value of another
    type is refused (``ConfigError``) at its first enqueue; ``validate`` (called
    with the value) may raise ``ConfigError`` for finer checks. Plugins that
    check their options in ``job_defined`` need neither.
    """

    name: str
    default: Any = None
    type: type | tuple[type, ...] | None = None
    doc: str = ""
    validate: Callable[[Any], object] | None = None


@dataclass(frozen=True)
class Declared:
    """A declared option and the name of the plugin that declared it."""

    option: JobOption
    plugin: str


def as_option(item: JobOption | str) -> JobOption:
    """A declaration as a JobOption (plain names are accepted for plugins
    written before JobOption)."""
    if isinstance(item, JobOption):
        return item
    if isinstance(item, str):
        return JobOption(item)
    raise ConfigError(f"job_options() returned {item!r}: expected a JobOption or a name")


def collect(declarations: Iterable[tuple[str, Any]]) -> dict[str, Declared]:
    """Each declared option by name, from (plugin name, job_options() result)
    pairs. The first plugin to declare a name owns it."""
    found: dict[str, Declared] = {}
    for plugin, items in declarations:
        for item in items or ():
            option = as_option(item)
            found.setdefault(option.name, Declared(option, plugin))
    return found


def candidates(job_class: type) -> dict[str, Any]:
    """The attributes of ``job_class`` that could be meant as options (see the
    module docstring), nearest class first."""
    found: dict[str, Any] = {}
    for klass in job_class.__mro__:
        if klass in Job.__mro__:
            continue
        for name, value in vars(klass).items():
            if name in found or name.startswith("_") or name != name.lower():
                continue
            if name in _JOB_ATTRIBUTES or callable(value) or hasattr(value, "__get__"):
                continue
            found[name] = value
    return found


def check_class(job_class: type, declared: dict[str, Declared]) -> None:
    """Check ``job_class`` against the declared options: raise for a likely
    typo or a value the declaration refuses; log a warning for each option
    no installed plugin declares."""
    owner = job_class.__qualname__
    for name, value in candidates(job_class).items():
        known = declared.get(name)
        if known is not None:
            _check_value(owner, name, value, known)
            continue
        close = difflib.get_close_matches(name, list(declared), n=1, cutoff=TYPO_CUTOFF)
        if close:
            raise UnknownOptionError(
                f"job {owner} sets {name!r}, which no installed plugin declares: "
                f"did you mean {close[0]!r} (plugin {declared[close[0]].plugin})?"
            )
        log.warning(
            "job %s sets %r, which no installed plugin declares: it has no effect here",
            owner,
            name,
        )


def _check_value(owner: str, name: str, value: Any, known: Declared) -> None:
    option = known.option
    if value is None:
        return
    if option.type is not None and not isinstance(value, option.type):
        raise ConfigError(
            f"job {owner} sets {name!r} (plugin {known.plugin}) to {value!r}: "
            f"expected {_type_name(option.type)}"
        )
    if option.validate is not None:
        option.validate(value)


def _type_name(expected: type | tuple[type, ...]) -> str:
    if isinstance(expected, tuple):
        return " or ".join(t.__name__ for t in expected)
    return expected.__name__
