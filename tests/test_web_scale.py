"""Page times with 1,000,000 queued jobs and 100,000 failures (REFERENCE D.43).
(Shared helpers: tests/web_support.py.)"""

from __future__ import annotations

import re
import time
import warnings
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():
    # Starlette >= 1.x suggests httpx2; the test client works the same with httpx.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from web_support import (
    Page,
    flash,
    push_failures,
    submit,
)

PAGE_TIMES: dict[str, float] = {}


# --- scale (D.43) ---------------------------------------------------------------------------------


# A page that read a whole 1M list or 100k failures takes many seconds; the
# bound leaves room for a loaded CI machine, and each page is timed best of 3
# (one slow request on a shared machine is not the page's doing).
PAGE_BOUND_S = 2.0


def timed(tc: TestClient, path: str, **params: Any) -> tuple[httpx.Response, float]:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        r = tc.get(path, params=params)
        best = min(best, time.perf_counter() - start)
    return r, best


@pytest.mark.timeout(300)
def test_a_queue_of_a_million_jobs_pages_in_bounded_time(client, web) -> None:
    total, chunk = 1_000_000, 20_000
    key, now = client.keys.queue("big"), time.time()
    pipe = client.redis.pipeline(transaction=False)
    for start in range(0, total, chunk):
        pipe.rpush(
            key,
            *(
                f'{{"class":"WebRecord","args":[{i}],"id":"{i:032x}","enqueued_at":{now:.3f},"meta":{{}}}}'
                for i in range(start, start + chunk)
            ),
        )
        pipe.execute()
    client.redis.sadd(client.keys.queues, "big")
    assert client.size("big") == total
    checks = [
        ("/queues/big", {}, 0),
        ("/queues/big", {"page": 20_001, "per_page": 25}, 500_000),
        ("/queues/big", {"page": 10_000, "per_page": 100}, 999_900),
        ("/queues/big", {"page": 40_000}, 999_975),
    ]
    for path, params, first_pos in checks:
        r, seconds = timed(web, path, **params)
        PAGE_TIMES[f"1M queue {path} {params}"] = seconds
        assert r.status_code == 200
        assert f'<td class="num">{first_pos}</td>' in r.text and f"{first_pos:032x}" in r.text
        assert seconds < PAGE_BOUND_S, f"{path} {params}: {seconds:.3f}s"
    for path in ("/", "/api/overview", "/stats", "/workers"):
        r, seconds = timed(web, path)
        PAGE_TIMES[f"1M queue {path}"] = seconds
        assert r.status_code == 200 and seconds < PAGE_BOUND_S, f"{path}: {seconds:.3f}s"
    assert "1000000" in web.get("/").text
    print_times("1M queue")


@pytest.mark.timeout(300)
def test_a_hundred_thousand_failures_page_in_bounded_time(client, web) -> None:
    push_failures(client, 100_000)
    assert client.failures.count() == 100_000
    checks = [
        ({}, 0),
        ({"start": 50_000}, 50_000),
        ({"start": 99_900, "per_page": 100}, 99_900),
        ({"class": "WebFail", "start": 70_000}, 70_000),
        ({"exception": "ValueError", "start": 99_990}, 99_990),
        ({"class": "NoSuchClass"}, None),  # a filtered scan that finds nothing
    ]
    for params, first in checks:
        r, seconds = timed(web, "/failed", **params)
        PAGE_TIMES[f"100k failures /failed {params}"] = seconds
        assert r.status_code == 200
        if first is not None:
            assert f'data-id="{first:032x}"' in r.text
        assert seconds < PAGE_BOUND_S, f"{params}: {seconds:.3f}s"
    # An action on a record deep in the list.
    page = Page(web.get("/failed", params={"start": 60_000, "per_page": 1}).text)
    form = page.form(f"/failed/{60_000:032x}/retry")
    start = time.perf_counter()
    assert flash(submit(web, form)) == f"enqueued {60_000:032x}"
    PAGE_TIMES["100k failures: retry one"] = time.perf_counter() - start
    assert PAGE_TIMES["100k failures: retry one"] < PAGE_BOUND_S
    for path in ("/", "/stats", "/p/cleaner", "/p/retries"):
        r, seconds = timed(web, path)
        PAGE_TIMES[f"100k failures {path}"] = seconds
        assert r.status_code == 200
    print_times("100k failures")


@pytest.mark.timeout(300)
def test_cleaner_page_counts_only_the_newest_records_with_many_failures(client, web) -> None:
    """It counts the newest 10,000 records only (the CLI counts all)."""
    push_failures(client, 200_000, index=False)
    r, seconds = timed(web, "/p/cleaner")
    PAGE_TIMES["200k failures /p/cleaner"] = seconds
    print_times("200k failures")
    assert r.status_code == 200
    assert seconds < PAGE_BOUND_S, f"/p/cleaner: {seconds:.3f}s"
    assert "Counted over the newest 10,000 records" in r.text
    assert re.search(r"<td>ValueError</td><td>10000</td>", r.text)


def print_times(prefix: str) -> None:
    for name, seconds in PAGE_TIMES.items():
        if name.startswith(prefix):
            print(f"PAGE TIME {name}: {seconds * 1000:.1f} ms")
