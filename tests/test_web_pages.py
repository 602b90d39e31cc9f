"""Every page of the dashboard, on an empty namespace and with data, and the
workers page with a real worker. (Shared helpers: tests/web_support.py.)"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
import warnings

import web_jobs as wj
from helpers import wait_for
from markupsafe import escape
from resqplug_scheduler.schedules import ScheduleStore

from resqplug.testing import drain

with warnings.catch_warnings():
    # Starlette >= 1.x suggests httpx2; the test client works the same with httpx.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from web_support import (
    PAGES,
    PLUGIN_PAGES,
    Page,
    audit,
    fail,
    rows_of_failed,
    rows_of_queue,
)

# --- every page ------------------------------------------------------------------------


def test_every_page_answers_on_an_empty_namespace(web: TestClient) -> None:
    for path in [*PAGES, *PLUGIN_PAGES, "/queues/web"]:
        r = web.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        audit(r.text, path)
    api = web.get("/api/overview").json()
    assert api == {"processed": 0, "failed": 0, "queues": {}, "workers": []}
    assert web.get("/p/nope").status_code == 404
    assert web.get("/static/app.js").status_code == 200
    assert web.get("/static/style.css").status_code == 200


def test_overview_shows_queues_totals_and_the_live_endpoint(client, web) -> None:
    client.enqueue_many(wj.WebRecord, [(i,) for i in range(3)])
    client.enqueue_to("mail", wj.WebRecord, 1)
    fail(client, "doomed", (wj.WebFail, ("boom",)))
    page = web.get("/").text
    assert re.search(r'data-queue="web".*?<td class="num size">3</td>', page)
    assert re.search(r'data-queue="mail".*?<td class="num size">1</td>', page)
    assert '<b id="failed">1</b>' in page
    assert '<b id="pending">4</b>' in page
    assert Page(page).link("/queues/web") == "/queues/web"
    api = web.get("/api/overview")
    assert api.headers["content-type"] == "application/json"
    data = api.json()
    assert data["queues"] == {"doomed": 0, "mail": 1, "web": 3}
    assert (data["processed"], data["failed"]) == (1, 1)


def test_queue_page_pages_through_its_jobs(client, web) -> None:
    ids = client.enqueue_many(wj.WebRecord, [(i, {"n": i}) for i in range(60)])
    first = web.get("/queues/web")
    assert first.status_code == 200
    assert "60 jobs" in first.text and "page 1 of 3" in first.text
    assert rows_of_queue(first.text) == 25
    assert ids[0] in first.text and ids[24] in first.text and ids[25] not in first.text
    page = Page(first.text)
    assert "?page=2&per_page=25" in page.links
    third = web.get("/queues/web", params={"page": 3})
    assert rows_of_queue(third.text) == 10 and "page 3 of 3" in third.text
    assert ids[50] in third.text and ids[59] in third.text
    assert '<td class="num">59</td>' in third.text
    assert "older" not in third.text and "?page=2&amp;per_page=25" in third.text
    small = web.get("/queues/web", params={"page": 2, "per_page": 7})
    assert rows_of_queue(small.text) == 7 and ids[7] in small.text and "page 2 of 9" in small.text
    # Jobs are shown with class, args, id and enqueued time.
    assert "WebRecord" in first.text and "{&#34;n&#34;: 0}" in first.text
    assert time.strftime("%Y-%m-%d", time.gmtime()) in first.text


def test_queue_page_truncates_long_args_and_shows_invalid_payloads(client, web) -> None:
    long_text = "x" * 1000
    job_id = client.enqueue(wj.WebRecord, long_text)
    client.redis.rpush(client.keys.queue("web"), b"not json {")
    text = web.get("/queues/web").text
    assert job_id in text
    assert "…" in text and "<details>" in text and long_text in text  # full args expandable
    assert "(invalid payload)" in text and "not json {" in text


def test_queue_page_shows_a_payload_too_deep_to_read_as_invalid(client, web) -> None:
    job_id = client.enqueue(wj.WebRecord, 1)
    client.redis.rpush(client.keys.queue("web"), "[" * 100_000)
    page = web.get("/queues/web")
    assert page.status_code == 200
    assert job_id in page.text and "(invalid payload)" in page.text


def test_failed_page_pages_and_filters(client, web) -> None:
    jobs = [(wj.WebFail, (f"bad value {i}",)) for i in range(30)]
    jobs += [(wj.WebFailOther, (f"broken {i}",)) for i in range(30)]
    ids = fail(client, "fails", *jobs)
    first = web.get("/failed")
    assert first.status_code == 200 and '<small id="failed-total">60</small>' in first.text
    assert rows_of_failed(first.text) == 25
    assert "ValueError" in first.text and "bad value 0" in first.text
    assert "backtrace" in first.text and "web_jobs.py" in first.text
    assert "fails" in first.text  # queue column
    nxt = Page(first.text).link("start=25")
    second = web.get(f"/failed{nxt}")
    assert rows_of_failed(second.text) == 25 and "previous" in second.text
    last = web.get("/failed", params={"start": 50})
    assert rows_of_failed(last.text) == 10 and "next" not in last.text
    assert ids[59] in last.text

    by_class = web.get("/failed", params={"class": "WebFailOther", "per_page": 100})
    assert rows_of_failed(by_class.text) == 30
    assert "bad value" not in by_class.text and "broken 29" in by_class.text
    assert 'value="WebFailOther"' in by_class.text  # the filter is kept in the form
    by_exc = web.get("/failed", params={"exception": "ValueError", "per_page": 10})
    assert rows_of_failed(by_exc.text) == 10 and "broken" not in by_exc.text
    more = Page(by_exc.text).link("start=")
    assert "exception=ValueError" in more  # paging keeps the filter
    rest = web.get(f"/failed{more}")
    assert rows_of_failed(rest.text) == 10 and "broken" not in rest.text
    both = web.get("/failed", params={"class": "WebFail", "exception": "RuntimeError"})
    assert rows_of_failed(both.text) == 0 and "No failed jobs match" in both.text


def test_stats_page_browses_every_key_of_the_namespace_by_cursor(client, web) -> None:
    for i in range(130):
        client.enqueue_to(f"q{i:03d}", wj.WebRecord, i)
    expected = {k.decode() for k in client.redis.scan_iter(match=client.keys.match_all())}
    first = web.get("/stats")
    assert first.status_code == 200
    assert "redis_version" in first.text and "processed" in first.text
    seen: set[str] = set()
    text, pages = first.text, 0
    while True:
        pages += 1
        seen |= set(re.findall(r"<tr><td><code>([^<]+)</code></td>", text))
        match = re.search(r'href="\?cursor=(\d+)"', text)
        if not match:
            break
        assert pages < 100_000
        text = web.get("/stats", params={"cursor": match.group(1)}).text
    assert expected <= seen
    assert all(k.startswith(client.namespace + ":") for k in seen)


def test_plugin_pages_show_their_data(client, web) -> None:
    ScheduleStore(client).set(
        "nightly-report", {"class": "WebRecord", "every": "1h", "queue": "web"}
    )
    fail(client, "fails", (wj.WebFail, ("boom",)), (wj.WebRetrying, ("reset by peer",)))
    client.enqueue_to("uniq", wj.WebUnique, 7)
    client.enqueue(wj.WebProgress, "half way")
    drain(client, "web")
    queued = client.enqueue(wj.WebRecord, "waiting")

    schedule = web.get("/p/schedule").text
    assert "nightly-report" in schedule and "every 1h" in schedule and "Run now" in schedule
    assert "Delayed jobs (1)" in schedule and "WebRetrying" in schedule  # the retry waits there
    statuses = web.get("/p/statuses").text
    assert queued in statuses and "queued" in statuses and "Kill" in statuses
    assert "half way" in statuses and "completed" in statuses
    assert '<progress max="100" value="100.0">' in statuses
    cleaner = web.get("/p/cleaner").text
    assert "Failed jobs by exception" in cleaner and "ValueError" in cleaner
    assert "Requeue all" in cleaner and "Clear all" in cleaner
    locks = web.get("/p/locks").text
    assert "WebUnique" in locks and "Release" in locks
    retries = web.get("/p/retries").text
    assert "WebRetrying" in retries and "ConnectionResetError: reset by peer" in retries
    assert re.search(r"in 3\d{3}s", retries)
    for path in PLUGIN_PAGES:
        audit(web.get(path).text, path)


def test_workers_page_shows_a_real_running_worker_and_marks_it_stale(client, web, spawn) -> None:
    queue = '"><script>alert(1)'  # a valid queue name that is markup
    worker = spawn("-q", f"web,{queue}", "--fork")
    wait_for(lambda: client.redis.scard(client.keys.workers) == 1, 20, "the worker to register")
    job_id = client.enqueue_to(queue, wj.WebXssName, "sleep", 30)

    def busy() -> bool:
        return '<td class="state working">' in web.get("/workers").text

    wait_for(busy, 20, "the worker to take the job")
    text = web.get("/workers").text
    page = audit(text, "/workers")
    assert page is not None
    assert f"<td>{worker.pid}</td>" in text
    assert socket.gethostname().replace(":", "_") in text
    assert "<td>fork</td>" in text
    assert f"{escape(wj.XSS_CLASS_NAME)} {job_id}" in text
    assert f"web,{escape(queue)}" in text
    assert "since" in text
    overview = web.get("/").text
    audit(overview, "/")
    assert f"{escape(wj.XSS_CLASS_NAME)} {job_id}" in overview
    api = web.get("/api/overview").json()
    assert api["workers"][0]["state"] == "working"
    assert api["workers"][0]["job"] == f"{wj.XSS_CLASS_NAME} {job_id}"

    # Cut off without a goodbye: the lease runs out and the worker shows as stale.
    os.kill(worker.pid, signal.SIGKILL)
    worker.proc.wait(10)
    wait_for(lambda: '<td class="state stale">' in web.get("/workers").text, 20, "stale")
    assert web.get("/api/overview").json()["workers"][0]["state"] == "stale"
