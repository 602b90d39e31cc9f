"""Recurring schedules with real processes: invalid entries reported and
skipped, schedules added and removed at runtime, ``resqplug schedule ...``,
TOML files, and ``resqplug work --with-scheduler``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from resqplug_scheduler import ScheduleStore
from scheduler_helpers import (
    ResqplugProcess,
    Spawn,
    metas,
    queued,
    run_cli,
    runs,
    scheduled_runs,
    started,
    wait_for,
)

import resqplug


def fired(client: resqplug.Resq, schedule: str, queue: str = "sched") -> list[dict[str, Any]]:
    """Jobs a schedule put in ``queue`` (no worker runs them)."""
    return [
        p
        for p in queued(client, queue)
        if p["meta"].get("scheduler", {}).get("schedule") == schedule
    ]


def alive(*procs: ResqplugProcess) -> None:
    for p in procs:
        assert p.alive(), f"{p.cmd} exited:\n{p.output()}"


def wait_fired(
    client: resqplug.Resq,
    schedule: str,
    count: int,
    *procs: ResqplugProcess,
    queue: str = "sched",
    timeout: float = 15,
) -> list[dict[str, Any]]:
    def enough() -> list[dict[str, Any]] | None:
        alive(*procs)
        jobs = fired(client, schedule, queue)
        return jobs if len(jobs) >= count else None

    return wait_for(enough, timeout=timeout, what=f"{count} jobs of schedule {schedule}")


def schedule_lines(redis_url: str, namespace: str) -> dict[str, str]:
    out = run_cli(redis_url, namespace, "schedule", "list")
    assert out.returncode == 0, out.stderr
    return {line.split()[0]: line for line in out.stdout.splitlines()}


def test_invalid_entries_are_reported_and_valid_ones_still_fire(
    default_client: resqplug.Resq, spawn: Spawn, redis_url: str, namespace: str
) -> None:
    store = ScheduleStore(default_client)
    bad = {
        "unknown_class": {"class": "NoSuchJobAnywhere", "every": 1},
        "bad_cron": {"class": "SchedRecord", "cron": "every day at noon"},
        "bad_args": {"class": "SchedRecord", "every": 1, "args": [float("nan")]},
        "bad_tz": {"class": "SchedRecord", "cron": "* * * * *", "tz": "Mars/Olympus_Mons"},
    }
    for name, config in bad.items():
        if name != "unknown_class":  # a class is known only where the scheduler runs
            with pytest.raises(resqplug.ConfigError):
                store.set(name, config)  # checked by default...
        store.set(name, config, check=False)  # ...but a file's entries are stored as they are
    store.set("good", {"class": "SchedRecord", "every": 1, "args": ["good"]})
    sched = spawn("scheduler", "--interval", "0.1")

    wait_for(lambda: len(store.error_of()) == 4, timeout=15, what="4 reported errors")
    wait_fired(default_client, "good", 2, sched)  # the loop goes on after the errors
    errors = store.error_of()
    assert "unknown job class 'NoSuchJobAnywhere'" in errors["unknown_class"]
    assert "invalid cron 'every day at noon'" in errors["bad_cron"]
    assert "schedule 'bad_args'" in errors["bad_args"]
    assert "nan" in errors["bad_args"].lower()
    assert "unknown time zone 'Mars/Olympus_Mons'" in errors["bad_tz"]
    assert fired(default_client, "unknown_class") == fired(default_client, "bad_args") == []

    lines = schedule_lines(redis_url, namespace)
    assert set(lines) == {*bad, "good"}
    for name in bad:
        assert f"ERROR: {errors[name]}" in lines[name]
    assert "ERROR" not in lines["good"]
    assert "SchedRecord  every 1  last 20" in lines["good"]
    assert "NoSuchJobAnywhere" in sched.output()  # logged too

    # Fixing an entry clears its error and it fires.
    store.set("bad_cron", {"class": "SchedRecord", "every": 1, "args": ["fixed"]})
    wait_fired(default_client, "bad_cron", 1, sched)
    wait_for(lambda: "bad_cron" not in store.error_of(), what="the error to clear")
    assert set(store.error_of()) == {"unknown_class", "bad_args", "bad_tz"}
    alive(sched)


def test_schedules_added_and_removed_at_runtime_are_picked_up(
    default_client: resqplug.Resq, spawn: Spawn, redis_url: str, namespace: str
) -> None:
    sched = spawn("scheduler", "--interval", "0.1")
    leader = default_client.keys.plugin("scheduler", "leader")
    wait_for(lambda: alive(sched) or default_client.redis.exists(leader), what="a leader")

    ScheduleStore(default_client).set("api", {"class": "SchedRecord", "every": 1, "args": ["a"]})
    wait_fired(default_client, "api", 1, sched)

    out = run_cli(
        redis_url,
        namespace,
        "schedule",
        "add",
        "cli",
        "--class",
        "SchedRecord",
        "--cron",
        "* * * * * *",
        "--args",
        '["c", 2]',
        "--queue",
        "sched-cli",
        "--description",
        "every second",
    )
    assert out.returncode == 0, out.stderr
    assert "schedule cli saved" in out.stdout
    from_cli = wait_fired(default_client, "cli", 1, sched, queue="sched-cli")
    assert from_cli[0]["args"] == ["c", 2]
    assert from_cli[0]["meta"]["scheduler"]["tick"] % 1 == 0  # a whole second
    config = ScheduleStore(default_client).all()["cli"]
    assert config["cron"] == "* * * * * *"
    assert config["description"] == "every second"

    out = run_cli(redis_url, namespace, "schedule", "remove", "api")
    assert out.returncode == 0, out.stderr
    assert "schedule api removed" in out.stdout
    assert "api" not in ScheduleStore(default_client).all()
    api_jobs = len(fired(default_client, "api"))
    # "cli" fires twice more (two more passes of the loop, >= 1 s): "api" no more.
    cli_jobs = len(fired(default_client, "cli", "sched-cli"))
    wait_fired(default_client, "cli", cli_jobs + 2, sched, queue="sched-cli")
    assert len(fired(default_client, "api")) - api_jobs <= 1  # at most one from a pass under way
    settled = len(fired(default_client, "api"))
    wait_fired(default_client, "cli", cli_jobs + 3, sched, queue="sched-cli")
    assert len(fired(default_client, "api")) == settled


def test_schedule_run_now_and_list(
    default_client: resqplug.Resq, redis_url: str, namespace: str
) -> None:
    ScheduleStore(default_client).set(
        "nightly",
        {"class": "SchedRecord", "cron": "0 3 * * *", "tz": "Europe/Paris", "args": ["n"]},
    )
    out = run_cli(redis_url, namespace, "schedule", "run-now", "nightly", "--app", "scheduler_jobs")
    assert out.returncode == 0, out.stderr
    job_id = out.stdout.strip()
    [payload] = queued(default_client, "sched")
    assert payload["id"] == job_id
    assert payload["args"] == ["n"]
    assert payload["meta"]["scheduler"] == {"schedule": "nightly", "tick": None}
    out = run_cli(redis_url, namespace, "schedule", "run-now", "nightly", "--app", "scheduler_jobs")
    assert len(queued(default_client, "sched")) == 2  # run-now is not a tick: no guard

    lines = schedule_lines(redis_url, namespace)
    assert lines == {"nightly": "nightly  SchedRecord  0 3 * * *  last -  (added at run time)"}

    out = run_cli(redis_url, namespace, "schedule", "add", "x", "--class", "C", "--cron", "nope")
    assert out.returncode == 4
    assert "invalid cron" in out.stderr
    assert "x" not in ScheduleStore(default_client).all()


def test_schedule_commands_on_an_unknown_name_exit_not_found(
    default_client: resqplug.Resq, redis_url: str, namespace: str
) -> None:
    out = run_cli(redis_url, namespace, "schedule", "remove", "nope")
    assert "no schedule named 'nope'" in out.stderr
    assert "unexpected error" not in out.stderr
    assert out.returncode == 5
    out = run_cli(redis_url, namespace, "schedule", "run-now", "nope", "--app", "scheduler_jobs")
    assert out.returncode == 5
    assert "no schedule named 'nope'" in out.stderr


def test_schedule_add_every_in_plain_seconds(
    default_client: resqplug.Resq, redis_url: str, namespace: str
) -> None:
    out = run_cli(
        redis_url, namespace, "schedule", "add", "e", "--class", "SchedRecord", "--every", "90"
    )
    assert out.returncode == 0, out.stderr
    assert "e" in ScheduleStore(default_client).all()


GOOD_TOML = """
[schedules.good]
class = "SchedRecord"
every = "1s"
args = ["toml", 1]
description = "from the file"
"""


def test_toml_file_with_a_bad_entry(
    default_client: resqplug.Resq,
    spawn: Spawn,
    redis_url: str,
    namespace: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text(
        GOOD_TOML + '\n[schedules.broken]\nclass = "SchedRecord"\ncron = "61 * * * *"\n'
    )
    store = ScheduleStore(default_client)
    sched = spawn("scheduler", "--schedule", str(path), "--interval", "0.1")

    jobs = wait_fired(default_client, "good", 1, sched)
    assert jobs[0]["args"] == ["toml", 1]
    wait_for(lambda: "broken" in store.error_of(), what="the bad entry's error")
    assert "invalid cron '61 * * * *'" in store.error_of()["broken"]
    assert set(store.all()) == {"good", "broken"}
    assert store.all()["good"]["description"] == "from the file"
    lines = schedule_lines(redis_url, namespace)
    assert "ERROR: schedule 'broken': invalid cron" in lines["broken"]
    assert "ERROR" not in lines["good"]

    # The schedules live in Redis: a scheduler started without the file fires them.
    assert sched.stop() == 0
    count = len(fired(default_client, "good"))
    again = spawn("scheduler", "--interval", "0.1")
    wait_fired(default_client, "good", count + 1, again)


def test_toml_entry_with_a_date_arg_is_reported_not_fatal(
    default_client: resqplug.Resq, spawn: Spawn, tmp_path: Path
) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text(
        GOOD_TOML + '\n[schedules.dated]\nclass = "SchedRecord"\nevery = 60\nargs = [2024-05-01]\n'
    )
    sched = spawn("scheduler", "--schedule", str(path), "--interval", "0.1")
    wait_for(
        lambda: not sched.alive() or fired(default_client, "good"),
        timeout=15,
        what="the scheduler to fire or exit",
    )
    assert sched.alive(), sched.output()
    wait_for(lambda: "dated" in ScheduleStore(default_client).error_of(), what="dated's error")


def test_schedule_list_shows_an_entry_that_is_not_a_table(
    default_client: resqplug.Resq, spawn: Spawn, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text('[schedules]\nnightly = "0 3 * * *"\n' + GOOD_TOML)
    store = ScheduleStore(default_client)
    sched = spawn("scheduler", "--schedule", str(path), "--interval", "0.1")
    wait_fired(default_client, "good", 1, sched)
    wait_for(lambda: "nightly" in store.error_of(), what="nightly's error")
    assert "must be a table" in store.error_of()["nightly"]
    lines = schedule_lines(redis_url, namespace)
    assert "ERROR" in lines["nightly"]


def test_a_schedule_whose_enqueue_raises_does_not_stop_the_others(
    default_client: resqplug.Resq, spawn: Spawn
) -> None:
    store = ScheduleStore(default_client)
    store.set("a_explodes", {"class": "SchedExplode", "every": 1})
    store.set("b_fine", {"class": "SchedRecord", "every": 1, "args": ["b"]})
    sched = spawn("scheduler", "--interval", "0.1", plugins="explode")
    wait_fired(default_client, "b_fine", 2, sched, timeout=4)
    assert fired(default_client, "a_explodes") == []


def test_worker_with_scheduler_fires_cron_schedules(
    default_client: resqplug.Resq, spawn: Spawn
) -> None:
    store = ScheduleStore(default_client)
    store.set("sec", {"class": "SchedRecord", "cron": "* * * * * *", "args": ["sec"]})
    store.set("every", {"class": "SchedOther", "every": "1s", "args": ["every"]})
    worker = spawn("work", "--no-fork", "-q", "sched", "--with-scheduler")

    def ran_twice() -> bool:
        alive(worker)
        return len(scheduled_runs(default_client, "sec")) >= 2

    wait_for(ran_twice, timeout=15, what="the cron schedule to run twice")
    wait_for(lambda: len(scheduled_runs(default_client, "every")) >= 2, what="every to run")
    ticks = [r["tick"] for r in scheduled_runs(default_client, "sec")]
    assert len(ticks) == len(set(ticks))
    assert all(t % 1 == 0 for t in ticks)
    leader = default_client.redis.get(default_client.keys.plugin("scheduler", "leader"))
    assert leader is not None and f":{worker.pid}:" in leader.decode()
    at = started(default_client)
    for job_id, meta in metas(default_client).items():
        if meta["scheduler"]["schedule"] == "sec":
            assert at[job_id] >= meta["scheduler"]["tick"]
    assert set(runs(default_client).values()) == {1}

    assert worker.stop() == 0


def test_worker_with_scheduler_releases_the_lease_when_it_stops(
    default_client: resqplug.Resq, spawn: Spawn
) -> None:
    leader_key = default_client.keys.plugin("scheduler", "leader")
    worker = spawn("work", "--no-fork", "-q", "sched", "--with-scheduler")

    def leads() -> bool:
        alive(worker)
        return bool(default_client.redis.exists(leader_key))

    wait_for(leads, timeout=15, what="the worker's scheduler to lead")
    assert worker.stop() == 0
    assert default_client.redis.get(leader_key) is None


def test_stored_entry_too_deep_to_read_is_listed_as_invalid(default_client: resqplug.Resq) -> None:
    store = ScheduleStore(default_client)
    default_client.redis.hset(store.configs, "deep", "[" * 100_000)
    store.set("good", {"class": "SchedRecord", "every": 1})

    entries = store.all()

    assert entries["deep"] == {"invalid": "[" * 100_000}
    assert entries["good"] == {"class": "SchedRecord", "every": 1}


def test_entries_that_are_not_utf8_or_have_a_bad_last_run_do_not_stop_the_others(
    default_client: resqplug.Resq, spawn: Spawn
) -> None:
    store = ScheduleStore(default_client)
    default_client.redis.hset(store.configs, b"bad\xff", '{"class":"SchedRecord","every":1}')
    store.set("good", {"class": "SchedRecord", "every": 1, "args": ["good"]})
    store.set("stale", {"class": "SchedRecord", "every": 1, "args": ["stale"]})
    default_client.redis.hset(store.last, b"\xfe", "1")
    default_client.redis.hset(store.last, "stale", "not a time")
    sched = spawn("scheduler", "--interval", "0.1")

    wait_fired(default_client, "good", 2, sched)
    wait_fired(default_client, "stale", 1, sched)  # a bad last run counts as none
    wait_for(lambda: "bad\ufffd" in store.error_of(), what="the bad name reported")
    assert "name not UTF-8" in store.error_of()["bad\ufffd"]
    alive(sched)


def test_an_entry_removed_from_the_file_goes_and_run_time_schedules_stay(
    default_client: resqplug.Resq, spawn: Spawn, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    path = tmp_path / "schedule.toml"
    later = '\n[schedules.later]\nclass = "SchedRecord"\ncron = "0 3 * * *"\n'
    path.write_text(GOOD_TOML + later)
    store = ScheduleStore(default_client)
    store.set("extra", {"class": "SchedRecord", "every": "1h"})  # added at run time
    first = spawn("scheduler", "--schedule", str(path), "--interval", "0.1")
    wait_for(lambda: {"good", "later"} <= set(store.all()), what="the file's schedules")
    assert first.stop() == 0

    path.write_text(GOOD_TOML)  # "later" taken out of the file
    again = spawn("scheduler", "--schedule", str(path), "--interval", "0.1")
    wait_for(lambda: "later" not in store.all(), what="the removed entry to go")
    assert set(store.all()) == {"good", "extra"}
    lines = schedule_lines(redis_url, namespace)
    assert lines["good"].endswith(f"(from {path.resolve()})")
    assert lines["extra"].endswith("(added at run time)")
    assert again.stop() == 0
