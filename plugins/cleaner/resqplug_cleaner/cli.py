"""``resqplug cleaner stats|list|requeue|clear|limit``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from resqplug.ext import rated

from .cleaner import GROUPS, Cleaner, Outcome
from .select import Filter, parse_time


def filters(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--class", "job_class", help="Job class name."),
            click.option("--exception", help="Exception class name (or module.Name)."),
            click.option("--queue", help="Queue name."),
            click.option("--since", help="Failed at or after (ISO time, or an age: 7d, 12h)."),
            click.option("--until", "until_", help="Failed at or before (ISO time, or an age)."),
            click.option("--older-than", help="Same as --until with an age, e.g. 7d."),
            click.option("--text", help="Text in the error message or the args."),
            click.option("--skip-retried", is_flag=True, help="Leave records already retried."),
        ]
    ):
        fn = option(fn)
    return fn


def make_filter(kw: dict[str, Any]) -> Filter:
    until, older_than = kw.pop("until_"), kw.pop("older_than")
    if until and older_than:
        raise click.UsageError("give --until or --older-than, not both")
    until = until or older_than
    return Filter(
        job_class=kw.pop("job_class"),
        exception=kw.pop("exception"),
        queue=kw.pop("queue"),
        since=parse_time(kw.pop("since"), what="--since"),
        until=parse_time(until, what="--until/--older-than"),
        text=kw.pop("text"),
        include_retried=not kw.pop("skip_retried"),
    )


@click.group("cleaner")
def cleaner_group() -> None:
    """Find, group, requeue and clear failed jobs in bulk (resqplug-cleaner)."""


@cleaner_group.command()
@filters
@click.option("--by", type=click.Choice(GROUPS), multiple=True, help="Groups to show.")
def stats(by: tuple[str, ...], **kw: Any) -> None:
    """Counts of failed jobs grouped by class, exception, queue and day."""
    groups = Cleaner().stats(make_filter(kw))
    for name in by or GROUPS:
        click.echo(f"by {name}:")
        for key, count in groups[name].most_common():
            click.echo(f"  {count:>8}  {key}")


@cleaner_group.command("list")
@filters
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
def list_(limit: int, **kw: Any) -> None:
    """The first matching failed jobs, oldest first."""
    for r in Cleaner().select(make_filter(kw), limit):
        click.echo(
            f"{r.job_id or '-'}  {r.doc.get('failed_at')}  {r.doc.get('queue')}  "
            f"{r.payload.get('class')}  {r.doc.get('exception')}: "
            f"{str(r.doc.get('error', ''))[:100]}"
        )


def run(action: str, kw: dict[str, Any], **options: Any) -> Outcome:
    cleaner = Cleaner()
    where = make_filter(kw)
    total = cleaner.client.failures.count()
    with click.progressbar(length=total, label=action, show_pos=True, show_eta=True) as bar:
        method = cleaner.requeue if action == "requeue" else cleaner.clear
        return method(where, progress=rated(bar, action), **options)


@cleaner_group.command()
@filters
@click.option("--to", "to", metavar="QUEUE", help="Requeue to this queue instead.")
@click.option("--clear", is_flag=True, help="Remove the records once requeued.")
@click.option("--dry-run", is_flag=True, help="Only count what would be requeued.")
def requeue(to: str | None, clear: bool, dry_run: bool, **kw: Any) -> None:
    """Enqueue matching failed jobs again (same ids, through the enqueue hooks)."""
    out = run("requeue", kw, to=to, clear=clear, dry_run=dry_run)
    verb = "would requeue" if dry_run else "requeued"
    click.echo(
        f"{verb} {out.requeued if not dry_run else out.matched} of {out.matched} "
        f"matching; cleared {out.cleared}; skipped {out.skipped}"
    )


@cleaner_group.command()
@filters
@click.option("--dry-run", is_flag=True, help="Only count what would be cleared.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clear(dry_run: bool, yes: bool, **kw: Any) -> None:
    """Remove matching failure records."""
    if not dry_run and not yes:
        click.confirm("remove the matching failure records?", abort=True)
    out = run("clear", kw, dry_run=dry_run)
    click.echo(
        f"{'would clear' if dry_run else 'cleared'} "
        f"{out.matched if dry_run else out.cleared} of {out.matched} matching"
    )


@cleaner_group.command()
@click.argument("max_failed", required=False)
def limit(max_failed: str | None) -> None:
    """Show or set the limiter: keep at most MAX_FAILED records ('off' to stop)."""
    cleaner = Cleaner()
    if max_failed is not None:
        if max_failed == "off":
            cleaner.set_limit(None)
        elif max_failed.isdigit():
            cleaner.set_limit(int(max_failed))
        else:
            raise click.BadParameter("a number of records, or 'off'")
    current = cleaner.limit()
    click.echo(
        f"limit: {current if current is not None else 'off'}; dropped so far: {cleaner.dropped()}"
    )
