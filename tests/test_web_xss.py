"""Stored and reflected XSS (REFERENCE D.37, D.38): every value a page shows is
escaped, every queue name round-trips. (Shared helpers: tests/web_support.py.)"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import web_jobs as wj
from markupsafe import escape
from resqplug_scheduler.schedules import ScheduleStore

import resqplug
from resqplug.testing import drain
from resqplug.web import create_app

with warnings.catch_warnings():
    # Starlette >= 1.x suggests httpx2; the test client works the same with httpx.
    warnings.simplefilter("ignore")

from web_support import (
    Page,
    Served,
    audit,
    fail,
    flash,
)

# --- stored and reflected XSS (D.37, D.38) ---------------------------------------------

PLAIN_XSS_QUEUES = ('"><script>alert(1)', "<iframe>")
SLASH_XSS_QUEUES = ("<script>alert(1)</script>", "<img/src=x/onerror=alert(1)>")


@pytest.fixture
def xss_world(client: resqplug.Resq) -> dict[str, Any]:
    """Markup everywhere a value from Redis reaches a page."""
    s, img, svg, js = wj.XSS_PAYLOADS
    ids: dict[str, Any] = {}
    ids["args"] = client.enqueue(wj.WebRecord, s, {"html": img, "attr": svg, "url": js})
    ids["class"] = client.enqueue(wj.WebXssName, "ok")
    for queue in (*PLAIN_XSS_QUEUES, *SLASH_XSS_QUEUES):
        client.enqueue_to(queue, wj.WebRecord, queue)
    # Failures: markup in the message, the class name, the queue name and the args.
    fail(
        client,
        PLAIN_XSS_QUEUES[0],
        (wj.WebFail, (s, js)),
        (wj.WebFail, (img,)),
        (wj.WebXssName, ("fail", svg)),
    )
    # Status messages (self.at), a retry waiting with its error, a delayed job.
    client.enqueue_to("side", wj.WebProgress, img)
    client.enqueue_to("side", wj.WebRetrying, s)
    drain(client, "side")
    # A schedule named with markup, with an error, for a class named with markup.
    store = ScheduleStore(client)
    store.set(s, {"class": wj.XSS_CLASS_NAME, "args": [img], "every": "1h", "queue": "web"})
    client.redis.hset(store.errors, s, f"cannot enqueue: {svg}")
    client.enqueue(wj.WebUnique, s)
    return ids


def xss_pages(client: resqplug.Resq) -> dict[str, list[str]]:
    """Each page, with the values it must show (escaped)."""
    s, img, _svg, js = wj.XSS_PAYLOADS
    core_svg = "<svg onload=alert(1)>"
    queues = [*PLAIN_XSS_QUEUES, *SLASH_XSS_QUEUES]
    pages: dict[str, list[str]] = {
        "/": queues,
        "/queues/web": [s, img, core_svg, js, wj.XSS_CLASS_NAME],
        "/failed": [s, img, core_svg, js, wj.XSS_CLASS_NAME, PLAIN_XSS_QUEUES[0]],
        f"/failed?class={quote(wj.XSS_CLASS_NAME)}": [wj.XSS_CLASS_NAME, core_svg],
        f"/failed?exception=ValueError&class={quote(s)}": [s],
        "/workers": [],
        "/p/schedule": [s, wj.XSS_CLASS_NAME, core_svg],
        "/p/statuses": [img, wj.XSS_CLASS_NAME],
        "/p/cleaner": [wj.XSS_CLASS_NAME],
        "/p/locks": [],
        "/p/retries": [s],
        "/stats": [],
    }
    for queue in (*PLAIN_XSS_QUEUES, *SLASH_XSS_QUEUES):
        pages[f"/queues/{quote(queue, safe='')}"] = [queue]
    return pages


def test_stored_xss_is_escaped_on_every_page(client, web, xss_world) -> None:
    shown: set[str] = set()
    for path, values in xss_pages(client).items():
        r = web.get(path)
        assert r.status_code == 200, path
        audit(r.text, path)
        for value in values:
            assert str(escape(value)) in r.text, f"{path}: {value!r} is not shown escaped"
            shown.add(value)
    # The key browser, through every window.
    text, cursor_pages = web.get("/stats").text, 0
    keys_text = text
    while (m := re.search(r'href="\?cursor=(\d+)"', text)) and cursor_pages < 100_000:
        cursor_pages += 1
        text = web.get("/stats", params={"cursor": m.group(1)}).text
        audit(text, "/stats")
        keys_text += text
    for queue in (*PLAIN_XSS_QUEUES[1:], *SLASH_XSS_QUEUES):  # the first was drained
        assert str(escape(client.keys.queue(queue))) in keys_text
    assert set(wj.XSS_PAYLOADS) - {wj.XSS_SVG} <= shown


def test_json_endpoint_serves_markup_as_data(client, web, xss_world) -> None:
    r = web.get("/api/overview")
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert set(PLAIN_XSS_QUEUES) | set(SLASH_XSS_QUEUES) <= set(r.json()["queues"])


@pytest.fixture
def http(client: resqplug.Resq) -> Iterator[httpx.Client]:
    served = Served(create_app(client))
    try:
        with httpx.Client(base_url=served.url, timeout=10) as h:
            yield h
    finally:
        served.stop()


QUEUE_NAMES = [
    "reports/daily",
    SLASH_XSS_QUEUES[0],
    SLASH_XSS_QUEUES[1],
    "a#b",
    "x%2Fy",
    "a%41",
    "100%",
    "a&b=c",
    "队列-ü",
    "web/remove",  # looks like an action URL
]


@pytest.mark.parametrize("queue", QUEUE_NAMES)
def test_every_valid_queue_name_round_trips_through_its_page(client, http, queue) -> None:
    """Overview link -> the queue's page -> remove a job -> back on the same
    queue's page -> empty it with its name typed."""
    ids = [client.enqueue_to(queue, wj.WebRecord, i) for i in range(3)]
    overview = http.get("/")
    href = next(h for h in Page(overview.text).links if h.startswith("/queues/"))
    r = http.get(href)
    assert r.status_code == 200, f"{href} -> {r.status_code}"
    audit(r.text, href)
    assert f"Queue <code>{escape(queue)}</code>" in r.text and ids[0] in r.text
    page = Page(r.text)
    removed = http.post(
        page.form("/remove", id=ids[1])["action"],
        data=page.form("/remove", id=ids[1])["fields"],
        follow_redirects=False,
    )
    assert flash(removed) == "removed 1 job"
    back = http.get(removed.headers["location"])
    assert f"Queue <code>{escape(queue)}</code>" in back.text, removed.headers["location"]
    assert [j["id"] for j in client.peek(queue, 0, 10)] == [ids[0], ids[2]]
    clear = Page(back.text).form("/clear")
    wrong = http.post(clear["action"], data={**clear["fields"], "confirm": "nope"})
    assert flash(wrong) == "not emptied: type the queue name to confirm"
    assert client.size(queue) == 2
    emptied = http.post(
        clear["action"], data={**clear["fields"], "confirm": queue}, follow_redirects=False
    )
    assert flash(emptied) == "removed 2 jobs"
    assert client.size(queue) == 0 and queue not in client.queues()


REFLECTED = [
    ("/queues/<script>", 200, "<script>"),
    ("/queues/<script>alert(1)</script>", 200, "<script>alert(1)</script>"),
    ("/queues/a:<script>alert(1)", 404, "<script>alert(1)"),
    ("/queues/web?page=<script>alert(1)</script>", 200, None),
    ('/queues/web?per_page="><svg onload=alert(1)>', 200, None),
    ("/queues/web?args=<script>alert(1)</script>", 200, None),
    ("/failed?class=<script>alert(1)</script>", 200, "<script>alert(1)</script>"),
    ('/failed?exception="><svg onload=alert(1)>', 200, '"><svg onload=alert(1)>'),
    ("/failed?start=<img src=x onerror=alert(1)>", 200, None),
    ("/stats?cursor=<script>alert(1)</script>", 200, None),
    ("/p/statuses?state=<script>alert(1)</script>", 200, None),
    ("/p/<svg onload=alert(1)>", 404, None),
    ("/p/<script>alert(1)</script>", 405, None),  # matches the POST-only /p/{page}/{action}
    ("/?msg=<script>alert(1)</script>", 200, "<script>alert(1)</script>"),
    ('/failed?msg="><svg onload=alert(1)>', 200, '"><svg onload=alert(1)>'),
    ("/p/schedule?msg=<img src=x onerror=alert(1)>", 200, "<img src=x onerror=alert(1)>"),
    ("/queues/web?msg=javascript:alert(1)", 200, "javascript:alert(1)"),
]


@pytest.mark.parametrize(("url", "status", "reflected"), REFLECTED)
def test_reflected_xss_is_escaped_or_rejected(web, url, status, reflected) -> None:
    r = web.get(url)
    assert r.status_code == status
    audit(r.text, url)
    if reflected is not None:
        assert str(escape(reflected)) in r.text


def test_failed_filters_are_reflected_only_escaped_and_urlencoded(client, web) -> None:
    fail(client, "fails", *[(wj.WebFail, (str(i),)) for i in range(3)])
    value = '"><svg onload=alert(1)>'
    r = web.get("/failed", params={"exception": "ValueError", "class": value, "per_page": 1})
    audit(r.text, "/failed")
    assert f'value="{escape(value)}"' in r.text
    r = web.get("/failed", params={"exception": value, "per_page": 1, "start": 0})
    assert f'value="{escape(value)}"' in r.text
