"""``resqplug work`` and ``resqplug workers``."""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from typing import Any

import click

from ..errors import ConfigError
from ..worker.inflight import parse_queues
from ..worker.options import WorkerOptions
from ..worker.worker import Worker
from . import cli, client, resque_env


def load_apps(apps: str | None) -> list[str]:
    """Import the user's job modules (named on the command line, never by a
    payload); returns their names."""
    names = [a.strip() for a in (apps or "").split(",") if a.strip()]
    if names and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(f"cannot import --app module {name!r}: {exc}") from None
        except Exception as exc:  # a SyntaxError, or the module raised: configuration too
            raise ConfigError(
                f"cannot import --app module {name!r}: {type(exc).__name__}: {exc}"
            ) from exc
    return names


def worker_options(**kw: object) -> WorkerOptions:
    queues = kw.pop("queues") or os.environ.get("QUEUES") or os.environ.get("QUEUE")
    if not queues:
        raise ConfigError("no queues given: use --queues a,b,c (or QUEUES=...), '*' for all")
    threads = kw.pop("threads")
    fork = kw.pop("fork")
    mode = "threads" if threads else ("fork" if fork else "nofork")
    if fork and not hasattr(os, "fork"):
        mode = "nofork"
    given = {name: value for name, value in kw.items() if value is not None}
    wait = resque_env.interval()
    if wait is not None:
        given["wait_timeout"] = wait
    # All at once: the options check themselves (e.g. the lease against the
    # heartbeat) when they are made.
    return WorkerOptions(
        queues=parse_queues(str(queues)),
        mode=mode,
        threads=int(threads or 1),  # type: ignore[call-overload]
        **given,  # type: ignore[arg-type]
    )


def _default(name: str) -> Any:
    """A WorkerOptions field's default, for --help."""
    return {f.name: f.default for f in dataclasses.fields(WorkerOptions)}[name]


WORKER_OPTIONS = [
    click.option(
        "-q",
        "--queues",
        "--queue",
        "queues",
        metavar="Q1,Q2",
        help="Queues in priority order; '*' for all (or QUEUES/QUEUE).",
    ),
    click.option(
        "--app",
        envvar="RESQPLUG_APP",
        metavar="MOD[,MOD]",
        help="Modules that define your jobs (or RESQPLUG_APP).",
    ),
    click.option(
        "--fork/--no-fork",
        default=hasattr(os, "fork"),
        help="Run each job in a child process (default on POSIX).",
    ),
    click.option(
        "--threads",
        type=click.IntRange(1, 512),
        default=None,
        show_default="off: one job at a time",
        help="Run N jobs at once on threads in one process.",
    ),
    click.option(
        "--max-jobs-per-child",
        type=click.IntRange(1),
        default=None,
        show_default=str(_default("max_jobs_per_child")),
        help="In fork mode, jobs a child runs before it is replaced.",
    ),
    click.option("--burst", is_flag=True, default=None, help="Exit when the queues are empty."),
    click.option(
        "--job-timeout",
        type=click.FloatRange(0, min_open=True),
        default=None,
        show_default="none",
        help="Default per-job timeout in seconds (a job class's `timeout` wins).",
    ),
    click.option(
        "--shutdown-timeout",
        type=click.FloatRange(0),
        default=None,
        show_default=f"{_default('shutdown_timeout'):g}",
        help="TERM: seconds to let the running job finish.",
    ),
    click.option(
        "--heartbeat",
        "heartbeat_s",
        type=click.FloatRange(0.05),
        default=None,
        show_default="5, or RESQPLUG_HEARTBEAT_S",
        help="Seconds between lease renewals.",
    ),
    click.option(
        "--dead-after",
        "dead_after_s",
        type=click.FloatRange(0.1),
        default=None,
        show_default="60, or RESQPLUG_DEAD_AFTER_S",
        help="Seconds without a heartbeat until a worker is dead (a SIGKILLed worker's "
        "jobs run again 55-70 s later with the defaults; at least 2 x (heartbeat + 0.5)).",
    ),
    click.option(
        "--max-recoveries",
        type=click.IntRange(0),
        default=None,
        show_default=str(_default("max_recoveries")),
        help="Times a job may be recovered from dead workers before it fails.",
    ),
]


def common(fn: click.decorators.FC) -> click.decorators.FC:
    """The options `work` and `workers` share."""
    for option in reversed(WORKER_OPTIONS):
        fn = option(fn)
    return fn


@cli.command()
@common
def work(app: str | None, **kw: object) -> None:
    """Run one worker."""
    apps = load_apps(app)
    options = worker_options(apps=apps, **kw)
    resque_env.background()  # before any connection: the child makes its own
    with resque_env.pidfile():
        code = Worker(client(), options).work()
    sys.exit(code)


@cli.command()
@click.option(
    "-c",
    "--count",
    type=click.IntRange(1, 256),
    envvar="COUNT",
    default=2,
    show_default=True,
    help="Workers to run (or COUNT).",
)
@common
def workers(count: int, app: str | None, **kw: object) -> None:
    """Run COUNT workers under one supervisor that restarts any that die."""
    from ..worker.supervisor import Supervisor

    apps = load_apps(app)
    options = worker_options(apps=apps, **kw)
    resque_env.background()
    client().ping()
    with resque_env.pidfile():
        code = Supervisor(count, options).run()
    sys.exit(code)
