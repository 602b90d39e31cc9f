"""The dashboard against DNS rebinding (issue 17 item 5): a page on a domain
the attacker re-points at 127.0.0.1 sends its own name as Host (and Origin).
Every request must name one of the dashboard's hosts (the loopback names, plus
the configured ones), else a plain 400; an action's Origin/Referer must name
one of them too, never merely repeat the request's Host."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
import web_jobs as wj
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

import resqplug
from resqplug.errors import ConfigError
from resqplug.testing import drain
from resqplug.web import create_app
from resqplug.web.hosts import AllowedHosts, normalize_host

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette suggests httpx2; httpx works the same
    from starlette.testclient import TestClient

CSRF = "resqplug_csrf"
EVIL = "http://evil.example:8080"
CREDS = ("ops", "pw")
AUTH = {"Authorization": "Basic b3BzOnB3"}  # ops:pw
REFUSED = "bad request: host 'evil.example' is not served here (besides localhost, "


def failures(c: resqplug.Resq, count: int) -> None:
    for i in range(count):
        c.enqueue_to("fails", wj.WebFail, f"boom {i}")
    drain(c, "fails")
    assert c.failures.count() == count


def call(app: Any, headers: list[tuple[bytes, bytes]], kind: str = "http") -> list[Any]:
    """One GET / straight through the ASGI interface, with exactly ``headers``
    (an HTTP client always adds a Host); returns the messages the app sent."""
    scope = {
        "type": kind,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "ws" if kind == "websocket" else "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 5678),
    }
    inbox = [{"type": "websocket.connect"} if kind == "websocket" else {"type": "http.request"}]
    sent: list[Any] = []

    async def receive() -> Any:
        return inbox.pop(0) if inbox else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def status_and_body(sent: list[Any]) -> tuple[int, str]:
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body.decode()


# --- the Host header -----------------------------------------------------------------


def test_a_rebinding_host_is_refused_on_every_path(client) -> None:
    paths = ["/", "/failed", "/workers", "/stats", "/api/overview", "/queues/web"]
    paths += ["/p/statuses", "/static/app.js", "/failed/", "/no/such/page"]
    with TestClient(create_app(client), base_url=EVIL) as evil:
        for path in paths:
            r = evil.get(path, follow_redirects=False)
            assert r.status_code == 400, path
            assert r.text.startswith(REFUSED) and r.text.count("\n") == 1, r.text
            assert "set-cookie" not in r.headers, path  # no CSRF token handed out
        r = evil.post("/failed/clear", data={"csrf": "x"}, follow_redirects=False)
        assert r.status_code == 400 and r.text.startswith(REFUSED)


def test_a_rebinding_page_cannot_clear_the_failed_list(client) -> None:
    failures(client, 2)
    app = create_app(client)
    with TestClient(app, base_url=EVIL) as evil, TestClient(app, base_url=EVIL) as own:
        # The rebinding page loads the dashboard under its own name: no token.
        assert evil.get("/failed").status_code == 400
        assert CSRF not in evil.cookies
        # Even holding a valid token (here one the dashboard handed to a loopback
        # page), the action with the page's Host and matching Origin is refused.
        own.base_url = "http://127.0.0.1:5678"  # type: ignore[assignment]
        assert own.get("/failed").status_code == 200
        good = own.cookies[CSRF]
        evil.cookies.set(CSRF, good)
        r = evil.post(
            "/failed/clear",
            data={"csrf": good},
            headers={"Origin": EVIL, "Sec-Fetch-Site": "same-origin"},
            follow_redirects=False,
        )
        assert r.status_code == 400, r.text
    assert client.failures.count() == 2, "the failed list was cleared"


LOOPBACK_HOSTS = [
    "localhost",
    "localhost:5678",
    "LocalHost:80",
    "localhost.",
    "dash.localhost:5678",
    "127.0.0.1",
    "127.0.0.1:5678",
    "127.0.0.2:1",
    "127.255.255.254:65535",
    "[::1]",
    "[::1]:5678",
    "[0:0::1]:5678",
]


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_loopback_host_names_are_accepted(client, host: str) -> None:
    status, body = status_and_body(call(create_app(client), [(b"host", host.encode())]))
    assert status == 200 and "Overview" in body, (host, body[:200])


BAD_HOSTS = {
    "rebinding name": [(b"host", b"evil.example:8080")],
    "rebinding name without port": [(b"host", b"evil.example")],
    "loopback-looking prefix": [(b"host", b"127.0.0.1.evil.example")],
    "localhost as a subdomain": [(b"host", b"localhost.evil.example:5678")],
    "a private address": [(b"host", b"10.0.0.1:5678")],
    "every interface": [(b"host", b"0.0.0.0:5678")],
    "another IPv6 address": [(b"host", b"[::2]:5678")],
    "IPv6 without brackets": [(b"host", b"::1")],
    "unclosed bracket": [(b"host", b"[::1:5678")],
    "user info": [(b"host", b"evil@localhost")],
    "port out of range": [(b"host", b"localhost:99999")],
    "non-numeric port": [(b"host", b"localhost:http")],
    "empty": [(b"host", b"")],
    "no Host at all": [],
    "two Hosts": [(b"host", b"localhost"), (b"host", b"evil.example")],
}


@pytest.mark.parametrize("kind", BAD_HOSTS)
def test_other_host_headers_are_refused_with_a_plain_400(client, kind: str) -> None:
    status, body = status_and_body(call(create_app(client), BAD_HOSTS[kind]))
    assert status == 400, kind
    assert body.startswith("bad request: ") and body.count("\n") == 1, body


def test_a_websocket_with_a_rebinding_host_is_closed_as_a_policy_violation(client) -> None:
    sent = call(create_app(client), [(b"host", b"evil.example")], kind="websocket")
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_a_configured_public_name_is_accepted_with_credentials(client) -> None:
    failures(client, 1)
    app = create_app(client, credentials=CREDS, allowed_hosts=["Dash.Example.com"])
    with TestClient(app, base_url="http://dash.example.com", headers=AUTH) as tc:
        assert tc.get("/failed").status_code == 200
        r = tc.post(
            "/failed/clear",
            data={"csrf": tc.cookies[CSRF]},
            headers={"Origin": "http://dash.example.com", "Sec-Fetch-Site": "same-origin"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        assert client.failures.count() == 0
        assert tc.get("/", headers={"Host": "localhost"}).status_code == 200
        assert tc.get("/", headers={"Host": "other.example.com"}).status_code == 400
    with TestClient(create_app(client, credentials=CREDS), headers=AUTH) as tc:
        r = tc.get("http://dash.example.com/")
        assert r.status_code == 400 and "create_app(allowed_hosts=...)" in r.text
        assert "dash.example.com" in r.text


def test_the_check_covers_the_mounted_dashboard_not_the_users_app(client) -> None:
    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("the user's own app")

    parent = Starlette(routes=[Route("/", home), Mount("/resque", app=create_app(client))])
    with TestClient(parent, base_url=EVIL) as tc:
        assert tc.get("/").text == "the user's own app"
        assert tc.get("/resque/").status_code == 400
        assert tc.get("http://localhost:8000/resque/").status_code == 200


def test_an_allowed_network_admits_its_addresses_and_no_name(client) -> None:
    app = create_app(client, allowed_hosts=["10.0.0.0/8", "2001:db8::/32"])
    for host, status in [
        ("10.1.2.3:5678", 200),
        ("[2001:db8::1]", 200),
        ("11.0.0.1:5678", 400),
        ("10.evil.example", 400),
        ("[2001:db9::1]", 400),
    ]:
        assert status_and_body(call(app, [(b"host", host.encode())]))[0] == status, host


# --- Origin and Referer of an action ------------------------------------------------------


def test_an_actions_origin_or_referer_must_name_an_allowed_host(client) -> None:
    failures(client, 1)
    with TestClient(create_app(client), base_url="http://127.0.0.1:5678") as tc:
        tc.get("/failed")
        form = {"csrf": tc.cookies[CSRF]}

        def clear(**headers: str) -> int:
            return tc.post(
                "/failed/clear", data=form, headers=headers, follow_redirects=False
            ).status_code

        # The Host is ours; the page that sent the form is not.
        assert clear(Origin="http://evil.example:5678") == 403
        assert clear(Origin="http://localhost:3000") == 403  # another port: another site
        assert clear(Origin="https://127.0.0.1:5678") == 403
        assert clear(Origin="null") == 403
        assert clear(Referer="http://evil.example:5678/failed") == 403
        assert clear(Referer="http://127.0.0.1:3000/") == 403
        assert client.failures.count() == 1
        # Another of the dashboard's own names is the dashboard.
        assert clear(Origin="http://localhost:5678") == 303
        failures(client, 1)
        assert clear(Referer="http://127.0.0.1:5678/failed?start=0") == 303
        assert client.failures.count() == 0


# --- allowed_hosts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        "http://dash.example.com",
        "dash.example.com:443",
        "dash.example.com/x",
        "10.0.0.0/33",
        "",
        "a..b",
        "[::1",
    ],
)
def test_a_malformed_allowed_host_is_a_config_error_naming_it(client, entry: str) -> None:
    with pytest.raises(
        ConfigError, match=r"invalid allowed host " + repr(entry).replace("[", r"\[")
    ):
        create_app(client, allowed_hosts=[entry])


def test_allowed_hosts_are_normalized_and_one_string_is_one_name() -> None:
    assert normalize_host(" Dash.Example.COM. ") == "dash.example.com"
    assert normalize_host("2001:DB8::1") == normalize_host("[2001:db8::1]") == "2001:db8::1"
    assert normalize_host("192.0.2.10") == "192.0.2.10"
    hosts = AllowedHosts("dash.example.com")
    assert hosts.names == {"dash.example.com"}
    assert hosts.refusal([b"dash.example.com:8443"]) is None
    assert hosts.refusal([b"d"]) is not None
