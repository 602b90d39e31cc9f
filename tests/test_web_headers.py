"""Security headers, redaction and parameter clamping (REFERENCE D.37, D.41,
D.42). (Shared helpers: tests/web_support.py.)"""

from __future__ import annotations

import json
import warnings
from typing import Any

import httpx
import web_jobs as wj

from resqplug.web import create_app

with warnings.catch_warnings():
    # Starlette >= 1.x suggests httpx2; the test client works the same with httpx.
    warnings.simplefilter("ignore")

from web_support import (
    PAGES,
    PLUGIN_PAGES,
    dashboard,
    fail,
    push_failures,
    rows_of_failed,
    rows_of_queue,
    token,
)

# --- headers, redaction, clamping (D.37, D.41, D.42) ---------------------------------------------


def check_headers(r: httpx.Response, where: str) -> None:
    csp = r.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "default-src 'self'" in csp, where
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert "frame-ancestors 'none'" in csp and "base-uri 'none'" in csp, where
    assert r.headers.get("x-frame-options") == "DENY", where
    assert r.headers.get("x-content-type-options") == "nosniff", where
    assert r.headers.get("referrer-policy") == "same-origin", where


def test_security_headers_on_pages_redirects_and_refusals(client, web, action_world) -> None:
    for path in [*PAGES, *PLUGIN_PAGES, "/queues/web", "/api/overview", "/p/nope", "/queues/a:b"]:
        check_headers(web.get(path), path)
    t = token(web)
    check_headers(web.post("/failed/clear", data={"csrf": t}, follow_redirects=False), "303")
    check_headers(web.post("/failed/clear", data={"csrf": "x"}, follow_redirects=False), "403")


SECRETS = {
    "password": "hunter2-pw",
    "db_password": "pg-secret-1",
    "Token": "tok-abc-123",
    "client_secret": "cs-xyz-789",
    "api_key": "ak-live-42",
    "Authorization": "Bearer eyJ-secret",
}


def secret_args() -> list[Any]:
    return [
        "visible-first-arg",
        {
            "password": SECRETS["password"],
            "user": "visible-user",
            "nested": [
                {"db_password": SECRETS["db_password"]},
                {"deeper": {"deepest": [{"Token": SECRETS["Token"]}]}},
            ],
            "client_secret": SECRETS["client_secret"],
            "api_key": SECRETS["api_key"],
            "headers": {"Authorization": SECRETS["Authorization"]},
        },
    ]


def test_secrets_in_args_are_redacted_on_queue_and_failed_pages(client, web) -> None:
    client.enqueue(wj.WebRecord, *secret_args())
    fail(client, "fails", (wj.WebFail, tuple(secret_args())))
    for path in ("/queues/web", "/failed", "/p/cleaner", "/p/statuses"):
        text = web.get(path).text
        for key, value in SECRETS.items():
            assert value not in text, f"{path}: {key} shown"
    for path in ("/queues/web", "/failed"):
        text = web.get(path).text
        assert "visible-first-arg" in text and "visible-user" in text
        assert text.count("&#34;***&#34;") >= len(SECRETS), path


def test_custom_redaction_list(client) -> None:
    client.enqueue(wj.WebRecord, {"ssn": "123-45-6789", "password": "shown-now"})
    with dashboard(create_app(client, redact_keys=("ssn",))) as tc:
        text = tc.get("/queues/web").text
    assert "123-45-6789" not in text and "shown-now" in text


def test_header_style_api_keys_are_redacted(client, web) -> None:
    client.enqueue(wj.WebRecord, {"headers": {"X-Api-Key": "ak-header-1"}, "api-key": "ak-2"})
    text = web.get("/queues/web").text
    assert "ak-header-1" not in text and "ak-2" not in text


def test_invalid_payloads_on_a_queue_are_redacted_too(client, web) -> None:
    raw = json.dumps({"class": "WebRecord", "args": {"password": "hunter2-raw"}, "id": "abc"})
    client.redis.rpush(client.keys.queue("web"), raw)
    client.redis.sadd(client.keys.queues, "web")
    text = web.get("/queues/web").text
    assert "(invalid payload)" in text
    assert "hunter2-raw" not in text


def test_delayed_job_args_are_redacted_on_the_schedule_page(client, web) -> None:
    from resqplug_scheduler.api import Scheduler

    Scheduler(client).enqueue_in(3600, wj.WebRecord, {"password": "hunter2-delayed"})
    text = web.get("/p/schedule").text
    assert "Delayed jobs (1)" in text
    assert "hunter2-delayed" not in text


CLAMPED = [
    {"per_page": "10000000"},
    {"per_page": "-5"},
    {"per_page": "0"},
    {"per_page": "1e9"},
    {"per_page": "abc"},
    {"page": "-5"},
    {"page": "0"},
    {"page": "abc"},
    {"page": "<script>"},
    {"page": "1" + "0" * 40},
    {"page": "9" * 5000},
    {"page": "2.5"},
    {"start": "-1"},
    {"start": "garbage"},
    {"start": "1" + "0" * 40},
    {"per_page": "100", "page": "999999999"},
]


def test_paging_parameters_are_clamped(client, web) -> None:
    client.enqueue_many(wj.WebRecord, [(i,) for i in range(150)])
    push_failures(client, 150)
    for params in CLAMPED:
        q = web.get("/queues/web", params=params)
        f = web.get("/failed", params=params)
        assert q.status_code == 200 and f.status_code == 200, params
        assert rows_of_queue(q.text) <= 100 and rows_of_failed(f.text) <= 100, params
    assert rows_of_queue(web.get("/queues/web", params={"per_page": 10**7}).text) == 100
    assert rows_of_failed(web.get("/failed", params={"per_page": 10**7}).text) == 100
    assert rows_of_queue(web.get("/queues/web", params={"per_page": -5}).text) == 1
    assert rows_of_queue(web.get("/queues/web", params={"page": -5}).text) == 25
    assert '<td class="num">0</td>' in web.get("/queues/web", params={"page": "abc"}).text
    for params in ({"cursor": "-1"}, {"cursor": "x"}, {"cursor": str(2**70)}):
        assert web.get("/stats", params=params).status_code == 200
    assert web.get("/p/statuses", params={"state": "nope"}).status_code == 200
    long_filter = web.get("/failed", params={"class": "C" * 50_000})
    assert long_filter.status_code == 200 and "C" * 201 not in long_filter.text
