"""CSRF (REFERENCE D.39) and basic auth (D.40): forged posts change nothing,
every page and action is behind the password. (Shared helpers:
tests/web_support.py.)"""

from __future__ import annotations

import ast
import base64
import hmac
import inspect
import sys
import textwrap
import warnings
from typing import Any

import pytest
from starlette.requests import Request

from resqplug.web import create_app, security

with warnings.catch_warnings():
    # Starlette >= 1.x suggests httpx2; the test client works the same with httpx.
    warnings.simplefilter("ignore")

from web_support import (
    BASE,
    CSRF,
    PAGES,
    PLUGIN_PAGES,
    Page,
    dashboard,
    fingerprint,
    flash,
    token,
)

# --- CSRF (D.39) ---------------------------------------------------------------------------


ACTIONS = {
    "remove queued job": ("/queues/web/remove", lambda w: {"id": w["job"], "pos": "0"}),
    "empty queue": ("/queues/web/clear", lambda w: {"confirm": "web"}),
    "retry failure": ("/failed/{failed}/retry", lambda w: {}),
    "remove failure": ("/failed/{failed}/remove", lambda w: {}),
    "retry all": ("/failed/retry-all", lambda w: {}),
    "clear failures": ("/failed/clear", lambda w: {}),
    "status kill": ("/p/statuses/kill", lambda w: {"id": w["job"]}),
    "schedule run now": ("/p/schedule/run_now", lambda w: {"name": "nightly"}),
    "cleaner requeue": ("/p/cleaner/requeue", lambda w: {"job_class": "WebFail"}),
    "cleaner clear": ("/p/cleaner/clear", lambda w: {"exception": "ValueError"}),
    "loner release": ("/p/locks/release", lambda w: {"key": w["lock"]}),
}


@pytest.mark.parametrize("name", ACTIONS)
def test_csrf_forged_posts_are_refused_and_change_nothing(client, action_world, name: str) -> None:
    path, fields = ACTIONS[name]
    path = path.format(**action_world)
    data = fields(action_world)
    app = create_app(client)
    with dashboard(app) as victim, dashboard(app) as stranger:
        good = token(victim)
        before = fingerprint(client)
        forged = {
            "no token at all": (stranger, data, {}),
            "cookie but no form token": (victim, data, {}),
            "form token but no cookie": (stranger, {**data, "csrf": good}, {}),
            "wrong token": (victim, {**data, "csrf": good[:-2] + "xx"}, {}),
            "empty token": (victim, {**data, "csrf": ""}, {}),
            "cross-site": (victim, {**data, "csrf": good}, {"Sec-Fetch-Site": "cross-site"}),
            "same-site": (victim, {**data, "csrf": good}, {"Sec-Fetch-Site": "same-site"}),
            "foreign origin": (victim, {**data, "csrf": good}, {"Origin": "http://evil.example"}),
            "null origin": (victim, {**data, "csrf": good}, {"Origin": "null"}),
            "other scheme": (victim, {**data, "csrf": good}, {"Origin": "https://localhost:5678"}),
        }
        for kind, (tc, form, headers) in forged.items():
            r = tc.post(path, data=form, headers=headers, follow_redirects=False)
            assert r.status_code == 403, f"{name}, {kind}: {r.status_code}"
            assert "CSRF" in r.text
            assert fingerprint(client) == before, f"{name}, {kind}: state changed"
        # A GET (an <img> tag on another site) never acts. Queue names may hold
        # '/', so GET /queues/web/remove is the page of a queue "web/remove".
        r = victim.get(path, params=data)
        if path.startswith("/queues/"):
            assert r.status_code == 200, f"GET {path}: {r.status_code}"
            assert f"Queue <code>{path[len('/queues/') :]}</code>" in r.text
            assert "This queue is empty." in r.text
        else:
            assert r.status_code == 405, f"GET {path}: {r.status_code}"
        assert fingerprint(client) == before
        # The same request from our own page goes through.
        r = victim.post(
            path,
            data={**data, "csrf": good},
            headers={"Sec-Fetch-Site": "same-origin", "Origin": BASE},
            follow_redirects=False,
        )
        assert r.status_code == 303, (name, r.text[:200])
        assert not flash(r).startswith("error"), flash(r)
        assert fingerprint(client) != before, f"{name} did nothing"


def test_csrf_cookie_is_httponly_strict_and_matches_the_forms(web) -> None:
    r = web.get("/failed")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{CSRF}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    value = web.cookies[CSRF]
    assert len(value) >= 32
    forms = Page(r.text).forms
    assert forms and all(f["fields"]["csrf"] == value for f in forms if f["method"] == "post")
    # The cookie is set once; later pages reuse it.
    assert "set-cookie" not in web.get("/").headers


# --- auth (D.40) ------------------------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    raw = f"{user}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def test_basic_auth_protects_every_page_and_action(client) -> None:
    creds = ("admin", "s3cret:päss")
    with dashboard(create_app(client, credentials=creds)) as tc:
        paths = [*PAGES, *PLUGIN_PAGES, "/api/overview", "/queues/web", "/p/nope"]
        wrong = [
            {},
            basic("admin", "wrong"),
            basic("root", creds[1]),
            basic("admin", ""),
            basic("", ""),
            basic("admin", creds[1] + "x"),
            {"Authorization": "Basic !!!not-base64"},
            {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:x").decode()},
            {"Authorization": "Bearer " + base64.b64encode(b"admin:s3cret").decode()},
        ]
        for path in paths:
            for headers in wrong:
                r = tc.get(path, headers=headers)
                assert r.status_code == 401, (path, headers)
                assert r.headers["www-authenticate"] == 'Basic realm="resqplug"'
                assert CSRF not in r.headers.get("set-cookie", "")
            assert tc.get(path, headers=basic(*creds)).status_code in (200, 404)
        for path, _ in ACTIONS.values():
            r = tc.post(path.format(failed="x"), data={"csrf": "x"})
            assert r.status_code == 401, path
        good = tc.get("/", headers=basic(*creds))
        assert good.status_code == 200 and "Overview" in good.text


def test_basic_auth_from_the_environment(client, monkeypatch) -> None:
    monkeypatch.setenv("RESQPLUG_WEB_USER", "ops")
    monkeypatch.setenv("RESQPLUG_WEB_PASSWORD", "hunter2")
    with dashboard(create_app(client)) as tc:
        assert tc.get("/").status_code == 401
        assert tc.get("/", headers=basic("ops", "hunter3")).status_code == 401
        assert tc.get("/", headers=basic("ops", "hunter2")).status_code == 200
    monkeypatch.delenv("RESQPLUG_WEB_PASSWORD")
    with dashboard(create_app(client)) as tc:  # half a pair is no credentials
        assert tc.get("/").status_code == 200


def test_credentials_are_compared_with_hmac_compare_digest() -> None:
    """The code path: both halves through hmac.compare_digest, whatever the
    first gives, and no ``==`` on secrets."""
    creds = ("admin", "s3cret")

    def request(user: str, password: str) -> Request:
        headers = [(b"authorization", basic(user, password)["Authorization"].encode())]
        return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})

    for user, password, expected in [
        ("admin", "s3cret", True),
        ("admin", "nope", False),
        ("eve", "s3cret", False),
        ("eve", "nope", False),
    ]:
        calls: list[str] = []

        def profile(frame: Any, event: str, arg: Any) -> None:
            if event == "c_call" and arg is hmac.compare_digest:
                calls.append(frame.f_code.co_name)  # noqa: B023 - used at once

        sys.setprofile(profile)
        try:
            ok = security.authorized(request(user, password), creds)
        finally:
            sys.setprofile(None)
        assert ok is expected
        assert calls == ["authorized", "authorized"], (user, password, calls)

    tree = ast.parse(textwrap.dedent(inspect.getsource(security.authorized)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops
        ):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            assert not names & {"user", "password", "credentials"}, ast.unparse(node)
