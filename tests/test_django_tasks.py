"""resqplug as the backend of Django's Tasks framework (the django-tasks
backport here; Django 6's own in the django6 lane): tasks enqueued through
the unchanged Django API run in real ``manage.py resqplug_worker`` processes,
and their results come back through the status plugin."""

from __future__ import annotations

import datetime as dt

import pytest
from django_support import DjangoWorker, finished

import resqplug
from resqplug.contrib.django import (
    NoSuchResult,
    ResqplugBackend,
    StatusPluginMissing,
    UnsupportedTask,
)
from resqplug.contrib.django.compat import (
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_backends,
    task_enqueued,
)
from resqplug.contrib.django.jobs import DjangoTask
from resqplug.pytest_fixtures import wait_for

from djapp import more_tasks, tasks  # isort: skip - importable once Django is set up

pytest_plugins = ["django_fixtures"]
PARAMS = {"QUEUES": ["default", "emails"], "OPTIONS": {"ENQUEUE_ON_COMMIT": False}}


# --- enqueue, without a worker: the job as written --------------------------------


def test_enqueue_writes_a_resque_job_whose_id_is_the_result_id(
    default_client: resqplug.Resq,
) -> None:
    result = tasks.send_mail.enqueue("ada@example.com", subject="hi")
    assert result.status == TaskResultStatus.READY
    [job] = default_client.peek("emails")
    assert job["class"] == "DjangoTask" and job["id"] == result.id
    assert job["args"] == ["djapp.tasks.send_mail", ["ada@example.com"], {"subject": "hi"}]
    assert result.enqueued_at is not None


def test_a_ready_result_reads_back_as_ready(default_client: resqplug.Resq) -> None:
    result = tasks.add.enqueue(1, 2)
    again = tasks.add.get_result(result.id)
    assert again.status == TaskResultStatus.READY
    assert (again.args, again.kwargs, again.task.func) == ([1, 2], {}, tasks.add.func)


def test_a_task_killed_before_it_ran_reads_as_failed(default_client: resqplug.Resq) -> None:
    import resqplug_status

    result = tasks.add.enqueue(1, 2)
    assert resqplug_status.kill(result.id, default_client)
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is resqplug_status.JobKilled


def test_queue_name_maps_to_the_resqplug_queue(default_client: resqplug.Resq) -> None:
    tasks.add.using(queue_name="emails").enqueue(1, 1)
    assert default_client.size("emails") == 1 and default_client.size("default") == 0


def test_a_queue_name_resqplug_refuses_is_an_invalid_task() -> None:
    backend = ResqplugBackend("default", {"QUEUES": []})
    with pytest.raises(UnsupportedTask, match="invalid queue name"):
        backend.validate_task(tasks.add.using(queue_name="a:b"))


def test_priority_is_accepted_and_does_not_reorder(default_client: resqplug.Resq) -> None:
    first = tasks.add.enqueue(0, 0)
    second = tasks.urgent.enqueue()
    assert [j["id"] for j in default_client.peek("default", 0, 2)] == [first.id, second.id]
    assert task_backends["default"].supports_priority is False


def test_args_that_are_not_json_are_refused_before_anything_is_written(
    default_client: resqplug.Resq,
) -> None:
    with pytest.raises(resqplug.PayloadError, match="args"):
        tasks.add.enqueue({1: "int key"}, 2)
    assert default_client.size("default") == 0


def test_an_unknown_result_id_does_not_exist(default_client: resqplug.Resq) -> None:
    with pytest.raises(TaskResultDoesNotExist):
        task_backends["default"].get_result("0" * 32)
    with pytest.raises(NoSuchResult):
        task_backends["default"].get_result("not an id!")


def test_results_without_the_status_plugin_say_what_is_missing(
    default_client: resqplug.Resq, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESQPLUG_DISABLE_PLUGINS", "status")
    resqplug.plugins.reset_plugins()
    backend = ResqplugBackend("default", PARAMS)
    assert backend.supports_get_result is False
    with pytest.raises(StatusPluginMissing, match="resqplug-status"):
        backend.get_result("0" * 32)


def test_run_after_without_the_scheduler_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RESQPLUG_DISABLE_PLUGINS", "scheduler")
    resqplug.plugins.reset_plugins()
    backend = ResqplugBackend("default", PARAMS)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)
    with pytest.raises(UnsupportedTask, match="resqplug-scheduler"):
        backend.validate_task(tasks.add.using(run_after=later))


def test_unknown_options_are_refused() -> None:
    with pytest.raises(resqplug.ConfigError, match="ENQUEUE_ON_COMIT"):
        ResqplugBackend("default", {"OPTIONS": {"ENQUEUE_ON_COMIT": True}})
    with pytest.raises(resqplug.ConfigError, match="'nowhere', which is not in DATABASES"):
        ResqplugBackend("default", {"OPTIONS": {"DATABASE": "nowhere"}})


def test_the_system_check_warns_when_results_are_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ResqplugBackend("default", PARAMS).check() == []
    monkeypatch.setenv("RESQPLUG_DISABLE_PLUGINS", "status")
    resqplug.plugins.reset_plugins()
    [warning] = ResqplugBackend("default", PARAMS).check()
    assert warning.id == "resqplug.W001" and "resqplug-status" in warning.msg


def test_enqueue_sends_djangos_task_enqueued_signal(default_client: resqplug.Resq) -> None:
    seen = []

    def receiver(sender: type, task_result: object, **kwargs: object) -> None:
        seen.append(task_result)

    task_enqueued.connect(receiver, dispatch_uid="resqplug-test")
    try:
        result = tasks.add.enqueue(1, 1)
    finally:
        task_enqueued.disconnect(dispatch_uid="resqplug-test")
    assert seen == [result]


# --- run by a worker (manage.py resqplug_worker) ------------------------------------


@pytest.mark.usefixtures("django_worker")
class TestRunByAWorker:
    def test_a_task_runs_and_its_return_value_comes_back(self, tasks_client: resqplug.Resq) -> None:
        result = finished(tasks.add.enqueue(2, 3))
        assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 5
        assert result.started_at <= result.finished_at and len(result.worker_ids) == 1

    def test_get_result_by_id_sees_the_outcome(self, tasks_client: resqplug.Resq) -> None:
        result = finished(tasks.send_mail.enqueue("bob@example.com"))
        fetched = task_backends["default"].get_result(result.id)
        assert fetched.return_value == {"to": "bob@example.com", "subject": ""}
        assert tasks.send_mail.get_result(result.id).id == result.id

    def test_a_failing_task_reports_its_exception(self, tasks_client: resqplug.Resq) -> None:
        result = finished(tasks.fail.enqueue("no stock"))
        assert result.status == TaskResultStatus.FAILED
        [error] = result.errors
        assert error.exception_class is ValueError and "no stock" in error.traceback
        with pytest.raises(ValueError, match="failed"):
            result.return_value  # noqa: B018 - Django's API raises here

    def test_a_task_taking_context_sees_its_own_result(self, tasks_client: resqplug.Resq) -> None:
        result = finished(tasks.whoami.enqueue())
        assert result.return_value == {"id": result.id, "attempt": 1}

    def test_an_async_task_runs(self, tasks_client: resqplug.Resq) -> None:
        assert finished(tasks.async_add.enqueue(20, 22)).return_value == 42

    def test_a_task_module_from_the_options_runs(self, tasks_client: resqplug.Resq) -> None:
        assert finished(more_tasks.shout.enqueue("hey")).return_value == "HEY"

    def test_a_running_task_is_running(self, tasks_client: resqplug.Resq) -> None:
        result = tasks.slow.enqueue(1.5)
        wait_for(lambda: (result.refresh(), result.status == TaskResultStatus.RUNNING)[1], 10)
        assert result.started_at is not None and not result.is_finished
        assert finished(result).return_value == "slept"

    def test_run_after_goes_through_the_scheduler(self, tasks_client: resqplug.Resq) -> None:
        due = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1.5)
        result = tasks.add.using(run_after=due).enqueue(4, 4)
        assert tasks.add.get_result(result.id).status == TaskResultStatus.READY
        assert finished(result).return_value == 8
        assert result.started_at >= due - dt.timedelta(seconds=0.5)

    def test_a_job_naming_a_module_never_imports_it(
        self, tasks_client: resqplug.Resq, django_worker: DjangoWorker
    ) -> None:
        job_id = tasks_client.enqueue(DjangoTask, "djapp.never_imported.boom", [], {})
        failure = wait_for(lambda: tasks_client.failures.get(job_id), 15, "the failure")
        assert failure["exception"] == "UnknownTaskError"
        assert "unknown Django task 'djapp.never_imported.boom'" in failure["error"]
        assert "\n" not in failure["error"]
        assert not django_worker.import_mark.exists()
