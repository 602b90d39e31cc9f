"""Job classes of the dashboard tests (tests/test_web_*.py).

They run in the test process (``resqplug.testing.drain``) and in real worker
processes (``resqplug work --app web_jobs``, with tests/ on PYTHONPATH). Every
class name starts with ``Web`` (or is the XSS name below) so it is unique in the
whole suite.
"""

from __future__ import annotations

import os
import time
from typing import Any

import resqplug

# Stored-XSS payloads (REFERENCE D.37).
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SVG = '"><svg onload=alert(1)>'
XSS_JS = "javascript:alert(1)"
XSS_PAYLOADS = (XSS_SCRIPT, XSS_IMG, XSS_SVG, XSS_JS)
# A job class registered under a name that is markup (the core allows it).
XSS_CLASS_NAME = "<script>x</script>"


def note_pid(job: resqplug.Job) -> None:
    """Record the process running ``job`` (tests make sure none outlives them)."""
    client = resqplug.client_for(job)
    client.redis.hset(client.keys.plugin("webtest", "pids"), job.id, os.getpid())


class WebRecord(resqplug.Job):
    """Does nothing (a job to look at in a queue)."""

    queue = "web"

    def perform(self, *args: Any) -> None:
        return None


class WebSleep(resqplug.Job):
    """Sleeps ``seconds`` (a job a worker is busy with)."""

    queue = "web"

    def perform(self, seconds: float, *rest: Any) -> None:
        note_pid(self)
        time.sleep(float(seconds))


class WebFail(resqplug.Job):
    """Fails with ValueError(message)."""

    queue = "web"

    def perform(self, message: str = "boom", *rest: Any) -> None:
        raise ValueError(message)


class WebFailOther(resqplug.Job):
    """Fails with RuntimeError(message): a second class and exception to filter on."""

    queue = "web"

    def perform(self, message: str = "kaput", *rest: Any) -> None:
        raise RuntimeError(message)


class WebXssName(resqplug.Job):
    """Registered as ``<script>x</script>``: ``("fail", msg)`` raises
    ValueError(msg), ``("sleep", s)`` sleeps, anything else succeeds."""

    name = XSS_CLASS_NAME
    queue = "web"

    def perform(self, action: str = "ok", arg: Any = None, *rest: Any) -> None:
        if action == "fail":
            raise ValueError(str(arg))
        if action == "sleep":
            note_pid(self)
            time.sleep(float(arg))


class WebProgress(resqplug.Job):
    """Reports progress with ``message`` (the status plugin stores it) and ends."""

    queue = "web"

    def perform(self, message: str, *rest: Any) -> None:
        self.at(1, 2, message)


class WebLongProgress(resqplug.Job):
    """``steps`` steps of ``delay`` seconds, reporting progress at each one."""

    queue = "web"

    def perform(self, steps: int, delay: float, label: str = "step", *rest: Any) -> None:
        note_pid(self)
        for step in range(int(steps)):
            self.at(step, steps, f"{label} {step + 1} of {steps}")
            time.sleep(float(delay))


class WebRetrying(resqplug.Job):
    """Fails with ConnectionResetError; the retry plugin retries it in an hour."""

    queue = "web"
    retry_exceptions = (ConnectionResetError,)
    retry_limit = 3
    retry_delay = 3600

    def perform(self, message: str = "reset", *rest: Any) -> None:
        raise ConnectionResetError(message)


class WebUnique(resqplug.Job):
    """One copy at a time (the loner plugin holds a lock while it is queued)."""

    queue = "web"
    unique = True

    def perform(self, *args: Any) -> None:
        return None


# Jobs with realistic names for the README screenshots.


class WebSendInvoice(resqplug.Job):
    queue = "mail"

    def perform(self, invoice_id: int, email: str, *rest: Any) -> None:
        return None


class WebResizeImages(resqplug.Job):
    queue = "media"

    def perform(self, album_id: int, count: int, delay: float = 0.5, *rest: Any) -> None:
        note_pid(self)
        for done in range(int(count)):
            self.at(done, count, f"resized {done} of {count} images")
            time.sleep(float(delay))


class WebChargeCard(resqplug.Job):
    queue = "payments"

    def perform(self, order_id: int, options: dict[str, Any], *rest: Any) -> None:
        raise PermissionError(f"card declined for order {order_id}: insufficient funds")


class WebSyncCrm(resqplug.Job):
    queue = "default"

    def perform(self, account_id: int, *rest: Any) -> None:
        raise TimeoutError(f"CRM API did not answer within 30s (account {account_id})")
