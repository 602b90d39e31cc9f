"""``python manage.py resqplug_worker [resqplug work options]``: a resqplug
worker with this project's Django set up, on the queues of the project's
resqplug task backends unless ``-q`` says otherwise, and on their Redis
(``REDIS_URL``/``NAMESPACE`` options, which win over the environment as they
do where tasks are enqueued) unless ``--redis``/``--namespace`` say
otherwise. Every other option is ``resqplug work``'s."""

from __future__ import annotations

import argparse
import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

WORKER_APP = "resqplug.contrib.django.worker"
BACKEND = "resqplug.contrib.django.ResqplugBackend"
DJANGO_OPTIONS = ("--settings", "--pythonpath")  # applied by manage.py already


class Command(BaseCommand):  # type: ignore[misc]
    help = "Run a resqplug worker for this project's tasks (options: resqplug work --help)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("worker_args", nargs=argparse.REMAINDER)

    def run_from_argv(self, argv: list[str]) -> None:
        # resqplug's options are not Django's (-v, -q): no argparse in between
        run_worker(argv[2:])

    def handle(self, *args: Any, **options: Any) -> None:
        # call_command: its args pass Django's argparse first, so they come
        # after "--": call_command("resqplug_worker", "--", "-q", "default")
        worker_args = list(options.get("worker_args") or [])
        run_worker(worker_args[1:] if worker_args[:1] == ["--"] else worker_args)


def run_worker(args: list[str]) -> None:
    from resqplug.cli import main

    main(worker_argv(without_django_options(args)))


def worker_argv(args: list[str]) -> list[str]:
    """The ``resqplug`` command line for ``args`` given to this command."""
    head, rest = split_group_options(args)
    backends = [p for p in getattr(settings, "TASKS", {}).values() if p.get("BACKEND") == BACKEND]
    options = {str(k).upper(): v for b in backends for k, v in b.get("OPTIONS", {}).items()}
    for flag, name in (("--redis", "REDIS_URL"), ("--namespace", "NAMESPACE")):
        # the backend's own setting wins over the environment, as it does
        # where tasks are enqueued: producers and workers meet on one Redis
        if options.get(name) and not _has(head, flag):
            head += [flag, str(options[name])]
    if not _has(rest, "-q", "--queues") and not os.environ.get("QUEUES", os.environ.get("QUEUE")):
        queues = sorted({q for b in backends for q in b.get("QUEUES", ["default"])})
        rest = ["-q", ",".join(queues), *rest]
    apps = [WORKER_APP]
    while "--app" in rest[:-1]:  # the user's --app modules load after Django's setup
        at = rest.index("--app")
        apps.append(rest.pop(at + 1))
        rest.pop(at)
    for arg in [a for a in rest if a.startswith("--app=")]:
        apps.append(arg.removeprefix("--app="))
        rest.remove(arg)
    return [*head, "work", "--app", ",".join(apps), *rest]


GROUP_FLAGS = ("--debug", "-v", "-vv", "-vvv", "--verbose")
GROUP_VALUES = ("--redis", "--namespace")


def split_group_options(args: list[str]) -> tuple[list[str], list[str]]:
    """``resqplug``'s own options (before ``work``) and ``work``'s options."""
    head: list[str] = []
    rest: list[str] = []
    values = iter(args)
    for arg in values:
        if arg in GROUP_FLAGS or arg.startswith(tuple(f"{f}=" for f in GROUP_VALUES)):
            head.append(arg)
        elif arg in GROUP_VALUES:
            head += [arg, next(values, "")]
        else:
            rest.append(arg)
    return head, rest


def _has(args: list[str], *flags: str) -> bool:
    return any(a in flags or a.startswith(tuple(f"{f}=" for f in flags)) for a in args)


def without_django_options(args: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in DJANGO_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{o}=" for o in DJANGO_OPTIONS)):
            out.append(arg)
    return out
