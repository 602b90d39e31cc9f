"""A job class's retry policy: read and checked once, at class definition."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from resqplug import ConfigError
from resqplug.ext import JobOption

DEFAULT_LIMIT = 3
# Checked by read_policy when a class is defined (with messages naming the class).
OPTIONS = (
    JobOption(
        "retry_exceptions",
        None,
        doc="exception classes to retry (tuple), or a dict class -> delay or list of delays",
    ),
    JobOption("retry_limit", DEFAULT_LIMIT, doc="retries after the first run"),
    JobOption("retry_delay", 0, doc="seconds before each retry"),
    JobOption("retry_backoff", None, doc="delays per retry, or callable(retry_number, exc)"),
    JobOption("retry_jitter", 0, doc="< 1: up to that fraction of the delay; else seconds"),
    JobOption("fatal_exceptions", (), doc="exception classes never retried"),
    JobOption("retry_criteria", (), doc="callables (job, exc) -> True/False/None"),
    JobOption("retry_record_failures", False, doc="also record each failed attempt"),
)
Delay = float | list[float] | None


@dataclass(frozen=True)
class Policy:
    exceptions: dict[type[BaseException], Delay]
    limit: int
    delay: float
    backoff: list[float] | Callable[[int, BaseException], float] | None
    jitter: float
    fatal: tuple[type[BaseException], ...]
    criteria: tuple[Callable[[Any, BaseException], bool], ...]
    record_failures: bool

    def match(self, exc: BaseException) -> type[BaseException] | None:
        """The closest listed superclass of ``exc`` (its own class first)."""
        for klass in type(exc).__mro__:
            if klass in self.exceptions:
                return klass
        return None

    def wants_retry(self, job: Any, exc: BaseException) -> bool:
        """Listed (or forced by a criterion), not fatal, not vetoed; ignores the
        limit. A criterion returns False to veto, True to force, None for no opinion."""
        if isinstance(exc, self.fatal):
            return False
        votes = [check(job, exc) for check in self.criteria]
        if any(v is False for v in votes):
            return False
        return self.match(exc) is not None or any(v is True for v in votes)

    def delay_for(self, retry: int, exc: BaseException) -> float:
        """Seconds before retry number ``retry`` (1 for the first retry)."""
        matched = self.match(exc)
        listed = self.exceptions.get(matched) if matched is not None else None
        if isinstance(listed, list):
            base = listed[min(retry - 1, len(listed) - 1)]
        elif listed is not None:
            base = listed
        elif isinstance(self.backoff, list):
            base = self.backoff[min(retry - 1, len(self.backoff) - 1)]
        elif callable(self.backoff):
            base = float(self.backoff(retry, exc))
        else:
            base = self.delay
        spread = self.jitter * base if 0 < self.jitter < 1 else self.jitter
        return max(0.0, base + random.uniform(0, spread))


def _number(owner: str, attr: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{owner}.{attr} must be a number >= 0, got {value!r}")
    return float(value)


def _delays(owner: str, attr: str, value: object) -> list[float]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{owner}.{attr} must be a non-empty list of delays, got {value!r}")
    return [_number(owner, attr, v) for v in value]


def _exception_class(owner: str, attr: str, value: object) -> type[BaseException]:
    if not (isinstance(value, type) and issubclass(value, BaseException)):
        raise ConfigError(f"{owner}.{attr} lists {value!r}, which is not an exception class")
    return value


def _exceptions(owner: str, value: object) -> dict[type[BaseException], Delay]:
    attr = "retry_exceptions"
    if isinstance(value, dict):
        out: dict[type[BaseException], Delay] = {}
        for key, delay in value.items():
            klass = _exception_class(owner, attr, key)
            if delay is None:
                out[klass] = None
            elif isinstance(delay, (list, tuple)):
                out[klass] = _delays(owner, attr, delay)
            else:
                out[klass] = _number(owner, attr, delay)
        return out
    if isinstance(value, type):
        value = (value,)
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise ConfigError(f"{owner}.{attr} must be a tuple of exception classes or a dict")
    return {_exception_class(owner, attr, v): None for v in value}


def _fatal(owner: str, value: object) -> tuple[type[BaseException], ...]:
    if isinstance(value, type):
        value = (value,)
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise ConfigError(f"{owner}.fatal_exceptions must be a tuple of exception classes")
    return tuple(_exception_class(owner, "fatal_exceptions", f) for f in value)


def _backoff(owner: str, value: object) -> list[float] | Callable[[int, BaseException], float]:
    if callable(value):
        return value  # type: ignore[return-value]
    return _delays(owner, "retry_backoff", value)


def _limit(owner: str, job_class: type, exceptions: dict[type[BaseException], Delay]) -> int:
    value = getattr(job_class, "retry_limit", None)
    if value is None:
        lists = [len(d) for d in exceptions.values() if isinstance(d, list)]
        return max(lists) if lists else DEFAULT_LIMIT
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{owner}.retry_limit must be an int >= 0, got {value!r}")
    return value


def read_policy(job_class: type) -> Policy | None:
    """The class's policy, or None if it asks for no retries. ConfigError names
    the attribute that is wrong."""
    owner = job_class.__qualname__
    own = job_class.__dict__
    if own.get("retry_exceptions") and own.get("fatal_exceptions"):
        raise ConfigError(f"{owner} sets both retry_exceptions and fatal_exceptions; keep one")
    raw = getattr(job_class, "retry_exceptions", None)
    criteria_raw = getattr(job_class, "retry_criteria", None) or ()
    exceptions = _exceptions(owner, raw) if raw else {}
    if not isinstance(criteria_raw, Sequence) or not all(callable(c) for c in criteria_raw):
        raise ConfigError(f"{owner}.retry_criteria must be a list of callables (job, exc)")
    fatal_raw = getattr(job_class, "fatal_exceptions", None) or ()
    backoff = getattr(job_class, "retry_backoff", None)
    # Every option set is checked, also on a base class that lists no exceptions yet.
    policy = Policy(
        exceptions=exceptions,
        limit=_limit(owner, job_class, exceptions),
        delay=_number(owner, "retry_delay", getattr(job_class, "retry_delay", 0) or 0),
        backoff=None if backoff is None else _backoff(owner, backoff),
        jitter=_number(owner, "retry_jitter", getattr(job_class, "retry_jitter", 0) or 0),
        fatal=_fatal(owner, fatal_raw),
        criteria=tuple(criteria_raw),
        record_failures=bool(getattr(job_class, "retry_record_failures", False)),
    )
    return policy if raw or criteria_raw else None
