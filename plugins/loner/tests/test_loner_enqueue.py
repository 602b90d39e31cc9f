"""Enqueue-side behaviour of the loner plugin against real Redis: duplicates
skipped (nothing written, hook and log), identity, release after success and
final failure, TTL expiry, concurrency, configuration errors and the plugin
being disabled."""

from __future__ import annotations

import logging
import threading

import loner_jobs as jobs
import pytest
import resqplug_loner
from loner_helpers import QUEUE, holder, lock_key_of, locks, queued_ids, wait_for

import resqplug
from resqplug.plugins import DISABLE_ENV
from resqplug.testing import drain


def snapshot(client: resqplug.Resq) -> dict[bytes, bytes]:
    """Every key of the namespace with a dump of its value (writes show up)."""
    out = {}
    for k in client.redis.scan_iter(match=f"{client.namespace}:*"):
        out[k] = client.redis.dump(k)
    return out


# --- duplicates while queued ------------------------------------------------


def test_duplicate_while_queued_is_skipped_and_writes_nothing(default_client, recorder, caplog):
    first = resqplug.enqueue(jobs.Unique, 7)
    assert first is not None
    before = snapshot(default_client)
    ttl_before = default_client.redis.pttl(lock_key_of(default_client, jobs.Unique, 7))

    with caplog.at_level(logging.INFO, logger="resqplug.loner"):
        assert resqplug.enqueue(jobs.Unique, 7) is None

    assert snapshot(default_client) == before  # no write at all (lock, queue, wake list)
    assert default_client.redis.pttl(lock_key_of(default_client, jobs.Unique, 7)) <= ttl_before
    assert queued_ids(default_client) == [first]
    assert holder(jobs.Unique, 7) == first
    [(job, existing)] = recorder.skipped
    assert existing == first
    assert job.class_name == "loner_tests.Unique" and job.args == [7] and job.id != first
    messages = [r for r in caplog.records if r.name == "resqplug.loner"]
    assert len(messages) == 1 and messages[0].levelno == logging.INFO
    assert first in messages[0].getMessage() and "duplicate" in messages[0].getMessage()


def test_duplicate_through_an_explicit_client_and_the_class_method(default_client, recorder):
    other = resqplug.Resq(default_client.url, default_client.namespace)
    first = jobs.Unique.enqueue("a")
    assert other.enqueue(jobs.Unique, "a") is None
    assert other.enqueue_to("elsewhere", jobs.Unique, "a") is None  # identity ignores the queue
    assert [e for _, e in recorder.skipped] == [first, first]
    assert default_client.size(QUEUE) == 1 and default_client.size("elsewhere") == 0


def test_lock_is_namespaced(default_client, redis_url, namespace):
    first = resqplug.enqueue(jobs.Unique, 1)
    neighbour = resqplug.Resq(redis_url, namespace + "-other")
    try:
        assert neighbour.enqueue(jobs.Unique, 1) is not None
    finally:
        for k in neighbour.redis.scan_iter(match=f"{namespace}-other:*"):
            neighbour.redis.delete(k)
    assert holder(jobs.Unique, 1) == first


def test_holder_is_none_for_an_identity_nobody_holds(default_client):
    assert holder(jobs.Unique, 1) is None
    job_id = resqplug.enqueue(jobs.Unique, 1)
    assert holder(jobs.Unique, 1) == job_id
    assert holder(jobs.Unique, 2) is None


def test_lock_has_the_default_finite_ttl(default_client):
    resqplug.enqueue(jobs.Unique, 1)
    ttl_ms = default_client.redis.pttl(lock_key_of(default_client, jobs.Unique, 1))
    assert 0 < ttl_ms <= resqplug_loner.DEFAULT_TTL_S * 1000
    assert ttl_ms > (resqplug_loner.DEFAULT_TTL_S - 60) * 1000


def test_non_unique_jobs_are_not_locked(default_client):
    assert resqplug.enqueue(jobs.NotUnique, 1) is not None
    assert resqplug.enqueue(jobs.NotUnique, 1) is not None
    assert default_client.size(QUEUE) == 2
    assert locks(default_client) == []


def test_enqueue_many_keeps_one_of_each_identity(default_client, recorder):
    ids = resqplug.enqueue_many(jobs.Unique, [(1,), (1,), (2,), (1,)])
    assert ids[0] is not None and ids[2] is not None
    assert ids[1] is None and ids[3] is None
    assert queued_ids(default_client) == [ids[0], ids[2]]
    assert [e for _, e in recorder.skipped] == [ids[0], ids[0]]


# --- identity ---------------------------------------------------------------


def test_dict_args_with_another_key_order_are_the_same_job(default_client):
    first = resqplug.enqueue(jobs.Unique, {"a": 1, "b": {"x": 1, "y": 2}}, [1, 2])
    assert first is not None
    assert resqplug.enqueue(jobs.Unique, {"b": {"y": 2, "x": 1}, "a": 1}, [1, 2]) is None
    assert default_client.size(QUEUE) == 1


@pytest.mark.parametrize(
    "args",
    [(8,), ("7",), (7, 7), ({"a": 1, "b": 3},), ([2, 1],), ()],
    ids=["other-int", "str-not-int", "more-args", "other-dict-value", "other-list-order", "none"],
)
def test_different_args_are_different_jobs(default_client, args):
    assert resqplug.enqueue(jobs.Unique, 7) is not None
    assert resqplug.enqueue(jobs.Unique, {"a": 1, "b": 2}) is not None
    assert resqplug.enqueue(jobs.Unique, [1, 2]) is not None
    assert resqplug.enqueue(jobs.Unique, *args) is not None
    assert default_client.size(QUEUE) == 4


def test_the_same_args_of_another_class_are_another_job(default_client):
    assert resqplug.enqueue(jobs.Unique, 7) is not None
    assert resqplug.enqueue(jobs.OtherUnique, 7) is not None  # unique is inherited
    assert resqplug.enqueue(jobs.OtherUnique, 7) is None


def test_unique_key_method_decides_identity(default_client, recorder):
    first = resqplug.enqueue(jobs.Keyed, 42, {"full": True})
    assert first is not None
    assert resqplug.enqueue(jobs.Keyed, 42, {"full": False}) is None  # same account
    assert resqplug.enqueue(jobs.Keyed, 43, {"full": True}) is not None  # another account
    assert holder(jobs.Keyed, 42, {"whatever": 1}) == first
    assert [e for _, e in recorder.skipped] == [first]


def test_job_function_with_a_loner_option(default_client):
    first = jobs.unique_function.enqueue(1)
    assert first is not None
    assert resqplug.enqueue(jobs.unique_function, 1) is None
    assert holder(jobs.unique_function, 1) == first
    ttl_ms = default_client.redis.pttl(lock_key_of(default_client, jobs.unique_function, 1))
    assert 0 < ttl_ms <= 60_000
    assert drain(default_client, QUEUE) == 1
    assert holder(jobs.unique_function, 1) is None


# --- released when done -----------------------------------------------------


def test_allowed_again_after_success(default_client):
    first = resqplug.enqueue(jobs.Unique, 5)
    assert drain(default_client, QUEUE) == 1
    assert jobs.ids(default_client, "done") == [first]
    assert holder(jobs.Unique, 5) is None
    second = resqplug.enqueue(jobs.Unique, 5)
    assert second is not None and second != first


def test_allowed_again_after_a_final_failure(default_client):
    first = resqplug.enqueue(jobs.Failing, 5)
    assert drain(default_client, QUEUE) == 1
    assert default_client.failures.get(first) is not None
    assert holder(jobs.Failing, 5) is None
    assert resqplug.enqueue(jobs.Failing, 5) is not None


def test_finished_job_does_not_release_a_lock_it_no_longer_holds(default_client):
    """The lock expired while the job was queued and another copy took it: the
    first copy's completion must not free the second copy's lock."""
    first = resqplug.enqueue(jobs.Unique, 5)
    default_client.redis.delete(lock_key_of(default_client, jobs.Unique, 5))  # "expired"
    second = resqplug.enqueue(jobs.Unique, 5)
    assert second is not None
    assert drain(default_client, QUEUE, limit=1) == 1  # the first copy
    assert jobs.ids(default_client, "done") == [first]
    assert holder(jobs.Unique, 5) == second


# --- TTL --------------------------------------------------------------------


def test_lock_ttl_expiry_allows_the_job_again(default_client, recorder):
    first = resqplug.enqueue(jobs.ShortLock, 1)
    key = lock_key_of(default_client, jobs.ShortLock, 1)
    assert 0 < default_client.redis.pttl(key) <= 500
    assert resqplug.enqueue(jobs.ShortLock, 1) is None
    # Let the 0.5 s TTL pass (the job is still queued: only the TTL frees it).
    wait_for(lambda: not default_client.redis.exists(key), 3, "the lock to expire")
    second = resqplug.enqueue(jobs.ShortLock, 1)
    assert second is not None and second != first
    assert queued_ids(default_client) == [first, second]
    assert [e for _, e in recorder.skipped] == [first]


# --- concurrency ------------------------------------------------------------


def test_fifty_concurrent_enqueuers_make_exactly_one_job(default_client, recorder):
    clients = [resqplug.Resq(default_client.url, default_client.namespace) for _ in range(50)]
    for c in clients:
        c.ping()  # connect before the race
    barrier = threading.Barrier(len(clients))
    results: list[str | None] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def enqueue(client: resqplug.Resq) -> None:
        try:
            barrier.wait(10)
            job_id = client.enqueue(jobs.Unique, {"report": 7, "full": True})
        except BaseException as exc:  # reported below
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(job_id)

    threads = [threading.Thread(target=enqueue, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    winners = [r for r in results if r is not None]
    assert len(results) == 50 and len(winners) == 1
    assert queued_ids(default_client) == winners
    assert holder(jobs.Unique, {"full": True, "report": 7}) == winners[0]
    assert len(recorder.skipped) == 49
    assert {e for _, e in recorder.skipped} == set(winners)


# --- configuration ----------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "named"),
    [
        ({"unique_for": -1}, "unique_for"),
        ({"unique_for": 0}, "unique_for"),
        ({"unique_for": "300"}, "unique_for"),
        ({"unique_for": None, "unique": True, "unique_scope": "forever"}, "unique_scope"),
        ({"unique_for": 10, "unique_scope": "running"}, "unique_scope"),
        ({"unique": True, "unique_key": "account_id"}, "unique_key"),
    ],
    ids=["negative", "zero", "not-a-number", "unknown-scope", "unknown-scope-ttl", "bad-key"],
)
def test_bad_config_is_refused_at_class_definition(attrs, named, request):
    name = f"loner_tests.bad.{request.node.callspec.id}"
    with pytest.raises(resqplug.ConfigError, match=named):
        type("Bad", (resqplug.Job,), {"name": name, "abstract": True, **attrs})


@pytest.mark.parametrize("value", [float("inf"), float("nan")], ids=["inf", "nan"])
def test_unique_for_must_be_a_finite_number(value):
    with pytest.raises(resqplug.ConfigError, match="unique_for"):
        type("Bad", (resqplug.Job,), {"abstract": True, "unique_for": value})


def test_without_the_plugin_unique_jobs_enqueue_with_one_warning_per_class(
    default_client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setenv(DISABLE_ENV, "loner")
    resqplug.plugins.reset_plugins()
    assert "loner" not in resqplug.get_plugins().names()
    caplog.set_level(logging.WARNING, logger="resqplug.options")
    for _ in range(2):  # no lock: both copies are queued
        assert resqplug.enqueue(jobs.Unique, 1) is not None
        assert resqplug.enqueue(jobs.Keyed, 1, {}) is not None
    assert resqplug.enqueue(jobs.NotUnique, 1) is not None
    assert default_client.size(QUEUE) == 5
    warned = [r.getMessage() for r in caplog.records if r.name == "resqplug.options"]
    assert warned == [
        "job Unique sets 'unique', which no installed plugin declares: it has no effect here",
        "job Keyed sets 'unique_for', which no installed plugin declares: it has no effect here",
    ]


def test_a_typo_of_a_loner_option_is_refused_with_the_close_name(default_client):
    typo = type("UniqTypo", (resqplug.Job,), {"name": "loner_tests.UniqTypo", "uniqe": True})
    with pytest.raises(
        resqplug.UnknownOptionError, match=r"did you mean 'unique' \(plugin loner\)"
    ):
        resqplug.enqueue(typo)
    assert default_client.queues() == []
