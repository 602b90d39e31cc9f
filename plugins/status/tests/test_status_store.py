"""The status store against real Redis: expiry, the indexes (listing 10,000
statuses with paging), atomic concurrent updates, and wait's timeout."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import resqplug_status
import status_jobs as sj
from resqplug_status import FINAL, STATES, StatusStore
from status_helpers import wait_for

import resqplug
from resqplug.testing import drain

Q = "status"
DAY = 86_400


def states_of(store: StatusStore, job_id: str) -> list[str]:
    r = store.client.redis
    return [s for s in STATES if r.zscore(store.state_index + s, job_id) is not None]


# --- expiry -------------------------------------------------------------------------


def test_final_statuses_expire_after_a_day_others_never(default_client: resqplug.Resq) -> None:
    store = StatusStore(default_client)
    r = default_client.redis
    done = resqplug.enqueue(sj.StatusRecord)
    failed = resqplug.enqueue(sj.StatusFail, "no")
    killed = resqplug.enqueue(sj.StatusRecord)
    assert done and failed and killed
    assert resqplug_status.kill(killed)
    assert store.expires_in(done) is None  # queued: kept until final
    drain(default_client, Q)

    for job_id, state in ((done, "completed"), (failed, "failed"), (killed, "killed")):
        assert store.get(job_id).status == state  # type: ignore[union-attr]
        assert DAY - 60 <= (store.expires_in(job_id) or 0) <= DAY

    # run again (a failed job retried keeps its id): not final, no expiry
    store.set(done, "queued")
    assert store.expires_in(done) is None
    assert r.ttl(store.key(done)) == -1


def test_expired_statuses_vanish_and_list_prunes_the_indexes(
    default_client: resqplug.Resq,
) -> None:
    short = StatusStore(default_client, expire_s=1)
    short.set("gone-1", "completed", result='"a"')
    short.set("gone-2", "failed", exception="ValueError")
    short.set("alive", "working")
    assert short.count() == 3

    wait_for(lambda: short.get("gone-1") is None and short.get("gone-2") is None, 5, "expiry")
    assert short.get("alive") is not None  # not final: does not expire

    assert [s.id for s in short.list()] == ["alive"]
    assert short.count() == 1
    assert short.list(state="completed") == []
    assert short.list(state="failed") == []
    assert short.count("completed") == 0
    assert short.count("failed") == 0
    assert short.count("working") == 1
    assert resqplug_status.list(state="working")[0].id == "alive"


def test_a_new_final_status_prunes_expired_entries_without_list(
    default_client: resqplug.Resq,
) -> None:
    short = StatusStore(default_client, expire_s=1)
    short.set("old", "completed")
    wait_for(lambda: short.get("old") is None, 5, "expiry")
    index = short.state_index + "completed"
    wait_for(lambda: time.time() > float(default_client.redis.zscore(index, "old")) + 1.05)
    short.set("new-1", "completed")  # one final write in 16 prunes: not this id's
    assert short.count("completed") == 2
    short.set("new-0", "completed")  # this one's (its last character's code is 48)
    assert short.count() == 2
    assert short.count("completed") == 2


def test_an_old_non_final_status_stays_listed(default_client: resqplug.Resq) -> None:
    later = default_client.enqueue_to("not-drained", sj.StatusRecord, "next week")
    assert later is not None
    store = StatusStore(default_client)
    # A day and a bit passes: the entries' scores are their update time.
    long_ago = time.time() - DAY - 3600
    default_client.redis.zadd(store.state_index + "queued", {later: long_ago})

    other = resqplug.enqueue(sj.StatusRecord, "today")
    assert other is not None
    drain(default_client, Q)  # any job reaching a final state

    assert store.get(later).status == "queued"  # type: ignore[union-attr]
    assert [s.id for s in resqplug_status.list(state="queued")] == [later]
    assert {s.id for s in resqplug_status.list()} == {later, other}
    assert store.count() == 2


# --- 10,000 statuses ----------------------------------------------------------------

N = 10_000
COMPLETED = 2_500


@pytest.fixture
def ten_thousand(default_client: resqplug.Resq) -> list[str]:
    """10,000 statuses (ids in update order, oldest first): every 4th completed."""
    ids = [f"job-{n:05d}" for n in range(N)]
    store = StatusStore(default_client)

    def write(chunk: list[str]) -> None:
        for job_id in chunk:
            n = int(job_id[4:])
            store.set(job_id, "completed" if n % 4 == 0 else "queued", n=n)

    # in order, so the update times (index scores) follow the ids
    for start in range(0, N, 1000):
        chunk = ids[start : start + 1000]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(write, [chunk[i::4] for i in range(4)]))
    return ids


def fastest_list(**kwargs: object) -> tuple[list[resqplug_status.Status], float]:
    """A page and the best of three timings (one slow call on a loaded machine
    is not the store's doing)."""
    took = []
    for _ in range(3):
        t0 = time.perf_counter()
        page = resqplug_status.list(**kwargs)  # type: ignore[arg-type]
        took.append(time.perf_counter() - t0)
    return page, min(took)


def test_ten_thousand_statuses_listed_with_paging_fast_and_filtered(
    default_client: resqplug.Resq, ten_thousand: list[str]
) -> None:
    store = StatusStore(default_client)
    assert store.count() == N
    assert store.count("completed") == COMPLETED
    assert store.count("queued") == N - COMPLETED

    # every status, once, in pages
    seen: list[str] = []
    for offset in range(0, N, 1000):
        page = resqplug_status.list(limit=1000, offset=offset)
        assert len(page) == 1000
        seen += [s.id for s in page]
    assert len(set(seen)) == N
    assert set(seen) == set(ten_thousand)
    assert set(seen[:1000]) == set(ten_thousand[-1000:])  # most recently updated first
    assert set(seen[-1000:]) == set(ten_thousand[:1000])
    assert resqplug_status.list(limit=50, offset=N) == []

    # a page costs the same anywhere in 10,000
    for offset in (0, 2500, 5000, N - 50):
        page, took = fastest_list(limit=50, offset=offset)
        assert took < 0.5, f"the page at {offset} took {took:.3f}s"
        assert [s.id for s in page] == seen[offset : offset + 50]
        updated = [s.updated_at for s in page]
        assert updated == sorted(updated, reverse=True)

    # by state
    completed: list[str] = []
    for offset in range(0, COMPLETED, 500):
        page, took = fastest_list(state="completed", limit=500, offset=offset)
        assert took < 0.5, f"a filtered page took {took:.3f}s"
        assert {s.status for s in page} == {"completed"}
        completed += [s.id for s in page]
    assert sorted(completed) == [i for i in ten_thousand if int(i[4:]) % 4 == 0]
    page, took = fastest_list(state="queued", limit=50, offset=5000)
    assert took < 0.5
    assert len(page) == 50
    assert {s.status for s in page} == {"queued"}
    assert resqplug_status.list(state="working") == []


# --- atomic concurrent updates ----------------------------------------------------------


def test_concurrent_updates_of_one_status_stay_consistent(default_client: resqplug.Resq) -> None:
    job_id = "contended"
    threads, rounds = 12, 40
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def hammer(n: int) -> None:
        store = StatusStore(default_client)
        rng = random.Random(n)
        try:
            start.wait()
            for i in range(rounds):
                state = rng.choice(STATES)
                store.set(job_id, state, writer=n, round=i, attempt=n)
                store.update(job_id, num=i, total=rounds, message=f"{n}:{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=hammer, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(30)
    assert not errors

    store = StatusStore(default_client)
    status = store.get(job_id)
    assert status is not None
    assert status.status in STATES
    assert states_of(store, job_id) == [status.status]  # exactly one per-state index
    assert store.count() == 1
    for state in STATES:
        assert store.count(state) == (1 if state == status.status else 0)
    expires_in = store.expires_in(job_id)
    assert (expires_in or 0) > 0 if status.status in FINAL else expires_in is None
    # one writer's fields, not a mix of two writes
    assert status.attempt == int(status.fields["writer"])
    assert {"updated_at", "created_at", "writer", "round", "num", "total", "message"} <= set(
        status.fields
    )


def test_concurrent_transitions_of_many_jobs(default_client: resqplug.Resq) -> None:
    """Many threads move many jobs through the life of a job at once: each
    ends in exactly the state its last step wrote, in exactly one index."""
    ids = [f"j{n}" for n in range(200)]
    path = ["queued", "working", "completed"]

    def life(job_id: str) -> None:
        store = StatusStore(default_client)
        for state in path:
            store.set(job_id, state)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(life, ids))
    store = StatusStore(default_client)
    assert store.count("completed") == 200
    assert store.count("queued") == 0
    assert store.count("working") == 0
    assert all(states_of(store, i) == ["completed"] for i in ids[:20])


# --- wait ----------------------------------------------------------------------------


def test_wait_returns_the_current_status_after_the_timeout(default_client: resqplug.Resq) -> None:
    job_id = resqplug.enqueue(sj.StatusRecord)
    assert job_id is not None
    t0 = time.monotonic()
    status = resqplug_status.wait(job_id, timeout=0.6)
    took = time.monotonic() - t0
    assert status is not None
    assert status.status == "queued"
    assert 0.55 <= took < 2.0


def test_wait_returns_at_once_for_a_final_status(default_client: resqplug.Resq) -> None:
    job_id = resqplug.enqueue(sj.StatusRecord)
    assert job_id is not None
    drain(default_client, Q)
    t0 = time.monotonic()
    status = resqplug_status.wait(job_id, timeout=10)
    assert time.monotonic() - t0 < 0.5
    assert status is not None and status.status == "completed"


def test_wait_wakes_promptly_when_another_thread_finishes_the_job(
    default_client: resqplug.Resq,
) -> None:
    job_id = resqplug.enqueue(sj.StatusSleep, 0.4)
    assert job_id is not None
    runner = threading.Thread(target=drain, args=(default_client, Q))
    runner.start()
    try:
        status = resqplug_status.wait(job_id, timeout=10)
        returned = time.time()
    finally:
        runner.join(10)
    assert status is not None
    assert status.status == "completed"
    assert returned - status.finished_at < 0.5


def test_start_of_a_job_whose_kill_was_requested_changes_nothing(
    default_client: resqplug.Resq,
) -> None:
    from resqplug_status.store import KILL_REQUESTED

    store = StatusStore(default_client)
    store.set("k1", "queued")
    store.request_kill("k1")
    assert store.start("k1", started_at=time.time()) == KILL_REQUESTED
    status = store.get("k1")
    assert status is not None and status.status == "queued"
    assert states_of(store, "k1") == ["queued"]
    assert store.start("k2", started_at=time.time()) == ""
    started = store.get("k2")
    assert started is not None and started.status == "working"


def test_a_client_that_is_dropped_is_freed_with_its_status_store(redis_url: str) -> None:
    import gc
    import weakref

    from resqplug_status.plugin import store_for

    client = resqplug.Resq(redis_url, "t-status-gc")
    assert store_for(client=client) is store_for(client=client)
    gone = weakref.ref(client)
    del client
    gc.collect()
    assert gone() is None
