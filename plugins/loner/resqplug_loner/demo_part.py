"""The loner plugin's part of ``resqplug demo`` (the ``demo_*`` hooks)."""

from __future__ import annotations

from typing import Any

from resqplug.ext import DemoJobs, hookimpl


class LonerDemo:
    @hookimpl
    def demo_jobs(self) -> list[DemoJobs]:
        from .demo import RefreshSearchIndex

        return [DemoJobs(RefreshSearchIndex)]  # enqueued by demo_showcase

    @hookimpl
    def demo_showcase(self, client: Any) -> list[str]:
        from .demo import RefreshSearchIndex

        first = client.enqueue(RefreshSearchIndex, 7)
        again = client.enqueue(RefreshSearchIndex, 7)
        return [
            f"  enqueued RefreshSearchIndex(7) twice: {first}, then "
            f"{again or 'None - duplicate skipped'} (loner)"
        ]
