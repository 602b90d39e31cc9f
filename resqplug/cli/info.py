"""``resqplug info``: a live overview, and ``resqplug plugins``."""

from __future__ import annotations

import time
from typing import Any

import click

from ..connection import redact
from ..overview import snapshot
from . import cli, client


def render(c: Any, now: dict[str, Any], before: dict[str, Any] | None) -> str:
    span = (now["at"] - before["at"]) if before else 0.0
    rate = (now["processed"] - before["processed"]) / span if before and span else 0.0
    lines = [
        f"resqplug  {redact(c.url)}  namespace {c.namespace}  {time.strftime('%H:%M:%S')}",
        f"processed {now['processed']}  failed {now['failed']}  "
        f"workers {len(now['workers'])}  pending {sum(now['queues'].values())}  "
        f"rate {rate:.1f} jobs/s",
        "",
    ]
    width = max([5, *(len(q) for q in now["queues"])])
    lines.append(f"{'QUEUE':<{width}}  {'SIZE':>8}  {'CHANGE/s':>9}")
    for name, size in now["queues"].items():
        delta = (size - before["queues"].get(name, size)) / span if before and span else 0.0
        lines.append(f"{name:<{width}}  {size:>8}  {delta:>+9.1f}")
    lines.append("")
    lines.append(f"{'WORKER':<40}  {'STATE':<7}  JOB")
    for wid, state, job in now["workers"]:
        what = ""
        if job:
            payload = job.get("payload") or {}
            what = f"{payload.get('class', '?')} {payload.get('id', '')} since {job.get('run_at')}"
        lines.append(f"{wid:<40.40}  {state:<7}  {what}")
    return "\n".join(lines)


@cli.command()
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 3600),
    default=1.0,
    show_default=True,
    help="Seconds between refreshes.",
)
@click.option("--once", is_flag=True, help="Print one overview and exit.")
def info(interval: float, once: bool) -> None:
    """A live overview: queues, workers and what each runs, totals (Ctrl-C ends)."""
    c = client()
    before = None
    while True:
        now = snapshot(c)
        text = render(c, now, before)
        if once:
            click.echo(text)
            return
        click.clear()
        click.echo(text)
        before = now
        time.sleep(interval)


@cli.command()
def plugins() -> None:
    """The plugins that loaded, with their versions."""
    from ..plugins import get_plugins

    for name, dist, version in get_plugins().describe():
        click.echo(f"{name:<12} {dist:<24} {version}")
