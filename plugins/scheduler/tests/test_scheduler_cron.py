"""Schedules: validation, cron with time zones and a seconds field, ``every``,
missed ticks, and the leader lease (SchedulerLoop in this process, real Redis)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import scheduler_jobs as jobs
from resqplug_scheduler import Schedule, ScheduleStore, from_config, parse_every
from resqplug_scheduler.loop import SchedulerLoop
from scheduler_helpers import queued, server_time, wait_for

import resqplug

NY = ZoneInfo("America/New_York")
UTC = timezone.utc
assert jobs.SchedRecord  # registered here, so SchedulerLoop can fire it


def ts(*parts: int, tz: object = UTC) -> float:
    return datetime(*parts, tzinfo=tz).timestamp()  # type: ignore[arg-type]


def fires(schedule: Schedule, start: float, end: float) -> list[float]:
    out, t = [], start
    while True:
        t = schedule.next_after(t)
        if t >= end:
            return out
        out.append(t)


def local(t: float) -> str:
    return datetime.fromtimestamp(t, NY).strftime("%Y-%m-%d %H:%M %Z")


# --- parsing and validation -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90),
        (0.5, 0.5),
        ("30s", 30),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("250ms", 0.25),
        ("2d", 172800),
        ("1w", 604800),
        ("1.5m", 90),
    ],
)
def test_parse_every(value: object, seconds: float) -> None:
    assert parse_every(value) == seconds


@pytest.mark.parametrize("value", [0, -5, True, None, "", "abc", "10x", "s", "0s", [1]])
def test_parse_every_refuses(value: object) -> None:
    with pytest.raises(resqplug.ConfigError, match="invalid every"):
        parse_every(value)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("0 * * * *", "must be a table"),
        ({"class": "C", "every": 1, "colour": "red"}, "unknown settings"),
        ({"every": 1}, "'class' must name a job class"),
        ({"class": "C"}, "exactly one of 'cron' and 'every'"),
        ({"class": "C", "cron": "* * * * *", "every": 5}, "exactly one of"),
        ({"class": "C", "cron": "61 * * * *"}, "invalid cron"),
        ({"class": "C", "cron": "* * * *"}, "invalid cron"),
        ({"class": "C", "cron": "* * * * * * *"}, "invalid cron"),
        ({"class": "C", "cron": 5}, "invalid cron"),
        ({"class": "C", "every": 1, "args": [float("nan")]}, "schedule 'x'"),
        ({"class": "C", "every": 1, "tz": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"class": "C", "every": "soon"}, "invalid every"),
    ],
)
def test_from_config_names_what_is_wrong(config: object, message: str) -> None:
    with pytest.raises(resqplug.ConfigError, match=message) as info:
        from_config("x", config)
    assert "schedule 'x'" in str(info.value) or "every" in str(info.value)


def test_from_config_reads_a_full_entry() -> None:
    s = from_config(
        "nightly",
        {
            "class": "SchedRecord",
            "cron": "0 3 * * *",
            "tz": "Europe/Paris",
            "queue": "low",
            "args": ["tmp", 1],
            "description": "clean up",
        },
    )
    assert s == Schedule(
        "nightly", "SchedRecord", ["tmp", 1], "low", "0 3 * * *", None, "Europe/Paris", "clean up"
    )
    assert from_config("one", {"class": "C", "every": "1m", "args": 7}).args == [7]
    assert from_config("e", s.to_config()) == Schedule(
        "e", "SchedRecord", ["tmp", 1], "low", "0 3 * * *", None, "Europe/Paris", "clean up"
    )


# --- time zones, DST and the seconds field -----------------------------------------------


def test_daily_cron_in_new_york_follows_the_wall_clock_across_both_dst_changes() -> None:
    s = from_config("ny", {"class": "C", "cron": "0 9 * * *", "tz": "America/New_York"})
    spring = fires(s, ts(2024, 3, 8), ts(2024, 3, 12))
    assert [datetime.fromtimestamp(t, UTC).hour for t in spring] == [14, 14, 13, 13]
    assert [local(t)[-9:] for t in spring] == ["09:00 EST", "09:00 EST", "09:00 EDT", "09:00 EDT"]
    autumn = fires(s, ts(2024, 11, 1), ts(2024, 11, 5))
    assert [datetime.fromtimestamp(t, UTC).hour for t in autumn] == [13, 13, 14, 14]
    assert [b - a for a, b in itertools.pairwise(autumn)] == [86400, 90000, 86400]


def test_cron_in_the_skipped_hour_fires_once_on_the_spring_forward_day() -> None:
    s = from_config("ny", {"class": "C", "cron": "30 2 * * *", "tz": "America/New_York"})
    days = fires(s, ts(2024, 3, 8, 12), ts(2024, 3, 12, 12))
    assert len(days) == 4
    by_day = [datetime.fromtimestamp(t, NY).date().day for t in days]
    assert by_day == [9, 10, 11, 12]
    # 02:30 does not exist on March 10: it fires when the clock jumps, at 03:00 EDT.
    assert local(days[1]) == "2024-03-10 03:00 EDT"


def test_hourly_cron_fires_25_times_on_the_fall_back_day() -> None:
    s = from_config("ny", {"class": "C", "cron": "0 * * * *", "tz": "America/New_York"})
    start = ts(2024, 11, 3, tz=NY) - 1  # just before midnight local
    end = ts(2024, 11, 4, tz=NY)
    hours = fires(s, start, end)
    assert len(hours) == 25
    assert {b - a for a, b in itertools.pairwise(hours)} == {3600}


def test_daily_cron_in_the_repeated_hour_fires_once_on_the_fall_back_day() -> None:
    s = from_config("ny", {"class": "C", "cron": "30 1 * * *", "tz": "America/New_York"})
    days = fires(s, ts(2024, 11, 1, 12), ts(2024, 11, 5, 12))
    on_day = [local(t) for t in days if datetime.fromtimestamp(t, NY).date().day == 3]
    assert len(on_day) == 1, on_day


def test_six_field_cron_has_seconds_first() -> None:
    every15 = from_config("s", {"class": "C", "cron": "*/15 * * * * *"})
    t = ts(2024, 5, 1, 12, 0, 7)
    assert fires(every15, t, t + 50) == [t + 8, t + 23, t + 38]
    at30 = from_config("s", {"class": "C", "cron": "30 */2 * * * *"})
    t = ts(2024, 5, 1, 12, 0, 0)
    assert fires(at30, t, t + 300) == [t + 30, t + 150, t + 270]
    # The same 5-field cron has no seconds: minute first.
    five = from_config("f", {"class": "C", "cron": "*/15 * * * *"})
    assert five.next_after(t) == t + 900
    # Seconds with a time zone.
    ny = from_config("n", {"class": "C", "cron": "5 0 9 * * *", "tz": "America/New_York"})
    assert local(ny.next_after(ts(2024, 7, 1))) == "2024-07-01 09:00 EDT"
    assert ny.next_after(ts(2024, 7, 1)) == ts(2024, 7, 1, 13, 0, 5)


def test_six_field_cron_fields_are_validated_in_their_own_place() -> None:
    t = ts(2024, 5, 1, 12, 0, 0)
    midnight = from_config("midnight", {"class": "C", "cron": "0 0 0 * * *"})
    assert fires(midnight, t, t + 86400) == [ts(2024, 5, 2)]
    half = from_config("half", {"class": "C", "cron": "0 30 * * * *"})
    assert fires(half, t, t + 7200) == [t + 1800, t + 5400]
    mid_month = from_config("mid", {"class": "C", "cron": "0 0 12 15 * *"})
    assert mid_month.next_after(t) == ts(2024, 5, 15, 12)


# --- latest_due: missed ticks fire once -------------------------------------------------


def test_latest_due_is_the_last_tick_in_the_window() -> None:
    every = from_config("e", {"class": "C", "every": 60})
    assert every.latest_due(1000.0, 1059.9) is None
    assert every.latest_due(1000.0, 1060.0) == 1060.0
    assert every.latest_due(1000.0, 1000.0 + 86400 + 59) == 1000.0 + 86400
    cron = from_config("c", {"class": "C", "cron": "* * * * *"})
    last = ts(2024, 1, 1, 0, 0)
    assert cron.latest_due(last, last + 59) is None
    assert cron.latest_due(last, last + 2 * 86400 + 30) == last + 2 * 86400


def test_latest_due_after_many_missed_ticks_is_the_latest_tick() -> None:
    cron = from_config("c", {"class": "C", "cron": "* * * * * *"})
    last = ts(2024, 1, 1)
    assert cron.latest_due(last, last + 25.5) == last + 25
    assert cron.latest_due(last, last + 30 * 86400 + 0.5) == last + 30 * 86400


# --- the loop in this process: missed ticks and the leader lease --------------------------


@pytest.fixture
def loops(default_client: resqplug.Resq) -> Iterator[list[SchedulerLoop]]:
    made: list[SchedulerLoop] = []
    try:
        yield made
    finally:
        for loop in made:
            loop.stop()
            loop.resign()


def test_missed_ticks_fire_once(default_client: resqplug.Resq, loops: list[SchedulerLoop]) -> None:
    store = ScheduleStore(default_client)
    store.set("minutely", {"class": "SchedRecord", "cron": "* * * * *", "args": ["m"]})
    store.set("hourly", {"class": "SchedRecord", "every": "1h", "args": ["h"]})
    now = server_time(default_client)
    missed = {"minutely": now - 2 * 86400, "hourly": now - 3 * 86400 - 5}
    default_client.redis.hset(store.last, mapping=missed)
    loop = SchedulerLoop(default_client)
    loops.append(loop)
    loop.tick()
    loop.tick()
    fired = {p["args"][0]: p["meta"]["scheduler"] for p in queued(default_client, "sched")}
    assert len(queued(default_client, "sched")) == 2
    assert fired["m"]["schedule"] == "minutely"
    assert fired["m"]["tick"] % 60 == 0
    assert now - 60 < fired["m"]["tick"] <= now + 1
    assert fired["h"]["tick"] == pytest.approx(now - 5, abs=0.01)
    last = store.last_fired()
    assert last["minutely"] == fired["m"]["tick"]
    assert last["hourly"] == fired["h"]["tick"]


def test_new_every_fires_at_once_new_cron_waits(
    default_client: resqplug.Resq, loops: list[SchedulerLoop]
) -> None:
    store = ScheduleStore(default_client)
    store.set("every", {"class": "SchedRecord", "every": "1h", "args": ["e"]})
    store.set("cron", {"class": "SchedRecord", "cron": "0 0 1 1 *", "args": ["c"]})
    loop = SchedulerLoop(default_client)
    loops.append(loop)
    loop.tick()
    assert [p["args"] for p in queued(default_client, "sched")] == [["e"]]
    assert set(store.last_fired()) == {"every", "cron"}
    loop.tick()
    assert len(queued(default_client, "sched")) == 1


def test_a_tick_fires_once_even_when_last_is_lost(
    default_client: resqplug.Resq, loops: list[SchedulerLoop]
) -> None:
    """The tick guard: a second leader that computes the same tick (its `last`
    write was lost) does not enqueue it again."""
    store = ScheduleStore(default_client)
    store.set("m", {"class": "SchedRecord", "cron": "0 0 * * *", "args": ["m"]})
    start = server_time(default_client) - 3 * 86400
    default_client.redis.hset(store.last, "m", start)
    first = SchedulerLoop(default_client)
    loops.append(first)
    first.tick()
    default_client.redis.hset(store.last, "m", start)  # as if that write never happened
    first.resign()
    second = SchedulerLoop(default_client)
    loops.append(second)
    second.tick()
    assert second.leading
    assert len(queued(default_client, "sched")) == 1


def test_only_one_loop_leads_and_the_lease_is_owner_checked(
    default_client: resqplug.Resq, loops: list[SchedulerLoop]
) -> None:
    a, b = SchedulerLoop(default_client), SchedulerLoop(default_client)
    loops += [a, b]
    leader_key = default_client.keys.plugin("scheduler", "leader")
    assert a.lead() is True
    assert b.lead() is False
    assert a.lead() is True  # renewed
    assert default_client.redis.get(leader_key) == a.token.encode()
    assert 0 < default_client.redis.pttl(leader_key) <= 10_000

    # The lease expires (a paused leader): b takes over; a can neither renew
    # b's lease nor release it.
    default_client.redis.delete(leader_key)
    assert b.lead() is True
    a.resign()
    assert default_client.redis.get(leader_key) == b.token.encode()
    assert a.lead() is False
    assert default_client.redis.get(leader_key) == b.token.encode()

    b.resign()
    assert default_client.redis.get(leader_key) is None
    assert a.lead() is True


def test_when_the_leader_stops_another_loop_takes_over(
    default_client: resqplug.Resq, loops: list[SchedulerLoop]
) -> None:
    a = SchedulerLoop(default_client, interval=0.05)
    b = SchedulerLoop(default_client, interval=0.05)
    loops += [a, b]
    leader_key = default_client.keys.plugin("scheduler", "leader")
    ta = threading.Thread(target=a.run, daemon=True)
    tb = threading.Thread(target=b.run, daemon=True)
    ta.start()
    wait_for(lambda: default_client.redis.get(leader_key) == a.token.encode(), what="a leads")
    tb.start()
    # b ticks many times meanwhile and never leads.
    wait_for(lambda: default_client.redis.get(leader_key) == a.token.encode() and not b.leading)
    for _ in range(10):
        assert default_client.redis.get(leader_key) == a.token.encode()
        assert not b.leading
        threading.Event().wait(0.03)
    a.stop()
    ta.join(5)
    assert not ta.is_alive()
    assert not a.leading
    wait_for(lambda: default_client.redis.get(leader_key) == b.token.encode(), what="b leads")
    wait_for(lambda: b.leading, what="b to know it leads")
    b.stop()
    tb.join(5)
    assert default_client.redis.get(leader_key) is None
