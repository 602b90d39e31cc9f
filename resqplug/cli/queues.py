"""``resqplug enqueue``, ``queues`` and ``peek``."""

from __future__ import annotations

import json

import click

from .. import registry
from ..errors import NotFoundError, PayloadError, UnknownJobError
from ..payload import validate_queue_name
from . import cli, client
from .work import load_apps


def parse_json_args(values: tuple[str, ...]) -> list[object]:
    out: list[object] = []
    for index, text in enumerate(values):
        try:
            out.append(json.loads(text))
        except ValueError as exc:
            raise PayloadError(f"argument {index + 1} ({text!r:.40}) is not JSON: {exc}") from None
    return out


def known_queue(name: str) -> str:
    validate_queue_name(name)
    if name not in client().queues():
        raise NotFoundError(f"unknown queue {name!r} (see `resqplug queues`)")
    return name


@cli.command()
@click.argument("class_name", metavar="CLASS")
@click.argument("args", nargs=-1, metavar="[ARG-AS-JSON]...")
@click.option("-q", "--queue", help="Queue (default: the class's queue).")
@click.option(
    "--app",
    envvar="RESQPLUG_APP",
    metavar="MOD[,MOD]",
    help="Modules that define your jobs (or RESQPLUG_APP).",
)
@click.option(
    "--any-class", is_flag=True, help="Enqueue a class this process does not know (needs --queue)."
)
def enqueue(
    class_name: str, args: tuple[str, ...], queue: str | None, app: str | None, any_class: bool
) -> None:
    """Enqueue CLASS with JSON arguments, e.g. `resqplug enqueue Archive 44 '"dev"'`."""
    load_apps(app)
    values = parse_json_args(args)
    job_class = registry.lookup(class_name)
    c = client()
    if job_class is not None:
        job_id = c.enqueue_to(queue, job_class, *values)
    elif any_class:
        if not queue:
            raise click.UsageError("--any-class needs --queue")
        job_id = c.enqueue_payload({"class": class_name, "args": values}, queue)
    else:
        raise UnknownJobError(
            f"unknown job class {class_name!r}: load its module with --app, "
            "or pass --any-class --queue Q to enqueue it by name"
        )
    if job_id is None:
        click.echo("not enqueued: a plugin vetoed it (or it is a duplicate)", err=True)
        raise SystemExit(1)
    click.echo(job_id)


@cli.command()
def queues() -> None:
    """Queue names and sizes."""
    c = client()
    names = c.queues()
    if not names:
        click.echo("no queues")
        return
    width = max(len(n) for n in names)
    for name in names:
        click.echo(f"{name:<{width}}  {c.size(name)}")


@cli.command()
@click.argument("queue")
@click.option("--start", type=click.IntRange(0), default=0, show_default=True)
@click.option("--count", type=click.IntRange(1, 1000), default=10, show_default=True)
def peek(queue: str, start: int, count: int) -> None:
    """Show queued jobs (front first) as JSON lines."""
    for doc in client().peek(known_queue(queue), start, count):
        click.echo(json.dumps(doc, ensure_ascii=False))
