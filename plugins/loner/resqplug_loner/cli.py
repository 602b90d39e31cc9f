"""``resqplug loner list|release``."""

from __future__ import annotations

import click

import resqplug

from .identity import describe, lock_pattern


@click.group("loner")
def loner_group() -> None:
    """Locks of unique jobs (resqplug-loner)."""


@loner_group.command("list")
@click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True)
def list_locks(limit: int) -> None:
    """Held locks: key, owner job id, seconds left."""
    client = resqplug.default_client()
    shown = 0
    for key in client.redis.scan_iter(match=lock_pattern(client), count=500):
        pipe = client.redis.pipeline()
        pipe.get(key)
        pipe.pttl(key)
        owner, ttl = pipe.execute()
        if owner is None:
            continue
        click.echo(f"{describe(key)}  {describe(owner)}  {max(ttl, 0) / 1000:.0f}s")
        shown += 1
        if shown >= limit:
            break
    click.echo(f"({shown} locks)", err=True)


@loner_group.command()
@click.argument("key")
def release(key: str) -> None:
    """Release a lock by its key (as shown by `loner list`)."""
    client = resqplug.default_client()
    if not key.startswith(client.keys.plugin("loner", "lock")):
        raise resqplug.ConfigError(
            f"{key!r} is not a loner lock key of namespace {client.namespace}"
        )
    if not client.redis.delete(key):
        raise resqplug.NotFoundError(f"no lock {key!r}")
    click.echo(f"released {key}")
