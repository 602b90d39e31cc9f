"""Hook order, vetoes, failure hooks, perform wrappers, enqueue guards, job options
and plugin-defined hooks."""

from __future__ import annotations

import logging
import threading

import pytest

import resqplug
from resqplug.ext import JobOption, client_for, keys_for
from resqplug.plugins import Plugins
from resqplug.testing import drain
from resqplug.worker.options import WorkerOptions
from resqplug.worker.worker import Worker

calls: list[str] = []


@pytest.fixture(autouse=True)
def _clear_calls():
    calls.clear()


class Recorder:
    """Records every core hook it sees as 'hook' or ('hook', detail)."""

    def __init__(self):
        self.calls: list = []

    @resqplug.hookimpl
    def before_enqueue(self, job):
        self.calls.append("before_enqueue")

    @resqplug.hookimpl
    def after_enqueue(self, job):
        self.calls.append("after_enqueue")

    @resqplug.hookimpl
    def before_perform(self, job):
        self.calls.append("before_perform")

    @resqplug.hookimpl
    def perform(self, job):
        self.calls.append("perform")  # returns None, so the core runs the job

    @resqplug.hookimpl
    def after_perform(self, job, result):
        self.calls.append(("after_perform", result))

    @resqplug.hookimpl
    def on_failure(self, job, exc):
        self.calls.append(("on_failure", exc))


class HooksEcho(resqplug.Job):
    name = "test_hooks.Echo"
    queue = "q"

    def perform(self, x=0):
        calls.append("job.perform")
        return x * 2


class HooksBoom(resqplug.Job):
    name = "test_hooks.Boom"
    queue = "q"

    def perform(self):
        raise ValueError("boom")


class HooksResqueStyle(resqplug.Job):
    name = "test_hooks.ResqueStyle"
    queue = "q"

    def before_enqueue(self):
        calls.append("before_enqueue")

    def after_enqueue(self):
        calls.append("after_enqueue")

    def before_perform_b(self):
        calls.append("before_perform_b")

    def before_perform(self):
        calls.append("before_perform")

    def before_perform_a(self):
        calls.append("before_perform_a")

    def perform(self):
        calls.append("perform")
        return "done"

    def after_perform(self, result):
        calls.append(f"after_perform:{result}")

    def on_failure(self, exc):
        calls.append("on_failure")


def failed_count(resq):
    return int(resq.redis.get(resq.keys.stat_failed) or 0)


def processed_count(resq):
    return int(resq.redis.get(resq.keys.stat_processed) or 0)


# --- order ------------------------------------------------------------------------------


def test_plugin_sees_hooks_in_order_for_a_successful_job(resq):
    rec = Recorder()
    resqplug.register(rec, name="rec")
    resq.enqueue(HooksEcho, 21)
    assert rec.calls == ["before_enqueue", "after_enqueue"]
    drain(resq, "q")
    assert rec.calls == [
        "before_enqueue",
        "after_enqueue",
        "before_perform",
        "perform",
        ("after_perform", 42),
    ]
    assert calls == ["job.perform"]


def test_job_class_hook_methods_run_in_order_with_suffixes_sorted(resq):
    resq.enqueue(HooksResqueStyle)
    assert calls == ["before_enqueue", "after_enqueue"]
    drain(resq, "q")
    assert calls[2:] == [
        "before_perform",
        "before_perform_a",
        "before_perform_b",
        "perform",
        "after_perform:done",
    ]


def test_hook_methods_are_inherited_by_subclasses(resq):
    class HooksResqueStyleChild(HooksResqueStyle):
        pass

    resq.enqueue(HooksResqueStyleChild)
    drain(resq, "q")
    assert "before_perform_b" in calls
    assert calls[-1] == "after_perform:done"


def test_job_instance_at_perform_has_id_queue_args_and_attempt(resq):
    seen = {}

    class HooksIntrospect(resqplug.Job):
        queue = "q"

        def perform(self, *args):
            seen.update(id=self.id, queue=self.queue, args=self.args, attempt=self.attempt)

    job_id = resq.enqueue_to("elsewhere", HooksIntrospect, 1, "a")
    drain(resq, "elsewhere")
    assert seen == {"id": job_id, "queue": "elsewhere", "args": [1, "a"], "attempt": 1}


def test_before_enqueue_can_change_queue_and_meta(resq):
    class Route:
        @resqplug.hookimpl
        def before_enqueue(self, job):
            job.queue = "routed"
            job.meta["route"] = {"by": "test"}

    resqplug.register(Route(), name="route")
    resq.enqueue(HooksEcho)
    assert resq.queues() == ["routed"]
    assert resq.peek("routed")[0]["meta"] == {"route": {"by": "test"}}


def test_drained_jobs_give_plugins_the_draining_client_and_its_namespace(resq):
    seen = []

    class Where:
        @resqplug.hookimpl
        def after_perform(self, job):
            seen.append((client_for(job), keys_for(job).namespace))

    resqplug.register(Where(), name="where")
    resq.enqueue(HooksEcho, 1)
    drain(resq, "q")
    assert seen == [(resq, resq.namespace)]  # not the default client's embedded server


# --- DontEnqueue ------------------------------------------------------------------------


def test_plugin_dont_enqueue_vetoes(resq):
    class Veto:
        @resqplug.hookimpl
        def before_enqueue(self, job):
            raise resqplug.DontEnqueue("no")

    rec = Recorder()
    resqplug.register(rec, name="rec")
    resqplug.register(Veto(), name="veto")
    assert resq.enqueue(HooksEcho) is None
    assert resq.queues() == []
    assert resq.size("q") == 0
    assert "after_enqueue" not in rec.calls


def test_job_method_dont_enqueue_vetoes(resq):
    class HooksVetoing(HooksResqueStyle):
        def before_enqueue(self):
            raise resqplug.DontEnqueue("no")

    rec = Recorder()
    resqplug.register(rec, name="rec")
    assert resq.enqueue(HooksVetoing) is None
    assert resq.queues() == []
    assert "after_enqueue" not in rec.calls
    assert "after_enqueue" not in calls


def test_other_error_in_before_enqueue_propagates_and_writes_nothing(resq):
    class Broken:
        @resqplug.hookimpl
        def before_enqueue(self, job):
            raise KeyError("broken")

    resqplug.register(Broken(), name="broken")
    with pytest.raises(KeyError):
        resq.enqueue(HooksEcho)
    assert resq.queues() == []


# --- DontPerform ------------------------------------------------------------------------


def test_dont_perform_skips_without_failure_and_counts_processed(resq):
    class Skip:
        @resqplug.hookimpl
        def before_perform(self, job):
            raise resqplug.DontPerform("skip")

    rec = Recorder()
    resqplug.register(rec, name="rec")
    resqplug.register(Skip(), name="skip")
    resq.enqueue(HooksEcho)
    assert drain(resq, "q") == 1
    assert calls == []
    assert resq.failures.count() == 0
    assert processed_count(resq) == 1
    assert failed_count(resq) == 0
    assert not any(isinstance(c, tuple) for c in rec.calls)  # no after_perform/on_failure


def test_job_method_dont_perform_skips(resq):
    class HooksSkipping(HooksResqueStyle):
        def before_perform_a(self):
            raise resqplug.DontPerform("skip")

    resq.enqueue(HooksSkipping)
    drain(resq, "q")
    assert "perform" not in calls
    assert "on_failure" not in calls
    assert resq.failures.count() == 0
    assert processed_count(resq) == 1


# --- failures -----------------------------------------------------------------------------


def test_exception_in_after_perform_fails_the_job(resq):
    class BadAfter:
        @resqplug.hookimpl
        def after_perform(self, job, result):
            raise RuntimeError("after went wrong")

    resqplug.register(BadAfter(), name="bad-after")
    job_id = resq.enqueue(HooksEcho)
    drain(resq, "q")
    record = resq.failures.get(job_id)
    assert record["exception"] == "RuntimeError"
    assert record["error"] == "after went wrong"
    assert failed_count(resq) == 1


def test_exception_in_before_perform_fails_the_job(resq):
    class BadBefore:
        @resqplug.hookimpl
        def before_perform(self, job):
            raise RuntimeError("before went wrong")

    resqplug.register(BadBefore(), name="bad-before")
    job_id = resq.enqueue(HooksEcho)
    drain(resq, "q")
    assert calls == []
    assert resq.failures.get(job_id)["error"] == "before went wrong"


def test_on_failure_called_once_with_the_exception(resq):
    rec = Recorder()
    resqplug.register(rec, name="rec")
    resq.enqueue(HooksBoom)
    drain(resq, "q")
    failures = [c for c in rec.calls if isinstance(c, tuple) and c[0] == "on_failure"]
    assert len(failures) == 1
    exc = failures[0][1]
    assert isinstance(exc, ValueError)
    assert str(exc) == "boom"
    assert not any(isinstance(c, tuple) and c[0] == "after_perform" for c in rec.calls)


def test_job_method_on_failure_is_called(resq):
    class HooksStyleBoom(HooksResqueStyle):
        def perform(self):
            raise ValueError("x")

    resq.enqueue(HooksStyleBoom)
    drain(resq, "q")
    assert calls.count("on_failure") == 1
    assert not any(c.startswith("after_perform") for c in calls)


@pytest.mark.parametrize("raised", [RuntimeError, SystemExit, GeneratorExit])
def test_raising_on_failure_is_logged_and_others_still_run(resq, caplog, raised):
    class BadOnFailure:
        @resqplug.hookimpl
        def on_failure(self, job, exc):
            raise raised("on_failure broke")

    before, after = Recorder(), Recorder()
    resqplug.register(before, name="rec-before")
    resqplug.register(BadOnFailure(), name="bad-on-failure")
    resqplug.register(after, name="rec-after")
    job_id = resq.enqueue(HooksBoom)
    with caplog.at_level(logging.ERROR):
        drain(resq, "q")
    assert any("bad-on-failure" in r.getMessage() for r in caplog.records)
    assert resq.failures.get(job_id)["exception"] == "ValueError"
    assert failed_count(resq) == 1
    for rec in (before, after):
        assert [c[0] for c in rec.calls if isinstance(c, tuple)] == ["on_failure"]


def test_after_enqueue_error_is_logged_and_job_still_written(resq, caplog):
    class BadAfterEnqueue:
        @resqplug.hookimpl
        def after_enqueue(self, job):
            raise RuntimeError("after_enqueue broke")

    resqplug.register(BadAfterEnqueue(), name="bad-after-enqueue")
    with caplog.at_level(logging.ERROR):
        job_id = resq.enqueue(HooksEcho)
    assert job_id is not None
    assert resq.peek("q")[0]["id"] == job_id
    assert any("bad-after-enqueue" in r.getMessage() for r in caplog.records)


def test_impls_may_name_only_the_arguments_they_need(resq):
    seen = []

    class Picky:
        @resqplug.hookimpl
        def after_perform(self, result):
            seen.append(("after_perform", result))

        @resqplug.hookimpl
        def on_failure(self, exc):
            seen.append(("on_failure", type(exc).__name__))

        @resqplug.hookimpl
        def after_enqueue(self):
            seen.append("after_enqueue")

    resqplug.register(Picky(), name="picky")
    resq.enqueue(HooksEcho, 2)
    resq.enqueue(HooksBoom)
    drain(resq, "q")
    assert seen == [
        "after_enqueue",
        "after_enqueue",
        ("after_perform", 4),
        ("on_failure", "ValueError"),
    ]


# --- perform wrappers -------------------------------------------------------------------


def test_perform_wrapper_sees_and_replaces_the_result(resq):
    seen = []

    class Around:
        @resqplug.hookimpl(wrapper=True)
        def perform(self, job):
            seen.append("before")
            result = yield
            seen.append(result)
            return result + 1

    rec = Recorder()
    resqplug.register(rec, name="rec")
    resqplug.register(Around(), name="around")
    resq.enqueue(HooksEcho, 5)
    drain(resq, "q")
    assert seen == ["before", 10]
    assert ("after_perform", 11) in rec.calls


def test_perform_wrapper_can_catch_the_exception(resq):
    class Rescue:
        @resqplug.hookimpl(wrapper=True)
        def perform(self, job):
            try:
                return (yield)
            except ValueError as exc:
                return f"rescued {exc}"

    rec = Recorder()
    resqplug.register(rec, name="rec")
    resqplug.register(Rescue(), name="rescue")
    resq.enqueue(HooksBoom)
    drain(resq, "q")
    assert ("after_perform", "rescued boom") in rec.calls
    assert resq.failures.count() == 0
    assert failed_count(resq) == 0


def test_perform_wrapper_that_raises_fails_the_job(resq):
    class Sabotage:
        @resqplug.hookimpl(wrapper=True)
        def perform(self, job):
            yield
            raise LookupError("wrapper says no")

    resqplug.register(Sabotage(), name="sabotage")
    job_id = resq.enqueue(HooksEcho)
    drain(resq, "q")
    assert calls == ["job.perform"]
    assert resq.failures.get(job_id)["exception"] == "LookupError"


def test_handle_failure_retried_suppresses_record_and_failed_stat(resq):
    handled = []

    class Retry:
        @resqplug.hookimpl
        def handle_failure(self, job, exc):
            handled.append((job.id, str(exc)))
            return "retried"

    resqplug.register(Retry(), name="fake-retry")
    job_id = resq.enqueue(HooksBoom)
    drain(resq, "q")
    assert handled == [(job_id, "boom")]
    assert resq.failures.count() == 0
    assert failed_count(resq) == 0
    assert processed_count(resq) == 1


def test_handle_failure_that_raises_still_records_the_failure(resq, caplog):
    class BadHandler:
        @resqplug.hookimpl
        def handle_failure(self, job, exc):
            raise RuntimeError("handler broke")

    resqplug.register(BadHandler(), name="bad-handler")
    job_id = resq.enqueue(HooksBoom)
    with caplog.at_level(logging.ERROR):
        drain(resq, "q")
    assert resq.failures.get(job_id)["exception"] == "ValueError"
    assert failed_count(resq) == 1


# --- enqueue guards -----------------------------------------------------------------------


class Guarding:
    def __init__(self, key):
        self.key = key
        self.refused: list = []

    @resqplug.hookimpl
    def before_enqueue(self, job):
        job.guards.append(resqplug.EnqueueGuard(self.key, job.id, 60_000))

    @resqplug.hookimpl
    def enqueue_refused(self, job, guard, holder):
        self.refused.append((job.id, guard.key, holder))


def test_enqueue_guard_refuses_second_enqueue_while_key_is_held(resq):
    key = resq.keys.plugin("test_hooks", "guard")
    guarding, rec = Guarding(key), Recorder()
    resqplug.register(rec, name="rec")
    resqplug.register(guarding, name="guarding")
    first = resq.enqueue(HooksEcho, 1)
    rec.calls.clear()
    second = resq.enqueue(HooksEcho, 2)
    assert first is not None
    assert second is None
    assert [d["id"] for d in resq.peek("q", 0, 10)] == [first]
    assert len(guarding.refused) == 1
    refused_id, refused_key, holder = guarding.refused[0]
    assert (refused_key, holder) == (key, first)
    assert refused_id != first
    assert "after_enqueue" not in rec.calls
    assert resq.redis.get(key) == first.encode()
    assert 0 < resq.redis.pttl(key) <= 60_000


def test_enqueue_guard_key_is_set_with_the_job(resq):
    key = resq.keys.plugin("test_hooks", "guard")
    resqplug.register(Guarding(key), name="guarding")
    resq.redis.delete(key)
    job_id = resq.enqueue(HooksEcho)
    assert resq.redis.get(key) == job_id.encode()
    resq.redis.delete(key)
    assert resq.enqueue(HooksEcho) is not None


def test_enqueue_many_with_guard_writes_only_the_first(resq):
    key = resq.keys.plugin("test_hooks", "guard")
    guarding = Guarding(key)
    resqplug.register(guarding, name="guarding")
    ids = resq.enqueue_many(HooksEcho, [(1,), (2,)])
    assert ids[0] is not None and ids[1] is None
    assert resq.size("q") == 1
    assert guarding.refused[0][2] == ids[0]


# --- job options ----------------------------------------------------------------------------


class HooksWantsRetry(resqplug.Job):
    name = "test_hooks.WantsRetry"
    queue = "q"
    retry_limit = 3

    def perform(self):
        pass


class HooksRetryTypo(resqplug.Job):
    name = "test_hooks.RetryTypo"
    queue = "q"
    retry_limits = 3


class HooksQueueTypo(resqplug.Job):
    name = "test_hooks.QueueTypo"
    queues = "q"


class HooksNoOptions(resqplug.Job):
    """Core attributes and attributes that are not options: no warning."""

    name = "test_hooks.NoOptions"
    queue = "q"
    timeout = 5
    MAX_ITEMS = 10  # a constant
    _cache: dict[str, int] = {}  # private

    @property
    def label(self) -> str:
        return "x"

    @classmethod
    def build(cls) -> None:
        pass

    @staticmethod
    def helper() -> None:
        pass

    def on_failure_notify(self, exc: BaseException) -> None:
        pass

    def perform(self):
        pass


class HooksSubclassOfOptions(HooksWantsRetry):
    """An option set on a user base class counts for its subclasses too."""

    name = "test_hooks.SubclassOfOptions"


class OwnsRetryLimit:
    @resqplug.hookimpl
    def job_options(self):
        return ("retry_limit",)  # plain names: plugins written before JobOption


class DeclaresTypedBudget:
    @resqplug.hookimpl
    def job_options(self):
        return [JobOption("budget_cents", 100, int, "what a run may spend")]


@pytest.fixture
def bare_resq(redis_url, namespace):
    """A client whose plugin manager loads no entry points (so no installed retry plugin)."""
    return resqplug.Resq(redis_url, namespace, plugins=Plugins(load_entry_points=False))


def option_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "resqplug.options"]


def test_option_no_loaded_plugin_declares_warns_once_per_class_and_enqueues(bare_resq, caplog):
    caplog.set_level(logging.WARNING, logger="resqplug.options")
    assert bare_resq.enqueue(HooksWantsRetry) is not None
    assert bare_resq.enqueue(HooksWantsRetry) is not None
    assert bare_resq.enqueue(HooksSubclassOfOptions) is not None
    assert bare_resq.size("q") == 3
    assert option_warnings(caplog) == [
        "job HooksWantsRetry sets 'retry_limit', which no installed plugin declares: "
        "it has no effect here",
        "job HooksSubclassOfOptions sets 'retry_limit', which no installed plugin declares: "
        "it has no effect here",
    ]


def test_job_with_an_undeclared_option_runs_in_a_worker(bare_resq, caplog):
    bare_resq.enqueue(HooksWantsRetry)
    assert drain(bare_resq, "q") == 1
    assert bare_resq.failures.count() == 0
    assert bare_resq.stats()["processed"] == 1


def test_core_attributes_and_non_options_never_warn(bare_resq, caplog):
    caplog.set_level(logging.WARNING, logger="resqplug.options")
    assert bare_resq.enqueue(HooksNoOptions) is not None
    assert option_warnings(caplog) == []


def test_typo_of_a_declared_option_is_refused_naming_the_close_name(bare_resq):
    bare_resq.plugins.register(OwnsRetryLimit(), name="owns-retry")
    with pytest.raises(resqplug.UnknownOptionError) as info:
        bare_resq.enqueue(HooksRetryTypo)
    assert str(info.value) == (
        "job HooksRetryTypo sets 'retry_limits', which no installed plugin declares: "
        "did you mean 'retry_limit' (plugin owns-retry)?"
    )
    assert bare_resq.queues() == []


def test_typo_of_a_core_option_is_refused(bare_resq):
    with pytest.raises(resqplug.UnknownOptionError, match=r"did you mean 'queue' \(plugin core\)"):
        bare_resq.enqueue(HooksQueueTypo)


def test_unknown_job_option_is_a_config_error():
    assert issubclass(resqplug.UnknownOptionError, resqplug.ConfigError)


def test_declared_option_is_quiet_until_its_plugin_goes(bare_resq, caplog):
    caplog.set_level(logging.WARNING, logger="resqplug.options")
    bare_resq.plugins.register(OwnsRetryLimit(), name="owns-retry")
    assert bare_resq.plugins.declared_options()["retry_limit"].plugin == "owns-retry"
    assert bare_resq.enqueue(HooksWantsRetry) is not None
    assert option_warnings(caplog) == []
    bare_resq.plugins.unregister("owns-retry")
    assert bare_resq.enqueue(HooksWantsRetry) is not None
    assert len(option_warnings(caplog)) == 1


def test_a_declared_type_refuses_another_type(bare_resq):
    bare_resq.plugins.register(DeclaresTypedBudget(), name="budget")
    declared = bare_resq.plugins.declared_options()["budget_cents"].option
    assert (declared.default, declared.doc) == (100, "what a run may spend")
    attrs = {"name": "test_hooks.WrongType", "queue": "q", "budget_cents": "3"}
    wrong = type("WrongType", (resqplug.Job,), attrs)
    with pytest.raises(
        resqplug.ConfigError, match=r"'budget_cents' \(plugin budget\) to '3': expected int"
    ):
        bare_resq.enqueue(wrong)
    right = type(
        "RightType", (resqplug.Job,), {**attrs, "name": "test_hooks.RightType", "budget_cents": 3}
    )
    assert bare_resq.enqueue(right) is not None


def test_job_option_via_default_plugins(resq, caplog):
    caplog.set_level(logging.WARNING, logger="resqplug.options")
    resqplug.register(OwnsRetryLimit(), name="owns-retry")
    assert resq.enqueue(HooksWantsRetry) is not None
    assert option_warnings(caplog) == []


# --- plugin-defined hooks ---------------------------------------------------------------


class CustomSpecs:
    @resqplug.hookspec
    def test_hooks_custom(self, job):
        """A hook some plugin adds."""


class AddsHook:
    @resqplug.hookimpl
    def add_hookspecs(self, pm):
        pm.add_hookspecs(CustomSpecs)


class ImplementsHook:
    @resqplug.hookimpl(optionalhook=True)
    def test_hooks_custom(self, job):
        return f"custom {job}"


class ImplementsUnknownHook:
    @resqplug.hookimpl
    def test_hooks_nobody_defines(self, job):
        pass


@pytest.mark.parametrize("adder_first", [True, False])
def test_plugin_adds_its_own_hookspec_and_another_implements_it(adder_first):
    pm = resqplug.get_plugins()
    plugins = [("adds", AddsHook()), ("implements", ImplementsHook())]
    for name, plugin in plugins if adder_first else reversed(plugins):
        resqplug.register(plugin, name=name)
    assert pm.hook.test_hooks_custom(job="J") == ["custom J"]


def test_optional_impl_of_a_missing_hook_is_fine_without_the_spec():
    resqplug.register(ImplementsHook(), name="implements")
    assert "implements" in resqplug.get_plugins().names()


def test_impl_of_an_unknown_hook_without_optionalhook_is_refused():
    with pytest.raises(Exception, match="test_hooks_nobody_defines"):
        resqplug.register(ImplementsUnknownHook(), name="unknown-hook")


def test_refused_plugin_does_not_poison_later_registrations():
    with pytest.raises(Exception, match="test_hooks_nobody_defines"):
        resqplug.register(ImplementsUnknownHook(), name="unknown-hook")
    resqplug.register(Recorder(), name="rec")
    assert "rec" in resqplug.get_plugins().names()
    assert "unknown-hook" not in resqplug.get_plugins().names()


def test_a_workers_first_heartbeat_hooks_run_on_its_main_thread_before_its_first_job(resq):
    """What heartbeat hooks import on first use is imported before the worker
    forks: a child forked while the heartbeat thread imports waits forever."""
    seen = []

    class Beats:
        @resqplug.hookimpl
        def worker_heartbeat(self, worker):
            seen.append(("beat", threading.current_thread() is threading.main_thread()))

        @resqplug.hookimpl
        def before_perform(self, job):
            seen.append(("job", True))

    resqplug.register(Beats(), name="beats")
    resq.enqueue(HooksEcho, 1)
    Worker(resq, WorkerOptions(queues=["q"], mode="nofork", burst=True)).work()
    assert seen[:2] == [("beat", True), ("job", True)]
