"""The dashboard mounted in an ASGI app and in a WSGI app. (Shared helpers:
tests/web_support.py.)"""

from __future__ import annotations

import io
import subprocess
import sys
import warnings
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest
import web_jobs as wj
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from resqplug.web import create_app, wsgi_app

with warnings.catch_warnings():
    # Starlette >= 1.x suggests httpx2; the test client works the same with httpx.
    warnings.simplefilter("ignore")

from web_support import (
    CSRF,
    PAGES,
    PLUGIN_PAGES,
    Page,
    dashboard,
    fail,
    flash,
    submit,
)

# --- mounting ----------------------------------------------------------------------------------


def test_mounted_under_a_prefix_in_an_asgi_app(client) -> None:
    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("the user's own app")

    client.enqueue_many(wj.WebRecord, [(1,), (2,)])
    [failed] = fail(client, "fails", (wj.WebFail, ("boom",)))
    parent = Starlette(routes=[Route("/", home), Mount("/resque", app=create_app(client))])
    with dashboard(parent) as tc:
        assert tc.get("/").text == "the user's own app"
        for path in ("/resque/", *(f"/resque{p}" for p in [*PAGES[1:], *PLUGIN_PAGES])):
            r = tc.get(path)
            assert r.status_code == 200, path
            page = Page(r.text)
            for url in page.urls:
                assert url.startswith(("/resque/", "?")), f"{path}: {url}"
            for href in page.links:
                if href.startswith("/resque/"):
                    assert tc.get(href).status_code == 200, href
        assert tc.get("/resque/static/app.js").status_code == 200
        assert tc.get("/resque/queues/web").text.count("/resque/queues/web/remove") == 2
        form = Page(tc.get("/resque/failed").text).form(f"/resque/failed/{failed}/retry")
        r = submit(tc, form)
        assert r.headers["location"].startswith("/resque/failed?")
        assert flash(r) == f"enqueued {failed}"
        assert tc.get(r.headers["location"]).status_code == 200


def call_wsgi(
    app: Any,
    method: str,
    path: str,
    *,
    script_name: str = "/resque",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    validate: bool = True,
) -> tuple[str, dict[str, str], bytes]:
    """One request as a WSGI server makes it, through wsgiref's validator
    (``validate=False`` for a redirect: the validator wants a Content-Type even
    on an empty 303, which HTTP does not)."""
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    path_info, _, query = path.partition("?")
    environ.update(
        {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": script_name,
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body)),
        }
    )
    if body:
        environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info=None):
        answer["status"], answer["headers"] = status, response_headers
        return lambda data: None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # wsgiref's validator warns on any oddity; we check
        result = (validator(app) if validate else app)(environ, start_response)
        try:
            data = b"".join(result)
        finally:
            result.close()
    return answer["status"], {k.lower(): v for k, v in answer["headers"]}, data


def test_wsgi_app_under_a_script_name(client) -> None:
    client.enqueue(wj.WebRecord, 1)
    [failed] = fail(client, "fails", (wj.WebFail, ("boom",)))
    app = wsgi_app(client)
    status, headers, body = call_wsgi(app, "GET", "/")
    assert status.startswith("200") and "content-security-policy" in headers
    page = Page(body.decode())
    assert all(u.startswith(("/resque/", "?")) for u in page.urls), page.urls
    token_value = headers["set-cookie"].split(";")[0].split("=", 1)[1]
    status, _, body = call_wsgi(app, "GET", "/failed", headers={"Cookie": f"{CSRF}={token_value}"})
    form = Page(body.decode()).form(f"/resque/failed/{failed}/retry")
    assert form["fields"]["csrf"] == token_value
    # A POST without the token changes nothing; with it, the job is enqueued again.
    status, _, _ = call_wsgi(app, "POST", f"/failed/{failed}/retry", body=b"csrf=nope")
    assert status.startswith("403") and client.size("fails") == 0
    status, headers, _ = call_wsgi(
        app,
        "POST",
        f"/failed/{failed}/retry",
        body=f"csrf={token_value}".encode(),
        headers={"Cookie": f"{CSRF}={token_value}"},
        validate=False,
    )
    assert status.startswith("303") and headers["location"].startswith("/resque/failed?")
    assert client.size("fails") == 1


def test_wsgi_app_refuses_a_rebinding_host(client) -> None:
    fail(client, "fails", (wj.WebFail, ("boom",)))
    app = wsgi_app(client)
    evil = {"Host": "evil.example:8080", "Origin": "http://evil.example:8080"}
    status, headers, body = call_wsgi(app, "GET", "/failed", headers=evil)
    assert status.startswith("400") and "set-cookie" not in headers
    assert body.startswith(b"bad request: host 'evil.example' is not served here")
    cookie = {"Cookie": f"{CSRF}=tok"}
    status, _, _ = call_wsgi(app, "POST", "/failed/clear", body=b"csrf=tok", headers=evil | cookie)
    assert status.startswith("400") and client.failures.count() == 1
    status, _, _ = call_wsgi(app, "GET", "/failed", headers={"Host": "localhost:8000"})
    assert status.startswith("200")


def test_wsgi_app_in_werkzeugs_dispatcher(client) -> None:
    werkzeug = pytest.importorskip("werkzeug", reason="werkzeug is not installed")
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.test import Client
    from werkzeug.wrappers import Response

    del werkzeug
    client.enqueue(wj.WebRecord, 1)

    def user_app(environ: dict[str, Any], start_response: Any) -> Any:
        return Response("the user's own app")(environ, start_response)

    tc = Client(DispatcherMiddleware(user_app, {"/resque": wsgi_app(client)}))
    assert tc.get("/").get_data(as_text=True) == "the user's own app"
    r = tc.get("/resque/")
    assert r.status_code == 200
    page = Page(r.get_data(as_text=True))
    assert all(u.startswith(("/resque/", "?")) for u in page.urls), page.urls
    r = tc.get("/resque/queues/web")
    form = Page(r.get_data(as_text=True)).form("/resque/queues/web/clear")
    r = tc.post(form["action"], data={**form["fields"], "confirm": "web"})
    assert r.status_code == 303 and r.headers["location"].startswith("/resque/queues/web?")
    assert client.size("web") == 0
    assert tc.post("/resque/failed/clear", data={"csrf": "forged"}).status_code == 403


def test_workers_page_shows_records_written_by_other_tools(client, web) -> None:
    r, k = client.redis, client.keys
    r.sadd(k.workers, "h:1:q", b"h\xff:2:q")
    r.set(k.worker("h:1:q"), b'{"payload": []}')
    r.set(k.stat_processed_of("h:1:q"), "lots")
    page = web.get("/workers")
    assert page.status_code == 200
    assert "(unreadable)" in page.text


def test_the_dashboard_is_reachable_from_import_resqplug_alone() -> None:
    """The README's ``resqplug.web.create_app(...)`` after a bare ``import resqplug``."""
    code = "import resqplug; print(callable(resqplug.web.create_app))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr
