"""``resqplug scheduler``, ``resqplug schedule ...`` and ``resqplug delayed ...``."""

from __future__ import annotations

import json
import logging
import signal
from types import FrameType

import click

import resqplug
from resqplug.ext import load_apps, parse_json_args, when

from .api import Scheduler
from .schedules import RUN_TIME, ScheduleStore, from_config, load_toml

log = logging.getLogger("resqplug.scheduler")

APP_OPTION = click.option(
    "--app",
    envvar="RESQPLUG_APP",
    metavar="MOD[,MOD]",
    help="Modules that define your jobs (or RESQPLUG_APP).",
)


@click.command("scheduler")
@click.option(
    "--schedule",
    "schedule_file",
    type=click.Path(dir_okay=False),
    help="TOML file with [schedules.<name>] tables (stored in Redis).",
)
@click.option("--interval", type=click.FloatRange(0.05, 60), default=0.5, show_default=True)
@APP_OPTION
def scheduler_command(schedule_file: str | None, interval: float, app: str | None) -> None:
    """Run a scheduler: move due delayed jobs and fire cron/every schedules."""
    from .loop import SchedulerLoop

    load_apps(app)
    client = resqplug.default_client()
    client.ping()
    store = ScheduleStore(client)
    if schedule_file:  # declarative: what left the file goes (bad entries: reported)
        for name in store.sync_file(schedule_file, load_toml(schedule_file)):
            log.warning("schedule %s removed: no longer in %s", name, schedule_file)
    loop = SchedulerLoop(client, interval)

    def stop(signum: int, frame: FrameType | None) -> None:
        loop.stop()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, stop)
    loop.run()


@click.group("schedule")
def schedule_group() -> None:
    """Recurring schedules (resqplug-scheduler)."""


@schedule_group.command("list")
def schedule_list() -> None:
    """Every schedule with its timing, last run and error."""
    store = ScheduleStore(resqplug.default_client())
    errors, last = store.error_of(), store.last_fired()
    origins = store.origin_of()
    for name, config in store.all().items():
        origin = origins.get(name, RUN_TIME)
        source = (
            "from " + origin.removeprefix("file ") if origin != RUN_TIME else "added at run time"
        )
        if not isinstance(config, dict):
            click.echo(f"{name}  ERROR: not a table of settings")
            continue
        timing = config.get("cron") or f"every {config.get('every')}"
        ran = when(last[name]) if name in last else "-"
        line = f"{name}  {config.get('class')}  {timing}  last {ran}  ({source})"
        click.echo(line + (f"  ERROR: {errors[name]}" if name in errors else ""))


@schedule_group.command("add")
@click.argument("name")
@click.option("--class", "class_name", required=True)
@click.option("--cron")
@click.option("--every")
@click.option("--args", "args_json", default="[]", help="JSON list of arguments.")
@click.option("--queue")
@click.option("--tz", default="UTC", show_default=True)
@click.option("--description", default="")
def schedule_add(
    name: str,
    class_name: str,
    cron: str | None,
    every: str | None,
    args_json: str,
    queue: str | None,
    tz: str,
    description: str,
) -> None:
    """Add or replace a schedule; running schedulers pick it up."""
    try:
        args = json.loads(args_json)
    except ValueError as exc:
        raise resqplug.PayloadError(f"--args is not JSON: {exc}") from None
    config = {"class": class_name, "args": args, "tz": tz, "description": description}
    config.update({k: v for k, v in (("cron", cron), ("every", every), ("queue", queue)) if v})
    ScheduleStore(resqplug.default_client()).set(name, config)
    click.echo(f"schedule {name} saved")


@schedule_group.command("remove")
@click.argument("name")
def schedule_remove(name: str) -> None:
    if not ScheduleStore(resqplug.default_client()).remove(name):
        raise resqplug.NotFoundError(f"no schedule named {name!r}")
    click.echo(f"schedule {name} removed")


@schedule_group.command("run-now")
@click.argument("name")
@APP_OPTION
def schedule_run_now(name: str, app: str | None) -> None:
    """Enqueue one run of a schedule now."""
    from .loop import SchedulerLoop

    load_apps(app)
    client = resqplug.default_client()
    config = ScheduleStore(client).all().get(name)
    if config is None:
        raise resqplug.NotFoundError(f"no schedule named {name!r}")
    job_id = SchedulerLoop(client).fire(from_config(name, config))
    click.echo(job_id or "not enqueued: a plugin vetoed it")


@click.group("delayed")
def delayed_group() -> None:
    """Delayed jobs (resqplug-scheduler)."""


@delayed_group.command("list")
@click.option("--start", type=click.IntRange(0), default=0)
@click.option("--count", type=click.IntRange(1, 10000), default=50)
def delayed_list(start: int, count: int) -> None:
    """Delayed jobs by due time."""
    s = Scheduler()
    for item in s.delayed_jobs(start, count):
        due = when(item.due)
        p = item.payload
        click.echo(f"{due}  {item.queue}  {p['class']}  {p['id']}  {json.dumps(p['args'])[:80]}")
    click.echo(f"({s.delayed_count()} delayed jobs)", err=True)


@delayed_group.command("remove")
@click.argument("class_name")
@click.argument("args", nargs=-1)
def delayed_remove(class_name: str, args: tuple[str, ...]) -> None:
    """Remove delayed jobs of CLASS (with exactly these JSON args, or all)."""
    values = parse_json_args(args)
    removed = Scheduler().delayed.remove(class_name, values if args else None)
    click.echo(f"removed {removed} delayed jobs")
