"""resqplug as users run it: resqplug_bench.py's adapter with all five bundled
plugins (retry, scheduler, loner, status, cleaner) loaded, nothing blocked.
The report compares its figures with resqplug's core-only ones (BASELINE);
the drains take as many jobs as the core's, so the two are measured alike."""

from __future__ import annotations

import resqplug_bench as core

NAME = "resqplug + all plugins"
BASELINE = core.NAME  # the system whose rows the report compares these with
BULK = core.BULK
VARIANTS = core.VARIANTS

ALL_PLUGINS = core.Setup(blocked=[])
WORKER_ENV = ALL_PLUGINS.worker_env
enqueue_one_by_one = ALL_PLUGINS.enqueue_one_by_one
enqueue_bulk = ALL_PLUGINS.enqueue_bulk
prefill = ALL_PLUGINS.prefill
stamper = ALL_PLUGINS.stamper
worker_cmd = core.worker_cmd
left = core.left
