"""The status plugin's part of ``resqplug demo`` (the ``demo_*`` hooks)."""

from __future__ import annotations

from typing import Any

from resqplug.ext import DemoJobs, hookimpl

from .api import get


class StatusDemo:
    demo_job_id: str | None = None  # the job demo_showcase enqueued, for demo_summary

    @hookimpl
    def demo_jobs(self) -> list[DemoJobs]:
        from .demo import ExportInvoices

        return [DemoJobs(ExportInvoices)]  # enqueued by demo_showcase

    @hookimpl
    def demo_showcase(self, client: Any) -> list[str]:
        from .demo import ExportInvoices

        self.demo_job_id = client.enqueue(ExportInvoices, "2026-11")
        return ["  enqueued    1 x ExportInvoices on reports: its status is kept (status)"]

    @hookimpl
    def demo_summary(self, client: Any) -> list[str]:
        status = get(self.demo_job_id, client=client) if self.demo_job_id else None
        if status is None:
            return []
        return [
            f"  status of ExportInvoices {status.id}: {status.status}, "
            f"{status.pct_complete}%, result {status.result} (status)"
        ]
