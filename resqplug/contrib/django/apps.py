"""The Django app (``INSTALLED_APPS += ["resqplug.contrib.django"]``): it
brings the ``resqplug_worker`` management command."""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped]


class ResqplugConfig(AppConfig):  # type: ignore[misc]
    name = "resqplug.contrib.django"
    label = "resqplug"
    verbose_name = "resqplug"
