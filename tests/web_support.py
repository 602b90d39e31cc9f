"""What the dashboard's server-side tests (tests/test_web_*.py) share: an HTML
inspector that checks every page it parses, the test client, form and
failure helpers, and a real worker process; the fixtures (``client``,
``web``, ``spawn``) reach the tests through tests/conftest.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
import web_jobs as wj
from helpers import env, resqplug_cmd, wait_for
from resqplug_scheduler.schedules import ScheduleStore

import resqplug
from resqplug import failure
from resqplug.testing import drain
from resqplug.web import create_app

with warnings.catch_warnings():
    # Starlette >= 1.x suggests httpx2; the test client works the same with httpx.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


CSRF = "resqplug_csrf"
# The dashboard answers to loopback names only (unless told others), so the
# test client uses one instead of Starlette's default "testserver".
BASE = "http://localhost:5678"
PAGES = ["/", "/failed", "/workers", "/stats"]
PLUGIN_PAGES = ["/p/schedule", "/p/statuses", "/p/cleaner", "/p/locks", "/p/retries"]

# --- HTML inspection ------------------------------------------------------------

TAGS = """html head meta title link script body header nav main section div span p a b br
h1 h2 small code pre details summary table thead tbody tr th td form label input button progress"""
ALLOWED_TAGS = set(TAGS.split())
URL_ATTRS = {"href", "src", "action", "formaction", "data", "poster", "background"}
BAD_SCHEMES = ("javascript:", "vbscript:", "data:")
# Raw (unescaped) forms that must never reach a page.
RAW_MARKERS = (
    "<script>alert",
    "<script>x",
    "<img src=x",
    "<img/src",
    "<svg",
    "<iframe",
)


class Page(HTMLParser):
    """One HTML page: its forms, links, and everything that could run script."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = text
        self.forms: list[dict[str, Any]] = []
        self.links: list[str] = []
        self.urls: list[str] = []  # every href/src/action
        self.problems: list[str] = []
        self._form: dict[str, Any] | None = None
        self._in_script = False
        self._in_button = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"unexpected element <{tag}>")
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"event handler {name}= on <{tag}>")
            if name in URL_ATTRS:
                self.urls.append(value)
                if value.strip().lower().startswith(BAD_SCHEMES):
                    self.problems.append(f"{name}={value!r} on <{tag}>")
        if tag == "script":
            self._in_script = True
            if not values.get("src", "").endswith("/static/app.js"):
                self.problems.append(f"script element {values!r}")
        elif tag == "a" and "href" in values:
            self.links.append(values["href"])
        elif tag == "form":
            self._form = {
                "action": values.get("action", ""),
                "method": values.get("method", "get").lower(),
                "confirm": values.get("data-confirm"),
                "fields": {},
                "button": "",
            }
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and "name" in values:
            self._form["fields"][values["name"]] = values.get("value", "")
        elif tag == "button":
            self._in_button = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "script":
            self._in_script = False
        elif tag == "button":
            self._in_button = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append(f"inline script {data.strip()[:60]!r}")
        if self._in_button and self._form is not None:
            self._form["button"] += data.strip()

    def form(self, action_suffix: str, **fields: str) -> dict[str, Any]:
        """The POST form whose action ends with ``action_suffix`` and whose
        hidden fields include ``fields``."""
        for form in self.forms:
            if (
                form["method"] == "post"
                and form["action"].endswith(action_suffix)
                and all(form["fields"].get(k) == v for k, v in fields.items())
            ):
                return form
        raise AssertionError(
            f"no form {action_suffix} {fields} in {[f['action'] for f in self.forms]}"
        )

    def link(self, text_in_href: str) -> str:
        for href in self.links:
            if text_in_href in href:
                return href
        raise AssertionError(f"no link with {text_in_href!r} in {self.links}")


def audit(text: str, where: str) -> Page:
    """Fail if anything in ``text`` could run script; return the parsed page."""
    for marker in RAW_MARKERS:
        assert marker not in text, f"{where}: raw {marker!r} in the page"
    page = Page(text)
    assert not page.problems, f"{where}: {page.problems}"
    return page


def rows_of_queue(text: str) -> int:
    return text.count('<tr><td class="num">')


def rows_of_failed(text: str) -> int:
    return text.count("<tr data-id=")


# --- fixtures and helpers ----------------------------------------------------------


@pytest.fixture
def client(default_client: resqplug.Resq) -> resqplug.Resq:
    """The test namespace's client (also the default one, which plugins use)."""
    return default_client


def dashboard(app: Any) -> TestClient:
    """A test client for ``app`` that reaches it by a loopback name."""
    return TestClient(app, base_url=BASE)


@pytest.fixture
def web(client: resqplug.Resq) -> Iterator[TestClient]:
    with dashboard(create_app(client)) as tc:
        yield tc


def token(tc: TestClient) -> str:
    if not tc.cookies.get(CSRF):
        tc.get("/")
    value = tc.cookies.get(CSRF)
    assert value
    return value


def submit(tc: TestClient, form: dict[str, Any], **overrides: str) -> httpx.Response:
    """POST ``form`` as the browser would (its hidden fields, its CSRF token)."""
    assert form["method"] == "post"
    return tc.post(form["action"], data={**form["fields"], **overrides}, follow_redirects=False)


def flash(response: httpx.Response) -> str:
    """The message an action redirects with."""
    assert response.status_code == 303, (response.status_code, response.text[:300])
    from urllib.parse import parse_qs

    query = urlsplit(response.headers["location"]).query
    return parse_qs(query).get("msg", [""])[0]


def fingerprint(c: resqplug.Resq) -> dict[bytes, tuple[bytes, bytes]]:
    """Every key of the namespace with its type and content (not its TTL)."""
    out = {}
    for key in c.redis.scan_iter(match=c.keys.match_all(), count=1000):
        out[key] = (c.redis.type(key), c.redis.dump(key) or b"")
    return out


def fail(c: resqplug.Resq, queue: str, *jobs: tuple[Any, tuple[Any, ...]]) -> list[str]:
    """Enqueue ``jobs`` on ``queue`` and run them here: failures recorded for real."""
    ids = [c.enqueue_to(queue, cls, *args) for cls, args in jobs]
    drain(c, queue)
    return [i for i in ids if i]


def push_failures(c: resqplug.Resq, count: int, *, index: bool = True, chunk: int = 10_000) -> None:
    """``count`` failure records as a worker writes them (failure.build), in bulk."""
    marker = "f" * 32
    doc = {"class": "WebFail", "args": ["boom", 0], "id": marker, "enqueued_at": time.time()}
    template = failure.build(
        doc, ValueError("boom"), worker="bulk:1:web", queue="web", job_id=marker
    )
    pipe = c.redis.pipeline(transaction=False)
    for start in range(0, count, chunk):
        rows = [
            (f"{i:032x}", template.replace(marker, f"{i:032x}"))
            for i in range(start, min(count, start + chunk))
        ]
        pipe.rpush(c.keys.failed, *(r for _, r in rows))
        if index:
            pipe.hset(c.keys.failed_index, mapping=dict(rows))
        pipe.execute()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class WebWorker:
    """``resqplug work --app web_jobs`` as a real process; its log goes to a file."""

    def __init__(self, redis_url: str, namespace: str, log: Path, *args: str) -> None:
        self.log = log
        self._file = open(log, "w")  # noqa: SIM115 - closed in stop()
        cmd = resqplug_cmd(redis_url, namespace, "-v", "work", "--app", "web_jobs", *args)
        self.proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=self._file)
        self.pid = self.proc.pid

    def output(self) -> str:
        self._file.flush()
        return self.log.read_text()

    def stop(self) -> None:
        """TERM (the running job is stopped and requeued), KILL if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._file.close()


@pytest.fixture
def spawn(redis_url: str, namespace: str, tmp_path: Path) -> Iterator[Any]:
    started: list[WebWorker] = []

    def start(*args: str) -> WebWorker:
        worker = WebWorker(redis_url, namespace, tmp_path / f"worker{len(started)}.log", *args)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    # Job processes the workers forked record their pid: none may outlive the test.
    kill_job_processes(resqplug.Resq(redis_url, namespace))


def kill_job_processes(c: resqplug.Resq) -> None:
    """SIGKILL the job processes our workers forked (recorded by the jobs) if any
    is still alive: only `resqplug work` processes, never this one."""
    for raw in c.redis.hvals(c.keys.plugin("webtest", "pids")):
        pid = int(raw)
        if pid == os.getpid() or not pid_alive(pid):
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
        except OSError:
            continue
        if b"resqplug" in cmdline and b"work" in cmdline:
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def action_world(client: resqplug.Resq) -> dict[str, str]:
    """A job, a failure, a schedule and a lock for the actions to act on."""
    ids = client.enqueue_many(wj.WebRecord, [(i,) for i in range(3)])
    [failed] = fail(client, "fails", (wj.WebFail, ("boom",)))
    ScheduleStore(client).set("nightly", {"class": "WebRecord", "every": "1h", "queue": "web"})
    client.enqueue(wj.WebUnique, 1)
    from resqplug_loner.identity import lock_pattern

    [lock] = client.redis.keys(lock_pattern(client))
    return {"job": ids[0], "failed": failed, "lock": lock.decode()}


class Served:
    """The dashboard on 127.0.0.1:<free port>, uvicorn in a thread: a real HTTP
    server, for paths Starlette's TestClient would decode twice (it unquotes
    httpx's already decoded path, so ``%41`` in a queue name becomes ``A``)."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        wait_for(lambda: self.server.started, 15, "uvicorn to start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()
        assert not self.thread.is_alive(), "uvicorn did not stop"
