"""The dashboard: a Starlette app, served by ``resqplug web`` or mounted in the
user's ASGI app (and, through a2wsgi, in a WSGI app)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..client import Resq
from ..config import default_client
from ..errors import QueueNameError
from ..overview import snapshot
from ..payload import validate_queue_name
from ..plugins import get_plugins
from . import views
from .hosts import AllowedHosts
from .pages import Button, Endpoint, Page, Progress
from .security import clamp_int, csrf_ok, csrf_token

PER_PAGE, MAX_PER_PAGE = 25, 100


class Dashboard:
    def __init__(
        self,
        client: Resq | None,
        credentials: tuple[str, str] | None,
        redact_keys: tuple[str, ...],
        hosts: AllowedHosts,
    ) -> None:
        self._client = client
        self.credentials = credentials
        self.hosts = hosts
        self.redact_keys = redact_keys
        self.env = Environment(
            loader=PackageLoader("resqplug.web", "templates"),
            autoescape=select_autoescape(default=True),
        )
        self.env.globals.update(Button=Button, Progress=Progress)
        self.pages: dict[str, Page] = {}
        self.endpoints: dict[str, Endpoint] = {}
        for found in get_plugins().hook.dashboard_pages():
            for page in found or ():
                if isinstance(page, Endpoint):
                    self.endpoints[page.path] = page
                else:
                    self.pages[page.path] = page

    @property
    def client(self) -> Resq:
        return self._client or default_client()

    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        html = self.env.get_template(template).render(
            request=request,
            root=root,
            csrf=csrf_token(request),
            nav=self.pages.values(),
            msg=request.query_params.get("msg", "")[:300],
            namespace=self.client.namespace,
            **context,
        )
        return HTMLResponse(html, status)

    def back(self, request: Request, path: str, msg: str) -> RedirectResponse:
        root = request.scope.get("root_path", "")
        return RedirectResponse(f"{root}{quote(path, safe='/')}?{urlencode({'msg': msg})}", 303)

    async def form(self, request: Request) -> dict[str, str] | None:
        form = {k: str(v) for k, v in (await request.form()).items()}
        return form if csrf_ok(request, form, self.hosts) else None

    # --- pages ---------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        snap = snapshot(self.client)
        return self.render(
            request, "overview.html", snap=snap, workers=views.workers(self.client, snap)
        )

    async def api_overview(self, request: Request) -> Response:
        snap = snapshot(self.client)
        return JSONResponse(
            {
                "processed": snap["processed"],
                "failed": snap["failed"],
                "queues": snap["queues"],
                "workers": [
                    {"id": w["id"], "state": w["state"], "job": w["job"]}
                    for w in views.workers(self.client, snap)
                ],
            }
        )

    async def queue(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            validate_queue_name(name)
        except QueueNameError as exc:
            return self.render(request, "error.html", 404, error=str(exc))
        page, per_page = self.paging(request)
        size = self.client.size(name)
        rows = views.queue_rows(
            self.client, name, (page - 1) * per_page, per_page, self.redact_keys
        )
        return self.render(
            request,
            "queue.html",
            name=name,
            rows=rows,
            size=size,
            page=page,
            per_page=per_page,
            pages=max(1, -(-size // per_page)),
        )

    async def failed(self, request: Request) -> Response:
        q = request.query_params
        start = clamp_int(q.get("start"), 0, 0, 10**9)
        per_page = clamp_int(q.get("per_page"), PER_PAGE, 1, MAX_PER_PAGE)
        job_class, exception = q.get("class", "")[:200], q.get("exception", "")[:200]
        rows, next_start, more = views.failures(
            self.client, start, per_page, job_class, exception, self.redact_keys
        )
        return self.render(
            request,
            "failed.html",
            rows=rows,
            start=start,
            next_start=next_start,
            more=more,
            per_page=per_page,
            total=self.client.failures.count(),
            job_class=job_class,
            exception=exception,
        )

    async def workers(self, request: Request) -> Response:
        snap = snapshot(self.client)
        return self.render(request, "workers.html", workers=views.workers(self.client, snap))

    async def stats(self, request: Request) -> Response:
        cursor = clamp_int(request.query_params.get("cursor"), 0, 0, 2**63)
        keys, next_cursor = views.keys_page(self.client, cursor, 100)
        return self.render(
            request,
            "stats.html",
            info=views.redis_info(self.client),
            keys=keys,
            next_cursor=next_cursor,
            stats=self.client.stats(),
        )

    async def plugin_page(self, request: Request) -> Response:
        page = self.pages.get(request.path_params["page"])
        if page is None:
            return self.render(request, "error.html", 404, error="no such page")
        params = {k: v[:300] for k, v in request.query_params.items()}
        sections = page.render(self.client, params)
        return self.render(request, "plugin.html", page=page, sections=sections)

    def endpoint(self, endpoint: Endpoint) -> Any:
        """The view of a plugin's plain resource (``Endpoint``)."""

        async def view(request: Request) -> Response:
            params = {k: v[:300] for k, v in request.query_params.items()}
            body, media_type = await run_in_threadpool(endpoint.serve, self.client, params)
            return Response(body, media_type=media_type)

        return view

    def paging(self, request: Request) -> tuple[int, int]:
        q = request.query_params
        return (
            clamp_int(q.get("page"), 1, 1, 10**7),
            clamp_int(q.get("per_page"), PER_PAGE, 1, MAX_PER_PAGE),
        )
