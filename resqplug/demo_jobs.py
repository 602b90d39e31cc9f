"""The jobs of ``resqplug demo``: a small, realistic mixed workload, and the
jobs each installed plugin adds to it (its ``demo_jobs`` hook).

The plugins' jobs are collected when this module is imported: the demo's
workers import it as their ``--app``, so they know those classes too."""

from __future__ import annotations

import hashlib
import random
import time

import resqplug

from .demo_parts import DemoJobs
from .plugins import get_plugins


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
    """Slow, and reports its progress."""

    queue = "reports"

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


def plugin_jobs() -> list[DemoJobs]:
    """What the installed plugins add, in the order they were registered."""
    found: list[DemoJobs] = []
    for part in reversed(get_plugins().hook.demo_jobs()):
        found.extend(part or ())
    return found


PLUGIN_JOBS = plugin_jobs()


def plan() -> list[DemoJobs]:
    """The workload to enqueue: the core's, where a plugin's job that replaces
    a core one takes its place (with the core one's args unless it has its
    own), then the plugins' other jobs."""
    stand_ins = {p.replaces: p for p in PLUGIN_JOBS if p.replaces}
    out: list[DemoJobs] = []
    for job_class, args in workload():
        stand_in = stand_ins.get(job_class.__name__)
        if stand_in is None:
            out.append(DemoJobs(job_class, args))
        else:
            out.append(DemoJobs(stand_in.job_class, stand_in.args or args))
    return out + [p for p in PLUGIN_JOBS if not p.replaces and p.args]


def queues() -> str:
    """The queues the demo's workers take, the plugins' own last."""
    names = QUEUES.split(",")
    for part in PLUGIN_JOBS:
        if part.job_class.queue not in names:
            names.append(part.job_class.queue)
    return ",".join(names)
