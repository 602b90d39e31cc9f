"""What a plugin contributes to ``resqplug demo`` (see the ``demo_*`` hooks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .job import Job


@dataclass(frozen=True)
class DemoJobs:
    """A job class a plugin adds to the demo: ``args`` holds the arguments of
    each job of it to enqueue with the workload (none: the plugin enqueues
    its own in ``demo_showcase``; the class is still registered in the
    workers). ``replaces`` names a core demo job class (``"ChargeCard"``)
    this one stands in for, with that job's args unless ``args`` is given,
    so the demo shows the plugin changing what happens to the same work."""

    job_class: type[Job]
    args: list[tuple[Any, ...]] = field(default_factory=list)
    replaces: str | None = None
