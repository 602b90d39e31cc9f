"""The cleaner plugin's hooks: the limiter runs on workers' heartbeats."""

from __future__ import annotations

from typing import Any

from resqplug import hookimpl

from .cleaner import Cleaner
from .demo_part import CleanerDemo

LIMIT_EVERY_TICKS = 10


class CleanerPlugin(CleanerDemo):
    def __init__(self) -> None:
        self.ticks = 0

    @hookimpl
    def worker_heartbeat(self, worker: Any) -> None:
        self.ticks += 1
        if self.ticks % LIMIT_EVERY_TICKS == 0:
            Cleaner(worker.client).enforce_limit()

    @hookimpl
    def dashboard_pages(self) -> list[Any]:
        from .web import PAGE

        return [PAGE]

    @hookimpl
    def add_cli_commands(self, cli: Any) -> None:
        from .cli import cleaner_group

        cli.add_command(cleaner_group)
