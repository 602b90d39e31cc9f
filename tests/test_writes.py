"""Plugins' Redis writes (``resqplug.Write``) ride the core's own scripts
(issue 18 §1): the enqueue script, enqueue_many's batch, the worker's ack in
every mode, ``Resq.prepare`` and the inline backend. The test plugin is
tests/writes_jobs.py, the ``--app`` of the real workers here."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Callable, Iterator

import pytest
import writes_jobs as wj
from helpers import CORE_ONLY, env

import resqplug
from resqplug import plugins
from resqplug.delayed import DelayedSet
from resqplug.errors import ConfigError
from resqplug.pytest_fixtures import resqplug_cmd
from resqplug.scripts import NAMES, source
from resqplug.testing import drain
from resqplug.worker.inflight import InFlight
from resqplug.worker.taken import Ack
from resqplug.writes import from_text, problem, to_text

MODES = {"nofork": ["--no-fork"], "fork": ["--fork"], "threads": ["--threads", "2"]}


@pytest.fixture(autouse=True)
def core_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No bundled plugin here: only the test's own writes reach Redis."""
    monkeypatch.setenv("RESQPLUG_DISABLE_PLUGINS", CORE_ONLY["RESQPLUG_DISABLE_PLUGINS"])
    plugins.reset_plugins()


Register = Callable[[object, str], None]


@pytest.fixture
def register() -> Iterator[Register]:
    """Registers test plugins in the process-wide manager, and unregisters
    them after the test."""
    names: list[str] = []

    def add(plugin: object, name: str) -> None:
        resqplug.register(plugin, name=name)
        names.append(name)

    yield add
    for name in reversed(names):
        resqplug.unregister(name)


@pytest.fixture
def writes_plugin(register: Register) -> None:
    register(wj.PLUGIN, wj.PLUGIN_NAME)


@pytest.fixture
def prefix(resq: resqplug.Resq) -> str:
    return resq.keys.plugin("wtest", "p")


def texts(resq: resqplug.Resq, key: str) -> list[str]:
    return [x.decode() for x in resq.redis.lrange(key, 0, -1)]


def value(resq: resqplug.Resq, key: str) -> str | None:
    raw = resq.redis.get(key)
    return None if raw is None else raw.decode()


def queued_ids(resq: resqplug.Resq) -> list[str]:
    return [doc["id"] for doc in resq.peek("writes", 0, 100)]


def stat(resq: resqplug.Resq, key: str) -> int:
    return int(resq.redis.get(key) or 0)


class Breaker:
    """Adds a write that fails (INCR on a list) at enqueue and after perform."""

    def __init__(self, list_key: str) -> None:
        self.list_key = list_key

    @resqplug.hookimpl
    def before_enqueue(self, job: resqplug.Job) -> None:
        job.writes.append(resqplug.Write("wtest.incr", (self.list_key,)))

    @resqplug.hookimpl
    def after_perform(self, job: resqplug.Job, result: object) -> None:
        job.writes.append(resqplug.Write("wtest.incr", (self.list_key,)))


class Fragments:
    """Registers ``fragments`` and nothing else."""

    def __init__(self, fragments: dict[str, str]) -> None:
        self.fragments = fragments

    @resqplug.hookimpl
    def write_scripts(self) -> dict[str, str]:
        return self.fragments


class Stray:
    """Names a fragment no plugin registers."""

    @resqplug.hookimpl
    def before_enqueue(self, job: resqplug.Job) -> None:
        job.writes.append(resqplug.Write("nobody.fragment", ("k",), ("v",)))


class Late:
    """Registered after the client composed its scripts, with a fragment of its own."""

    @resqplug.hookimpl
    def write_scripts(self) -> dict[str, str]:
        return {"wlate.push": "redis.call('RPUSH', KEYS[1], ARGV[1])"}

    @resqplug.hookimpl
    def before_enqueue(self, job: resqplug.Job) -> None:
        self.push(job, "enqueue")

    @resqplug.hookimpl
    def after_perform(self, job: resqplug.Job, result: object) -> None:
        self.push(job, "perform")

    def push(self, job: resqplug.Job, step: str) -> None:
        prefix = wj.prefix_of(job)
        if prefix is not None:
            job.writes.append(
                resqplug.Write("wlate.push", (f"{prefix}:late",), (f"{step}:{job.id}",))
            )


# --- enqueue ------------------------------------------------------------------------------


def test_before_enqueue_writes_are_applied_by_enqueue(
    resq: resqplug.Resq, writes_plugin: None, prefix: str
) -> None:
    job_id = resq.enqueue(wj.WriteDouble, prefix, 1)
    assert texts(resq, f"{prefix}:enqueued") == [job_id]
    assert value(resq, f"{prefix}:job:{job_id}") == job_id
    assert queued_ids(resq) == [job_id]


def test_a_job_object_pushed_twice_carries_only_the_writes_of_each_push(
    resq: resqplug.Resq, writes_plugin: None, prefix: str
) -> None:
    job = wj.WriteDouble([prefix, 1], queue="writes")
    assert resq.push(job) == job.id and resq.push(job) == job.id
    assert texts(resq, f"{prefix}:enqueued") == [job.id, job.id]


def test_enqueue_many_applies_each_jobs_writes_in_order_next_to_jobs_without(
    resq: resqplug.Resq, writes_plugin: None, prefix: str
) -> None:
    args = [(prefix, 0), (None, 1), (prefix, 2), (None, 3), (prefix, 4)]
    ids = resq.enqueue_many(wj.WriteDouble, args)
    assert queued_ids(resq) == ids
    with_writes = [ids[0], ids[2], ids[4]]
    assert texts(resq, f"{prefix}:enqueued") == with_writes
    assert [value(resq, f"{prefix}:job:{i}") for i in ids] == [ids[0], None, ids[2], None, ids[4]]


def test_enqueue_many_without_any_write_still_enqueues_every_job(
    resq: resqplug.Resq, writes_plugin: None, prefix: str
) -> None:
    ids = resq.enqueue_many(wj.WriteDouble, [(None, n) for n in range(3)])
    assert queued_ids(resq) == ids
    assert resq.redis.exists(f"{prefix}:enqueued") == 0


def test_a_batched_fragment_runs_once_for_all_the_writes_of_an_enqueue_many(
    resq: resqplug.Resq, writes_plugin: None, prefix: str
) -> None:
    ids = resq.enqueue_many(wj.WriteDouble, [(prefix, 0), (None, 1), (prefix, 2), (prefix, 3)])
    assert texts(resq, f"{prefix}:batched") == [f"3:{ids[0]},{ids[2]},{ids[3]}"]


def test_a_batched_fragment_runs_with_the_one_write_of_a_single_enqueue(
    resq: resqplug.Resq, writes_plugin: None, prefix: str
) -> None:
    job_id = resq.enqueue(wj.WriteDouble, prefix, 1)
    assert texts(resq, f"{prefix}:batched") == [f"1:{job_id}"]


class KeyedBatch:
    """A batched write per job, its key chosen by the job's second arg."""

    @resqplug.hookimpl
    def before_enqueue(self, job: resqplug.Job) -> None:
        key = f"{job.args[0]}:by-key:{job.args[1]}"
        job.writes.append(resqplug.Write("wtest.batch", (key,), (job.id,)))


def test_batched_writes_with_other_keys_are_other_calls_of_their_fragment(
    resq: resqplug.Resq, register: Register, writes_plugin: None, prefix: str
) -> None:
    register(KeyedBatch(), "keyed")
    ids = resq.enqueue_many(wj.WriteDouble, [(prefix, "a"), (prefix, "b"), (prefix, "a")])
    assert texts(resq, f"{prefix}:by-key:a") == [f"2:{ids[0]},{ids[2]}"]
    assert texts(resq, f"{prefix}:by-key:b") == [f"1:{ids[1]}"]


class SharedBatch:
    """A batched write per job with shared args: the job's second arg."""

    @resqplug.hookimpl
    def before_enqueue(self, job: resqplug.Job) -> None:
        key, shared = f"{job.args[0]}:shared", (job.args[1], "s")
        job.writes.append(resqplug.Write("wtest.shared", (key,), (job.id,), shared))


def test_batched_writes_are_grouped_by_their_shared_args_which_cross_once(
    resq: resqplug.Resq, register: Register, writes_plugin: None, prefix: str
) -> None:
    register(SharedBatch(), "shared")
    ids = resq.enqueue_many(wj.WriteDouble, [(prefix, "a"), (prefix, "b"), (prefix, "a")])
    assert sorted(texts(resq, f"{prefix}:shared")) == [f"a,s|{ids[0]},{ids[2]}", f"b,s|{ids[1]}"]


def test_shared_args_on_a_write_of_a_plain_fragment_refuse_the_enqueue(
    resq: resqplug.Resq, register: Register, writes_plugin: None, prefix: str
) -> None:
    class SharedPlain:
        @resqplug.hookimpl
        def before_enqueue(self, job: resqplug.Job) -> None:
            job.writes.append(resqplug.Write("wtest.set", (f"{prefix}:x",), ("v",), ("s",)))

    register(SharedPlain(), "shared-plain")
    with pytest.raises(ConfigError, match="shared args: its fragment is not batched"):
        resq.enqueue(wj.WriteDouble, None, 1)
    assert resq.size("writes") == 0


def test_writes_with_shared_args_cross_from_a_child_as_text() -> None:
    writes = (resqplug.Write("a.b", ("k",), (1, "x")), resqplug.Write("c.d", (), ("y",), ("s", 2)))
    assert from_text(to_text(writes)) == writes


class UnevenBatch:
    """Batched writes whose number of args differs from job to job."""

    @resqplug.hookimpl
    def before_enqueue(self, job: resqplug.Job) -> None:
        key = f"{job.args[0]}:uneven"
        job.writes.append(resqplug.Write("wtest.batch", (key,), (job.id,) * job.args[1]))


def test_a_batched_write_with_another_number_of_args_refuses_the_enqueue(
    resq: resqplug.Resq, register: Register, writes_plugin: None, prefix: str
) -> None:
    register(UnevenBatch(), "uneven")
    with pytest.raises(ConfigError, match=r"batched write 'wtest\.batch' has 2 args"):
        resq.enqueue_many(wj.WriteDouble, [(prefix, 1), (prefix, 2)])
    assert resq.size("writes") == 0


class BoolBatch:
    """A batched write per job whose arg is the job's second arg, as is; its
    keys are one tuple object, as a plugin's usually are."""

    def __init__(self, prefix: str) -> None:
        self.keys = (f"{prefix}:b",)

    @resqplug.hookimpl
    def before_enqueue(self, job: resqplug.Job) -> None:
        job.writes.append(resqplug.Write("wtest.batch", self.keys, (job.args[1],)))


def test_a_later_batched_write_of_a_group_has_its_args_checked_too(
    resq: resqplug.Resq, register: Register, writes_plugin: None, prefix: str
) -> None:
    register(BoolBatch(prefix), "bools")
    with pytest.raises(ConfigError, match="is not a str, int or float"):
        resq.enqueue_many(wj.WriteDouble, [(prefix, "ok"), (prefix, True)])
    assert resq.size("writes") == 0


def test_a_batched_fragment_is_given_the_payloads_of_the_jobs_an_enqueue_writes(
    resq: resqplug.Resq, writes_plugin: None, prefix: str
) -> None:
    resq.enqueue_many(wj.WriteDouble, [(prefix, 0), (None, 1), (prefix, 2)])
    resq.enqueue(wj.WriteDouble, prefix, 3)
    queued = texts(resq, resq.keys.queue("writes"))
    assert texts(resq, f"{prefix}:batched-jobs") == [queued[0], queued[2], queued[3]]


def test_a_batched_fragment_is_given_the_payload_of_a_delayed_job(
    resq: resqplug.Resq, writes_plugin: None, prefix: str
) -> None:
    job = wj.WriteDouble([prefix, 1], queue="writes")
    text = resq.prepare(job, carry_writes=True)
    assert text is not None and DelayedSet(resq, "wtest").add("writes", text, 1e10, job)
    assert texts(resq, f"{prefix}:batched-jobs") == [text]


def test_a_batched_fragment_is_given_no_payload_in_the_ack(
    resq: resqplug.Resq, writes_plugin: None, prefix: str
) -> None:
    resq.enqueue_many(wj.WriteDouble, [(prefix, 0), (prefix, 1)])
    drain(resq, ["writes"])
    assert texts(resq, f"{prefix}:ran-batched-jobs") == ["-", "-"]


def test_every_core_script_carrying_writes_runs_the_batched_ones() -> None:
    for name in NAMES:
        text = source(name)
        if "apply_writes(" in text and name != "writes":
            assert "apply_batched(errors, " in text, f"{name}.lua drops batched writes"


class Guarding:
    def __init__(self, key: str) -> None:
        self.key = key

    @resqplug.hookimpl
    def before_enqueue(self, job: resqplug.Job) -> None:
        job.guards.append(resqplug.EnqueueGuard(self.key, job.id, 60_000))


@pytest.mark.parametrize("how", ["enqueue", "enqueue_many"])
def test_enqueue_refused_by_a_guard_applies_none_of_its_writes(
    resq: resqplug.Resq, register: Register, writes_plugin: None, prefix: str, how: str
) -> None:
    guard_key = resq.keys.plugin("wtest", "guard")
    resq.redis.set(guard_key, "someone-else")
    register(Guarding(guard_key), "guarding")
    if how == "enqueue":
        assert resq.enqueue(wj.WriteDouble, prefix, 1) is None
    else:
        assert resq.enqueue_many(wj.WriteDouble, [(prefix, 1), (prefix, 2)]) == [None, None]
    assert resq.size("writes") == 0
    assert resq.redis.exists(f"{prefix}:enqueued") == 0
    assert list(resq.redis.scan_iter(match=f"{prefix}:job:*")) == []
    assert value(resq, guard_key) == "someone-else"


# --- the worker's ack ----------------------------------------------------------------------


def run_burst_worker(redis_url: str, namespace: str, mode: str) -> None:
    cmd = resqplug_cmd(
        redis_url, namespace, "work", "--app", "writes_jobs", "-q", "writes", "--burst"
    )
    done = subprocess.run(
        [*cmd, *MODES[mode]], env=env(CORE_ONLY), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("mode", MODES)
def test_run_writes_reach_redis_with_the_ack(
    resq: resqplug.Resq, redis_url: str, namespace: str, writes_plugin: None, prefix: str, mode: str
) -> None:
    double_1 = resq.enqueue(wj.WriteDouble, prefix, 1)
    double_5 = resq.enqueue(wj.WriteDouble, prefix, 5)
    boom = resq.enqueue(wj.WriteBoom, prefix)
    assert double_1 is not None and double_5 is not None and boom is not None
    run_burst_worker(redis_url, namespace, mode)
    assert sorted(texts(resq, f"{prefix}:before_perform")) == sorted([double_1, double_5, boom])
    assert sorted(texts(resq, f"{prefix}:after_perform")) == sorted(
        [f"{double_1}=2", f"{double_5}=10"]
    )
    assert texts(resq, f"{prefix}:on_failure") == [f"{boom}:ValueError"]
    assert texts(resq, f"{prefix}:handle_failure") == [f"{boom}:ValueError"]
    calls = [text.split(":") for text in texts(resq, f"{prefix}:ran-batched")]
    assert sorted(i for _, ids in calls for i in ids.split(",")) == sorted([double_1, double_5])
    assert all(int(count) == len(ids.split(",")) for count, ids in calls)
    assert stat(resq, resq.keys.stat_processed) == 3
    assert stat(resq, resq.keys.stat_failed) == 1
    assert resq.size("writes") == 0


def test_ack_of_a_lost_job_applies_none_of_its_writes(
    resq: resqplug.Resq, writes_plugin: None, prefix: str
) -> None:
    lost_id, kept_id = resq.enqueue_many(wj.WriteDouble, [(None, 1), (None, 2)])
    assert lost_id is not None and kept_id is not None
    inflight = InFlight(resq, "wtesthost:1-abc:writes", ["writes"])
    lost, kept = inflight.fetch(2)
    # Another worker recovered the first job: its entry left this worker's list.
    assert resq.redis.lrem(inflight.key, 1, lost.entry) == 1
    lost_writes = (
        resqplug.Write("wtest.push", (f"{prefix}:lost", f"{prefix}:unused"), ("a", "b", "c")),
        resqplug.Write("wtest.set", (f"{prefix}:lost-set",), ("x",)),
    )
    batched = resqplug.Write("wtest.batch", (f"{prefix}:batched",), ("z",))
    lost_writes += (batched,)
    kept_writes = (
        resqplug.Write("wtest.push", (f"{prefix}:kept",), ("k1", "k2")),
        resqplug.Write("wtest.set", (f"{prefix}:kept-set",), ("y",)),
        batched,
    )
    acked = inflight.ack(
        [Ack(lost.entry, lost_id, "", lost_writes), Ack(kept.entry, kept_id, "", kept_writes)]
    )
    assert acked == [0, 1]
    assert resq.redis.exists(f"{prefix}:lost", f"{prefix}:unused", f"{prefix}:lost-set") == 0
    assert texts(resq, f"{prefix}:kept") == ["k1", "k2"]
    assert value(resq, f"{prefix}:kept-set") == "y"
    assert texts(resq, f"{prefix}:batched") == ["1:z"]  # the kept job's only
    assert stat(resq, resq.keys.stat_processed) == 1
    assert resq.redis.llen(inflight.key) == 0


def test_ack_drops_a_batched_write_with_another_number_of_args_and_records_the_run(
    resq: resqplug.Resq, writes_plugin: None, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    first_id, second_id = resq.enqueue_many(wj.WriteDouble, [(None, 1), (None, 2)])
    assert first_id is not None and second_id is not None
    inflight = InFlight(resq, "wtesthost:1-abc:writes", ["writes"])
    first, second = inflight.fetch(2)
    key = (f"{prefix}:batched",)
    acks = [
        Ack(first.entry, first_id, "", (resqplug.Write("wtest.batch", key, ("a",)),)),
        Ack(second.entry, second_id, "", (resqplug.Write("wtest.batch", key, ("b", "c")),)),
    ]
    assert inflight.ack(acks) == [1, 1]
    assert texts(resq, f"{prefix}:batched") == ["1:a"]
    assert f"a plugin write of job {second_id} is dropped" in caplog.text


# --- a fragment that fails -------------------------------------------------------------------


def failed_write_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "resqplug.writes" and r.levelno == logging.WARNING
    ]


def test_failing_enqueue_write_is_logged_and_the_job_is_enqueued(
    register: Register,
    resq: resqplug.Resq,
    writes_plugin: None,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    list_key = f"{prefix}:a-list"
    resq.redis.rpush(list_key, "item")
    register(Breaker(list_key), "breaker")
    caplog.set_level(logging.WARNING, logger="resqplug.writes")
    job_id = resq.enqueue(wj.WriteDouble, prefix, 1)
    ids = resq.enqueue_many(wj.WriteDouble, [(prefix, 2), (prefix, 3)])
    assert queued_ids(resq) == [job_id, *ids]
    assert texts(resq, f"{prefix}:enqueued") == [job_id, *ids]
    assert texts(resq, list_key) == ["item"]
    messages = failed_write_messages(caplog)
    assert len(messages) == 3
    assert all("wtest.incr" in m and "WRONGTYPE" in m for m in messages)


def test_failing_ack_write_is_logged_and_the_job_is_acked(
    register: Register,
    resq: resqplug.Resq,
    writes_plugin: None,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    list_key = f"{prefix}:a-list"
    resq.redis.rpush(list_key, "item")
    job_id = resq.enqueue(wj.WriteDouble, prefix, 4)
    register(Breaker(list_key), "breaker")
    caplog.set_level(logging.WARNING, logger="resqplug.writes")
    assert drain(resq, "writes") == 1
    assert texts(resq, f"{prefix}:after_perform") == [f"{job_id}=8"]
    assert stat(resq, resq.keys.stat_processed) == 1
    assert resq.size("writes") == 0
    assert not any(resq.redis.llen(k) for k in resq.redis.scan_iter(match=resq.keys.inflight("*")))
    messages = failed_write_messages(caplog)
    assert len(messages) == 1
    assert "wtest.incr" in messages[0] and "WRONGTYPE" in messages[0]


# --- configuration errors --------------------------------------------------------------------


def test_write_naming_an_unregistered_fragment_is_a_config_error(
    register: Register, resq: resqplug.Resq, writes_plugin: None, prefix: str
) -> None:
    register(Stray(), "stray")
    with pytest.raises(ConfigError, match=r"nobody\.fragment"):
        resq.enqueue(wj.WriteDouble, prefix, 1)
    with pytest.raises(ConfigError, match=r"nobody\.fragment"):
        resq.enqueue_many(wj.WriteDouble, [(prefix, 1)])
    assert resq.size("writes") == 0
    assert resq.redis.exists(f"{prefix}:enqueued") == 0


def test_two_plugins_registering_one_fragment_name_differently_is_a_config_error(
    register: Register, resq: resqplug.Resq, writes_plugin: None, prefix: str
) -> None:
    register(Fragments({"wtest.push": wj.FRAGMENTS["wtest.push"]}), "same")
    assert resq.enqueue(wj.WriteDouble, prefix, 1) is not None  # same source: fine
    register(Fragments({"wtest.push": "redis.call('LPUSH', KEYS[1], ARGV[1])"}), "other")
    with pytest.raises(ConfigError, match=r"wtest\.push"):
        resq.enqueue(wj.WriteDouble, prefix, 2)
    assert resq.size("writes") == 1


@pytest.mark.parametrize("name", ["9lives", "has space", "", "x" * 101, "semi;colon", 'q"uote'])
def test_bad_fragment_name_is_a_config_error(
    register: Register, resq: resqplug.Resq, writes_plugin: None, prefix: str, name: str
) -> None:
    register(Fragments({name: "return 1"}), "bad-name")
    with pytest.raises(ConfigError, match="bad-name"):
        resq.enqueue(wj.WriteDouble, prefix, 1)
    assert resq.size("writes") == 0


# --- plugins that change ---------------------------------------------------------------------


def test_plugin_registered_after_scripts_ran_has_its_fragments_used_next(
    register: Register, resq: resqplug.Resq, writes_plugin: None, prefix: str
) -> None:
    first = resq.enqueue(wj.WriteDouble, prefix, 1)
    batch_first = resq.enqueue_many(wj.WriteDouble, [(prefix, 2)])
    assert drain(resq, "writes") == 2  # every carrier composed without wlate.push
    register(Late(), "late")
    second = resq.enqueue(wj.WriteDouble, prefix, 3)
    (batch_second,) = resq.enqueue_many(wj.WriteDouble, [(prefix, 4)])
    assert drain(resq, "writes") == 2
    assert texts(resq, f"{prefix}:late") == [
        f"enqueue:{second}",
        f"enqueue:{batch_second}",
        f"perform:{second}",
        f"perform:{batch_second}",
    ]
    assert texts(resq, f"{prefix}:enqueued") == [first, *batch_first, second, batch_second]
    resqplug.unregister("late")  # the scripts are rebuilt without its fragment, and still run
    third = resq.enqueue(wj.WriteDouble, prefix, 5)
    assert drain(resq, "writes") == 1
    assert f"enqueue:{third}" not in texts(resq, f"{prefix}:late")


# --- writes of jobs not written to a queue ---------------------------------------------------


def test_prepare_applies_the_enqueue_writes_at_once(
    resq: resqplug.Resq, writes_plugin: None, prefix: str
) -> None:
    job = wj.WriteDouble([prefix, 1], queue="writes")
    text = resq.prepare(job)
    assert text is not None and json.loads(text)["id"] == job.id
    assert texts(resq, f"{prefix}:enqueued") == [job.id]
    assert value(resq, f"{prefix}:job:{job.id}") == job.id
    assert job.writes == []
    assert resq.size("writes") == 0


def test_prepare_carrying_writes_leaves_them_on_the_job(
    resq: resqplug.Resq, writes_plugin: None, prefix: str
) -> None:
    job = wj.WriteDouble([prefix, 1], queue="writes")
    assert resq.prepare(job, carry_writes=True) is not None
    scripts = [w.script for w in job.writes]
    assert scripts == ["wtest.push", "wtest.batch", "wtest.jobs", "wtest.set"]
    assert resq.redis.exists(f"{prefix}:enqueued", f"{prefix}:job:{job.id}") == 0


def test_inline_backend_applies_the_enqueue_and_run_writes(
    redis_url: str, namespace: str, writes_plugin: None, prefix: str
) -> None:
    inline = resqplug.Resq(redis_url, namespace, backend="inline")
    ok = inline.enqueue(wj.WriteDouble, prefix, 3)
    with pytest.raises(ValueError, match="boom"):
        inline.enqueue(wj.WriteBoom, prefix)
    boom = texts(inline, f"{prefix}:enqueued")[-1]
    assert texts(inline, f"{prefix}:enqueued") == [ok, boom]
    assert value(inline, f"{prefix}:job:{ok}") == ok
    assert texts(inline, f"{prefix}:before_perform") == [ok, boom]
    assert texts(inline, f"{prefix}:after_perform") == [f"{ok}=6"]
    assert texts(inline, f"{prefix}:handle_failure") == [f"{boom}:ValueError"]


# --- malformed writes and fragments -------------------------------------------------------


def test_run_write_naming_an_unknown_fragment_does_not_stop_the_worker(
    resq: resqplug.Resq, redis_url: str, namespace: str, writes_plugin: None
) -> None:
    ids = resq.enqueue_many(wj.WriteDouble, [(None, 1)])
    ids += resq.enqueue_many(wj.WriteStray, [(None,)])
    ids += resq.enqueue_many(wj.WriteDouble, [(None, 2)])
    run_burst_worker(redis_url, namespace, "nofork")
    assert stat(resq, resq.keys.stat_processed) == len(ids)
    assert resq.size("writes") == 0
    assert not any(resq.redis.llen(k) for k in resq.redis.scan_iter(match=resq.keys.inflight("*")))


def test_fragment_that_does_not_compile_is_a_config_error_naming_it(
    resq: resqplug.Resq, register: Register
) -> None:
    register(Fragments({"wtest.broken": "redis.call('SET', KEYS[1]"}), "broken")
    with pytest.raises(ConfigError, match=r"wtest\.broken"):
        resq.enqueue(wj.WriteDouble, None, 1)


@pytest.mark.parametrize("bad", [True, None, b"bytes", ["a", "list"]])
def test_write_argument_of_another_type_than_str_int_float_is_refused(bad: object) -> None:
    write = resqplug.Write("wtest.set", ("k",), ("fine", 1, 2.5, bad))  # type: ignore[arg-type]
    assert "is not a str, int or float" in (problem(write, {"wtest.set": ""}) or "")


def test_write_arguments_of_subclasses_of_str_int_float_pass() -> None:
    class Name(str):
        pass

    write = resqplug.Write("wtest.set", (Name("k"),), (Name("v"), 10**30, 1e-300))
    assert problem(write, {"wtest.set": ""}) is None
