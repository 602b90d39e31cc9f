"""Job classes of the cleaner plugin's tests, run in-process (``drain``) and by
real worker processes (``resqplug work --app cleaner_jobs``).

They fail (to produce real failure records) until the test "fixes" them with
``fix(client)``; a successful run appends the job id to the Redis list
``<ns>:resqplug:cleanertest:done``.
"""

from __future__ import annotations

from typing import Any

import resqplug

IMPORT_QUEUE = "cleaner-import"
PAY_QUEUE = "cleaner-pay"


class CJPaymentError(Exception):
    """An exception of this module: ``cleaner_jobs.CJPaymentError``."""


def key(client: resqplug.Resq, *parts: str) -> str:
    return client.keys.plugin("cleanertest", *parts)


def fix(client: resqplug.Resq) -> None:
    """From now on the jobs succeed."""
    client.redis.set(key(client, "fixed"), 1)


def done_ids(client: resqplug.Resq) -> list[str]:
    return [i.decode() for i in client.redis.lrange(key(client, "done"), 0, -1)]


def run_or_fail(job: resqplug.Job, exc: BaseException) -> None:
    """Raise ``exc`` until fixed, then record the run as done."""
    client = resqplug.default_client()
    if not client.redis.exists(key(client, "fixed")):
        raise exc
    client.redis.rpush(key(client, "done"), job.id)


class CJImportFeed(resqplug.Job):
    """Times out (TimeoutError) until fixed."""

    name = "cleaner_tests.ImportFeed"
    queue = IMPORT_QUEUE

    def perform(self, feed_id: int, *rest: Any) -> None:
        run_or_fail(self, TimeoutError(f"feed {feed_id} timed out after 30s"))


class CJChargeCard(resqplug.Job):
    """Declined (cleaner_jobs.CJPaymentError) until fixed."""

    name = "cleaner_tests.ChargeCard"
    queue = PAY_QUEUE

    def perform(self, order_id: int) -> None:
        run_or_fail(self, CJPaymentError(f"card declined for order {order_id}"))


class CJParseFeed(resqplug.Job):
    """Bad input (ValueError) until fixed."""

    name = "cleaner_tests.ParseFeed"
    queue = IMPORT_QUEUE

    def perform(self, feed_id: int) -> None:
        run_or_fail(self, ValueError(f"feed {feed_id}: not valid XML"))
