"""The ``--app`` module of resqplug workers for a Django project: it sets
Django up (``DJANGO_SETTINGS_MODULE``, unless it is set up already, as under
``manage.py resqplug_worker``) and finds the project's tasks, once, before any
job runs (in fork mode, in the process the job children fork from)::

    export DJANGO_SETTINGS_MODULE=mysite.settings
    resqplug work -q default --app resqplug.contrib.django.worker
"""

from __future__ import annotations

import os

import django
from django.apps import apps
from django.db import connections

from resqplug import ConfigError

if not apps.ready:
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        raise ConfigError(
            "set DJANGO_SETTINGS_MODULE (e.g. mysite.settings) to run Django tasks, "
            "or run the worker as `python manage.py resqplug_worker`"
        )
    django.setup()

from .jobs import DjangoTask, registry  # once Django is set up

registry.build()
connections.close_all()  # job children open their own; none is shared across a fork

__all__ = ["DjangoTask", "registry"]
