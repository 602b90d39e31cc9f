"""``resqplug failed list|show|retry|remove|clear``."""

from __future__ import annotations

import json
from collections import Counter

import click

from ..errors import NotFoundError
from . import cli, client, rated


@cli.group()
def failed() -> None:
    """Look at and act on failed jobs."""


@failed.command("list")
@click.option("--start", type=click.IntRange(0), default=0, show_default=True)
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
def list_(start: int, limit: int) -> None:
    """One line per failure: id, failed at, queue, class, exception: message."""
    store = client().failures
    total = store.count()
    for record in store.list(start, limit):
        payload = record.get("payload") or {}
        click.echo(
            f"{record.get('id', '-')}  {record.get('failed_at', '?')}  "
            f"{record.get('queue', '?')}  {payload.get('class', '?')}  "
            f"{record.get('exception', '?')}: {str(record.get('error', ''))[:120]}"
            + (f"  (retried {record['retried_at']})" if record.get("retried_at") else "")
        )
    shown = max(0, min(limit, total - start))
    click.echo(f"({shown} of {total} failed jobs shown)", err=True)


@failed.command()
@click.argument("job_id")
def show(job_id: str) -> None:
    """The whole failure record of JOB_ID, as JSON."""
    record = client().failures.get(job_id)
    if record is None:
        raise NotFoundError(f"no failed job with id {job_id!r}")
    click.echo(json.dumps(record, indent=2, ensure_ascii=False))


@failed.command()
@click.argument("job_id", required=False)
@click.option("--all", "all_", is_flag=True, help="Retry every failed job.")
@click.option("--remove", is_flag=True, help="Remove the record once enqueued again.")
def retry(job_id: str | None, all_: bool, remove: bool) -> None:
    """Enqueue a failed job again (same id, through the enqueue hooks)."""
    store = client().failures
    if all_ == bool(job_id):
        raise click.UsageError("give a JOB_ID or --all")
    if job_id:
        new_id = store.retry(job_id, remove=remove)
        click.echo(
            f"enqueued {new_id}" if new_id else f"not enqueued: {store.why_not_retried(job_id)}"
        )
        return
    total = len(store.ids())
    skipped: Counter[str] = Counter()
    with click.progressbar(length=total, label="retrying", show_pos=True, show_eta=True) as bar:
        done = store.retry_all(progress=rated(bar, "retrying"), remove=remove, skipped=skipped)
    why = "".join(f"; {n} {reason}" for reason, n in sorted(skipped.items()))
    click.echo(f"enqueued {done} of {total} failed jobs again{why}")


@failed.command()
@click.argument("job_id")
def remove(job_id: str) -> None:
    """Remove the failure record of JOB_ID."""
    client().failures.remove(job_id)
    click.echo(f"removed {job_id}")


@failed.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clear(yes: bool) -> None:
    """Remove every failure record."""
    store = client().failures
    total = store.count()
    if not yes and total:
        click.confirm(f"remove all {total} failure records?", abort=True)
    click.echo(f"cleared {store.clear()} failure records")
