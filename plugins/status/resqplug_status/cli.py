"""``resqplug status ID``, ``status list [--state]``, ``status kill ID``."""

from __future__ import annotations

from typing import Any

import click

import resqplug
from resqplug.ext import when

from . import api
from .store import STATES, Status


class StatusGroup(click.Group):
    """``status ID`` shows a status; ``status list`` and ``status kill`` are subcommands."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "show", self.commands["show"], args
        return super().resolve_command(ctx, args)


def line(status: Status) -> str:
    pct = status.pct_complete
    progress = f" {pct:.0f}%" if pct is not None else ""
    fields: dict[str, Any] = status.fields
    return (
        f"{status.id}  {status.status:<9}{progress}  {fields.get('class', '?')}  "
        f"{fields.get('message', '') or fields.get('error', '')}"
    )


@click.group("status", cls=StatusGroup)
def status_group() -> None:
    """Job statuses (resqplug-status): `resqplug status ID`."""


@status_group.command()
@click.argument("job_id")
def show(job_id: str) -> None:
    """Show the status of JOB_ID."""
    status = api.get(job_id)
    if status is None:
        raise resqplug.NotFoundError(f"no status for job {job_id!r} (unknown or expired)")
    click.echo(f"id:      {status.id}")
    click.echo(f"status:  {status.status}")
    if status.pct_complete is not None:
        click.echo(f"progress: {status.pct_complete}%")
    for name, value in sorted(status.fields.items()):
        if (
            (name.endswith("_at") or name == "due")
            and isinstance(value, float)
            and 0 <= value < 1e11
        ):
            value = when(value)
        click.echo(f"{name}: {value}")


@status_group.command("list")
@click.option("--state", type=click.Choice(STATES))
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
def list_(state: str | None, limit: int, offset: int) -> None:
    """Statuses, most recently updated first."""
    for status in api.list_statuses(state, limit, offset):
        click.echo(line(status))


@status_group.command()
@click.argument("job_id")
def kill(job_id: str) -> None:
    """Stop a queued or running job."""
    if not api.kill(job_id):
        raise resqplug.NotFoundError(f"job {job_id!r} is unknown or already finished")
    click.echo(f"kill requested for {job_id}")
