"""The dashboard app: routes, auth and headers around the pages (needs the web extra)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..client import Resq
from . import actions
from .app import Dashboard
from .hosts import AllowedHosts
from .pages import DEFAULT_REDACT
from .security import HostGuard, credentials_from_env, guarded

log = logging.getLogger("resqplug.web")
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")


def create_app(
    client: Resq | None = None,
    *,
    credentials: tuple[str, str] | None = None,
    redact_keys: tuple[str, ...] = DEFAULT_REDACT,
    allowed_hosts: Iterable[str] = (),
) -> Starlette:
    """The dashboard as an ASGI app. ``client`` defaults to the default client;
    ``credentials`` (user, password) turn on basic auth (default: from
    RESQPLUG_WEB_USER / RESQPLUG_WEB_PASSWORD).

    ``allowed_hosts``: the host names, IP addresses or networks browsers
    reach the dashboard by, besides the loopback ones (localhost, *.localhost,
    127.0.0.0/8, ::1), which are always allowed. A request whose Host header
    names anything else gets a 400, and an action whose Origin/Referer does
    gets a 403: this is what stops a DNS-rebinding page. Mounted in your own
    app, list the names your site is served under, e.g.
    ``allowed_hosts=["ops.example.com", "10.0.0.0/8"]``."""
    hosts = AllowedHosts(allowed_hosts)
    d = Dashboard(client, credentials or credentials_from_env(), redact_keys, hosts)
    guard = guarded(d.credentials)

    def get(path: str, fn: Any) -> Route:
        return Route(path, guard(fn), methods=["GET"])

    def post(path: str, fn: Any) -> Route:
        async def endpoint(request: Request) -> Response:
            response: Response = await fn(d, request)
            return response

        return Route(path, guard(endpoint), methods=["POST"])

    routes = [
        get("/", d.overview),
        get("/api/overview", d.api_overview),
        # Queue names may hold '/', so the name is a path.
        post("/queues/{name:path}/remove", actions.remove_queued),
        post("/queues/{name:path}/clear", actions.clear_queue),
        get("/queues/{name:path}", d.queue),
        get("/failed", d.failed),
        post("/failed/retry-all", actions.retry_all),
        post("/failed/clear", actions.clear_failed),
        post("/failed/{job_id}/retry", actions.retry_failed),
        post("/failed/{job_id}/remove", actions.remove_failed),
        get("/workers", d.workers),
        get("/stats", d.stats),
        get("/p/{page}", d.plugin_page),
        post("/p/{page}/{action}", actions.plugin_action),
        Mount("/static", StaticFiles(packages=[("resqplug.web", "static")]), name="static"),
    ]
    routes += plugin_endpoints(d, get)
    return Starlette(routes=routes, middleware=[Middleware(HostGuard, hosts=hosts)])


CORE_WORDS = {"", "api", "queues", "failed", "workers", "stats", "p", "static"}


def plugin_endpoints(d: Dashboard, get: Any) -> list[Route]:
    """Routes for the plugins' plain resources; a path that is not one word,
    or that the dashboard uses itself, is refused."""
    routes = []
    for path, endpoint in sorted(d.endpoints.items()):
        if path in CORE_WORDS or not WORD.match(path):
            log.error("a plugin's dashboard endpoint %r is refused: taken or not one word", path)
            continue
        routes.append(get(f"/{path}", d.endpoint(endpoint)))
    return routes


def wsgi_app(client: Resq | None = None, **options: Any) -> Any:
    """The dashboard as a WSGI app (for Flask, Django), through a2wsgi."""
    from a2wsgi import ASGIMiddleware

    return ASGIMiddleware(create_app(client, **options))  # type: ignore[arg-type]
