"""``resqplug retry show ID``."""

from __future__ import annotations

import time

import click

import resqplug

from .plugin import state_key
from .state import read_state


@click.group("retry")
def retry_group() -> None:
    """Retries of failed jobs (resqplug-retry)."""


@retry_group.command()
@click.argument("job_id")
def show(job_id: str) -> None:
    """Attempts, last error and next run of a job being retried."""
    client = resqplug.default_client()
    raw = client.redis.get(state_key(client, job_id))
    if raw is None:
        raise resqplug.NotFoundError(
            f"no retry state for job {job_id!r} (never retried, or finished)"
        )
    try:
        state = read_state(raw)
    except resqplug.PayloadError as exc:
        raise resqplug.PayloadError(f"the retry state of job {job_id!r} is unreadable: {exc}")
    wait = state["next_at"] - time.time()
    click.echo(f"job:       {job_id} ({state['class']} on {state['queue']})")
    click.echo(f"attempts:  {state['attempts']} failed")
    click.echo(f"last error: {state['last_exception']}: {state['last_error']}")
    click.echo(
        f"next run:  {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(state['next_at']))}"
        + (f" (in {wait:.1f}s)" if wait > 0 else " (due)")
    )
