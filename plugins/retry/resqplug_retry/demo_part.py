"""The retry plugin's part of ``resqplug demo`` (the ``demo_*`` hooks)."""

from __future__ import annotations

from typing import Any

import resqplug.ext as ext
from resqplug.ext import DemoJobs, hookimpl


class RetryDemo:
    @hookimpl
    def demo_jobs(self) -> list[DemoJobs]:
        from .demo import ChargeCard

        return [DemoJobs(ChargeCard, replaces="ChargeCard")]

    @hookimpl
    def demo_pending(self, client: Any) -> int:
        return ext.DelayedSet(client, "retry").count()

    @hookimpl
    def demo_summary(self, client: Any) -> list[str]:
        from .demo import ChargeCard

        failed = sum(
            1
            for record in client.failures.iter()
            if (record.get("payload") or {}).get("class") == ChargeCard.job_name
        )
        if failed:
            return [f"  {failed} ChargeCard runs failed even after their retries (retry)"]
        return ["  ChargeCard timeouts were retried after 0.5 s and succeeded (retry)"]
