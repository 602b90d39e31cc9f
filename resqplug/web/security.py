"""Dashboard security: the Host check, basic auth, CSRF, headers, clamping."""

from __future__ import annotations

import base64
import hmac
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .hosts import AllowedHosts

CSRF_COOKIE = "resqplug_csrf"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
USER_ENV, PASSWORD_ENV = "RESQPLUG_WEB_USER", "RESQPLUG_WEB_PASSWORD"


def credentials_from_env() -> tuple[str, str] | None:
    user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    return (user, password) if user and password else None


def authorized(request: Request, credentials: tuple[str, str] | None) -> bool:
    if credentials is None:
        return True
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    # Constant time, and both compared whatever the first gives.
    ok_user = hmac.compare_digest(user.encode(), credentials[0].encode())
    ok_password = hmac.compare_digest(password.encode(), credentials[1].encode())
    return ok_user and ok_password


def csrf_token(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or request.state.new_csrf


def csrf_ok(request: Request, form: dict[str, Any], hosts: AllowedHosts) -> bool:
    """Double-submit token, and a cross-site request is refused outright: its
    Origin (else its Referer) must name one of ``hosts``, never merely repeat
    the request's Host header, which a rebinding page chooses."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    source = request.headers.get("origin") or request.headers.get("referer")
    if source and not hosts.is_own_origin(source, request.url.scheme, request.url.port):
        return False
    cookie, sent = request.cookies.get(CSRF_COOKIE, ""), str(form.get("csrf", ""))
    return bool(cookie) and hmac.compare_digest(cookie.encode(), sent.encode())


class HostGuard:
    """ASGI middleware: a request whose Host is not one of ``hosts`` gets a
    plain 400 before anything else runs (pages hand out the CSRF token)."""

    def __init__(self, app: ASGIApp, hosts: AllowedHosts) -> None:
        self.app, self.hosts = app, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            found = [value for name, value in scope["headers"] if name == b"host"]
            reason = self.hosts.refusal(found)
            if reason is not None:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                refused = PlainTextResponse(f"bad request: {reason}\n", 400)
                refused.headers["X-Content-Type-Options"] = "nosniff"
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(credentials: tuple[str, str] | None) -> Callable[[Endpoint], Endpoint]:
    """Auth, a CSRF cookie and security headers around an endpoint."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        async def handler(request: Request) -> Response:
            if not authorized(request, credentials):
                return PlainTextResponse(
                    "authentication required", 401, {"WWW-Authenticate": 'Basic realm="resqplug"'}
                )
            request.state.new_csrf = secrets.token_urlsafe(32)
            response = await endpoint(request)
            response.headers["Content-Security-Policy"] = CSP
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "same-origin"
            response.headers["X-Frame-Options"] = "DENY"
            if CSRF_COOKIE not in request.cookies:
                response.set_cookie(
                    CSRF_COOKIE, request.state.new_csrf, httponly=True, samesite="strict", path="/"
                )
            return response

        return handler

    return wrap


def clamp_int(raw: str | None, default: int, low: int, high: int) -> int:
    """A query parameter as an int within bounds (garbage gives the default)."""
    try:
        return max(low, min(high, int(raw))) if raw is not None else default
    except ValueError:
        return default
