"""The dashboard's actions (remove, empty, retry, clear, kill, run now, requeue,
release), each changing what it says and nothing else. (Shared helpers:
tests/web_support.py.)"""

from __future__ import annotations

import re
import warnings

import web_jobs as wj
from resqplug_scheduler.schedules import ScheduleStore
from resqplug_status import StatusStore

from resqplug.testing import drain

with warnings.catch_warnings():
    # Starlette >= 1.x suggests httpx2; the test client works the same with httpx.
    warnings.simplefilter("ignore")

from web_support import (
    Page,
    fail,
    flash,
    submit,
    token,
)

# --- actions ------------------------------------------------------------------------------


def test_remove_a_queued_job(client, web) -> None:
    ids = client.enqueue_many(wj.WebRecord, [(i,) for i in range(3)])
    page = Page(web.get("/queues/web").text)
    form = page.form("/queues/web/remove", id=ids[1])
    assert form["fields"]["pos"] == "1" and form["confirm"] == "Remove this job?"
    r = submit(web, form)
    assert flash(r) == "removed 1 job"
    assert r.headers["location"].startswith("/queues/web?")
    assert [j["id"] for j in client.peek("web", 0, 10)] == [ids[0], ids[2]]
    # The same form again: the job is gone, nothing else is removed.
    assert flash(submit(web, form)) == "that job is no longer queued"
    assert client.size("web") == 2


def test_remove_finds_a_job_that_moved_since_the_page_was_shown(client, web) -> None:
    ids = client.enqueue_many(wj.WebRecord, [(i,) for i in range(5)])
    form = Page(web.get("/queues/web").text).form("/queues/web/remove", id=ids[3])
    drain(client, "web", limit=2)  # a worker took the first two meanwhile
    assert flash(submit(web, form)) == "removed 1 job"
    assert [j["id"] for j in client.peek("web", 0, 10)] == [ids[2], ids[4]]


def test_remove_with_a_stale_position_never_removes_another_job(client, web) -> None:
    first = client.enqueue(wj.WebRecord, "first")
    target = client.enqueue(wj.WebRecord, "target")
    form = Page(web.get("/queues/web").text).form("/queues/web/remove", id=target)
    assert form["fields"]["pos"] == "1"
    follow_up = client.enqueue(wj.WebRecord, "follow-up of", target)
    drain(client, "web", limit=1)  # `first` is taken by a worker: target moves to 0
    assert first not in [j["id"] for j in client.peek("web", 0, 10)]
    submit(web, form)
    assert [j["id"] for j in client.peek("web", 0, 10)] == [follow_up]


def test_empty_a_queue_only_with_the_typed_confirmation(client, web) -> None:
    client.enqueue_many(wj.WebRecord, [(i,) for i in range(4)])
    page = Page(web.get("/queues/web").text)
    form = page.form("/queues/web/clear")
    assert "confirm" in form["fields"] and form["fields"]["confirm"] == ""
    for typed in ("", "WEB", "web ", "yes"):
        r = submit(web, form, confirm=typed)
        assert flash(r) == "not emptied: type the queue name to confirm"
        assert client.size("web") == 4
    assert flash(submit(web, form, confirm="web")) == "removed 4 jobs"
    assert client.size("web") == 0 and "web" not in client.queues()
    assert "Empty queue" not in web.get("/queues/web").text


def test_retry_one_failure_keeps_its_record_marked_retried(client, web) -> None:
    [job_id] = fail(client, "fails", (wj.WebFail, ("boom",)))
    page = Page(web.get("/failed").text)
    form = page.form(f"/failed/{job_id}/retry")
    assert flash(submit(web, form)) == f"enqueued {job_id}"
    assert [j["id"] for j in client.peek("fails")] == [job_id]
    record = client.failures.get(job_id)
    assert record is not None and record["retried_at"]
    assert "retried " in web.get("/failed").text
    # A record is enqueued again at most once.
    assert flash(submit(web, form)) == "not enqueued (vetoed or retried)"
    assert client.size("fails") == 1


def test_remove_one_failure(client, web) -> None:
    keep, gone = fail(client, "fails", (wj.WebFail, ("keep",)), (wj.WebFail, ("gone",)))
    form = Page(web.get("/failed").text).form(f"/failed/{gone}/remove")
    assert form["confirm"] == "Remove this failure?"
    assert flash(submit(web, form)) == "removed"
    assert client.failures.ids() == [keep]
    assert gone not in web.get("/failed").text
    assert flash(submit(web, form)).startswith("error: no failed job with id")


def test_retry_all_and_clear_all(client, web) -> None:
    ids = fail(client, "fails", *[(wj.WebFail, (f"e{i}",)) for i in range(5)])
    page = Page(web.get("/failed").text)
    retry_all = page.form("/failed/retry-all")
    assert retry_all["confirm"] == "Retry every failed job?"
    assert flash(submit(web, retry_all)) == "enqueued 5 failed jobs again"
    assert sorted(j["id"] for j in client.peek("fails", 0, 10)) == sorted(ids)
    clear = page.form("/failed/clear")
    assert clear["confirm"] == "Remove every failure record?"
    assert flash(submit(web, clear)) == "cleared 5 failure records"
    assert client.failures.count() == 0
    assert "No failed jobs" in web.get("/failed").text


def test_status_kill_from_the_statuses_page(client, web) -> None:
    job_id = client.enqueue(wj.WebRecord, "to be killed")
    form = Page(web.get("/p/statuses").text).form("/p/statuses/kill", id=job_id)
    assert form["confirm"] == "Kill this job?"
    assert flash(submit(web, form)) == f"kill requested for {job_id}"
    drain(client, "web")
    status = StatusStore(client).get(job_id)
    assert status is not None and status.status == "killed"
    text = web.get("/p/statuses").text
    assert re.search(rf"<td>{job_id}</td><td>killed</td>", text)
    assert flash(submit(web, form)) == "unknown or finished"


def test_schedule_run_now(client, web) -> None:
    ScheduleStore(client).set(
        "nightly-report", {"class": "WebRecord", "args": [1], "every": "1d", "queue": "web"}
    )
    form = Page(web.get("/p/schedule").text).form("/p/schedule/run_now", name="nightly-report")
    msg = flash(submit(web, form))
    [job] = client.peek("web")
    assert msg == f"enqueued {job['id']}"
    assert job["class"] == "WebRecord" and job["meta"]["scheduler"]["schedule"] == "nightly-report"
    assert flash(submit(web, form, name="nope")) == "no schedule named 'nope'"


def test_cleaner_requeue_and_clear(client, web) -> None:
    fail(
        client,
        "fails",
        *[(wj.WebFail, (f"v{i}",)) for i in range(3)],
        *[(wj.WebFailOther, (f"r{i}",)) for i in range(2)],
    )
    page = Page(web.get("/p/cleaner").text)
    requeue = page.form("/p/cleaner/requeue", job_class="WebFail")
    assert requeue["confirm"] == "Requeue 3 jobs?"
    assert flash(submit(web, requeue)) == "requeued 3 of 3; skipped 0"
    assert client.size("fails") == 3 and client.failures.count() == 2
    page = Page(web.get("/p/cleaner").text)
    clear = page.form("/p/cleaner/clear", exception="RuntimeError")
    assert flash(submit(web, clear)) == "cleared 2 of 2"
    assert client.failures.count() == 0 and client.size("fails") == 3


def test_loner_release(client, web) -> None:
    assert client.enqueue(wj.WebUnique, 7)
    assert client.enqueue(wj.WebUnique, 7) is None  # held
    page = Page(web.get("/p/locks").text)
    form = next(f for f in page.forms if f["action"] == "/p/locks/release")
    key = form["fields"]["key"]
    assert key.startswith(client.keys.plugin("loner", "lock")) and client.redis.exists(key)
    assert flash(submit(web, form)) == "released"
    assert not client.redis.exists(key)
    assert client.enqueue(wj.WebUnique, 7)  # free again, and held again
    assert flash(submit(web, form)) == "released"
    assert flash(submit(web, form)) == "no such lock"
    queue_key = client.keys.queue("web")
    assert flash(submit(web, form, key=queue_key)) == "not a lock of this namespace"
    assert client.redis.exists(queue_key)


def test_unknown_actions_and_ids_give_a_message_not_an_error(client, web) -> None:
    t = token(web)
    for path in ("/p/statuses/explode", "/p/nope/kill"):
        r = web.post(path, data={"csrf": t}, follow_redirects=False)
        assert flash(r) == "error: no such action"
    r = web.post("/failed/0123/retry", data={"csrf": t}, follow_redirects=False)
    assert flash(r).startswith("error: no failed job with id")
    r = web.post("/queues/web/remove", data={"csrf": t, "pos": "x"}, follow_redirects=False)
    assert flash(r).startswith("error:")
    r = web.post("/queues/a:b/clear", data={"csrf": t, "confirm": "a:b"}, follow_redirects=False)
    assert flash(r).startswith("error: invalid queue name")
