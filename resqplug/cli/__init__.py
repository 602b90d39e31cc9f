"""The ``resqplug`` command. Errors are one line on stderr with a documented
exit code (see EXIT_CODES); a traceback only with ``--debug``."""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import datetime
from typing import Any

import click

from .. import __version__
from ..config import EVENTS_LOGGER, LOG_FORMAT
from ..errors import (
    ConfigError,
    ConnectionError,
    PayloadError,
    QueueFullError,
    QueueNameError,
    ResqplugError,
    UnknownFailureError,
    UnknownJobError,
)
from . import resque_env

EXIT_CODES = {
    0: "success",
    1: "unexpected error (run with --debug for the traceback)",
    2: "usage error (unknown command or option)",
    3: "Redis cannot be reached",
    4: "invalid configuration (URL, namespace, option)",
    5: "not found (queue, job id, job class)",
    6: "invalid input (JSON args, payload, queue name)",
    7: "Redis refused the write: it is out of memory (maxmemory, noeviction)",
}


WORKER_COMMANDS = ("work", "workers")  # they take over the signals held at start


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, ConnectionError):
        return 3
    if isinstance(exc, (UnknownJobError, UnknownFailureError, LookupError)):
        return 5
    if isinstance(exc, (PayloadError, QueueNameError)):
        return 6
    if isinstance(exc, ConfigError):
        return 4
    if isinstance(exc, QueueFullError):
        return 7
    return 1


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level,
        format=LOG_FORMAT,
        stream=sys.stderr,
    )
    # What a worker, supervisor or scheduler does (start, each failed job,
    # stop) is said at the default level too; each job's line needs -v.
    logging.getLogger(EVENTS_LOGGER).setLevel(min(level, logging.INFO))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "--version", prog_name="resqplug", message="%(prog)s %(version)s"
)
@click.option("--redis", "redis_url", metavar="URL", help="Redis URL (or RESQPLUG_REDIS_URL).")
@click.option("--namespace", metavar="NS", help="Key namespace (or RESQPLUG_NAMESPACE).")
@click.option("-v", "--verbose", count=True, help="-v: each job; -vv: worker decisions.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(
    ctx: click.Context, redis_url: str | None, namespace: str | None, verbose: int, debug: bool
) -> None:
    """resqplug: background jobs on Redis."""
    if ctx.invoked_subcommand not in WORKER_COMMANDS:
        from ..worker.control import startup

        startup.let_go()  # signals held since main() take their usual effect
    # The flags become the process's settings, so plugins using the default
    # client (and forked children) see the same server.
    if redis_url:
        os.environ["RESQPLUG_REDIS_URL"] = redis_url
    if namespace:
        os.environ["RESQPLUG_NAMESPACE"] = namespace
    if debug:
        os.environ["RESQPLUG_DEBUG"] = "1"
    setup_logging(resque_env.verbosity(verbose))
    ctx.ensure_object(dict)


def rated(bar: Any, label: str) -> Any:
    """A progress callback for ``bar`` that also shows the rate in its label."""
    started, done = time.monotonic(), 0

    def update(count: int) -> None:
        nonlocal done
        done += count
        rate = done / max(time.monotonic() - started, 1e-6)
        bar.label = f"{label} ({rate:,.0f}/s)"
        bar.update(count)

    return update


def when(timestamp: float, now: float | None = None) -> str:
    """A unix time as a person reads it: local ISO time, and how far from now
    (``2026-12-05 10:03:12+01:00 (in 5 s)``, ``... (3 min ago)``)."""
    local = datetime.fromtimestamp(timestamp).astimezone().isoformat(" ", "seconds")
    delta = timestamp - (time.time() if now is None else now)
    span = abs(delta)
    for size, unit in ((86400, "days"), (3600, "h"), (60, "min"), (1, "s")):
        if span >= size or unit == "s":
            amount = f"{span / size:.0f} {unit}"
            break
    return f"{local} ({'in ' + amount if delta > 0 else amount + ' ago'})"


def client() -> Any:
    from ..config import default_client

    return default_client()


def main(argv: list[str] | None = None) -> None:
    # First: a worker's signals that arrive during the slow start-up (plugins,
    # --app modules, the Redis client) are held for its handlers, not left to
    # their default actions (USR1 and TERM kill, QUIT dumps core).
    from ..worker.control import startup

    startup.hold()
    try:
        _main(argv)
    finally:
        startup.release()  # ending (an error before a worker took them over)


def _main(argv: list[str] | None) -> None:
    from ..plugins import get_plugins
    from . import demo, embedded_cmd, failed, info, queues, web_cmd, work  # noqa: F401 - commands

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        get_plugins().hook.add_cli_commands(cli=cli)
        cli.main(args=argv, prog_name="resqplug", standalone_mode=False)
    except click.exceptions.Abort:  # Ctrl-C (click turns it into Abort), or a "no"
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (ResqplugError, LookupError) as exc:
        if debug:
            raise
        click.echo(f"resqplug: error: {exc}", err=True)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"resqplug: unexpected error: {type(exc).__name__}: {exc} "
            "(run with --debug for the traceback)",
            err=True,
        )
        sys.exit(1)
