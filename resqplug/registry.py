"""Job classes by name. Payloads are resolved only here: nothing is ever
imported because a payload named it."""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

from .errors import ConfigError, DuplicateJobNameError, UnknownJobError

if TYPE_CHECKING:
    from .job import Job

_NAME_RE = re.compile(r"^[^\s\x00-\x1f\x7f]{1,200}$")
_lock = threading.Lock()
_by_name: dict[str, type[Job]] = {}


def _origin(cls: type) -> tuple[str, str]:
    return (cls.__module__, cls.__qualname__)


def register(cls: type[Job], name: str) -> None:
    """Register ``cls`` as ``name``; a different class under one name is an error.

    Re-defining the same class (same module and qualified name, as when a module
    is reloaded) replaces the old one.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(f"invalid job name {name!r} on {cls.__qualname__}")
    with _lock:
        old = _by_name.get(name)
        if old is not None and old is not cls and _origin(old) != _origin(cls):
            raise DuplicateJobNameError(
                f"two job classes are named {name!r}: {'.'.join(_origin(old))} and "
                f"{'.'.join(_origin(cls))}; set name = '...' on one of them"
            )
        _by_name[name] = cls


def unregister(name: str) -> None:
    with _lock:
        _by_name.pop(name, None)


def resolve(name: str) -> type[Job]:
    try:
        return _by_name[name]
    except KeyError:
        raise UnknownJobError(
            f"unknown job class {name!r} (not registered; is its module loaded with --app?)"
        ) from None


def lookup(name: str) -> type[Job] | None:
    return _by_name.get(name)


def names() -> list[str]:
    return sorted(_by_name)


def classes() -> list[type[Job]]:
    return list(_by_name.values())
