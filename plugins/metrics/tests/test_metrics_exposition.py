"""The Prometheus text: counters and histograms from Redis, gauges read at
scrape time, untrusted data skipped, Redis away, and the dashboard's /metrics."""

from __future__ import annotations

import json
import time
import warnings

import resqplug_metrics
from metrics_helpers import samples
from metrics_jobs import QUEUE, Nap

import resqplug
from resqplug.testing import drain
from resqplug.web import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette suggests httpx2; the client works with httpx
    from starlette.testclient import TestClient

LABELS = (("job_class", "Nap"), ("queue", QUEUE))


def scrape(client: resqplug.Resq) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, media_type = resqplug_metrics.exposition(client)
    assert media_type.startswith("text/plain")
    return samples(body.decode())


def test_counters_and_histograms_are_exported_per_label_set(resq: resqplug.Resq):
    resq.enqueue_many(Nap, [(0,), (0.03,)])
    drain(resq, QUEUE)
    found = scrape(resq)
    assert found[("resqplug_jobs_enqueued_total", LABELS)] == 2
    assert found[("resqplug_jobs_succeeded_total", LABELS)] == 2
    assert found[("resqplug_jobs_failed_total", LABELS)] == 0
    bucket = ("resqplug_job_duration_seconds_bucket", (*LABELS[:1], ("le", "+Inf"), LABELS[1]))
    assert found[bucket] == 2
    assert found[("resqplug_job_duration_seconds_count", LABELS)] == 2
    assert found[("resqplug_job_duration_seconds_sum", LABELS)] >= 0.03
    assert found[("resqplug_job_queue_latency_seconds_count", LABELS)] == 2
    assert found[("resqplug_processed_total", ())] == 2
    assert found[("resqplug_redis_up", ())] == 1


def test_gauges_read_queue_sizes_oldest_age_and_workers(resq: resqplug.Resq):
    resq.enqueue(Nap, 0)
    old = {"class": "Nap", "args": [0], "id": "a" * 32, "enqueued_at": time.time() - 100}
    resq.redis.lpush(resq.keys.queue(QUEUE), json.dumps(old))  # now at the head
    resq.enqueue_to("empty", Nap, 0)
    resq.redis.delete(resq.keys.queue("empty"))
    found = scrape(resq)
    assert found[("resqplug_queue_size", (("queue", QUEUE),))] == 2
    assert 99 <= found[("resqplug_queue_oldest_job_age_seconds", (("queue", QUEUE),))] < 200
    assert found[("resqplug_queue_oldest_job_age_seconds", (("queue", "empty"),))] == 0
    assert found[("resqplug_workers", (("state", "working"),))] == 0
    assert found[("resqplug_inflight_jobs", ())] == 0


def test_a_worker_in_the_registry_is_counted_with_its_inflight_jobs(resq: resqplug.Resq):
    wid = "host+x:1:metrics"
    r, k = resq.redis, resq.keys
    r.sadd(k.workers, wid)
    r.zadd(k.leases, {wid: time.time() + 60, "gone:2:metrics": time.time() - 60})
    r.set(k.worker(wid), "{}")
    r.rpush(k.inflight(wid), "a", "b")
    found = scrape(resq)
    assert found[("resqplug_workers", (("state", "working"),))] == 1
    assert found[("resqplug_workers", (("state", "stale"),))] == 1
    assert found[("resqplug_inflight_jobs", ())] == 2


def test_what_other_tools_wrote_is_skipped_not_an_error(resq: resqplug.Resq):
    resq.enqueue(Nap, 0)
    counters = resq.keys.plugin("metrics", "counters")
    resq.redis.hset(
        counters,
        mapping={
            "no newline": 1,
            "[1,2]\nenqueued": 5,
            "not json\nenqueued": 5,
            '["q","C"]\nenqueued': "many",
            '["q","C"]\nduration:999': 3,
            '["q","C"]\nsucceeded': -4,
        },
    )
    resq.redis.rpush(resq.keys.queue("junk"), b"\xff not json")
    resq.redis.sadd(resq.keys.queues, "junk")
    found = scrape(resq)
    assert found[("resqplug_jobs_enqueued_total", LABELS)] == 1
    assert found[("resqplug_jobs_enqueued_total", (("job_class", "C"), ("queue", "q")))] == 0
    assert found[("resqplug_queue_size", (("queue", "junk"),))] == 1
    assert ("resqplug_queue_oldest_job_age_seconds", (("queue", "junk"),)) not in found


def test_redis_away_is_a_gauge_not_a_failed_scrape():
    gone = resqplug.Resq("redis://127.0.0.1:1/0", "nowhere")
    assert scrape(gone) == {("resqplug_redis_up", ()): 0}


def test_the_dashboard_serves_metrics_behind_its_auth(resq: resqplug.Resq):
    resq.enqueue(Nap, 0)
    app = create_app(resq, credentials=("ops", "secret"))
    with TestClient(app, base_url="http://127.0.0.1") as web:
        assert web.get("/metrics").status_code == 401
        answer = web.get("/metrics", auth=("ops", "secret"))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert samples(answer.text)[("resqplug_jobs_enqueued_total", LABELS)] == 1
