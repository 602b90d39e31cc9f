"""The inline backend: jobs run at enqueue, in the caller, through every hook."""

from __future__ import annotations

import pytest
import worker_jobs_exits
from helpers import CORE_ONLY

import resqplug
from resqplug.testing import drain

done: list[tuple[str, str, list]] = []


@pytest.fixture(autouse=True)
def _clear_done():
    done.clear()


@pytest.fixture(autouse=True)
def _core_only(monkeypatch):
    """These tests are about the core's inline semantics: installed plugins
    (status writes its own keys) are switched off."""
    monkeypatch.setenv("RESQPLUG_DISABLE_PLUGINS", CORE_ONLY["RESQPLUG_DISABLE_PLUGINS"])
    resqplug.plugins.reset_plugins()


class InlineAdd(resqplug.Job):
    queue = "q"

    def perform(self, a, b):
        done.append((self.id, self.queue, [a, b]))
        return a + b


class InlineBoom(resqplug.Job):
    queue = "q"

    def perform(self):
        raise ValueError("inline boom")


class InlineRaise(resqplug.Job):
    queue = "q"

    def perform(self, kind):
        raise worker_jobs_exits.base_exception(kind)


class Recorder:
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
    def after_perform(self, job, result):
        self.calls.append(("after_perform", result))

    @resqplug.hookimpl
    def on_failure(self, job, exc):
        self.calls.append(("on_failure", str(exc)))


@pytest.fixture
def inline(redis_url, namespace):
    return resqplug.Resq(redis_url, namespace, backend="inline")


@pytest.fixture
def recorder():
    rec = Recorder()
    resqplug.register(rec, name="rec")
    return rec


def namespace_keys(resq):
    return list(resq.redis.scan_iter(match=f"{resq.namespace}:*"))


def test_inline_job_runs_at_enqueue_with_all_hooks(inline, recorder):
    job_id = inline.enqueue(InlineAdd, 2, 3)
    assert done == [(job_id, "q", [2, 3])]
    assert recorder.calls[0] == "before_enqueue"
    assert recorder.calls.index("before_perform") < recorder.calls.index(("after_perform", 5))
    assert "after_enqueue" in recorder.calls


def test_inline_writes_nothing_to_redis(inline):
    inline.enqueue(InlineAdd, 1, 1)
    inline.enqueue_to("other", InlineAdd, 1, 1)
    assert namespace_keys(inline) == []
    assert inline.queues() == []


def test_inline_exception_reaches_caller_after_on_failure(inline, recorder):
    with pytest.raises(ValueError, match="inline boom"):
        inline.enqueue(InlineBoom)
    assert ("on_failure", "inline boom") in recorder.calls
    assert inline.failures.count() == 0
    assert namespace_keys(inline) == []


@pytest.mark.parametrize("kind", sorted(set(worker_jobs_exits.KINDS) - {"KeyboardInterrupt"}))
def test_inline_job_base_exception_fails_it_and_reaches_caller_as_job_aborted(
    inline, recorder, kind
):
    with pytest.raises(resqplug.JobAborted, match=f"ended with {kind}") as raised:
        inline.enqueue(InlineRaise, kind)
    assert type(raised.value.__cause__).__name__ == kind
    assert [c[0] for c in recorder.calls if isinstance(c, tuple)] == ["on_failure"]


def test_inline_keyboard_interrupt_fails_the_job_and_reaches_caller_as_it_is(inline, recorder):
    with pytest.raises(KeyboardInterrupt, match="from the job"):
        inline.enqueue(InlineRaise, "KeyboardInterrupt")
    assert ("on_failure", "from the job") in recorder.calls


def test_inline_enqueue_to_sets_job_queue(inline):
    job_id = inline.enqueue_to("elsewhere", InlineAdd, 1, 2)
    assert done == [(job_id, "elsewhere", [1, 2])]


def test_inline_veto_skips_the_job(inline):
    class Veto:
        @resqplug.hookimpl
        def before_enqueue(self, job):
            raise resqplug.DontEnqueue("no")

    resqplug.register(Veto(), name="veto")
    assert inline.enqueue(InlineAdd, 1, 2) is None
    assert done == []


def test_inline_still_validates_args(inline):
    with pytest.raises(resqplug.PayloadError, match=r"args\[0\]"):
        inline.enqueue(InlineAdd, (1, 2), 3)
    assert done == []


def test_inline_enqueue_many_runs_each_job(inline):
    ids = inline.enqueue_many(InlineAdd, [(1, 2), (3, 4)])
    assert done == [(ids[0], "q", [1, 2]), (ids[1], "q", [3, 4])]


def test_configure_inline_backend_for_module_api(redis_url, namespace, recorder):
    client = resqplug.configure(url=redis_url, namespace=namespace, backend="inline")
    assert client.backend == "inline"
    job_id = resqplug.enqueue(InlineAdd, 4, 5)
    assert done == [(job_id, "q", [4, 5])]
    assert ("after_perform", 9) in recorder.calls
    assert namespace_keys(client) == []


def test_backend_from_environment(monkeypatch, redis_url, namespace):
    monkeypatch.setenv("RESQPLUG_BACKEND", "inline")
    resqplug.configure(url=redis_url, namespace=namespace)
    job_id = InlineAdd.enqueue(1, 2)
    assert done == [(job_id, "q", [1, 2])]


@pytest.mark.parametrize("backend", ["inline", "redis"])
def test_same_job_code_works_on_both_backends(redis_url, namespace, backend, recorder):
    client = resqplug.configure(url=redis_url, namespace=namespace, backend=backend)
    job_id = InlineAdd.enqueue(20, 22)
    if backend == "redis":
        assert done == []
        assert drain(client, "q") == 1
    assert done == [(job_id, "q", [20, 22])]
    assert ("after_perform", 42) in recorder.calls


@pytest.mark.parametrize("backend", ["inline", "redis"])
def test_failing_job_runs_on_failure_on_both_backends(redis_url, namespace, backend, recorder):
    client = resqplug.configure(url=redis_url, namespace=namespace, backend=backend)
    if backend == "inline":
        with pytest.raises(ValueError):
            InlineBoom.enqueue()
        assert client.failures.count() == 0
    else:
        job_id = InlineBoom.enqueue()
        drain(client, "q")
        assert client.failures.get(job_id)["error"] == "inline boom"
    assert ("on_failure", "inline boom") in recorder.calls
