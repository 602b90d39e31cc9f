"""Payload encoding, argument validation, size limits, queue names and decoding."""

from __future__ import annotations

import datetime
import decimal
import json
import re

import pytest

import resqplug
from resqplug import payload
from resqplug.testing import drain

seen_jobs: list[tuple[str, list]] = []


class PayloadEcho(resqplug.Job):
    queue = "q"

    def perform(self, *args):
        seen_jobs.append((self.id, list(args)))


@pytest.fixture(autouse=True)
def _clear_seen():
    seen_jobs.clear()


def raw_queue(resq, queue="q"):
    return resq.redis.lrange(resq.keys.queue(queue), 0, -1)


def nested_list(depth):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


# --- encoding --------------------------------------------------------------------


def test_payload_is_compact_json_with_keys_in_resque_order(resq):
    job_id = resq.enqueue(PayloadEcho, 1, "x", {"a": [True, None]}, 1.5)
    [raw] = raw_queue(resq)
    at = json.loads(raw)["enqueued_at"]
    expected = (
        '{"class":"PayloadEcho","args":[1,"x",{"a":[true,null]},1.5],'
        f'"id":"{job_id}","enqueued_at":{at!r},"meta":{{}}}}'
    )
    assert raw == expected.encode("utf-8")


def test_unicode_and_emoji_are_written_as_utf8_not_escaped(resq):
    resq.enqueue(PayloadEcho, "héllo", "日本語", "😀")
    [raw] = raw_queue(resq)
    assert '"args":["héllo","日本語","😀"]'.encode() in raw
    assert b"\\u" not in raw


def test_args_survive_a_round_trip_through_a_worker(resq):
    args = [0, -1, 2**62, 0.25, "é😀", [1, [2]], {"k": {"n": None}}, True, False, None]
    job_id = resq.enqueue(PayloadEcho, *args)
    drain(resq, "q")
    assert seen_jobs == [(job_id, args)]


def test_job_id_is_32_hex_and_enqueued_at_is_recent(resq):
    job_id = resq.enqueue(PayloadEcho)
    [doc] = resq.peek("q")
    assert re.fullmatch(r"[0-9a-f]{32}", job_id)
    assert doc["id"] == job_id
    assert abs(doc["enqueued_at"] - datetime.datetime.now().timestamp()) < 60


# --- rejected args ---------------------------------------------------------------


class Opaque:
    pass


REJECTED = [
    pytest.param((1, {"when": datetime.datetime(2024, 1, 1)}), "args[1]['when']", id="datetime"),
    pytest.param((datetime.date(2024, 1, 1),), "args[0]", id="date"),
    pytest.param(({1, 2},), "args[0]", id="set"),
    pytest.param((b"bytes",), "args[0]", id="bytes"),
    pytest.param(("ok", [1, (2, 3)]), "args[1][1]", id="tuple"),
    pytest.param((decimal.Decimal("1.5"),), "args[0]", id="decimal"),
    pytest.param(({"o": Opaque()},), "args[0]['o']", id="custom-object"),
    pytest.param((float("nan"),), "args[0]", id="nan"),
    pytest.param((1, float("inf")), "args[1]", id="inf"),
    pytest.param(({"x": [float("-inf")]},), "args[0]['x'][0]", id="-inf"),
    pytest.param(({"a": {1: "x"}},), "args[0]['a']", id="int-dict-key"),
    pytest.param(({"s": "bad\ud800"},), "args[0]['s']", id="lone-surrogate"),
    pytest.param((nested_list(80),), "args[0][0]", id="too-deep"),
]


@pytest.mark.parametrize(("args", "path"), REJECTED)
def test_non_json_arg_raises_payload_error_naming_path_and_writes_nothing(resq, args, path):
    with pytest.raises(resqplug.PayloadError) as info:
        resq.enqueue(PayloadEcho, *args)
    assert path in str(info.value)
    assert resq.size("q") == 0
    assert resq.queues() == []


def test_dict_key_with_lone_surrogate_raises_payload_error(resq):
    with pytest.raises(resqplug.PayloadError, match=re.escape("args[0]")):
        resq.enqueue(PayloadEcho, {"bad\ud800": 1})


def test_dict_key_with_lone_surrogate_writes_nothing(resq):
    with pytest.raises(Exception):  # noqa: B017 - any error, as long as nothing is written
        resq.enqueue(PayloadEcho, {"bad\ud800": 1})
    assert resq.size("q") == 0


def test_payload_error_is_a_resqplug_error_and_value_error():
    assert issubclass(resqplug.PayloadError, resqplug.ResqplugError)
    assert issubclass(resqplug.PayloadError, ValueError)


def test_nesting_just_under_the_limit_is_accepted(resq):
    assert resq.enqueue(PayloadEcho, nested_list(payload.MAX_DEPTH - 2))


def test_enqueue_many_with_one_bad_arg_writes_nothing(resq):
    with pytest.raises(resqplug.PayloadError, match=re.escape("args[0]")):
        resq.enqueue_many(PayloadEcho, [(1,), ({1, 2},)])
    assert resq.size("q") == 0


# --- size limit ---------------------------------------------------------------------


def test_payload_over_default_512_kib_is_refused(resq):
    with pytest.raises(resqplug.PayloadError, match=str(512 * 1024)):
        resq.enqueue(PayloadEcho, "x" * (512 * 1024))
    assert resq.size("q") == 0
    assert resq.queues() == []


def test_payload_just_under_default_limit_is_accepted(resq):
    assert resq.enqueue(PayloadEcho, "x" * (512 * 1024 - 200))


def test_custom_max_payload_bytes_is_enforced(redis_url, namespace):
    small = resqplug.Resq(redis_url, namespace, max_payload_bytes=1024)
    assert small.enqueue(PayloadEcho, "x" * 100)
    with pytest.raises(resqplug.PayloadError, match="1024"):
        small.enqueue(PayloadEcho, "x" * 2000)
    assert small.size("q") == 1


def test_size_limit_counts_utf8_bytes_not_characters(redis_url, namespace):
    small = resqplug.Resq(redis_url, namespace, max_payload_bytes=1024)
    with pytest.raises(resqplug.PayloadError):
        small.enqueue(PayloadEcho, "😀" * 300)  # 300 characters, 1200 bytes
    assert small.size("q") == 0


def test_configure_max_payload_bytes_applies_to_module_api(redis_url, namespace):
    resqplug.configure(url=redis_url, namespace=namespace, max_payload_bytes=1024)
    with pytest.raises(resqplug.PayloadError):
        resqplug.enqueue(PayloadEcho, "x" * 2000)
    assert resqplug.size("q") == 0


# --- queue names ----------------------------------------------------------------------

BAD_QUEUES = [
    pytest.param(
        "",
        id="empty",
    ),
    pytest.param("*", id="star"),
    pytest.param("a:b", id="colon"),
    pytest.param("a b", id="space"),
    pytest.param("a\tb", id="tab"),
    pytest.param("a\nb", id="newline"),
    pytest.param("x" * 129, id="too-long"),
]


@pytest.mark.parametrize("name", BAD_QUEUES)
def test_enqueue_to_bad_queue_name_raises_queue_name_error(resq, name):
    with pytest.raises(resqplug.QueueNameError):
        resq.enqueue_to(name, PayloadEcho)
    assert resq.queues() == []


@pytest.mark.parametrize("name", ["", "*", "a:b", " ", "a b", "x" * 129, None, 5])
def test_validate_queue_name_rejects(name):
    with pytest.raises(resqplug.QueueNameError):
        payload.validate_queue_name(name)


def test_queue_name_of_128_characters_is_accepted(resq):
    name = "q" * 128
    assert resq.enqueue_to(name, PayloadEcho)
    assert resq.queues() == [name]


def test_bad_queue_on_job_class_is_refused_at_enqueue(resq):
    class PayloadBadQueue(resqplug.Job):
        queue = "bad queue"

    with pytest.raises(resqplug.QueueNameError):
        resq.enqueue(PayloadBadQueue)
    assert resq.queues() == []


# --- decoding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        pytest.param(b"not json", "not JSON", id="not-json"),
        pytest.param(b"\xff\xfe", "not UTF-8", id="not-utf8"),
        pytest.param(b"[1,2]", "list", id="list"),
        pytest.param(b'"text"', "str", id="string"),
        pytest.param(b'{"args":[]}', "'class'", id="missing-class"),
        pytest.param(b'{"class":"","args":[]}', "'class'", id="empty-class"),
        pytest.param(b'{"class":5,"args":[]}', "'class'", id="class-int"),
        pytest.param(b'{"class":"X"}', "'args'", id="missing-args"),
        pytest.param(b'{"class":"X","args":{"a":1}}', "'args'", id="args-dict"),
        pytest.param(b'{"class":"X","args":[],"id":"../etc"}', "job id", id="id-path"),
        pytest.param(b'{"class":"X","args":[],"id":5}', "job id", id="id-int"),
        pytest.param(b'{"class":"X","args":[],"id":""}', "job id", id="id-empty"),
        pytest.param(b'{"class":"X","args":[],"meta":[]}', "'meta'", id="meta-list"),
        pytest.param(b'{"class":"X","args":[],"enqueued_at":"x"}', "enqueued_at", id="at"),
    ],
)
def test_decode_rejects_bad_payloads_with_a_reason(raw, fragment):
    with pytest.raises(resqplug.PayloadError, match=re.escape(fragment)):
        payload.decode(raw)


def test_decode_accepts_str_and_bytes():
    text = '{"class":"X","args":[1],"id":"abc","meta":{"p":1}}'
    assert payload.decode(text) == payload.decode(text.encode()) == json.loads(text)


def test_ruby_payload_without_id_gets_a_stable_derived_id():
    raw = b'{"class":"PayloadEcho","args":[1,"two"]}'
    first = payload.decode(raw)["id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert payload.decode(raw)["id"] == first
    assert payload.decode(b'{"class":"PayloadEcho","args":[2,"two"]}')["id"] != first


def test_ruby_payload_without_id_runs_with_its_derived_id(resq):
    raw = b'{"class":"PayloadEcho","args":[1,"two"]}'
    resq.redis.rpush(resq.keys.queue("q"), raw)
    resq.redis.sadd(resq.keys.queues, "q")
    assert resq.peek("q")[0]["id"] == payload.decode(raw)["id"]
    assert drain(resq, "q") == 1
    assert seen_jobs == [(payload.decode(raw)["id"], [1, "two"])]
    assert resq.failures.count() == 0


# --- decode and encode agree: what enqueue refuses, decode refuses ----------------------


@pytest.mark.parametrize(
    ("args", "path"),
    [
        pytest.param((10**5000,), "args[0]", id="top"),
        pytest.param((1, {"n": [-(10**4400)]}), "args[1]['n'][0]", id="nested-negative"),
    ],
)
def test_enqueue_of_an_int_too_long_for_json_names_its_path(resq, args, path):
    with pytest.raises(resqplug.PayloadError, match=re.escape(path) + ".*4300 digits"):
        resq.enqueue(PayloadEcho, *args)
    assert resq.size("q") == 0


def test_meta_int_too_long_for_json_is_refused_naming_its_path():
    with pytest.raises(resqplug.PayloadError, match=re.escape("meta['big']")):
        payload.encode("X", [], "abc", None, {"big": 10**5000})


def test_int_of_4300_digits_still_round_trips(resq):
    big = int("9" * 4300)
    resq.enqueue(PayloadEcho, big)
    assert drain(resq, "q") == 1
    assert seen_jobs[0][1] == [big]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        pytest.param('{"class":"X","args":[NaN]}', "NaN", id="nan-arg"),
        pytest.param('{"class":"X","args":[[{"a":Infinity}]]}', "Infinity", id="inf-nested"),
        pytest.param('{"class":"X","args":[],"meta":{"m":-Infinity}}', "-Infinity", id="meta"),
        pytest.param('{"class":"X","args":[],"enqueued_at":NaN}', "NaN", id="enqueued-at"),
        pytest.param('{"class":"X","args":[1e400]}', "1e400", id="float-overflow"),
        pytest.param('{"class":"X","args":[-2E+999]}', "-2E+999", id="float-overflow-neg"),
        pytest.param('{"class":"X","args":[' + "9" * 4301 + "]}", "int too long", id="int"),
        pytest.param(
            '{"class":"X","args":[],"meta":{"n":-' + "1" * 5000 + "}}", "int", id="int-meta"
        ),
        pytest.param(
            '{"class":"X","args":[],"meta":{"s":"\\udc80"}}', "meta['s']", id="surrogate-meta"
        ),
        pytest.param('{"class":"\\ud800","args":[]}', "class", id="surrogate-class"),
        pytest.param('{"class":"X","args":[],"x\\ud800":1}', "payload key", id="surrogate-key"),
        pytest.param('{"class":"X","args":' + "[" * 100_000, "too deeply", id="deep"),
    ],
)
def test_decode_refuses_what_encode_refuses(raw, fragment):
    with pytest.raises(resqplug.PayloadError, match=re.escape(fragment)):
        payload.decode(raw.encode())


def test_decode_of_text_with_a_lone_surrogate_is_refused():
    with pytest.raises(resqplug.PayloadError, match="not UTF-8"):
        payload.decode('{"class":"X","args":["\ud800"]}')


def test_decode_keeps_escaped_surrogate_pairs():
    doc = payload.decode(b'{"class":"X","args":["\\ud83d\\ude00"],"meta":{"e":"\\ud83d\\ude00"}}')
    assert doc["args"] == ["😀"] == [doc["meta"]["e"]]


# --- the meta fields the core reads: checked once, on decode and on encode --------------

BAD_COUNTS = ["abc", "1", None, True, False, 1.0, -1, 2**63, [], {}]


@pytest.mark.parametrize("field", ["attempt", "recoveries"])
@pytest.mark.parametrize("value", BAD_COUNTS, ids=repr)
def test_decode_refuses_a_bad_core_meta_count_naming_field_and_value(field, value):
    raw = json.dumps({"class": "X", "args": [], "meta": {field: value}})
    with pytest.raises(resqplug.PayloadError, match=re.escape(f"meta.{field}")) as info:
        payload.decode(raw)
    assert repr(value)[:20] in str(info.value)
    assert "\n" not in str(info.value)


def test_attempt_zero_is_refused_recoveries_zero_accepted():
    with pytest.raises(resqplug.PayloadError, match=re.escape("meta.attempt")):
        payload.decode('{"class":"X","args":[],"meta":{"attempt":0}}')
    meta = {"attempt": 1, "recoveries": 0, "other": "anything"}
    assert payload.decode(json.dumps({"class": "X", "args": [], "meta": meta}))["meta"] == meta


def test_largest_counts_are_accepted():
    meta = {"attempt": 2**63 - 1, "recoveries": 2**63 - 1}
    assert payload.decode(json.dumps({"class": "X", "args": [], "meta": meta}))["meta"] == meta


@pytest.mark.parametrize("field", ["attempt", "recoveries"])
def test_encode_refuses_a_bad_core_meta_count(field):
    with pytest.raises(resqplug.PayloadError, match=re.escape(f"meta.{field}")):
        payload.encode("X", [], "abc", None, {field: "zz"})


def test_queued_job_with_a_bad_attempt_fails_as_a_bad_payload_not_a_value_error(resq):
    text = '{"class":"PayloadEcho","args":[],"id":"zz1","meta":{"attempt":"zz"}}'
    resq.redis.rpush(resq.keys.queue("q"), text)
    resq.redis.sadd(resq.keys.queues, "q")

    assert drain(resq, "q") == 1

    assert seen_jobs == []
    record = resq.failures.list()[0]
    assert (record["exception"], record["payload"]) == ("PayloadError", {"raw": text})
    assert "meta.attempt" in record["error"]


def test_build_refuses_a_bad_core_meta_count_before_any_enqueue_hook(resq):
    with pytest.raises(resqplug.PayloadError, match=re.escape("meta.attempt")):
        resq.build(PayloadEcho, [], meta={"attempt": "zz"})


def test_enqueue_payload_refuses_a_bad_core_meta_count_before_any_enqueue_hook(resq):
    doc = {"class": "PayloadEcho", "args": [], "meta": {"recoveries": "abc"}}
    with pytest.raises(resqplug.PayloadError, match=re.escape("meta.recoveries")):
        resq.enqueue_payload(doc, "q")
    assert resq.size("q") == 0
