"""The cleaner's part of ``resqplug demo`` (the ``demo_*`` hooks)."""

from __future__ import annotations

from typing import Any

from resqplug.ext import hookimpl

from .cleaner import Cleaner


class CleanerDemo:
    @hookimpl
    def demo_summary(self, client: Any) -> list[str]:
        by_exception = Cleaner(client).stats()["exception"]
        if not by_exception:
            return []
        counts = ", ".join(f"{n} {name}" for name, n in by_exception.most_common())
        # The command to run is the one the demo prints below (its Redis and namespace).
        return [f"  failed jobs by exception: {counts} (more: the commands below, `cleaner stats`)"]
