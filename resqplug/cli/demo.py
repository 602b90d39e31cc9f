"""``resqplug demo``: watch resqplug work, on the embedded server by default."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

import click

from .. import embedded
from ..client import Resq
from ..config import settings
from ..connection import redact
from ..plugins import get_plugins
from . import cli

CLI_ENV = "RESQPLUG_CLI"  # set by ./dev: how to run the resqplug command here

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


def plugin_lines(hook_name: str, c: Resq) -> list[str]:
    """The lines the installed plugins return from a ``demo_*`` hook, in the
    order they were registered."""
    answers = getattr(get_plugins().hook, hook_name)(client=c)
    return [str(line) for answer in reversed(answers) for line in answer or ()]


def pending(c: Resq) -> int:
    """Jobs queued, in flight, or held back by a plugin (delayed, retrying)."""
    r, k = c.redis, c.keys
    held = sum(int(n or 0) for n in get_plugins().hook.demo_pending(client=c))
    queued = sum(c.size(q) for q in c.queues())
    inflight = sum(int(r.llen(key)) for key in r.scan_iter(match=k.inflight("*"), count=500))
    return held + queued + inflight


@cli.command()
@click.option("--workers", "count", type=click.IntRange(1, 16), default=2, show_default=True)
def demo(count: int) -> None:
    """Enqueue a mixed workload, run workers (fork mode) and summarise."""
    from .. import demo_jobs

    c = fresh_client()
    click.echo(f"resqplug demo on {redact(c.url)} (namespace {c.namespace})")
    if embedded_dir := embedded.serving(c.url):
        click.echo(
            f"  (the embedded server in {embedded_dir}: it serves this machine only, "
            "keeps your jobs and runs until `resqplug embedded stop`)"
        )
    click.echo(f"plugins: {', '.join(sorted(get_plugins().names()))}")
    for part in demo_jobs.plan():
        c.enqueue_many(part.job_class, part.args)
        name, queue = part.job_class.__name__, part.job_class.queue
        click.echo(f"  enqueued {len(part.args):>4} x {name} on {queue}")
    report = c.enqueue(demo_jobs.RebuildReport, 42)
    click.echo(f"  enqueued    1 x RebuildReport on reports ({report})")
    for line in plugin_lines("demo_showcase", c):
        click.echo(line)
    started = time.monotonic()
    workers = start_workers(c, count, demo_jobs.queues())
    try:
        wait_until_done(c, workers, started, pending(c))
    finally:
        for w in workers:
            w.send_signal(signal.SIGQUIT)
        for w in workers:
            w.wait(30)
    summarise(c, time.monotonic() - started)


def wait_until_done(
    c: Resq, workers: list[subprocess.Popen[bytes]], started: float, total: int
) -> None:
    """A bar over the jobs run (retries count too), with the rate, until all is idle."""
    with click.progressbar(length=total, label=f"{len(workers)} workers", show_pos=True) as bar:
        calm, shown = 0, 0
        while calm < 3 and time.monotonic() - started < TIME_LIMIT_S:
            if all(w.poll() is not None for w in workers):
                raise click.ClickException("the demo workers exited early")
            done = c.stats()["processed"]  # read first: a job acked meanwhile counts once
            waiting = pending(c)
            calm = calm + 1 if waiting == 0 else 0
            # Runs still to come count too (a retry runs a job again); once all
            # is idle the bar ends at the number of runs the summary gives.
            bar.length = done if calm else max(bar.length or 0, done + waiting)
            rate = done / max(time.monotonic() - started, 1e-6)
            bar.label = f"{len(workers)} workers ({rate:,.0f} jobs/s)"
            bar.update(done - shown)
            shown = done
            time.sleep(0.1)


def cli_command() -> str:
    """The resqplug command as the person watching can run it: what ``./dev``
    says (``./dev resqplug``), ``resqplug`` when that is this one on PATH,
    else this one's full path (a venv not activated)."""
    told = os.environ.get(CLI_ENV)
    if told:
        return told
    this = os.path.realpath(sys.argv[0])
    on_path = shutil.which("resqplug")
    if os.path.basename(this) != "resqplug" or (on_path and os.path.realpath(on_path) == this):
        return "resqplug"
    return this


def summarise(c: Resq, elapsed: float) -> None:
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
    for line in plugin_lines("demo_summary", c):
        click.echo(line)
    prefix = f"{cli_command()} --redis {redact(c.url)} --namespace {c.namespace}"
    click.echo("\nlook at the failures with:")
    click.echo(f"  {prefix} failed list")
    click.echo(f"  {prefix} failed show <ID>")
    click.echo(f"  {prefix} failed retry --all")
    if stats["pending"]:
        raise click.ClickException(f"{stats['pending']} jobs still queued after the time limit")
