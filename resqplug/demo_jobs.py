"""The jobs of ``resqplug demo``: a small, realistic mixed workload."""

from __future__ import annotations

import hashlib
import random
import time

import resqplug
from resqplug.plugins import get_plugins

# The demo shows the plugins that are installed; a job option of a missing
# plugin would be refused, so options are set only when their plugin loaded.
LOADED = set(get_plugins().names())


class SendWelcomeEmail(resqplug.Job):
    queue = "mail"

    def perform(self, user_id: int, address: str) -> str:
        time.sleep(random.uniform(0.001, 0.005))  # talking to the SMTP relay
        return f"sent to {address}"


class MakeThumbnail(resqplug.Job):
    queue = "images"

    def perform(self, image_id: int, size: list[int]) -> str:
        digest = b"%d" % image_id
        for _ in range(2000):  # some CPU work, like resizing
            digest = hashlib.sha256(digest).digest()
        return f"thumbnail {size[0]}x{size[1]} {digest.hex()[:8]}"


class PaymentAPITimeout(Exception):
    pass


class ChargeCard(resqplug.Job):
    """Calls a flaky payment API: every 7th order times out (once)."""

    queue = "payments"
    if "retry" in LOADED:
        retry_exceptions = {PaymentAPITimeout: 0.5}

    def perform(self, order_id: int, cents: int) -> str:
        time.sleep(0.002)
        if order_id % 7 == 0 and self.attempt == 1:
            raise PaymentAPITimeout(f"payment API timed out for order {order_id}")
        return f"charged {cents} cents"


class ImportPartnerFeed(resqplug.Job):
    """Always fails: the partner's feed is broken."""

    queue = "imports"

    def perform(self, url: str) -> None:
        raise ValueError(f"feed at {url} is not valid XML (line 1, column 0)")


class RebuildReport(resqplug.Job):
    """Slow, and pointless to run twice at once: unique when loner is installed."""

    queue = "reports"
    if "loner" in LOADED:
        unique = True

    def perform(self, report_id: int) -> dict[str, int]:
        for step in range(1, 5):
            time.sleep(0.05)
            self.at(step, 4, f"section {step} of 4")
        return {"report": report_id, "pages": 12}


def workload() -> list[tuple[type[resqplug.Job], list[tuple[object, ...]]]]:
    return [
        (SendWelcomeEmail, [(n, f"user{n}@example.com") for n in range(150)]),
        (MakeThumbnail, [(n, [128, 128]) for n in range(80)]),
        (ChargeCard, [(n, 100 * n + 99) for n in range(1, 57)]),
        (ImportPartnerFeed, [(f"https://partner{n}.example.com/feed.xml",) for n in range(3)]),
    ]


QUEUES = "payments,reports,mail,images,imports"
