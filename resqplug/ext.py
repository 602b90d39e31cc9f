"""The module for plugin authors: everything a resqplug plugin needs from the
core, in one flat namespace.

A plugin imports ``resqplug`` (the user API: ``Job``, ``Resq``, the errors,
``default_client``) and this module, and nothing else of resqplug: the other
modules are the core's internals and change without notice. The bundled
plugins follow that rule (a test walks their imports).

Stability: the names in ``__all__`` keep their meaning and signatures within
a major version; a name is deprecated (with a warning) for at least one minor
version before it goes. New names and new keyword arguments may be added.

What is here:

- hooks: ``hookimpl``, ``hookspec`` (for a plugin's own hooks), the core's
  hook specifications are documented in ``resqplug.hookspecs``;
- jobs: ``Job``, ``EnqueueGuard``, ``job_class_of``, ``any_job``,
  ``lookup_job_class``, ``resolve_job_class``, job options (``JobOption``);
- writes that ride the core's round trips: ``Write`` (append to ``job.writes``;
  the Lua fragments it names come from the ``write_scripts`` hook; see
  ``resqplug.writes``), ``Batched`` (a fragment run once for a batch's writes);
- payload helpers: ``dumps``, ``canonical``, ``check_args``, ``check_doc``,
  ``validate_queue_name``, ``new_job_id``;
- the failure store's calls for plugins that write or read records:
  ``error_message``, ``failure_timestamp``, ``job_payload``,
  ``encode_failure_record``, ``failure_retry_guard``, ``failure_record_job``;
- delayed sets (``Delayed``, ``DelayedSet``) and ``Wake`` (an interruptible sleep);
- clients and plugins: ``client_for``, ``default_client``, ``keys_for`` (the
  key names of ``client_for(job)``, without connecting), ``get_plugins``,
  ``redis_down`` (whether an exception means Redis could not be reached);
- CLI helpers: ``parse_json_args``, ``load_apps``, ``rated``, ``when`` (a
  unix time as local ISO time and how far from now),
  ``exit_code_for``. For a one-line error, raise a ``resqplug`` error
  (``ConfigError``, ``NotFoundError``, ``PayloadError``...) from a command:
  the CLI prints ``resqplug: error: <message>`` with ``exit_code_for``'s code;
- dashboard pages: ``Page``, ``Section``, ``Button``, ``Progress``, ``redact``,
  and ``Endpoint`` (a plain resource such as ``/metrics``);
- the demo: ``DemoJobs``.

Names that would load more than a job needs (redis-py for delayed sets, click
and the worker for CLI helpers, the dashboard's page types) are imported on
first access, so a plugin that never uses them does not pay for them in
every worker and fork child.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .config import client_for, default_client, keys_for
from .demo_parts import DemoJobs
from .discard import record_job as failure_record_job
from .errors import (
    ConfigError,
    DontDequeue,
    DontEnqueue,
    DontPerform,
    NotFoundError,
    PayloadError,
    QueueNameError,
    ResqplugError,
    UnknownJobError,
    UnknownOptionError,
)
from .failure import encode_record as encode_failure_record
from .failure import job_payload
from .failure import message as error_message
from .failure import retry_guard as failure_retry_guard
from .failure import timestamp as failure_timestamp
from .hookspecs import hookimpl, hookspec
from .job import EnqueueGuard, Job, job_class_of
from .options import JobOption
from .payload import canonical, check_args, check_doc, dumps, new_job_id, validate_queue_name
from .plugins import Plugins, get_plugins, redis_down
from .registry import lookup as lookup_job_class
from .registry import resolve as resolve_job_class
from .runner import any_job
from .wake import Wake
from .writes import Batched, Write

if TYPE_CHECKING:
    from .cli import exit_code_for, rated, when
    from .cli.queues import parse_json_args
    from .cli.work import load_apps
    from .delayed import Delayed, DelayedSet
    from .web.pages import Button, Endpoint, Page, Progress, Section, redact

# name -> module it lives in, imported on first access (see the docstring).
_LAZY = {
    "Delayed": "resqplug.delayed",
    "DelayedSet": "resqplug.delayed",
    "exit_code_for": "resqplug.cli",
    "rated": "resqplug.cli",
    "when": "resqplug.cli",
    "parse_json_args": "resqplug.cli.queues",
    "load_apps": "resqplug.cli.work",
    "Button": "resqplug.web.pages",
    "Endpoint": "resqplug.web.pages",
    "Page": "resqplug.web.pages",
    "Progress": "resqplug.web.pages",
    "Section": "resqplug.web.pages",
    "redact": "resqplug.web.pages",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses are plain lookups
    return value


__all__ = [
    "Batched",
    "Button",
    "ConfigError",
    "Delayed",
    "DelayedSet",
    "DemoJobs",
    "DontDequeue",
    "DontEnqueue",
    "DontPerform",
    "Endpoint",
    "EnqueueGuard",
    "Job",
    "JobOption",
    "NotFoundError",
    "Page",
    "PayloadError",
    "Plugins",
    "Progress",
    "QueueNameError",
    "ResqplugError",
    "Section",
    "UnknownJobError",
    "UnknownOptionError",
    "Wake",
    "Write",
    "any_job",
    "canonical",
    "check_args",
    "check_doc",
    "client_for",
    "default_client",
    "dumps",
    "encode_failure_record",
    "error_message",
    "exit_code_for",
    "failure_record_job",
    "failure_retry_guard",
    "failure_timestamp",
    "get_plugins",
    "hookimpl",
    "hookspec",
    "job_class_of",
    "job_payload",
    "keys_for",
    "load_apps",
    "lookup_job_class",
    "new_job_id",
    "parse_json_args",
    "rated",
    "redact",
    "redis_down",
    "resolve_job_class",
    "validate_queue_name",
    "when",
]
