"""Property tests (Hypothesis) over generated malformed payloads: decode raises
nothing but PayloadError and accepts only what encode writes back unchanged;
the reaper, given a dead worker's in-flight list of such entries, finishes its
pass and leaves each entry back on a queue or in the failed list.

Fixed examples (``derandomize``), no example database: the same run in CI.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resqplug
from resqplug import payload
from resqplug.pytest_fixtures import delete_namespace
from resqplug.worker.reaper import Reaper
from resqplug.worker.registry import WorkerRegistry

CI = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class PropertyJob(resqplug.Job):
    name = "test_payload_property.PropertyJob"
    queue = "work"

    def perform(self, *args: Any) -> None:
        pass


@dataclass(frozen=True)
class Token:
    """Literal JSON-ish text where a value goes: NaN, 1e400, a 5,000-digit int."""

    text: str


TOKENS = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e400", "-1E+999", "9" * 4301, "-" + "1" * 5000, "tru"]
).map(Token)
# Any code point, lone surrogates included.
ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=8)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT | TOKENS
CLEAN_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)
BAD_COUNTS = (
    st.sampled_from(["abc", "1", None, True, False, 1.5, -1, 0, 2**63, [], {}]) | VALUES | TOKENS
)
GOOD_FIELDS = {
    "class": st.just(PropertyJob.job_name),
    "args": st.lists(CLEAN_VALUES, max_size=3),
    "id": st.uuids().map(lambda u: u.hex),
    "enqueued_at": st.floats(0, 2e9),
    "meta": st.fixed_dictionaries(
        {}, optional={"attempt": st.integers(1, 5), "recoveries": st.integers(0, 5)}
    ),
    "extra": CLEAN_VALUES,
}
# What enqueue refuses to write, somewhere inside an otherwise clean value.
TRAPS = TOKENS | st.sampled_from(["\ud800", "a\udfff", "\udc80x"])
TRAPPED = st.tuples(st.lists(CLEAN_VALUES, max_size=2), TRAPS, st.booleans()).map(
    lambda t: [*t[0], {"deep": [t[1]]} if t[2] else t[1]]
)
BAD_FIELDS = {
    **dict.fromkeys(GOOD_FIELDS, VALUES | TRAPS),
    "args": TRAPPED | VALUES,
    "meta": st.fixed_dictionaries({"recoveries": BAD_COUNTS}, optional={"other": CLEAN_VALUES})
    | st.fixed_dictionaries({"attempt": BAD_COUNTS}, optional={"recoveries": st.integers(0, 5)})
    | TRAPPED.map(lambda t: {"other": t})
    | VALUES,
    "extra": TRAPPED,
}


@st.composite
def payload_docs(draw: st.DrawFn) -> dict[str, Any]:
    """A payload-shaped document: every field right but at most one, which is
    wrong or missing (args, extra and meta may hold NaN, huge ints, surrogates)."""
    broken = draw(
        st.sampled_from(
            [None, "class", "args", "args", "id", "enqueued_at", "meta", "meta", "extra"]
        )
    )
    doc = {}
    for key, good in GOOD_FIELDS.items():
        if key != broken:
            value = draw(good)
        elif draw(st.booleans()):
            value = draw(BAD_FIELDS[key])
        else:
            continue
        if key != "extra" or draw(st.booleans()):
            doc[key] = value
    return doc


def to_json(value: Any, ascii_only: bool) -> str:
    """JSON text of ``value`` with Tokens written as they are (json.dumps
    refuses some of them)."""
    if isinstance(value, Token):
        return value.text
    if isinstance(value, list):
        return "[" + ",".join(to_json(v, ascii_only) for v in value) + "]"
    if isinstance(value, dict):
        items = (
            f"{json.dumps(k, ensure_ascii=ascii_only)}:{to_json(v, ascii_only)}"
            for k, v in value.items()
        )
        return "{" + ",".join(items) + "}"
    return json.dumps(value, ensure_ascii=ascii_only)


@st.composite
def raw_payloads(draw: st.DrawFn) -> bytes:
    """Bytes a queue or an in-flight list might hold: mostly payload-shaped
    JSON (lone surrogates escaped or raw), sometimes any JSON or any bytes."""
    kind = draw(st.sampled_from(["doc", "doc", "doc", "value", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    value = draw(payload_docs()) if kind == "doc" else draw(VALUES)
    return to_json(value, draw(st.booleans())).encode("utf-8", "surrogatepass")


def encode_back(doc: dict[str, Any]) -> str:
    """What enqueue would write for a decoded payload."""
    payload.check_args(doc["args"])
    return payload.encode(
        doc["class"], doc["args"], doc["id"], doc.get("enqueued_at"), doc.get("meta", {})
    )


@settings(CI, max_examples=200)
@given(raw=raw_payloads())
def test_decode_raises_only_payload_error_and_accepts_only_what_encode_writes(raw):
    try:
        doc = payload.decode(raw)
    except resqplug.PayloadError as exc:
        assert "\n" not in str(exc)
        return
    expected = {"class": doc["class"], "args": doc["args"], "id": doc["id"]}
    if doc.get("enqueued_at") is not None:
        expected["enqueued_at"] = doc["enqueued_at"]
    assert payload.decode(encode_back(doc)) == {**expected, "meta": doc.get("meta", {})}
    payload.dumps(doc).encode("utf-8")  # the reaper writes the document back as it is


# --- the reaper over a dead worker's generated in-flight entries --------------------------


@contextmanager
def fresh_client(redis_url: str) -> Iterator[resqplug.Resq]:
    """A client in a namespace of its own, deleted afterwards (one per example)."""
    client = resqplug.Resq(redis_url, "t-prop-" + uuid.uuid4().hex[:12])
    try:
        yield client
    finally:
        delete_namespace(client.redis, client.namespace)


QUEUES = st.sampled_from(["work", "other"]) | st.binary(max_size=12).map(
    lambda b: b.decode("utf-8", "replace").replace("\t", " ")
)


@st.composite
def in_flight_entries(draw: st.DrawFn) -> tuple[str, list[bytes]]:
    """A dead worker's id and its in-flight entries: bare payloads for a
    one-queue worker, ``queue<TAB>payload`` (queue often wrong) for one of several."""
    raws = draw(st.lists(raw_payloads(), min_size=1, max_size=5, unique=True))
    if draw(st.booleans()):
        return "deadhost:1-abc:work", raws
    entries = [draw(QUEUES).encode() + b"\t" + raw for raw in raws]
    if draw(st.booleans()):
        entries.append(draw(st.binary(max_size=20)).replace(b"\t", b""))  # no queue at all
    return "deadhost:1-abc:work,other", list(dict.fromkeys(entries))


def queued_total(client: resqplug.Resq) -> int:
    return sum(client.size(name) for name in client.queues())


@settings(CI, max_examples=60)
@given(dead=in_flight_entries(), max_recoveries=st.integers(0, 3))
def test_reaper_pass_puts_every_generated_entry_back_or_fails_it(redis_url, dead, max_recoveries):
    worker_id, entries = dead
    with fresh_client(redis_url) as client:
        client.redis.rpush(client.keys.inflight(worker_id), *entries)
        WorkerRegistry(client.redis, client.keys, worker_id, 60.0).register({"pid": 1})
        client.redis.zadd(client.keys.leases, {worker_id: 0})

        handled = Reaper(client, "prop-reaper", max_recoveries).reap()

        failed = int(client.redis.get(client.keys.stat_failed) or 0)
        assert handled == len(entries)
        assert queued_total(client) + failed == len(entries)
        assert not client.redis.exists(client.keys.inflight(worker_id))
        assert not client.redis.sismember(client.keys.workers, worker_id)
        for name in client.queues():
            for doc in client.peek(name, 0, len(entries)):
                assert "error" not in doc  # only payloads that decode go back
