"""The client API: enqueue, job classes and names, dequeue, inspection, module API."""

from __future__ import annotations

import re

import pytest

import resqplug
from resqplug import registry
from resqplug.testing import drain

calls: list[tuple[str, list]] = []


@pytest.fixture(autouse=True)
def _clear_calls():
    calls.clear()


class ClientEcho(resqplug.Job):
    queue = "q"

    def perform(self, *args):
        calls.append((self.class_name, list(args)))


class ClientOther(resqplug.Job):
    queue = "q"

    def perform(self, *args):
        calls.append((self.class_name, list(args)))


class ClientParent(resqplug.Job):
    queue = "parents"


class ClientChild(ClientParent):
    def perform(self):
        pass


class ClientNamed(resqplug.Job):
    name = "test_client.named"
    queue = "q"

    def perform(self):
        calls.append(("named", []))


class ClientNamedChild(ClientNamed):
    pass


class ClientAbstractBase(resqplug.Job):
    abstract = True
    queue = "q"


class ClientConcrete(ClientAbstractBase):
    def perform(self):
        pass


@resqplug.job(queue="fn")
def client_fn_job(x, y=2):
    calls.append(("client_fn_job", [x, y]))
    return x * y


class VetoOdd:
    """Vetoes jobs whose first argument is odd; records every before_enqueue."""

    def __init__(self):
        self.seen: list[list] = []

    @resqplug.hookimpl
    def before_enqueue(self, job):
        self.seen.append(list(job.args))
        if job.args and job.args[0] % 2:
            raise resqplug.DontEnqueue("odd")


# --- enqueue -----------------------------------------------------------------------------


def test_enqueue_returns_32_hex_id_and_writes_to_class_queue(resq):
    job_id = resq.enqueue(ClientEcho, 1)
    assert re.fullmatch(r"[0-9a-f]{32}", job_id)
    assert resq.queues() == ["q"]
    assert [d["id"] for d in resq.peek("q")] == [job_id]


def test_a_job_id_is_new_until_the_job_is_pushed(resq):
    job = ClientEcho([1])
    assert job.new_id
    assert resq.push(job) == job.id
    assert not job.new_id
    assert not ClientEcho([1], id="given").new_id


def test_each_enqueue_gets_a_new_id(resq):
    assert resq.enqueue(ClientEcho, 1) != resq.enqueue(ClientEcho, 1)


def test_enqueue_to_writes_to_the_given_queue(resq):
    job_id = resq.enqueue_to("critical", ClientEcho, 1)
    assert resq.size("critical") == 1
    assert resq.size("q") == 0
    assert resq.peek("critical")[0]["id"] == job_id


def test_queue_class_attribute_is_inherited(resq):
    resq.enqueue(ClientChild)
    assert resq.queues() == ["parents"]


def test_name_sets_registry_name(resq):
    assert registry.lookup("test_client.named") is ClientNamed
    assert registry.lookup("ClientNamed") is None
    resq.enqueue(ClientNamed)
    assert resq.peek("q")[0]["class"] == "test_client.named"
    drain(resq, "q")
    assert calls == [("named", [])]


def test_name_is_not_inherited(resq):
    assert registry.lookup("ClientNamedChild") is ClientNamedChild
    resq.enqueue(ClientNamedChild)
    assert resq.peek("q")[0]["class"] == "ClientNamedChild"


def test_two_classes_with_one_name_fail_at_definition():
    with pytest.raises(resqplug.DuplicateJobNameError, match=r"test_client\.named"):

        class Impostor(resqplug.Job):
            name = "test_client.named"

    assert registry.lookup("test_client.named") is ClientNamed


def test_class_name_clash_fails_at_definition():
    with pytest.raises(resqplug.DuplicateJobNameError):

        class ClientEcho(resqplug.Job):  # same class name, other module path
            pass


def test_abstract_class_is_not_registered_but_its_subclass_is():
    assert registry.lookup("ClientAbstractBase") is None
    assert registry.lookup("ClientConcrete") is ClientConcrete


def test_enqueue_of_non_job_is_config_error(resq):
    with pytest.raises(resqplug.ConfigError):
        resq.enqueue(print, 1)


# --- function jobs -----------------------------------------------------------------


def test_function_job_called_directly_runs_the_function(resq):
    assert client_fn_job(3, 4) == 12
    assert calls == [("client_fn_job", [3, 4])]
    assert resq.queues() == []


def test_function_job_enqueue_uses_its_queue_and_runs_in_worker(default_client):
    job_id = client_fn_job.enqueue(5)
    assert default_client.peek("fn")[0]["id"] == job_id
    assert drain(default_client, "fn") == 1
    assert calls == [("client_fn_job", [5, 2])]


def test_function_job_can_be_enqueued_on_explicit_client(resq):
    resq.enqueue(client_fn_job, 1, 1)
    resq.enqueue_to("other", client_fn_job, 2, 2)
    assert resq.size("fn") == 1
    assert resq.size("other") == 1
    assert client_fn_job.using(resq)(3)
    assert resq.size("fn") == 2


# --- enqueue_many ------------------------------------------------------------------------


def test_enqueue_many_returns_ids_in_order(resq):
    ids = resq.enqueue_many(ClientEcho, [(1,), (2, "dev"), ()])
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert [(d["id"], d["args"]) for d in resq.peek("q", 0, 10)] == [
        (ids[0], [1]),
        (ids[1], [2, "dev"]),
        (ids[2], []),
    ]


def test_enqueue_many_runs_before_enqueue_per_job_and_vetoes_some(resq):
    veto = VetoOdd()
    resqplug.register(veto, name="veto")
    ids = resq.enqueue_many(ClientEcho, [(1,), (2,), (3,), (4,)])
    assert veto.seen == [[1], [2], [3], [4]]
    assert ids[0] is None and ids[2] is None
    assert [d["id"] for d in resq.peek("q", 0, 10)] == [ids[1], ids[3]]


def test_enqueue_many_to_a_queue(resq):
    resq.enqueue_many(ClientEcho, [(1,), (2,)], queue="bulk")
    assert resq.size("bulk") == 2


def test_enqueue_many_all_vetoed_writes_nothing(resq):
    resqplug.register(VetoOdd(), name="veto")
    assert resq.enqueue_many(ClientEcho, [(1,), (3,)]) == [None, None]
    assert resq.queues() == []


# --- dequeue -----------------------------------------------------------------------------


def test_dequeue_removes_only_jobs_with_exactly_these_args(resq):
    resq.enqueue(ClientEcho, 1)
    resq.enqueue(ClientEcho, 1, 2)
    resq.enqueue(ClientEcho, 10)
    resq.enqueue(ClientEcho, 1)
    resq.enqueue(ClientOther, 1)
    assert resq.dequeue(ClientEcho, 1) == 2
    left = [(d["class"], d["args"]) for d in resq.peek("q", 0, 10)]
    assert left == [("ClientEcho", [1, 2]), ("ClientEcho", [10]), ("ClientOther", [1])]


def test_dequeue_with_no_args_removes_all_of_the_class_only(resq):
    resq.enqueue(ClientEcho, 1)
    resq.enqueue(ClientOther, 1)
    resq.enqueue(ClientEcho, "a", {"b": 1})
    resq.enqueue(ClientEcho)
    assert resq.dequeue(ClientEcho) == 3
    assert [d["class"] for d in resq.peek("q", 0, 10)] == ["ClientOther"]


def test_dequeue_matches_unicode_and_dict_args(resq):
    resq.enqueue(ClientEcho, "é😀", {"k": [1]})
    assert resq.dequeue(ClientEcho, "é😀", {"k": [1]}) == 1
    assert resq.size("q") == 0


def test_dequeue_of_nothing_returns_zero(resq):
    assert resq.dequeue(ClientEcho, 1) == 0


def test_before_dequeue_veto_returns_zero_and_removes_nothing(resq):
    class Keep:
        @resqplug.hookimpl
        def before_dequeue(self, job):
            raise resqplug.DontDequeue("keep")

    resq.enqueue(ClientEcho, 1)
    resqplug.register(Keep(), name="keep")
    assert resq.dequeue(ClientEcho, 1) == 0
    assert resq.size("q") == 1


def test_before_dequeue_dont_enqueue_also_vetoes(resq):
    class Keep:
        @resqplug.hookimpl
        def before_dequeue(self, job):
            raise resqplug.DontEnqueue("keep")

    resq.enqueue(ClientEcho, 1)
    resqplug.register(Keep(), name="keep")
    assert resq.dequeue(ClientEcho) == 0
    assert resq.size("q") == 1


def test_after_dequeue_gets_the_number_removed(resq):
    seen = []

    class Count:
        @resqplug.hookimpl
        def after_dequeue(self, job, removed):
            seen.append((job.class_name, job.args, removed))

    resqplug.register(Count(), name="count")
    resq.enqueue(ClientEcho, 1)
    resq.enqueue(ClientEcho, 1)
    resq.dequeue(ClientEcho, 1)
    assert seen == [("ClientEcho", [1], 2)]


# --- inspection --------------------------------------------------------------------------


def test_queues_size_peek_and_remove_queue(resq):
    ids = [resq.enqueue_to("b", ClientEcho, i) for i in range(5)]
    resq.enqueue_to("a", ClientEcho, 9)
    assert resq.queues() == ["a", "b"]
    assert resq.size("b") == 5
    assert resq.size("nothing") == 0
    assert [d["id"] for d in resq.peek("b")] == ids[:1]
    assert [d["id"] for d in resq.peek("b", 1, 3)] == ids[1:4]
    assert resq.peek("b", 10, 5) == []
    assert resq.peek("b", 0, 0) == []
    assert resq.remove_queue("b") == 5
    assert resq.queues() == ["a"]
    assert resq.size("b") == 0


def test_peek_shows_a_bad_entry_as_raw_and_error(resq):
    resq.redis.rpush(resq.keys.queue("q"), b"not json")
    [entry] = resq.peek("q")
    assert entry["raw"] == "not json"
    assert "not JSON" in entry["error"]


def test_stats_counts_processed_failed_queues_and_pending(resq):
    class ClientFails(resqplug.Job):
        queue = "q"

        def perform(self):
            raise RuntimeError("no")

    assert resq.stats() == {"processed": 0, "failed": 0, "queues": 0, "workers": 0, "pending": 0}
    resq.enqueue(ClientEcho)
    resq.enqueue(ClientFails)
    drain(resq, "q")
    resq.enqueue_to("a", ClientEcho)
    resq.enqueue_to("b", ClientEcho)
    resq.enqueue_to("b", ClientEcho)
    stats = resq.stats()
    assert stats["processed"] == 2
    assert stats["failed"] == 1
    assert stats["queues"] == 3  # q stays known after it emptied
    assert stats["pending"] == 3


# --- the module-level API ----------------------------------------------------------------


def test_module_api_uses_the_configured_default_client(default_client):
    job_id = resqplug.enqueue(ClientEcho, 1)
    resqplug.enqueue_to("other", ClientEcho, 2)
    ids = resqplug.enqueue_many(ClientEcho, [(3,), (4,)])
    assert resqplug.queues() == ["other", "q"]
    assert resqplug.size("q") == 3
    assert [d["id"] for d in resqplug.peek("q", 0, 3)] == [job_id, *ids]
    assert resqplug.dequeue(ClientEcho, 3) == 1
    assert resqplug.remove_queue("other") == 1
    assert resqplug.stats()["pending"] == 2
    assert default_client.size("q") == 2
    assert resqplug.failures.count() == 0


def test_job_classmethods_enqueue_on_default_client(default_client):
    job_id = ClientEcho.enqueue(1)
    ClientEcho.enqueue_to("x", 2)
    assert default_client.peek("q")[0]["id"] == job_id
    assert default_client.size("x") == 1


def test_default_client_is_the_one_configure_returns(default_client, namespace):
    assert resqplug.default_client() is default_client
    assert default_client.namespace == namespace


def test_env_namespace_beats_configure(monkeypatch, redis_url, namespace):
    monkeypatch.setenv("RESQPLUG_NAMESPACE", namespace)
    resqplug.configure(url=redis_url, namespace="not-this-one")
    assert resqplug.default_client().namespace == namespace


def test_env_url_beats_configure(monkeypatch, namespace):
    monkeypatch.setenv("RESQPLUG_REDIS_URL", "redis://127.0.0.1:6379/3")
    resqplug.configure(url="redis://127.0.0.1:1/0", namespace=namespace)
    assert resqplug.default_client().url == "redis://127.0.0.1:6379/3"


def test_namespace_from_url_when_nothing_else_sets_it():
    resqplug.configure(url="redis://127.0.0.1:6379/0/from-url")
    assert resqplug.default_client().namespace == "from-url"


def test_configure_namespace_beats_url_namespace():
    resqplug.configure(url="redis://127.0.0.1:6379/0/from-url", namespace="explicit")
    assert resqplug.default_client().namespace == "explicit"


def test_default_namespace_is_resque():
    resqplug.configure(url="redis://127.0.0.1:6379/0")
    assert resqplug.default_client().namespace == "resque"


def test_invalid_namespace_is_config_error(redis_url):
    with pytest.raises(resqplug.ConfigError):
        resqplug.Resq(redis_url, "bad namespace")


def test_unknown_backend_is_config_error(redis_url, namespace):
    with pytest.raises(resqplug.ConfigError, match="backend"):
        resqplug.Resq(redis_url, namespace, backend="carrier-pigeon")
