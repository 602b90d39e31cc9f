"""``resqplug web``: serve the dashboard.

Loopback or public is decided from the addresses the server binds (``--host
''`` binds every interface), never from how ``--host`` is spelled; a public
bind, or a public ``--allow-host`` name, needs credentials or ``--insecure``."""

from __future__ import annotations

import ipaddress
from typing import Any

import click

from ..errors import ConfigError
from . import cli, client


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def served_names(host: str, addresses: list[Any], allow_hosts: tuple[str, ...]) -> list[str]:
    """What the dashboard answers to besides the loopback names: the
    --allow-host entries and, for a public bind, the addresses bound (any
    address for 0.0.0.0 or ::) and the --host name. A name that resolves to
    loopback is not added: a rebinding domain resolves to 127.0.0.1 too."""
    from ..web import bind

    names = list(allow_hosts)
    if not bind.all_loopback(addresses):
        names += bind.served_addresses(addresses)
        if host and not _is_ip(host) and len(bind.specific(addresses)) == len(addresses):
            names.append(host)
    return names


def exposure(addresses: list[Any], public_names: list[str]) -> str | None:
    """How the dashboard would be reachable from other machines, or None."""
    from ..web import bind

    if not bind.all_loopback(addresses):
        return "on " + " and ".join(bind.url(a) for a in addresses)
    if public_names:
        return "as " + ", ".join(public_names)
    return None


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address or name to bind ('', 0.0.0.0 and :: are every interface).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=5678, show_default=True)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="A host name, address or network (10.0.0.0/8) browsers reach the dashboard by "
    "besides the loopback names, e.g. a proxy's public name; repeatable; needs credentials.",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Allow a public bind or name without credentials (not recommended).",
)
def web(host: str, port: int, allow_hosts: tuple[str, ...], insecure: bool) -> None:
    """Serve the dashboard (basic auth from RESQPLUG_WEB_USER/RESQPLUG_WEB_PASSWORD)."""
    try:
        import uvicorn

        from ..web import bind, create_app
        from ..web.hosts import AllowedHosts
        from ..web.security import credentials_from_env
    except ImportError as exc:
        raise ConfigError(f"the dashboard needs its extra: pip install 'resqplug[web]' ({exc})")
    addresses = bind.resolve(host, port)
    allowed = served_names(host, addresses, allow_hosts)
    hosts = AllowedHosts(allowed)
    credentials = credentials_from_env()
    public = exposure(addresses, hosts.public())
    if public and credentials is None and not insecure:
        raise ConfigError(
            f"refusing to serve the dashboard {public} without credentials: set "
            "RESQPLUG_WEB_USER and RESQPLUG_WEB_PASSWORD (or pass --insecure)"
        )
    client().ping()
    sockets = bind.bind(addresses)
    try:
        urls = " and ".join(bind.url(a) for a in addresses)
        click.echo(f"resqplug dashboard on {urls}", err=True)
        app = create_app(client(), credentials=credentials, allowed_hosts=allowed)
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=sockets)
    finally:
        for sock in sockets:
            sock.close()
