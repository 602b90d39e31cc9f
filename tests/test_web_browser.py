"""The web dashboard in a real headless browser: Debian's chromium driven by
Playwright for Python, against the dashboard served by uvicorn on a free port
(in a thread of this process), real Redis and real worker processes.

Needs /usr/bin/chromium and the playwright package: ``.ci/install-browser``.
Screenshots of the main pages go to a temporary folder, or to the folder named
by RESQPLUG_SCREENSHOTS (``RESQPLUG_SCREENSHOTS=docs/screenshots`` refreshes the
README's pictures).
"""

from __future__ import annotations

import os
import signal
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import web_jobs as wj
from helpers import wait_for
from resqplug_status import StatusStore
from web_support import Served, WebWorker, pid_alive

import resqplug
from resqplug.testing import drain
from resqplug.web import create_app

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - see the skip below
    sync_playwright = None

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = os.environ.get("RESQPLUG_SCREENSHOTS")  # read before tests clear RESQPLUG_*
VIEWPORT = {"width": 1280, "height": 800}
NO_RATE = "\u2013"  # the overview's rate before its second live refresh

if sync_playwright is None:
    pytest.skip("playwright is not installed: run .ci/install-browser", allow_module_level=True)
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        f"Debian's chromium is not installed at {CHROMIUM}: run .ci/install-browser",
        allow_module_level=True,
    )


# --- the browser, the server, workers ---------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def server(client: resqplug.Resq) -> Iterator[str]:
    served = Served(create_app(client))
    try:
        yield served.url
    finally:
        served.stop()


class Tab:
    """A page (1280x800) that records console errors, page errors and dialogs;
    dialogs are accepted unless ``accept`` is False. The browser's own request
    for /favicon.ico (a 404: the dashboard has none) is kept apart in
    ``favicon_errors`` (see test_pages_log_no_console_error_at_all)."""

    def __init__(self, browser: Browser, base: str) -> None:
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page: Page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.favicon_errors: list[str] = []
        self.dialogs: list[str] = []
        self.accept = True
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        text = f"console: {message.text} ({url})"
        (self.favicon_errors if url.endswith("/favicon.ico") else self.errors).append(text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if self.accept:
            dialog.accept()
        else:
            dialog.dismiss()

    def open(self, path: str) -> Page:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status == 200, (path, response)
        return self.page

    def flash(self) -> str:
        return self.page.locator("p.flash").inner_text()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Browser, server: str) -> Iterator[Tab]:
    t = Tab(browser, server)
    try:
        yield t
    finally:
        t.close()


@pytest.fixture
def spawn(redis_url: str, tmp_path: Path) -> Iterator[Any]:
    started: list[tuple[WebWorker, str]] = []

    def start(namespace: str, *args: str) -> WebWorker:
        worker = WebWorker(redis_url, namespace, tmp_path / f"worker{len(started)}.log", *args)
        started.append((worker, namespace))
        return worker

    yield start
    for worker, _ in started:
        worker.stop()
    for _, namespace in started:  # no job process may outlive the test
        c = resqplug.Resq(redis_url, namespace)
        for raw in c.redis.hvals(c.keys.plugin("webtest", "pids")):
            pid = int(raw)
            if pid != os.getpid() and pid_alive(pid):
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"work" in f.read().split(b"\0"):
                        os.kill(pid, signal.SIGKILL)


def registered(c: resqplug.Resq, count: int) -> bool:
    return bool(c.redis.scard(c.keys.workers) == count)


# --- tests ----------------------------------------------------------------------------------


def test_overview_refreshes_queue_sizes_live(client, tab) -> None:
    client.enqueue_many(wj.WebRecord, [(1,), (2,)])
    page = tab.open("/")
    size = page.locator('#queues tr[data-queue="web"] .size')
    expect(size).to_have_text("2")
    page.evaluate("window.__notReloaded = true")
    client.enqueue_many(wj.WebRecord, [(3,), (4,), (5,)])
    expect(size).to_have_text("5", timeout=5000)
    # A queue that did not exist when the page loaded appears, with its link.
    client.enqueue_to("mail", wj.WebRecord, 6)
    new_row = page.locator('#queues tr[data-queue="mail"]')
    expect(new_row.locator(".size")).to_have_text("1", timeout=5000)
    expect(new_row.locator("a")).to_have_attribute("href", "/queues/mail")
    expect(page.locator("#pending")).to_have_text("6", timeout=5000)
    drain(client, "mail")
    expect(page.locator("#processed")).to_have_text("1", timeout=5000)
    expect(new_row.locator(".size")).to_have_text("0", timeout=5000)
    assert page.evaluate("window.__notReloaded") is True  # updated in place
    assert tab.errors == []


def test_live_refresh_drops_the_no_queues_row(client, tab) -> None:
    page = tab.open("/")
    expect(page.locator("#queues tbody")).to_have_text("No queues yet.")
    client.enqueue(wj.WebRecord, 1)
    expect(page.locator('#queues tr[data-queue="web"] .size')).to_have_text("1", timeout=5000)
    expect(page.locator("#queues tbody tr")).to_have_count(1)


def test_live_refresh_drops_a_removed_queue(client, tab) -> None:
    client.enqueue_many(wj.WebRecord, [(1,), (2,), (3,)])
    page = tab.open("/")
    expect(page.locator('#queues tr[data-queue="web"] .size')).to_have_text("3")
    client.remove_queue("web")
    expect(page.locator("#pending")).to_have_text("0", timeout=5000)
    expect(page.locator('#queues tr[data-queue="web"]')).to_have_count(0)


def test_remove_and_retry_a_failed_job_by_clicking(client, tab) -> None:
    ids = [client.enqueue_to("fails", wj.WebFail, f"failure {i}") for i in range(3)]
    drain(client, "fails")
    gone, retried, kept = ids
    page = tab.open("/failed")
    expect(page.locator("tr[data-id]")).to_have_count(3)

    # Remove asks first; dismissing the question changes nothing.
    tab.accept = False
    page.locator(f'tr[data-id="{gone}"] button', has_text="Remove").click()
    assert tab.dialogs == ["confirm: Remove this failure?"]
    expect(page.locator("tr[data-id]")).to_have_count(3)
    assert client.failures.count() == 3

    tab.accept = True
    page.locator(f'tr[data-id="{gone}"] button', has_text="Remove").click()
    expect(page.locator("p.flash")).to_have_text("removed")
    expect(page.locator(f'tr[data-id="{gone}"]')).to_have_count(0)
    expect(page.locator("tr[data-id]")).to_have_count(2)
    assert sorted(client.failures.ids()) == sorted([retried, kept])

    # Retry (no question): the job is queued again and its record says so.
    page.locator(f'tr[data-id="{retried}"] button', has_text="Retry").click()
    expect(page.locator("p.flash")).to_have_text(f"enqueued {retried}")
    expect(page.locator(f'tr[data-id="{retried}"]')).to_contain_text("retried")
    assert [j["id"] for j in client.peek("fails")] == [retried]
    page.locator("header nav a", has_text="Overview").click()
    expect(page.locator('#queues tr[data-queue="fails"] .size')).to_have_text("1")
    page.locator('#queues tr[data-queue="fails"] a').click()
    expect(page.locator("main")).to_contain_text(retried)

    # Clear all, dismissed then accepted.
    page.goto(tab.base + "/failed")
    tab.accept = False
    page.locator("button", has_text="Clear all").click()
    assert client.failures.count() == 2
    tab.accept = True
    page.locator("button", has_text="Clear all").click()
    expect(page.locator("p.flash")).to_have_text("cleared 2 failure records")
    expect(page.locator("#failures")).to_contain_text("No failed jobs")
    assert tab.errors == []


def test_empty_a_queue_by_typing_its_name(client, tab) -> None:
    client.enqueue_many(wj.WebRecord, [(i,) for i in range(4)])
    page = tab.open("/queues/web")
    page.locator("input[name=confirm]").fill("nope")
    page.locator("button", has_text="Empty queue").click()
    expect(page.locator("p.flash")).to_contain_text("not emptied")
    assert client.size("web") == 4
    page.locator("input[name=confirm]").fill("web")
    page.locator("button", has_text="Empty queue").click()
    expect(page.locator("p.flash")).to_have_text("removed 4 jobs")
    expect(page.locator("main")).to_contain_text("This queue is empty.")
    assert client.size("web") == 0


def test_kill_a_running_job_from_the_statuses_page(client, tab, spawn, namespace: str) -> None:
    worker = spawn(namespace, "-q", "web", "--fork")
    wait_for(lambda: registered(client, 1), 20, "the worker to register")
    job_id = client.enqueue(wj.WebLongProgress, 300, 0.1, "crunching")
    store = StatusStore(client)

    def progressing() -> bool:
        status = store.get(job_id)
        return status is not None and status.status == "working" and bool(status.fields.get("num"))

    wait_for(progressing, 20, "the job to run and report progress")
    page = tab.open("/p/statuses")
    row = page.locator("tr", has=page.locator(f'td:text-is("{job_id}")'))
    expect(row.locator("td").nth(1)).to_have_text("working")
    expect(row.locator("progress")).to_have_count(1)
    expect(row).to_contain_text("crunching")
    row.locator("button", has_text="Kill").click()
    assert tab.dialogs == ["confirm: Kill this job?"]
    expect(page.locator("p.flash")).to_have_text(f"kill requested for {job_id}")

    def killed_on_page() -> bool:
        page.reload()
        return row.locator("td").nth(1).inner_text() == "killed"

    wait_for(killed_on_page, 10, "the statuses page to show the job killed")
    expect(row.locator("button", has_text="Kill")).to_have_count(0)
    status = store.get(job_id)
    assert status is not None and status.status == "killed"
    assert float(status.fields["num"]) < 300  # stopped long before the end
    # The worker survives and is idle again; the job's process is gone.
    assert worker.proc.poll() is None
    pid = int(client.redis.hget(client.keys.plugin("webtest", "pids"), job_id))
    wait_for(lambda: not pid_alive(pid), 10, "the job's process to end")
    page.goto(tab.base + "/workers")

    def idle_on_page() -> bool:  # the workers page has no live refresh: reload it
        page.reload()
        return page.locator("td.state").inner_text() == "idle"

    wait_for(idle_on_page, 10, "the workers page to show the worker idle")
    assert tab.errors == []


def test_csp_blocks_inline_script_and_our_pages_log_no_errors(client, tab) -> None:
    client.enqueue_many(wj.WebRecord, [(1,), (2,)])
    ids = [client.enqueue_to("fails", wj.WebFail, "boom")]
    drain(client, "fails")
    for path in (
        "/",
        "/queues/web",
        "/failed",
        "/workers",
        "/stats",
        "/p/schedule",
        "/p/statuses",
        "/p/cleaner",
        "/p/locks",
        "/p/retries",
    ):
        tab.open(path)
        tab.page.wait_for_load_state("networkidle")
    assert tab.errors == [], tab.errors
    assert ids

    page = tab.open("/")
    # Our own script runs (it is served from 'self'): the live rate appears.
    expect(page.locator("#rate")).not_to_have_text(NO_RATE, timeout=6000)
    tab.errors.clear()
    violated = page.evaluate(
        """() => new Promise(resolve => {
            document.addEventListener('securitypolicyviolation',
                e => resolve(e.violatedDirective), {once: true});
            const s = document.createElement('script');
            s.textContent = 'window.__inlineRan = true';
            document.body.appendChild(s);
            setTimeout(() => resolve(null), 3000);
        })"""
    )
    assert violated is not None and violated.startswith("script-src")
    assert page.evaluate("window.__inlineRan") is None
    handler = page.evaluate(
        """() => new Promise(resolve => {
            document.addEventListener('securitypolicyviolation',
                e => resolve(e.violatedDirective), {once: true});
            const d = document.createElement('div');
            d.innerHTML = '<img src="data:," onerror="window.__handlerRan = true">';
            document.body.appendChild(d);
            setTimeout(() => resolve(null), 3000);
        })"""
    )
    assert handler is not None and handler.startswith("script-src")
    assert page.evaluate("window.__handlerRan") is None
    assert any("Content Security Policy" in e for e in tab.errors), tab.errors


def test_pages_log_no_console_error_at_all(tab) -> None:
    for path in ("/", "/failed", "/p/statuses"):
        tab.open(path).wait_for_load_state("networkidle")
    assert tab.errors == []
    assert tab.favicon_errors == []


def test_stored_xss_never_runs_in_the_browser(client, tab) -> None:
    s, img, svg, js = wj.XSS_PAYLOADS
    client.enqueue(wj.WebRecord, s, {"html": img, "attr": svg, "url": js})
    client.enqueue(wj.WebXssName, "ok")
    client.enqueue_to('"><iframe>', wj.WebRecord, 1)
    client.enqueue_to("fails", wj.WebFail, img)
    client.enqueue_to("fails", wj.WebXssName, "fail", s)
    client.enqueue_to("fails", wj.WebProgress, svg)
    drain(client, "fails")
    for path in ("/", "/queues/web", "/failed", "/p/statuses", "/p/cleaner", "/stats"):
        tab.open(path).wait_for_load_state("networkidle")
        assert tab.dialogs == [], (path, tab.dialogs)
        assert tab.page.locator("main img, main svg, main iframe").count() == 0, path
    page = tab.open("/failed")
    expect(page.locator("#failures")).to_contain_text(s)  # shown as text
    expect(page.locator("#failures")).to_contain_text(wj.XSS_CLASS_NAME)
    page = tab.open("/queues/web")
    expect(page.locator("main")).to_contain_text(img)
    page = tab.open("/")
    expect(page.locator('#queues tr[data-queue="\\"><iframe>"] a')).to_have_text('"><iframe>')
    assert tab.dialogs == []
    assert tab.errors == []


# --- screenshots --------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.fixture
def shop(redis_url: str) -> Iterator[resqplug.Resq]:
    """A namespace with a friendlier name for the screenshots (removed after)."""
    c = resqplug.configure(url=redis_url, namespace=f"shop-{uuid.uuid4().hex[:4]}")
    try:
        yield c
    finally:
        keys = list(c.redis.scan_iter(match=c.keys.match_all(), count=1000))
        if keys:
            c.redis.delete(*keys)


def test_screenshots_of_the_main_pages(shop, browser, spawn, tmp_path) -> None:
    c = shop
    # Realistic data, made by real workers: one has sent invoices, seen payments
    # declined and a CRM time out, and waits; the other resizes an album.
    busy = spawn(c.namespace, "-q", "media", "--fork")
    idle = spawn(c.namespace, "-q", "payments,crm,notifications", "--fork")
    wait_for(lambda: registered(c, 2), 20, "two workers")
    c.enqueue_many(
        wj.WebSendInvoice,
        [(10_400 + i, f"customer{i}@example.com") for i in range(25)],
        queue="notifications",
    )
    for order in (7731, 7740, 7752):
        c.enqueue(wj.WebChargeCard, order, {"amount": 1999, "card_token": "tok_visa_4242"})
    for account in (311, 312):
        c.enqueue_to("crm", wj.WebSyncCrm, account)
    wait_for(lambda: c.stats()["processed"] == 30, 30, "the first worker's jobs")
    wait_for(lambda: c.failures.count() == 5, 10, "five failures")
    c.enqueue_many(
        wj.WebSendInvoice, [(10_425 + i, f"customer{25 + i}@example.com") for i in range(14)]
    )
    c.enqueue_many(wj.WebSyncCrm, [(400 + i,) for i in range(5)])
    album = c.enqueue(wj.WebResizeImages, 58, 40, 0.4)
    c.enqueue_many(wj.WebResizeImages, [(59 + i, 12) for i in range(3)])
    store = StatusStore(c)

    def resizing() -> bool:
        status = store.get(album)
        return status is not None and float(status.fields.get("num") or 0) >= 3

    wait_for(resizing, 30, "the image job to make progress")
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    served = Served(create_app(c))
    t = Tab(browser, served.url)
    try:
        shots = {
            "overview": "/",
            "queue": "/queues/mail",
            "failed": "/failed",
            "workers": "/workers",
            "statuses": "/p/statuses",
        }
        for name, path in shots.items():
            page = t.open(path)
            page.wait_for_load_state("networkidle")
            if name == "overview":  # let the live refresh fill in the rate
                expect(page.locator("#rate")).not_to_have_text(NO_RATE, timeout=6000)
            target = folder / f"{name}.png"
            page.screenshot(path=str(target))
            assert png_size(target) == (1280, 800)
        assert t.errors == []
    finally:
        t.close()
        served.stop()
    assert busy.proc.poll() is None and idle.proc.poll() is None
    for name in shots:
        assert (folder / f"{name}.png").stat().st_size > 10_000  # a picture, not a blank page
