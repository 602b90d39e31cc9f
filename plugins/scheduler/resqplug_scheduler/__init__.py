"""resqplug-scheduler: jobs at a time, in a delay, and on cron/every schedules,
exactly once across any number of scheduler processes."""

from __future__ import annotations

from .api import (
    Scheduler,
    delayed_count,
    delayed_jobs,
    enqueue_at,
    enqueue_at_with_queue,
    enqueue_in,
    next_delayed,
    remove_delayed,
)
from .plugin import SchedulerPlugin
from .schedules import Schedule, ScheduleStore, from_config, load_toml, parse_every

__version__ = "0.1.0"
__all__ = [
    "Schedule",
    "ScheduleStore",
    "Scheduler",
    "SchedulerPlugin",
    "delayed_count",
    "delayed_jobs",
    "enqueue_at",
    "enqueue_at_with_queue",
    "enqueue_in",
    "from_config",
    "load_toml",
    "next_delayed",
    "parse_every",
    "plugin",
    "remove_delayed",
]

plugin = SchedulerPlugin()
