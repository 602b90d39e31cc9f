"""The loner plugin's job in ``resqplug demo``. Imported only by the demo (its
names would otherwise be taken in every application)."""

from __future__ import annotations

import time

import resqplug


class RefreshSearchIndex(resqplug.Job):
    """Slow, and pointless to run twice at once."""

    name = "loner.demo.RefreshSearchIndex"
    queue = "reports"
    unique = True

    def perform(self, index_id: int) -> str:
        time.sleep(0.2)
        return f"index {index_id} refreshed"
