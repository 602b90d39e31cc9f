"""POST actions of the dashboard: each checks CSRF, acts, and redirects back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ..errors import ResqplugError
from ..payload import validate_queue_name
from . import views
from .app import Dashboard


def action(
    fn: Callable[[Dashboard, Request, dict[str, str]], tuple[str, str]],
) -> Callable[[Dashboard, Request], Awaitable[Response]]:
    """Wrap ``fn(dashboard, request, form) -> (path, message)`` with the CSRF
    check and the redirect back."""

    async def handler(self: Dashboard, request: Request) -> Response:
        form = await self.form(request)
        if form is None:
            return PlainTextResponse("forbidden: missing or wrong CSRF token", 403)
        try:
            path, msg = fn(self, request, form)
        except (ResqplugError, LookupError, ValueError) as exc:
            path, msg = form.get("back", "/"), f"error: {exc}"
        if not path.startswith("/") or path.startswith("//"):
            path = "/"
        return self.back(request, path, msg)

    return handler


@action
def remove_queued(d: Dashboard, request: Request, form: dict[str, str]) -> tuple[str, str]:
    name = validate_queue_name(request.path_params["name"])
    pos = int(form.get("pos", "-1"))
    removed = views.remove_queued(d.client, name, pos, form.get("id", ""))
    return f"/queues/{name}", "removed 1 job" if removed else "that job is no longer queued"


@action
def clear_queue(d: Dashboard, request: Request, form: dict[str, str]) -> tuple[str, str]:
    name = validate_queue_name(request.path_params["name"])
    if form.get("confirm") != name:
        return f"/queues/{name}", "not emptied: type the queue name to confirm"
    return f"/queues/{name}", f"removed {d.client.remove_queue(name)} jobs"


@action
def retry_failed(d: Dashboard, request: Request, form: dict[str, str]) -> tuple[str, str]:
    job_id = request.path_params["job_id"]
    new_id = d.client.failures.retry(job_id, remove=form.get("remove") == "1")
    return "/failed", f"enqueued {new_id}" if new_id else "not enqueued (vetoed or retried)"


@action
def remove_failed(d: Dashboard, request: Request, form: dict[str, str]) -> tuple[str, str]:
    d.client.failures.remove(request.path_params["job_id"])
    return "/failed", "removed"


@action
def retry_all(d: Dashboard, request: Request, form: dict[str, str]) -> tuple[str, str]:
    return "/failed", f"enqueued {d.client.failures.retry_all()} failed jobs again"


@action
def clear_failed(d: Dashboard, request: Request, form: dict[str, str]) -> tuple[str, str]:
    return "/failed", f"cleared {d.client.failures.clear()} failure records"


@action
def plugin_action(d: Dashboard, request: Request, form: dict[str, str]) -> tuple[str, str]:
    page = d.pages.get(request.path_params["page"])
    name = request.path_params["action"]
    if page is None or name not in page.actions:
        raise LookupError("no such action")
    return f"/p/{page.path}", page.actions[name](d.client, form)
