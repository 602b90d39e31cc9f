"""Django's transaction rules: a task (and a plain resqplug job) enqueued in
a transaction is written when that transaction commits, on the database the
backend names, and never if it rolls back; a worker then sees what the
transaction wrote. And the worker command's command line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections, transaction
from django.test import override_settings
from django_support import PROJECT, DjangoWorker, finished

import resqplug
from resqplug.contrib.django import ResqplugBackend, enqueue_on_commit
from resqplug.contrib.django.compat import TaskResultDoesNotExist
from resqplug.contrib.django.management.commands.resqplug_worker import (
    WORKER_APP,
    without_django_options,
    worker_argv,
)
from resqplug.pytest_fixtures import child_env

from djapp import tasks  # isort: skip - importable once Django is set up

pytest_plugins = ["django_fixtures"]


class Note(resqplug.Job):
    queue = "plain"

    def perform(self, text: str) -> str:
        return text


class Rollback(Exception):
    pass


def queued_ids(client: resqplug.Resq, queue: str = "default") -> list[str]:
    return [job["id"] for job in client.peek(queue, 0, 100)]


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    connections.close_all()


def test_a_task_enqueued_in_a_transaction_is_written_when_it_commits(
    default_client: resqplug.Resq,
) -> None:
    with transaction.atomic():
        result = tasks.add.enqueue(1, 2)
        assert queued_ids(default_client) == []
    assert queued_ids(default_client) == [result.id]


def test_a_rolled_back_transaction_drops_its_task(default_client: resqplug.Resq) -> None:
    with pytest.raises(Rollback), transaction.atomic():
        result = tasks.add.enqueue(1, 2)
        raise Rollback
    assert queued_ids(default_client) == []
    with pytest.raises(TaskResultDoesNotExist):
        tasks.add.get_result(result.id)


def test_a_rolled_back_savepoint_drops_only_its_own_tasks(default_client: resqplug.Resq) -> None:
    with transaction.atomic():
        kept = tasks.add.enqueue(1, 1)
        with pytest.raises(Rollback), transaction.atomic():
            tasks.add.enqueue(2, 2)
            raise Rollback
    assert queued_ids(default_client) == [kept.id]


def test_the_commit_waited_for_is_on_the_backends_database(default_client: resqplug.Resq) -> None:
    backend = ResqplugBackend("default", {"OPTIONS": {"DATABASE": "other"}})
    with pytest.raises(Rollback), transaction.atomic(using="default"):
        unrelated = backend.enqueue(tasks.add, [1, 1], {})  # "other" is in no transaction
        raise Rollback
    with pytest.raises(Rollback), transaction.atomic(using="other"):
        backend.enqueue(tasks.add, [2, 2], {})
        raise Rollback
    assert queued_ids(default_client) == [unrelated.id]


def test_without_enqueue_on_commit_a_task_is_written_at_once(
    default_client: resqplug.Resq,
) -> None:
    backend = ResqplugBackend("default", {"OPTIONS": {"ENQUEUE_ON_COMMIT": False}})
    with pytest.raises(Rollback), transaction.atomic():
        result = backend.enqueue(tasks.add, [1, 1], {})
        assert queued_ids(default_client) == [result.id]
        raise Rollback
    assert queued_ids(default_client) == [result.id]


def test_plain_jobs_enqueue_on_commit_and_drop_on_rollback(default_client: resqplug.Resq) -> None:
    with transaction.atomic():
        kept = Note.enqueue_on_commit("kept")
        assert queued_ids(default_client, "plain") == []
    with pytest.raises(Rollback), transaction.atomic(using="other"):
        enqueue_on_commit(Note, "dropped", using="other")
        raise Rollback
    assert queued_ids(default_client, "plain") == [kept]


def test_fork_workers_see_the_rows_the_committed_transaction_wrote(
    redis_url: str, namespace: str, default_client: resqplug.Resq, table: str, tmp_path: Path
) -> None:
    # children forked by the fork server, which sets Django up with the worker's --app
    mark, always = tmp_path / "mark", {"RESQPLUG_FORK_SERVER": "always"}
    worker = DjangoWorker(redis_url, namespace, "-q", "default", mark=mark, **always)
    try:
        worker.wait_ready()
        with transaction.atomic():
            with connections["default"].cursor() as cursor:
                for n in range(5):
                    cursor.execute(f'INSERT INTO "{table}" VALUES (%s, %s)', [n, f"note {n}"])
            results = [tasks.read_note.enqueue(table, n) for n in range(5)]
        assert [finished(r).return_value for r in results] == [f"note {n}" for n in range(5)]
    finally:
        stderr = worker.stop()
    assert "no fork server" not in stderr and "fork server is gone" not in stderr


def test_the_worker_command_runs_on_the_backends_queues_with_django_set_up() -> None:
    argv = worker_argv(["--no-fork", "-v"])
    assert argv == ["-v", "work", "--app", WORKER_APP, "-q", "default,emails", "--no-fork"]


def test_the_worker_command_keeps_the_users_queues_redis_and_apps() -> None:
    args = ["-q", "emails", "--redis", "redis://h:1/0", "--app", "jobs", "--threads", "4"]
    argv = worker_argv(args)
    assert argv == [
        "--redis",
        "redis://h:1/0",
        "work",
        "--app",
        f"{WORKER_APP},jobs",
        "-q",
        "emails",
        "--threads",
        "4",
    ]


def test_the_worker_command_uses_the_backends_redis_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RESQPLUG_REDIS_URL", "redis://elsewhere:1/0")
    options = {"REDIS_URL": "redis://tasks:2/0", "NAMESPACE": "jobs"}
    backend = {"BACKEND": "resqplug.contrib.django.ResqplugBackend", "OPTIONS": options}
    with override_settings(TASKS={"default": backend}):
        argv = worker_argv(["--burst"])
    assert argv[:5] == ["--redis", "redis://tasks:2/0", "--namespace", "jobs", "work"]


def test_the_worker_command_drops_the_options_manage_py_applied() -> None:
    args = ["--settings", "x.settings", "-q", "a", "--pythonpath=/p"]
    assert without_django_options(args) == ["-q", "a"]


def test_call_command_runs_the_worker_with_its_args_after_a_double_dash(
    redis_url: str, namespace: str, default_client: resqplug.Resq
) -> None:
    result = tasks.add.enqueue(2, 2)
    code = (
        "import django; django.setup(); from django.core.management import call_command; "
        "call_command('resqplug_worker', '--', '-q', 'default', '--burst', '--no-fork')"
    )
    env = child_env(PROJECT, {"RESQPLUG_REDIS_URL": redis_url, "RESQPLUG_NAMESPACE": namespace})
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert finished(result).return_value == 4
