"""Django integration: ``ResqplugBackend`` for Django's Tasks framework
(``django.tasks`` on Django 6+, the ``django-tasks`` backport before), the
``resqplug_worker`` management command (add ``"resqplug.contrib.django"`` to
``INSTALLED_APPS``), the worker's ``--app`` module
``resqplug.contrib.django.worker`` and ``enqueue_on_commit`` for plain
resqplug jobs. See docs/django.md."""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {  # imported on first use: Django loads this package as an app early
    "ResqplugBackend": ".backend",
    "enqueue_on_commit": ".transaction",
    "NoSuchResult": ".errors",
    "StatusPluginMissing": ".errors",
    "TaskNotEnqueued": ".errors",
    "UnknownTaskError": ".errors",
    "UnsupportedTask": ".errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = sorted(_LAZY)
