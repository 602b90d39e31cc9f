"""Recurring schedules: cron (croniter, optional seconds field, per-schedule time
zone) and ``every`` intervals; read from TOML or set at runtime, kept in Redis."""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

import resqplug
from resqplug.ext import check_args, validate_queue_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_EVERY_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
KNOWN_FIELDS = {"class", "args", "queue", "cron", "every", "tz", "description"}


def parse_every(value: object) -> float:
    """``90``, ``"30s"``, ``"1h30m"`` -> seconds (> 0)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        text = value.replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text) and float(text) > 0:
            return float(text)
        parts = _EVERY_RE.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
            if seconds > 0:
                return seconds
    raise resqplug.ConfigError(f"invalid every {value!r}: use seconds or e.g. '30s', '1h30m'")


@dataclass(frozen=True)
class Schedule:
    name: str
    class_name: str
    args: list[Any] = field(default_factory=list)
    queue: str | None = None
    cron: str | None = None
    every: float | None = None
    tz: str = "UTC"
    description: str = ""

    def next_after(self, ts: float) -> float:
        """The first fire time strictly after ``ts`` (epoch seconds)."""
        if self.every is not None:
            return ts + self.every
        assert self.cron is not None
        zone = ZoneInfo(self.tz)
        base = datetime.fromtimestamp(ts, zone)
        it = croniter(self.cron, base, second_at_beginning=len(self.cron.split()) == 6)
        while True:
            fire = it.get_next(datetime)
            if not (self._hours_fixed() and _second_pass(fire, zone)):
                return float(fire.timestamp())
            # A wall-clock time in the hour repeated when clocks fall back: it
            # fired on the first pass (cron's rule; hourly schedules fire on both).

    def _hours_fixed(self) -> bool:
        """Whether the cron names its hours (not ``*`` or a step)."""
        assert self.cron is not None
        fields = self.cron.split()
        hours = fields[2] if len(fields) == 6 else fields[1]
        return "*" not in hours and "/" not in hours

    def latest_due(self, last: float, now: float) -> float | None:
        """The latest fire time in (last, now], or None: missed ticks fire once."""
        if self.next_after(last) > now:
            return None
        if self.every is not None:
            return last + self.every * int((now - last) // self.every)
        assert self.cron is not None
        # Straight to the latest tick, however many were missed.
        base = datetime.fromtimestamp(now + 0.001, ZoneInfo(self.tz))
        it = croniter(self.cron, base, second_at_beginning=len(self.cron.split()) == 6)
        return float(it.get_prev(datetime).timestamp())

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"class": self.class_name, "args": self.args}
        for key in ("queue", "cron", "every", "description"):
            if getattr(self, key) not in (None, ""):
                out[key] = getattr(self, key)
        if self.tz != "UTC":
            out["tz"] = self.tz
        return out


def _second_pass(moment: datetime, zone: ZoneInfo) -> bool:
    """Whether ``moment`` is the second occurrence of a wall-clock time that
    happens twice (the hour repeated when clocks fall back)."""
    wall = moment.replace(tzinfo=None)
    first = wall.replace(tzinfo=zone, fold=0).timestamp()
    second = wall.replace(tzinfo=zone, fold=1).timestamp()
    return first != second and moment.timestamp() == max(first, second)


def from_config(name: str, config: object) -> Schedule:
    """Validate one schedule entry; ConfigError says what is wrong."""
    where = f"schedule {name!r}"
    if not isinstance(config, dict):
        raise resqplug.ConfigError(f"{where}: must be a table of settings")
    if "invalid" in config:  # what ScheduleStore.all could not read
        why = config.get("why", "its stored text is not a JSON table")
        raise resqplug.ConfigError(f"{where}: unreadable entry ({why})")
    unknown = set(config) - KNOWN_FIELDS
    if unknown:
        raise resqplug.ConfigError(f"{where}: unknown settings {sorted(unknown)}")
    class_name = config.get("class")
    if not isinstance(class_name, str) or not class_name:
        raise resqplug.ConfigError(f"{where}: 'class' must name a job class")
    args = config.get("args", [])
    args = args if isinstance(args, list) else [args]
    try:
        check_args(args)
    except resqplug.PayloadError as exc:
        raise resqplug.ConfigError(f"{where}: {exc}") from None
    cron, every = config.get("cron"), config.get("every")
    if (cron is None) == (every is None):
        raise resqplug.ConfigError(f"{where}: give exactly one of 'cron' and 'every'")
    if cron is not None and (
        not isinstance(cron, str)
        or len(cron.split()) not in (5, 6)
        or not croniter.is_valid(cron, second_at_beginning=len(cron.split()) == 6)
    ):
        raise resqplug.ConfigError(f"{where}: invalid cron {cron!r}")
    tz = config.get("tz", "UTC")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise resqplug.ConfigError(f"{where}: unknown time zone {tz!r}") from None
    queue = config.get("queue")
    if queue is not None:
        validate_queue_name(queue)
    return Schedule(
        name,
        class_name,
        args,
        queue,
        cron,
        None if every is None else parse_every(every),
        str(tz),
        str(config.get("description", "")),
    )


def load_toml(path: str | Path) -> dict[str, dict[str, Any]]:
    """``[schedules.<name>]`` tables from a TOML file (not validated here)."""
    try:
        data = tomllib.loads(Path(path).read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise resqplug.ConfigError(f"cannot read schedule file {path}: {exc}") from None
    tables = data.get("schedules", {})
    if not isinstance(tables, dict):
        raise resqplug.ConfigError(f"{path}: [schedules] must hold one table per schedule")
    return tables


RUN_TIME = "run time"  # the origin of a schedule added by the CLI or the API


def file_origin(path: str | Path) -> str:
    """The origin recorded for schedules loaded from the file at ``path``."""
    return f"file {Path(path).resolve()}"


class ScheduleStore:
    """Schedules in Redis: config, last fire time and errors, by name."""

    def __init__(self, client: resqplug.Resq) -> None:
        self.client = client
        k = client.keys
        self.configs = k.plugin("scheduler", "schedules")
        self.last = k.plugin("scheduler", "last")
        self.errors = k.plugin("scheduler", "errors")
        self.origins = k.plugin("scheduler", "origins")  # name -> where it came from

    def set(
        self, name: str, config: dict[str, Any], *, check: bool = True, origin: str = RUN_TIME
    ) -> None:
        """Store a schedule; picked up by running schedulers at their next tick.
        ``origin``: a schedule file's path (``file_origin``), or RUN_TIME."""
        if check:
            from_config(name, config)
        pipe = self.client.redis.pipeline()
        pipe.hset(self.configs, name, json.dumps(config))
        pipe.hset(self.origins, name, origin)
        pipe.execute()

    def remove(self, name: str) -> bool:
        pipe = self.client.redis.pipeline()
        pipe.hdel(self.configs, name)
        pipe.hdel(self.last, name)
        pipe.hdel(self.errors, name)
        pipe.hdel(self.origins, name)
        return bool(pipe.execute()[0])

    def sync_file(self, path: str | Path, tables: dict[str, Any]) -> list[str]:
        """Make the schedules loaded from the file at ``path`` what it holds now:
        its entries are stored (bad ones get an error the loop reports), and
        those loaded from it before but no longer in it are removed (returned).
        Schedules from elsewhere (run time, another file) are left alone."""
        origin = file_origin(path)
        for name, config in tables.items():
            try:
                self.set(name, config, check=False, origin=origin)
            except (TypeError, ValueError) as exc:
                self.client.redis.hset(self.errors, name, f"schedule {name!r}: cannot store: {exc}")
        gone = [n for n, o in self.origin_of().items() if o == origin and n not in tables]
        for name in gone:
            self.remove(name)
        return gone

    def origin_of(self) -> dict[str, str]:
        raw = self.client.redis.hgetall(self.origins).items()
        return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in raw}

    def all(self) -> dict[str, dict[str, Any]]:
        raw = self.client.redis.hgetall(self.configs)
        out: dict[str, dict[str, Any]] = {}
        for raw_name, text in sorted(raw.items()):
            name = raw_name.decode("utf-8", "replace")
            if name.encode() != raw_name:  # written by hand: reported, never fired
                out[name] = {"invalid": text.decode("utf-8", "replace"), "why": "name not UTF-8"}
                continue
            try:
                out[name] = json.loads(text)
            except (ValueError, RecursionError):  # not JSON, an int too long, too deep
                out[name] = {"invalid": text.decode("utf-8", "replace")}
        return out

    def error_of(self) -> dict[str, str]:
        raw = self.client.redis.hgetall(self.errors).items()
        return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in raw}

    def last_fired(self) -> dict[str, float]:
        """When each schedule last fired; an unreadable entry counts as never."""
        out: dict[str, float] = {}
        for raw_name, raw_when in self.client.redis.hgetall(self.last).items():
            try:
                when = float(raw_when)
            except ValueError:
                continue
            if math.isfinite(when):
                out[raw_name.decode("utf-8", "replace")] = when
        return out


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
