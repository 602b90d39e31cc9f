"""What plugins give the dashboard: pages made of sections of plain cells and
POST buttons. Plugins never write HTML, so everything they show is escaped."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Button:
    """A POST form: ``action`` is the name of one of the page's actions."""

    label: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    confirm: str | None = None


@dataclass(frozen=True)
class Progress:
    percent: float | None


@dataclass(frozen=True)
class Section:
    heading: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""
    buttons: list[Button] = field(default_factory=list)


DEFAULT_REDACT = ("password", "passwd", "token", "secret", "authorization", "api_key", "apikey")


def redact(value: Any, keys: Iterable[str] = DEFAULT_REDACT) -> Any:
    """Mask values whose key looks secret, at any depth (job args on every page)."""
    lowered = tuple(k.lower().replace("-", "_") for k in keys)
    if isinstance(value, dict):
        return {
            k: "***"
            if any(s in str(k).lower().replace("-", "_") for s in lowered)
            else redact(v, lowered)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, lowered) for v in value]
    return value


# render(client, params) -> sections; action(client, form) -> message shown after
Render = Callable[[Any, dict[str, str]], list[Section]]
Action = Callable[[Any, dict[str, str]], str]


@dataclass(frozen=True)
class Page:
    path: str  # one word, e.g. "statuses"
    title: str
    render: Render
    actions: dict[str, Action] = field(default_factory=dict)


# serve(client, params) -> (body, content type)
Serve = Callable[[Any, dict[str, str]], tuple[bytes, str]]


@dataclass(frozen=True)
class Endpoint:
    """A plain GET resource a plugin serves at the dashboard's top level
    (``/<path>``, e.g. ``/metrics`` for Prometheus), not a page: ``serve``
    returns the body and its content type, and runs in a worker thread.
    It sits behind the dashboard's auth and Host check like every page; a
    path the dashboard itself uses is refused (logged, not served)."""

    path: str  # one word, e.g. "metrics"
    serve: Serve
