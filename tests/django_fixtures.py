"""Fixtures of the Django tests (``pytest_plugins = ["django_fixtures"]``): a
namespace and a ``manage.py resqplug_worker`` process per test module, the
default client in that namespace, a PostgreSQL table per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.db import connection
from django_support import DjangoWorker

from resqplug.pytest_fixtures import delete_namespace


@pytest.fixture(scope="module")
def shared_namespace(redis_url: str) -> Iterator[str]:
    """A namespace for a module's tests and its worker."""
    ns = "t-dj-" + uuid.uuid4().hex[:12]
    yield ns
    delete_namespace(redis.Redis.from_url(redis_url), ns)


@pytest.fixture(scope="module")
def django_worker(
    redis_url: str, shared_namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DjangoWorker]:
    """One no-fork worker (with the scheduler) for a module's tests."""
    mark = tmp_path_factory.mktemp("django-worker") / "imported"
    args = ("--no-fork", "--with-scheduler")
    worker = DjangoWorker(redis_url, shared_namespace, *args, mark=mark)
    try:
        yield worker.wait_ready()
    finally:
        worker.stop()


@pytest.fixture
def tasks_client(redis_url: str, shared_namespace: str) -> Any:
    """resqplug's default client (the backend's) in the module's namespace."""
    import resqplug

    return resqplug.configure(url=redis_url, namespace=shared_namespace)


@pytest.fixture
def table() -> Iterator[str]:
    """A table of this test's own (id, note) in the PostgreSQL database."""
    name = "resqplug_dj_" + uuid.uuid4().hex[:12]
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE "{name}" (id integer PRIMARY KEY, note text)')
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
    connection.close()
