"""Plugins' plain resources on the dashboard (``resqplug.ext.Endpoint``):
served at the top level behind the dashboard's auth, never over its own paths."""

from __future__ import annotations

from typing import Any

from web_support import dashboard

import resqplug
from resqplug.ext import Endpoint, hookimpl
from resqplug.web import create_app


def text(body: str) -> Any:
    return lambda client, params: (f"{body} {client.namespace} {params}".encode(), "text/plain")


class Resources:
    @hookimpl
    def dashboard_pages(self) -> list[Endpoint]:
        return [Endpoint("plain", text("plain")), Endpoint("failed", text("hijack"))]


def test_an_endpoint_is_served_with_its_content_type_and_params(client: resqplug.Resq):
    client.plugins.register(Resources(), name="resources")
    with dashboard(create_app(client)) as web:
        answer = web.get("/plain?x=1")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == f"plain {client.namespace} {{'x': '1'}}"


def test_an_endpoint_over_a_dashboard_path_is_refused(client: resqplug.Resq):
    client.plugins.register(Resources(), name="resources")
    with dashboard(create_app(client)) as web:
        answer = web.get("/failed")
    assert "hijack" not in answer.text
    assert answer.headers["content-type"].startswith("text/html")


def test_an_endpoint_needs_the_dashboards_credentials(client: resqplug.Resq):
    client.plugins.register(Resources(), name="resources")
    with dashboard(create_app(client, credentials=("ops", "pw"))) as web:
        assert web.get("/plain").status_code == 401
        assert web.get("/plain", auth=("ops", "pw")).status_code == 200
