"""The failure store: records, stats, retry/remove/clear, and bad payloads."""

from __future__ import annotations

import json
import re
import sys

import pytest

import resqplug
from resqplug.testing import drain

ran: list[tuple[str, list]] = []
flaky = {"fail": True}


@pytest.fixture(autouse=True)
def _reset_state():
    ran.clear()
    flaky["fail"] = True


class FailuresBoom(resqplug.Job):
    queue = "q"

    def perform(self, x):
        raise ValueError(f"bad value {x}")


class FailuresFlaky(resqplug.Job):
    queue = "q"

    def perform(self, *args):
        if flaky["fail"]:
            raise RuntimeError("flaky")
        ran.append((self.id, list(args)))


class FailuresOk(resqplug.Job):
    queue = "q"

    def perform(self, *args):
        ran.append((self.id, list(args)))


class EnqueueSpy:
    def __init__(self):
        self.ids: list[str] = []

    @resqplug.hookimpl
    def before_enqueue(self, job):
        self.ids.append(job.id)


def stat(resq, key):
    return int(resq.redis.get(key) or 0)


def push_raw(resq, raw, queue="q"):
    resq.redis.rpush(resq.keys.queue(queue), raw)
    resq.redis.sadd(resq.keys.queues, queue)


# --- the record -----------------------------------------------------------------------------


def test_failure_record_has_resque_fields(resq):
    job_id = resq.enqueue(FailuresBoom, 7)
    drain(resq, "q")
    record = resq.failures.get(job_id)
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} UTC", record["failed_at"])
    assert record["payload"]["class"] == "FailuresBoom"
    assert record["payload"]["args"] == [7]
    assert record["payload"]["id"] == job_id
    assert record["exception"] == "ValueError"
    assert record["error"] == "bad value 7"
    assert record["queue"] == "q"
    assert record["id"] == job_id
    assert isinstance(record["worker"], str) and record["worker"]


def test_failure_backtrace_shows_job_code_and_no_pluggy_frames(resq):
    job_id = resq.enqueue(FailuresBoom, 1)
    drain(resq, "q")
    backtrace = resq.failures.get(job_id)["backtrace"]
    assert isinstance(backtrace, list)
    assert all(isinstance(line, str) for line in backtrace)
    assert any("test_failures.py" in line and "perform" in line for line in backtrace)
    assert not any("pluggy" in line for line in backtrace)


def test_failure_record_is_resque_json_in_the_failed_list(resq):
    job_id = resq.enqueue(FailuresBoom, 1)
    drain(resq, "q")
    [raw] = resq.redis.lrange(resq.keys.failed, 0, -1)
    record = json.loads(raw)
    assert list(record)[:7] == [
        "failed_at",
        "payload",
        "exception",
        "error",
        "backtrace",
        "worker",
        "queue",
    ]
    assert record["id"] == job_id


def test_stats_count_processed_and_failed(resq):
    resq.enqueue(FailuresOk)
    resq.enqueue(FailuresBoom, 1)
    resq.enqueue(FailuresBoom, 2)
    assert drain(resq, "q") == 3
    ns = resq.namespace
    assert stat(resq, f"{ns}:stat:processed") == 3
    assert stat(resq, f"{ns}:stat:failed") == 2
    assert resq.stats()["failed"] == 2


# --- count, list, get ------------------------------------------------------------------------


def test_count_list_paged_and_get(resq):
    ids = [resq.enqueue(FailuresBoom, i) for i in range(5)]
    drain(resq, "q")
    store = resq.failures
    assert store.count() == 5
    assert [r["id"] for r in store.list()] == ids
    assert [r["id"] for r in store.list(0, 2)] == ids[:2]
    assert [r["id"] for r in store.list(2, 2)] == ids[2:4]
    assert [r["id"] for r in store.list(4, 10)] == ids[4:]
    assert store.list(10, 5) == []
    assert store.list(0, 0) == []
    assert store.get(ids[3])["payload"]["args"] == [3]
    assert store.get("0" * 32) is None


def test_module_level_failures_use_default_client(default_client):
    job_id = resqplug.enqueue(FailuresBoom, 1)
    drain(default_client, "q")
    assert resqplug.failures.count() == 1
    assert resqplug.failures.get(job_id)["id"] == job_id


# --- retry, remove, clear ----------------------------------------------------------------


def test_retry_reenqueues_with_same_id_through_before_enqueue(resq):
    job_id = resq.enqueue(FailuresFlaky, "a", 1)
    drain(resq, "q")
    spy = EnqueueSpy()
    resqplug.register(spy, name="spy")
    assert resq.failures.retry(job_id) == job_id
    assert spy.ids == [job_id]
    [doc] = resq.peek("q")
    assert (doc["id"], doc["class"], doc["args"]) == (job_id, "FailuresFlaky", ["a", 1])
    record = resq.failures.get(job_id)
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} UTC", record["retried_at"])
    assert resq.failures.count() == 1
    flaky["fail"] = False
    drain(resq, "q")
    assert ran == [(job_id, ["a", 1])]


def test_retry_goes_back_to_the_failed_queue(resq):
    job_id = resq.enqueue_to("special", FailuresBoom, 1)
    drain(resq, "special")
    resq.failures.retry(job_id)
    assert resq.size("special") == 1
    assert resq.size("q") == 0


def test_retry_to_another_queue(resq):
    job_id = resq.enqueue(FailuresBoom, 1)
    drain(resq, "q")
    assert resq.failures.retry(job_id, queue="rescue") == job_id
    assert resq.peek("rescue")[0]["id"] == job_id


def test_retry_all_retries_every_retryable_record(resq):
    ids = [resq.enqueue(FailuresBoom, i) for i in range(2)]
    push_raw(resq, b"not json")
    drain(resq, "q")
    assert resq.failures.count() == 3
    assert resq.failures.retry_all() == 2
    assert sorted(d["id"] for d in resq.peek("q", 0, 10)) == sorted(ids)


def test_retry_vetoed_returns_none_and_keeps_record_unmarked(resq):
    class Veto:
        @resqplug.hookimpl
        def before_enqueue(self, job):
            raise resqplug.DontEnqueue("no")

    job_id = resq.enqueue(FailuresBoom, 1)
    drain(resq, "q")
    resqplug.register(Veto(), name="veto")
    assert resq.failures.retry(job_id) is None
    assert "retried_at" not in resq.failures.get(job_id)
    assert resq.size("q") == 0


def test_retry_with_remove_drops_the_record(resq):
    job_id = resq.enqueue(FailuresBoom, 1)
    drain(resq, "q")
    assert resq.failures.retry(job_id, remove=True) == job_id
    assert resq.failures.count() == 0
    assert resq.failures.get(job_id) is None
    assert resq.peek("q")[0]["id"] == job_id


def test_remove_deletes_one_record(resq):
    keep, drop = resq.enqueue(FailuresBoom, 1), resq.enqueue(FailuresBoom, 2)
    drain(resq, "q")
    resq.failures.remove(drop)
    assert [r["id"] for r in resq.failures.list()] == [keep]
    assert resq.failures.get(drop) is None


def test_clear_removes_every_record(resq):
    ids = [resq.enqueue(FailuresBoom, i) for i in range(3)]
    drain(resq, "q")
    assert resq.failures.clear() == 3
    assert resq.failures.count() == 0
    assert resq.failures.get(ids[0]) is None


@pytest.mark.parametrize("action", ["retry", "remove"])
def test_unknown_id_raises_unknown_failure_error(resq, action):
    with pytest.raises(resqplug.UnknownFailureError):
        getattr(resq.failures, action)("f" * 32)


def test_job_failing_again_replaces_its_old_record(resq):
    job_id = resq.enqueue(FailuresBoom, 1)
    drain(resq, "q")
    first = resq.failures.get(job_id)
    resq.failures.retry(job_id)
    drain(resq, "q")
    assert resq.failures.count() == 1
    second = resq.failures.get(job_id)
    assert "retried_at" not in second
    assert second["failed_at_ts"] >= first["failed_at_ts"]
    assert [r["id"] for r in resq.failures.list()] == [job_id]
    assert stat(resq, resq.keys.stat_failed) == 2


# --- bad payloads ---------------------------------------------------------------------------

BAD_PAYLOADS = [
    pytest.param(b"not json", "PayloadError", "not JSON", id="not-json"),
    pytest.param(b'{"class":5,"args":[]}', "PayloadError", "'class'", id="class-int"),
    pytest.param(b'{"class":"X","args":{}}', "PayloadError", "'args'", id="args-dict"),
    pytest.param(b"\xff\xfe{}", "PayloadError", "not UTF-8", id="not-utf8"),
    pytest.param(b"cos\nsystem\n(S'touch /tmp/x'\ntR.", "PayloadError", "not JSON", id="pickle"),
]


@pytest.mark.parametrize(("raw", "exception", "reason"), BAD_PAYLOADS)
def test_bad_payload_is_failed_with_reason_and_raw_text(resq, raw, exception, reason):
    push_raw(resq, raw)
    good = resq.enqueue(FailuresOk, "after")
    assert drain(resq, "q") == 2
    [record] = resq.failures.list()
    assert record["exception"] == exception
    assert reason in record["error"]
    assert record["payload"] == {"raw": raw.decode("utf-8", "replace")}
    assert record["queue"] == "q"
    assert re.fullmatch(r"[0-9a-f]{32}", record["id"])
    assert resq.failures.get(record["id"]) == record
    assert ran == [(good, ["after"])]
    assert stat(resq, resq.keys.stat_failed) == 1


def test_unknown_class_is_failed_and_next_job_runs(resq):
    push_raw(resq, b'{"class":"Nope","args":[1]}')
    good = resq.enqueue(FailuresOk)
    assert drain(resq, "q") == 2
    [record] = resq.failures.list()
    assert record["exception"] == "UnknownJobError"
    assert "Nope" in record["error"]
    assert record["payload"]["class"] == "Nope"
    assert record["payload"]["args"] == [1]
    assert ran == [(good, [])]


def test_retry_of_a_bad_payload_record_is_payload_error(resq):
    push_raw(resq, b"not json")
    drain(resq, "q")
    [record] = resq.failures.list()
    with pytest.raises(resqplug.PayloadError):
        resq.failures.retry(record["id"])


def test_unknown_class_names_are_never_imported(resq, tmp_path, monkeypatch):
    sentinel_module = "resqplug_failures_sentinel_q7x"
    imported = tmp_path / "imported"
    touched = tmp_path / "touched"
    (tmp_path / f"{sentinel_module}.py").write_text(
        f"open({str(imported)!r}, 'w').close()\nclass Thing:\n    pass\n", "utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    pickle = b"cos\nsystem\n(S'touch " + str(touched).encode() + b"'\ntR."
    for raw in [
        json.dumps({"class": "os.system", "args": [f"touch {touched}"]}).encode(),
        json.dumps({"class": f"{sentinel_module}.Thing", "args": []}).encode(),
        json.dumps({"class": sentinel_module, "args": []}).encode(),
        pickle,
    ]:
        push_raw(resq, raw)
    assert drain(resq, "q") == 4
    assert sentinel_module not in sys.modules
    assert not imported.exists()
    assert not touched.exists()
    assert [r["exception"] for r in resq.failures.list()] == [
        "UnknownJobError",
        "UnknownJobError",
        "UnknownJobError",
        "PayloadError",
    ]


# --- failures whose text is hard to encode ----------------------------------------------


class FailuresBrokenStr(Exception):
    def __str__(self):
        return self.missing  # AttributeError


class FailuresSurrogateMessage(resqplug.Job):
    queue = "q"

    def perform(self):
        raise ValueError("file \udcff")  # as os.fsdecode makes for a non-UTF-8 name


class FailuresBrokenStrJob(resqplug.Job):
    queue = "q"

    def perform(self):
        raise FailuresBrokenStr()


def inflight_size(resq):
    return resq.redis.llen(resq.keys.inflight(f"testing:drain:{resq.namespace}"))


@pytest.mark.parametrize("job_class", [FailuresSurrogateMessage, FailuresBrokenStrJob])
def test_failure_with_awkward_exception_is_still_recorded(resq, job_class):
    job_id = resq.enqueue(job_class)
    assert drain(resq, "q") == 1
    assert resq.failures.get(job_id)["exception"] in ("ValueError", "FailuresBrokenStr")
    assert inflight_size(resq) == 0


def test_bad_payload_with_escaped_lone_surrogate_is_recorded(resq):
    push_raw(resq, b'{"class":"Nope","args":["\\ud800"]}')
    assert drain(resq, "q") == 1
    assert resq.failures.count() == 1
    assert inflight_size(resq) == 0


# --- records read back from Redis are untrusted -------------------------------------------


def put_record(resq, job_id, payload, queue="q"):
    """A failure record as if written by someone else (an old version, a hand edit)."""
    record = json.dumps({"payload": payload, "queue": queue, "id": job_id, "error": "e"})
    resq.redis.rpush(resq.keys.failed, record)
    resq.redis.hset(resq.keys.failed_index, job_id, record)


MALFORMED_RECORD_PAYLOADS = [
    pytest.param({"class": "FailuresOk", "args": "abc"}, "'args'", id="args-str"),
    pytest.param({"class": ["FailuresOk"], "args": []}, "'class'", id="class-list"),
    pytest.param({"class": "FailuresOk", "args": [], "meta": "m"}, "'meta'", id="meta-str"),
    pytest.param(
        {"class": "FailuresOk", "args": [], "meta": {"attempt": "zz"}}, "meta.attempt", id="attempt"
    ),
    pytest.param(
        {"class": "FailuresOk", "args": [], "meta": {"recoveries": None}},
        "meta.recoveries",
        id="rec",
    ),
    pytest.param({"class": "FailuresOk", "args": [], "enqueued_at": "x"}, "enqueued_at", id="at"),
]


@pytest.mark.parametrize(("payload", "named"), MALFORMED_RECORD_PAYLOADS)
def test_retry_of_a_record_with_a_malformed_payload_is_one_payload_error(resq, payload, named):
    put_record(resq, "rec1", payload)

    with pytest.raises(resqplug.PayloadError, match=re.escape(named)) as info:
        resq.failures.retry("rec1")

    assert "rec1" in str(info.value)
    assert resq.size("q") == 0
    assert "retried_at" not in resq.failures.get("rec1")


def test_retry_all_skips_records_it_cannot_retry_and_retries_the_rest(resq):
    put_record(resq, "bad-meta", {"class": "FailuresOk", "args": [], "meta": {"attempt": "zz"}})
    put_record(resq, "bad-queue", {"class": "FailuresOk", "args": []}, queue="no such queue")
    put_record(resq, "good", {"class": "FailuresOk", "args": [1]})

    assert resq.failures.retry_all() == 1

    assert [doc["id"] for doc in resq.peek("q", 0, 10)] == ["good"]


def test_records_too_deep_to_read_are_listed_as_raw_text(resq):
    deep = "[" * 100_000
    resq.redis.rpush(resq.keys.failed, deep)
    resq.redis.hset(resq.keys.failed_index, "deep", deep)

    assert resq.failures.list() == [{"raw": deep[:4096]}]
    assert resq.failures.get("deep") == {"raw": deep[:4096]}
