"""What a plugin contributes to ``resqplug demo`` (see the ``demo_*`` hooks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .job import Job


@dataclass(frozen=True)
class DemoJobs:
    """Jobs a plugin adds to the demo's workload: ``args`` holds the
    arguments of each job of ``job_class`` to enqueue. ``replaces`` names a
    core demo job class (``"ChargeCard"``) this one stands in for, so the
    demo shows the plugin changing what happens to the same work."""

    job_class: type[Job]
    args: list[tuple[Any, ...]]
    replaces: str | None = None
