"""resqplug-durations: how long the runs of each job class take, added to a
hash per class in the ack of each run (a ``Write``): no round trip of its own."""

from __future__ import annotations

import time
from collections.abc import Generator
from importlib import resources
from typing import TYPE_CHECKING

import resqplug
from resqplug.ext import Job, hookimpl

if TYPE_CHECKING:
    import click

SCRIPT = "durations.record"
FIELDS = ("count", "failed", "total_seconds", "max_seconds")


def stats(class_name: str, client: resqplug.Resq | None = None) -> dict[str, float]:
    """The runs of ``class_name`` so far: count, failed, total_seconds, max_seconds."""
    client = client or resqplug.default_client()
    found = client.redis.hgetall(client.keys.plugin("durations", class_name))
    return {field: float(found.get(field.encode(), 0)) for field in FIELDS}


class DurationsPlugin:
    @hookimpl
    def write_scripts(self) -> dict[str, str]:
        lua = resources.files(__name__).joinpath("lua/durations_record.lua")
        return {SCRIPT: lua.read_text("utf-8")}

    @hookimpl(wrapper=True)
    def perform(self, job: Job) -> Generator[None, object, object]:
        started, failed = time.perf_counter(), 1
        try:
            result = yield  # the job runs here (in the fork child, when forking)
            failed = 0
            return result
        finally:  # a Write is data: it travels with the job's outcome to the ack
            seconds = f"{time.perf_counter() - started:.6f}"
            key = resqplug.client_for(job).keys.plugin("durations", job.class_name)
            job.writes.append(resqplug.Write(SCRIPT, (key,), (seconds, failed)))

    @hookimpl
    def add_cli_commands(self, cli: click.Group) -> None:
        import click  # here: workers and the apps that enqueue never need it

        @cli.command("durations")
        @click.argument("class_names", nargs=-1, required=True)
        def show(class_names: tuple[str, ...]) -> None:
            """How long the runs of job classes took (resqplug-durations)."""
            for name in class_names:
                click.echo(f"{name}: " + ", ".join(f"{k} {v:g}" for k, v in stats(name).items()))


plugin = DurationsPlugin()
