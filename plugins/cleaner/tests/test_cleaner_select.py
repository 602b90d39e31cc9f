"""Selections of failed jobs: each filter alone and combined, time parsing,
stats, on hand-written records in the core's format, Ruby-style records, and
real failures produced by running jobs."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import cleaner_jobs as cj
import pytest
from cleaner_helpers import record, ruby_record
from resqplug_cleaner import Filter, parse_time

import resqplug
from resqplug.testing import drain

UTC = timezone.utc
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC).timestamp()
HOUR, DAY = 3600.0, 86400.0


def seed(failed: Any) -> None:
    """Six records over three days (the Ruby one has no id: labelled by class)."""
    failed.add(
        record(
            "ImportFeed",
            [1, "s3://bucket/a.xml"],
            error="feed 1 timed out",
            queue="import",
            at=T0,
            job_id="r1",
        ),
        record(
            "ImportFeed",
            [2],
            exception="ValueError",
            error="feed 2: not valid XML",
            queue="import",
            at=T0 + DAY,
            job_id="r2",
        ),
        record(
            "ChargeCard",
            [{"order": 77, "email": "ann@example.com"}],
            exception="CardDeclined",
            module="billing",
            error="card declined",
            queue="payments",
            at=T0 + DAY + HOUR,
            job_id="r3",
        ),
        record(
            "ChargeCard",
            [78],
            error="gateway timed out",
            queue="payments",
            at=T0 + 2 * DAY,
            job_id="r4",
        ),
        record(
            "SendMail",
            ["bob@example.com"],
            module="asyncio.exceptions",
            error="SMTP timed out",
            queue="mail",
            at=T0 + 2 * DAY + 2 * HOUR,
            job_id="r5",
            retried_at="2026/01/12 15:00:00 UTC",
        ),
        ruby_record(failed_at="2026/01/12 15:23:55 EST"),
    )


def labels(cleaner: Any, where: Filter) -> list[str]:
    return [r.job_id or r.payload["class"] for r in cleaner.select(where, limit=1000)]


ALL = ["r1", "r2", "r3", "r4", "r5", "LegacyMailer"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        pytest.param({}, ALL, id="everything"),
        # class
        pytest.param({"job_class": "ImportFeed"}, ["r1", "r2"], id="class"),
        pytest.param({"job_class": "LegacyMailer"}, ["LegacyMailer"], id="class-ruby"),
        pytest.param({"job_class": "importfeed"}, [], id="class-is-exact"),
        # exception by name and module.Name
        pytest.param({"exception": "TimeoutError"}, ["r1", "r4", "r5"], id="exception"),
        pytest.param({"exception": "builtins.TimeoutError"}, ["r1", "r4"], id="exception-module"),
        pytest.param({"exception": "asyncio.exceptions.TimeoutError"}, ["r5"], id="exc-other-mod"),
        pytest.param({"exception": "billing.CardDeclined"}, ["r3"], id="exception-app-module"),
        pytest.param({"exception": "Net::ReadTimeout"}, ["LegacyMailer"], id="exception-ruby"),
        pytest.param({"exception": "NoSuchError"}, [], id="exception-unknown"),
        pytest.param({"exception": "nosuchmodule.TimeoutError"}, [], id="exception-unknown-mod"),
        # queue
        pytest.param({"queue": "payments"}, ["r3", "r4"], id="queue"),
        pytest.param({"queue": "mail"}, ["r5", "LegacyMailer"], id="queue-with-ruby"),
        pytest.param({"queue": "nope"}, [], id="queue-unknown"),
        # time (epoch seconds, bounds inclusive)
        pytest.param({"since": T0 + DAY}, ["r2", "r3", "r4", "r5", "LegacyMailer"], id="since"),
        pytest.param({"until": T0 + DAY}, ["r1", "r2"], id="until"),
        pytest.param({"since": T0 + DAY, "until": T0 + 2 * DAY}, ["r2", "r3", "r4"], id="range"),
        pytest.param({"since": T0 + 10 * DAY}, [], id="since-future"),
        # text in the error message or the args, any case
        pytest.param({"text": "timed out"}, ["r1", "r4", "r5"], id="text-error"),
        pytest.param({"text": "xml"}, ["r1", "r2"], id="text-error-and-args"),
        pytest.param({"text": "ann@example.com"}, ["r3"], id="text-args-nested"),
        pytest.param({"text": "BOB@"}, ["r5"], id="text-any-case"),
        pytest.param({"text": "ReadTimeout"}, ["LegacyMailer"], id="text-ruby"),
        pytest.param({"text": "no such text"}, [], id="text-none"),
        # skip-retried
        pytest.param(
            {"include_retried": False}, ["r1", "r2", "r3", "r4", "LegacyMailer"], id="skip"
        ),
        # combinations
        pytest.param({"job_class": "ChargeCard", "exception": "TimeoutError"}, ["r4"], id="c+e"),
        pytest.param({"exception": "TimeoutError", "queue": "import"}, ["r1"], id="e+q"),
        pytest.param(
            {"exception": "TimeoutError", "include_retried": False}, ["r1", "r4"], id="e+skip"
        ),
        pytest.param({"queue": "mail", "include_retried": False}, ["LegacyMailer"], id="q+skip"),
        pytest.param({"text": "timed out", "since": T0 + DAY}, ["r4", "r5"], id="text+since"),
        pytest.param(
            {
                "job_class": "ChargeCard",
                "exception": "builtins.TimeoutError",
                "queue": "payments",
                "since": T0 + DAY,
                "until": T0 + 3 * DAY,
                "text": "GATEWAY",
                "include_retried": False,
            },
            ["r4"],
            id="all-filters",
        ),
        pytest.param({"job_class": "ImportFeed", "queue": "payments"}, [], id="disjoint"),
    ],
)
def test_filters_select_exactly_the_matching_records(failed, cleaner, where, expected):
    seed(failed)
    assert labels(cleaner, Filter(**where)) == expected


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        pytest.param("2026-01-11", None, ["r2", "r3", "r4", "r5", "LegacyMailer"], id="iso-date"),
        pytest.param(None, "2026-01-11T12:00", ["r1", "r2"], id="iso-time-inclusive"),
        pytest.param("2026-01-11T13:00:00+01:00", "2026-01-11T13:00Z", ["r2", "r3"], id="offsets"),
        pytest.param(
            datetime(2026, 1, 11, 12, 30), None, ["r3", "r4", "r5", "LegacyMailer"], id="naive-utc"
        ),
        pytest.param(
            datetime(2026, 1, 12, 7, 30, tzinfo=timezone(timedelta(hours=-5))),
            None,
            ["r5", "LegacyMailer"],
            id="aware-datetime",
        ),
        pytest.param(T0, T0, ["r1"], id="epoch-float"),
        pytest.param(int(T0 + DAY), int(T0 + DAY + HOUR), ["r2", "r3"], id="epoch-int"),
        # The Ruby record (2026/01/12 15:23:55 EST) is inside its day either way.
        pytest.param("2026-01-12", "2026-01-13", ["r4", "r5", "LegacyMailer"], id="ruby-day"),
        pytest.param("2026-01-13", None, [], id="after-all"),
    ],
)
def test_time_filters_take_iso_text_datetimes_and_epoch(failed, cleaner, since, until, expected):
    seed(failed)
    where = Filter(since=parse_time(since, what="since"), until=parse_time(until, what="until"))
    assert labels(cleaner, where) == expected


def test_ages_and_older_than_count_back_from_now(failed, cleaner):
    now = time.time()
    for name, age in [("m30", 0.5 * HOUR), ("h3", 3 * HOUR), ("d2", 2 * DAY), ("d10", 10 * DAY)]:
        failed.add(record(args=[name], at=now - age, job_id=name))
    failed.add(record(args=["d40"], at=now - 40 * DAY, job_id="d40"))

    def ages(since: str | None = None, older_than: str | None = None) -> list[str]:
        where = Filter(
            since=parse_time(since, what="--since"),
            until=parse_time(older_than, what="--older-than"),
        )
        return labels(cleaner, where)

    assert ages(since="2h") == ["m30"]
    assert ages(since="90m") == ["m30"]
    assert ages(since="1.5d") == ["m30", "h3"]
    assert ages(since="1w") == ["m30", "h3", "d2"]
    assert ages(since="7200s") == ["m30"]
    assert ages(older_than="7d") == ["d10", "d40"]
    assert ages(older_than="1h") == ["h3", "d2", "d10", "d40"]
    assert ages(since="30d", older_than="1d") == ["d2", "d10"]
    assert ages(since="1d", older_than="3d") == []


def test_parse_time_forms():
    at = datetime(2026, 1, 12, 15, 0, tzinfo=UTC)
    assert parse_time(None, what="x") is None
    assert parse_time(1768230000, what="x") == 1768230000
    assert parse_time(1768230000.5, what="x") == 1768230000.5
    assert parse_time(at, what="x") == at.timestamp()
    assert parse_time(at.replace(tzinfo=None), what="x") == at.timestamp()
    assert parse_time("2026-01-12T15:00:00Z", what="x") == at.timestamp()
    assert parse_time("2026-01-12 15:00", what="x") == at.timestamp()
    assert parse_time(" 2026-01-12T16:00+01:00 ", what="x") == at.timestamp()
    before = time.time()
    ago = parse_time("12h", what="x")
    assert ago is not None and before - 12 * HOUR - 1 <= ago <= time.time() - 12 * HOUR


@pytest.mark.parametrize(
    "bad", ["yesterday", "2026-13-01", "2026-01-12T25:00", "7 days", "12x", "-7d", "", "d7"]
)
@pytest.mark.parametrize("option", ["--since", "--until/--older-than"])
def test_malformed_time_is_a_config_error_naming_the_option(bad, option):
    with pytest.raises(resqplug.ConfigError) as err:
        parse_time(bad, what=option)
    message = str(err.value)
    assert option in message
    assert repr(bad) in message
    assert "7d" in message  # says what would be valid


def test_ruby_failed_at_zone_is_honoured(failed, cleaner):
    failed.add(ruby_record(failed_at="2026/01/12 15:23:55 EST"))  # = 20:23:55 UTC
    failed.add(ruby_record(job_class="LateMailer", failed_at="2026/01/12 22:00:00 EST"))
    since = parse_time("2026-01-12T20:00:00Z", what="--since")
    assert labels(cleaner, Filter(since=since)) == ["LegacyMailer", "LateMailer"]
    assert cleaner.stats()["day"] == {"2026-01-12": 1, "2026-01-13": 1}


def test_unparseable_failed_at_matches_no_time_filter(failed, cleaner):
    seed(failed)
    failed.add(ruby_record(job_class="Mystery", failed_at="sometime last week"))
    failed.add(ruby_record(job_class="NoTime", failed_at=None))
    assert "Mystery" in labels(cleaner, Filter())
    assert "NoTime" in labels(cleaner, Filter(queue="mail"))
    assert labels(cleaner, Filter(since=0)) == ALL
    assert labels(cleaner, Filter(until=T0 + 100 * DAY)) == ALL


def test_select_limit_and_order(failed, cleaner):
    failed.bulk(record(args=[i], job_id=f"j{i:04d}", at=T0 + i) for i in range(1234))
    assert [r.job_id for r in cleaner.select(Filter(), limit=3)] == ["j0000", "j0001", "j0002"]
    assert cleaner.select(Filter(text="j0001")) == []  # the error and the args, not the id
    late = cleaner.select(Filter(since=T0 + 1000), limit=600)
    assert [r.job_id for r in late] == [f"j{i:04d}" for i in range(1000, 1234)]
    assert [r.position for r in late[:2]] == [1000, 1001]


# --- stats ----------------------------------------------------------------------


def test_stats_group_by_class_exception_queue_and_day(failed, cleaner):
    seed(failed)
    failed.add(ruby_record(job_class="Mystery", failed_at="garbage", queue="mail"))
    stats = cleaner.stats()
    assert set(stats) == {"class", "exception", "queue", "day"}
    assert stats["class"] == {
        "ImportFeed": 2,
        "ChargeCard": 2,
        "SendMail": 1,
        "LegacyMailer": 1,
        "Mystery": 1,
    }
    assert stats["exception"] == {
        "TimeoutError": 3,
        "ValueError": 1,
        "CardDeclined": 1,
        "Net::ReadTimeout": 2,
    }
    assert stats["queue"] == {"import": 2, "payments": 2, "mail": 3}
    assert stats["day"] == {"2026-01-10": 1, "2026-01-11": 2, "2026-01-12": 3, "unknown": 1}
    assert stats["exception"].most_common(1) == [("TimeoutError", 3)]


def test_stats_of_a_selection(failed, cleaner):
    seed(failed)
    stats = cleaner.stats(Filter(exception="TimeoutError", include_retried=False))
    assert stats["class"] == {"ImportFeed": 1, "ChargeCard": 1}
    assert stats["queue"] == {"import": 1, "payments": 1}
    assert stats["day"] == {"2026-01-10": 1, "2026-01-12": 1}
    nothing = cleaner.stats(Filter(exception="NoSuchError"))
    assert all(not counter for counter in nothing.values())


def test_stats_of_an_empty_store(cleaner):
    assert {name: dict(c) for name, c in cleaner.stats().items()} == {
        "class": {},
        "exception": {},
        "queue": {},
        "day": {},
    }


def test_records_that_are_not_json_count_as_unknown(failed, cleaner):
    failed.add(record(job_id="ok"), "this is not json", '["a", "list"]')
    stats = cleaner.stats()
    assert stats["class"] == {"ImportFeed": 1, "?": 2}
    assert stats["day"]["unknown"] == 2
    assert len(cleaner.select(Filter())) == 3
    assert labels(cleaner, Filter(job_class="ImportFeed")) == ["ok"]


# --- real failures ------------------------------------------------------------------


def test_real_failures_from_running_jobs(default_client, cleaner, failed):
    imports = [resqplug.enqueue(cj.CJImportFeed, i) for i in range(3)]
    parses = [resqplug.enqueue(cj.CJParseFeed, i) for i in range(2)]
    charges = [resqplug.enqueue(cj.CJChargeCard, 100 + i) for i in range(2)]
    assert drain(default_client, [cj.IMPORT_QUEUE, cj.PAY_QUEUE]) == 7
    assert default_client.failures.count() == 7

    def ids(**where: Any) -> set[str]:
        return {r.job_id for r in cleaner.select(Filter(**where), limit=100)}

    assert ids(exception="TimeoutError") == set(imports)
    assert ids(exception="builtins.TimeoutError") == set(imports)
    assert ids(exception="cleaner_jobs.CJPaymentError") == set(charges)
    assert ids(exception="CJPaymentError") == set(charges)
    assert ids(exception="builtins.CJPaymentError") == set()
    assert ids(job_class="cleaner_tests.ParseFeed") == set(parses)
    assert ids(queue=cj.PAY_QUEUE) == set(charges)
    assert ids(text="not valid xml") == set(parses)
    assert ids(text="101") == {charges[1]}  # in the args (and the message)
    assert ids(since=parse_time("1m", what="--since")) == {*imports, *parses, *charges}
    assert ids(until=parse_time("1m", what="--until")) == set()
    stats = cleaner.stats()
    assert stats["exception"] == {"TimeoutError": 3, "ValueError": 2, "CJPaymentError": 2}
    assert stats["class"] == {
        "cleaner_tests.ImportFeed": 3,
        "cleaner_tests.ParseFeed": 2,
        "cleaner_tests.ChargeCard": 2,
    }
    assert stats["queue"] == {cj.IMPORT_QUEUE: 5, cj.PAY_QUEUE: 2}
    days = Counter(time.strftime("%Y-%m-%d", time.gmtime(d["failed_at_ts"])) for d in failed.docs())
    assert stats["day"] == days and sum(days.values()) == 7
