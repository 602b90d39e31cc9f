"""The scheduler plugin's hooks."""

from __future__ import annotations

import os
import threading
from typing import Any

import click

import resqplug.ext as ext
from resqplug.ext import hookimpl

from . import hookspecs
from .api import OWNER
from .demo_part import SchedulerDemo

WITH_SCHEDULER_ENV = "RESQPLUG_WITH_SCHEDULER"


def _with_scheduler(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        os.environ[WITH_SCHEDULER_ENV] = "1"


class SchedulerPlugin(SchedulerDemo):
    def __init__(self) -> None:
        self.loops: dict[int, Any] = {}

    @hookimpl
    def add_hookspecs(self, pm: Any) -> None:
        pm.add_hookspecs(hookspecs)

    @hookimpl
    def scheduler_add(self, client: Any, queue: str, text: str, due: float, job: Any) -> bool:
        ext.DelayedSet(client, OWNER).add(queue, text, due, job)  # on use: it loads redis-py
        return True

    @hookimpl
    def worker_heartbeat(self, worker: Any) -> None:
        # Every worker moves due delayed jobs, so they never wait for a
        # scheduler process; the move is exactly once whoever races.
        ext.DelayedSet(worker.client, OWNER).move_due()

    @hookimpl
    def worker_start(self, worker: Any) -> None:
        if os.environ.get(WITH_SCHEDULER_ENV) == "1":
            from .loop import SchedulerLoop

            loop = SchedulerLoop(worker.client)
            thread = threading.Thread(target=loop.run, name="resqplug-scheduler", daemon=True)
            self.loops[id(worker)] = (loop, thread)
            thread.start()

    @hookimpl
    def worker_exit(self, worker: Any) -> None:
        entry = self.loops.pop(id(worker), None)
        if entry is not None:
            loop, thread = entry
            loop.stop()
            thread.join(timeout=5)  # run() resigns the leader lease on its way out

    @hookimpl
    def dashboard_pages(self) -> list[Any]:
        from .web import PAGE

        return [PAGE]

    @hookimpl
    def add_cli_commands(self, cli: Any) -> None:
        from .cli import delayed_group, schedule_group, scheduler_command

        cli.add_command(scheduler_command)
        cli.add_command(schedule_group)
        cli.add_command(delayed_group)
        work = cli.commands.get("work")
        if work is not None and not any(p.name == "with_scheduler" for p in work.params):
            work.params.append(
                click.Option(
                    ["--with-scheduler"],
                    is_flag=True,
                    expose_value=False,
                    callback=_with_scheduler,
                    help="Also run the scheduler (cron schedules) in this worker.",
                )
            )
