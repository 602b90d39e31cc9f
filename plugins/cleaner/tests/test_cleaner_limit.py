"""The limiter: keep at most N failure records, oldest dropped first, counted;
enforced by ``enforce_limit`` and by a running worker's heartbeat."""

from __future__ import annotations

import cleaner_jobs as cj
from cleaner_helpers import cli, record, ruby_record, wait_for
from resqplug_cleaner import Cleaner

import resqplug

WORKER_TRIM_S = 12.0  # every 10 heartbeat ticks of 0.5 s, plus start-up


def test_off_by_default(default_client, cleaner, failed):
    failed.bulk(record() for _ in range(30))
    assert cleaner.limit() is None
    assert cleaner.enforce_limit() == 0
    assert default_client.failures.count() == 30 and cleaner.dropped() == 0


def test_set_limit_drops_the_oldest_keeps_the_index_and_counts(default_client, cleaner, failed):
    docs = [record(args=[i], job_id=f"j{i:02d}") for i in range(25)]
    failed.bulk(docs)
    failed.add(ruby_record())  # newest, without id
    cleaner.set_limit(10)
    assert cleaner.limit() == 10

    assert cleaner.enforce_limit() == 16
    assert failed.ids() == [f"j{i:02d}" for i in range(16, 25)] + [""]
    assert cleaner.dropped() == 16
    for i in range(16):
        assert default_client.failures.get(f"j{i:02d}") is None
    assert default_client.failures.get("j16") == docs[16]
    failed.assert_index_consistent()

    assert cleaner.enforce_limit() == 0  # already within the limit
    failed.add(*(record(job_id=f"k{i}") for i in range(3)))
    assert cleaner.enforce_limit() == 3
    assert failed.ids()[-3:] == ["k0", "k1", "k2"] and len(failed.ids()) == 10
    assert cleaner.dropped() == 19
    failed.assert_index_consistent()


def test_enforce_limit_drops_at_most_so_many_per_call(cleaner, failed):
    failed.bulk(record(job_id=f"j{i:03d}") for i in range(100))
    cleaner.set_limit(50)
    assert [cleaner.enforce_limit(most=20) for _ in range(4)] == [20, 20, 10, 0]
    assert failed.ids() == [f"j{i:03d}" for i in range(50, 100)]
    assert cleaner.dropped() == 50
    failed.assert_index_consistent()


def test_limit_zero_keeps_nothing_and_off_stops(default_client, cleaner, failed):
    failed.bulk(record() for _ in range(12))
    cleaner.set_limit(0)
    assert cleaner.enforce_limit() == 12
    assert default_client.failures.count() == 0 and failed.index() == {}
    cleaner.set_limit(None)
    failed.bulk(record() for _ in range(5))
    assert cleaner.enforce_limit() == 0 and cleaner.limit() is None
    assert cleaner.dropped() == 12  # the count is kept


def test_limit_keeps_the_index_when_args_hold_an_id(default_client, cleaner, failed):
    failed.bulk(record(args=[{"id": "user-1"}], job_id=f"j{i}") for i in range(5))
    cleaner.set_limit(2)
    assert cleaner.enforce_limit() == 3
    assert default_client.failures.get("j0") is None
    failed.assert_index_consistent()


def test_a_running_worker_enforces_the_limit(default_client, redis_url, namespace, failed, spawn):
    assert cli(redis_url, namespace, "cleaner", "limit", "10").returncode == 0
    failed.bulk(record(args=[i]) for i in range(20))
    real = [resqplug.enqueue(cj.CJImportFeed, i) for i in range(15)]
    worker = spawn("--no-fork", "-q", cj.IMPORT_QUEUE)

    wait_for(
        lambda: failed.ids() == real[-10:],
        WORKER_TRIM_S,
        "the worker to run the jobs and trim the failed store to the newest 10",
    )
    assert worker.alive(), worker.output()
    assert failed.ids() == real[-10:]  # the newest kept, in order
    assert Cleaner(default_client).dropped() == 25
    failed.assert_index_consistent()
    out = cli(redis_url, namespace, "cleaner", "limit")
    assert out.stdout == "limit: 10; dropped so far: 25\n"
