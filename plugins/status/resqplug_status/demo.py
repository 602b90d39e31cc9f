"""The status plugin's job in ``resqplug demo``. Imported only by the demo
(its names would otherwise be taken in every application)."""

from __future__ import annotations

import time

import resqplug

STEPS = 4


class ExportInvoices(resqplug.Job):
    """Reports its progress, and returns a result the status keeps."""

    name = "status.demo.ExportInvoices"
    queue = "reports"

    def perform(self, month: str) -> dict[str, object]:
        for step in range(1, STEPS + 1):
            time.sleep(0.05)
            self.at(step, STEPS, f"batch {step} of {STEPS}")
        return {"month": month, "invoices": 40}
