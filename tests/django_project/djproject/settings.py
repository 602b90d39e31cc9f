"""A Django project for resqplug's tests: PostgreSQL (libpq's PG* variables,
default database ``test`` as user ``postgres`` on 127.0.0.1) and the resqplug
task backend, on the Redis of the process (RESQPLUG_REDIS_URL / configure())."""

import os

SECRET_KEY = "resqplug-tests-only"
USE_TZ = True
DEBUG = False
INSTALLED_APPS = ["resqplug.contrib.django", "djapp"]
try:
    import django.tasks  # noqa: F401 - Django 6+: the framework is Django's own
except ImportError:
    INSTALLED_APPS.append("django_tasks")  # the backport

POSTGRES = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": os.environ.get("PGDATABASE", "test"),
    "USER": os.environ.get("PGUSER", "postgres"),
    "HOST": os.environ.get("PGHOST", "127.0.0.1"),
    "PORT": os.environ.get("PGPORT", "5432"),
}
# "other": a second connection (same server), for on_commit's ``using``.
DATABASES = {"default": POSTGRES, "other": dict(POSTGRES)}
TASKS = {
    "default": {
        "BACKEND": "resqplug.contrib.django.ResqplugBackend",
        "QUEUES": ["default", "emails"],
        "OPTIONS": {"TASK_MODULES": ["djapp.more_tasks"]},
    }
}
