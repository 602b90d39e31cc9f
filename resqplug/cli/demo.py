"""``resqplug demo``: watch resqplug work, on the embedded server by default."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import click

from ..client import Resq
from ..config import settings
from ..connection import redact
from . import cli

DEMO_NAMESPACE = "resqplug-demo"
TIME_LIMIT_S = 60.0


def fresh_client() -> Resq:
    base = settings()
    c = Resq(base["url"], base["namespace"] or DEMO_NAMESPACE)
    keys = list(c.redis.scan_iter(match=c.keys.match_all(), count=1000))
    for start in range(0, len(keys), 500):
        c.redis.delete(*keys[start : start + 500])
    return c


def start_workers(c: Resq, count: int, queues: str) -> list[subprocess.Popen[bytes]]:
    # The URL goes through the environment, not argv, so no password shows in `ps`.
    env = dict(os.environ, RESQPLUG_REDIS_URL=c.url, RESQPLUG_NAMESPACE=c.namespace)
    cmd = [
        sys.executable,
        "-m",
        "resqplug",
        "work",
        "--queues",
        queues,
        "--app",
        "resqplug.demo_jobs",
        "--fork",
    ]
    return [subprocess.Popen(cmd, env=env) for _ in range(count)]


def showcase(c: Resq, demo_jobs: Any) -> tuple[list[str], dict[str, Any]]:
    """Enqueue what shows the installed plugins at work; lines to print now."""
    loaded, lines, notes = demo_jobs.LOADED, [], {}
    if "scheduler" in loaded:
        from resqplug_scheduler import Scheduler

        Scheduler(c).enqueue_in(1.0, demo_jobs.SendWelcomeEmail, 999, "later@example.com")
        lines.append("  scheduled    1 x SendWelcomeEmail to run in 1 s (scheduler)")
    first = c.enqueue(demo_jobs.RebuildReport, 42)
    notes["report"] = first
    if "loner" in loaded:
        again = c.enqueue(demo_jobs.RebuildReport, 42)
        lines.append(
            f"  enqueued RebuildReport(42) twice: {first}, then "
            f"{again or 'None - duplicate skipped'} (loner)"
        )
    return lines, notes


def idle(c: Resq) -> bool:
    """Nothing queued, in flight or waiting in a delayed set."""
    r, k = c.redis, c.keys
    if any(c.size(q) for q in c.queues()):
        return False
    if any(r.llen(key) for key in r.scan_iter(match=k.inflight("*"), count=500)):
        return False
    return not any(r.zcard(k.plugin(owner, "delayed")) for owner in ("scheduler", "retry"))


@cli.command()
@click.option("--workers", "count", type=click.IntRange(1, 16), default=2, show_default=True)
def demo(count: int) -> None:
    """Enqueue a mixed workload, run workers (fork mode) and summarise."""
    from .. import demo_jobs

    c = fresh_client()
    click.echo(f"resqplug demo on {redact(c.url)} (namespace {c.namespace})")
    click.echo(f"plugins: {', '.join(sorted(demo_jobs.LOADED))}")
    total = 0
    for job_class, args in demo_jobs.workload():
        c.enqueue_many(job_class, args)
        total += len(args)
        click.echo(f"  enqueued {len(args):>4} x {job_class.__name__} on {job_class.queue}")
    lines, notes = showcase(c, demo_jobs)
    for line in lines:
        click.echo(line)
    started = time.monotonic()
    workers = start_workers(c, count, demo_jobs.QUEUES)
    try:
        wait_until_done(c, workers, started, total + len(notes))
    finally:
        for w in workers:
            w.send_signal(signal.SIGQUIT)
        for w in workers:
            w.wait(30)
    summarise(c, time.monotonic() - started, demo_jobs.LOADED, notes)


def wait_until_done(
    c: Resq, workers: list[subprocess.Popen[bytes]], started: float, total: int
) -> None:
    """A bar over the jobs run (retries count too), with the rate, until all is idle."""
    with click.progressbar(length=total, label=f"{len(workers)} workers", show_pos=True) as bar:
        calm, shown = 0, 0
        while calm < 3 and time.monotonic() - started < TIME_LIMIT_S:
            if all(w.poll() is not None for w in workers):
                raise click.ClickException("the demo workers exited early")
            calm = calm + 1 if idle(c) else 0
            done = min(c.stats()["processed"], total)
            rate = done / max(time.monotonic() - started, 1e-6)
            bar.label = f"{len(workers)} workers ({rate:,.0f} jobs/s)"
            bar.update(done - shown)
            shown = done
            time.sleep(0.1)


def summarise(c: Resq, elapsed: float, loaded: set[str], notes: dict[str, Any]) -> None:
    stats = c.stats()
    failures = Counter(
        f"{(f.get('payload') or {}).get('class')}: {f.get('exception')}" for f in c.failures.iter()
    )
    click.echo(
        f"\nran {stats['processed']} jobs in {elapsed:.1f}s "
        f"({stats['processed'] / elapsed:.0f} jobs/s); failed {stats['failed']}"
    )
    for what, n in failures.most_common():
        click.echo(f"  {n:>4} x {what}")
    if "retry" in loaded:
        click.echo("  ChargeCard timeouts were retried after 0.5 s and succeeded (retry)")
    if "status" in loaded and notes.get("report"):
        import resqplug_status

        status = resqplug_status.get(notes["report"], client=c)
        if status is not None:
            click.echo(
                f"  status of RebuildReport {notes['report']}: {status.status}, "
                f"{status.pct_complete}% , result {status.result} (status)"
            )
    prefix = f"resqplug --redis {redact(c.url)} --namespace {c.namespace}"
    click.echo("\nlook at the failures with:")
    click.echo(f"  {prefix} failed list")
    click.echo(f"  {prefix} failed show <ID>")
    click.echo(f"  {prefix} failed retry --all")
    if stats["pending"]:
        raise click.ClickException(f"{stats['pending']} jobs still queued after the time limit")
