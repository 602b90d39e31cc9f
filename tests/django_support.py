"""The Django project of the Django tests (tests/django_project) set up in
this process, and its resqplug workers as real ``manage.py resqplug_worker``
processes. Importing this module skips the importing test module when no
Tasks framework (Django 6, or the django-tasks backport) is installed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from resqplug.pytest_fixtures import child_env, wait_for

PROJECT = Path(__file__).resolve().parent / "django_project"

pytest.importorskip("django")
try:
    import django.tasks  # Django 6+
except ImportError:
    pytest.importorskip("django_tasks")

if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproject.settings")
import django  # noqa: E402

django.setup()


class DjangoWorker:
    """``python manage.py resqplug_worker ARGS`` in the test project."""

    def __init__(self, redis_url: str, namespace: str, *args: str, mark: Path, **env: str) -> None:
        self.import_mark = mark  # written if djapp.never_imported is ever imported
        extra = {
            "RESQPLUG_REDIS_URL": redis_url,
            "RESQPLUG_NAMESPACE": namespace,
            "DJTEST_IMPORTED_MARK": str(mark),
            **env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "resqplug_worker", *args],
            cwd=PROJECT,
            env=child_env(PROJECT, extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.redis = redis.Redis.from_url(redis_url)
        self.namespace = namespace

    def wait_ready(self) -> DjangoWorker:
        def registered() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"the worker exited: {self.proc.communicate()[1]}")
            return bool(self.redis.scard(f"{self.namespace}:workers"))

        wait_for(registered, 30, "the Django worker to start")
        return self

    def stop(self) -> str:
        """Stop it (INT: a job it runs goes back to its queue; then kill); its stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.communicate()[1]


def finished(result: Any, timeout: float = 15.0) -> Any:
    """``result`` once refreshed to a final state."""

    def done() -> bool:
        result.refresh()
        return bool(result.is_finished)

    wait_for(done, timeout, f"task result {result.id} to finish")
    return result
