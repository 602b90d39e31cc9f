"""``resqplug embedded start|stop|status``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .. import embedded
from ..config import URL_ENV
from . import cli


@cli.group("embedded")
def embedded_group() -> None:
    """Manage the embedded server (a Redis-compatible server for one machine)."""


def _dir(data_dir: str | None) -> Path:
    """``--dir``, else the data dir of an ``embedded://DIR`` URL given with
    ``--redis`` (or RESQPLUG_REDIS_URL), else the default one."""
    if data_dir is None:
        url = os.environ.get(URL_ENV, "")
        if url == "embedded" or url.startswith("embedded://"):
            return embedded.parse_url(url)
    return embedded.data_dir(data_dir)


DIR_OPTION = click.option(
    "--dir",
    "data_dir",
    metavar="DIR",
    help="Data dir (default: that of --redis embedded://DIR, else ~/.local/share/resqplug).",
)


@embedded_group.command()
@DIR_OPTION
def start(data_dir: str | None) -> None:
    """Start it (if it is not running) and print its URL."""
    click.echo(embedded.ensure_running(_dir(data_dir)))


@embedded_group.command()
@DIR_OPTION
def stop(data_dir: str | None) -> None:
    """Stop it; queued jobs are kept on disk (AOF) for the next start."""
    stopped = embedded.stop(_dir(data_dir))
    click.echo("stopped" if stopped else "not running")


@embedded_group.command()
@DIR_OPTION
def status(data_dir: str | None) -> None:
    """Whether it runs, where, and how big it is."""
    for key, value in embedded.status(_dir(data_dir)).items():
        click.echo(f"{key}: {value}")
    if not embedded.status(_dir(data_dir))["running"]:
        raise SystemExit(3)  # the table's "Redis cannot be reached"
