"""The scheduler's part of ``resqplug demo`` (the ``demo_*`` hooks)."""

from __future__ import annotations

from typing import Any

import resqplug.ext as ext
from resqplug.ext import DemoJobs, hookimpl

from .api import OWNER, Scheduler

DELAY_S = 1.0


class SchedulerDemo:
    @hookimpl
    def demo_jobs(self) -> list[DemoJobs]:
        from .demo import SendReminder

        return [DemoJobs(SendReminder)]  # scheduled by demo_showcase

    @hookimpl
    def demo_showcase(self, client: Any) -> list[str]:
        from .demo import SendReminder

        Scheduler(client).enqueue_in(DELAY_S, SendReminder, 999, "later@example.com")
        return [f"  scheduled    1 x SendReminder to run in {DELAY_S:g} s (scheduler)"]

    @hookimpl
    def demo_pending(self, client: Any) -> int:
        return ext.DelayedSet(client, OWNER).count()
