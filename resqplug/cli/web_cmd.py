"""``resqplug web``: serve the dashboard.

Loopback or public is decided from the addresses the server binds (``--host
''`` binds every interface), never from how ``--host`` is spelled; a public
bind, or a public ``--allow-host`` name, needs credentials or ``--insecure``."""

from __future__ import annotations

import click

from ..errors import ConfigError
from . import cli, client


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
    allowed = bind.served_names(host, addresses, allow_hosts)
    hosts = AllowedHosts(allowed)
    credentials = credentials_from_env()
    public = bind.exposure(addresses, hosts.public())
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
