"""The scheduler's dashboard page: schedules (run one now) and delayed jobs."""

from __future__ import annotations

import json
import time
from typing import Any

from resqplug.ext import Button, Page, Section, redact

from .api import Scheduler
from .schedules import ScheduleStore, from_config


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) if ts else "-"


def render(client: Any, params: dict[str, str]) -> list[Section]:
    store = ScheduleStore(client)
    errors, last = store.error_of(), store.last_fired()
    schedules = [
        [
            name,
            str(cfg.get("class")),
            str(cfg.get("cron") or f"every {cfg.get('every')}"),
            _when(last.get(name)),
            errors.get(name, ""),
            Button("Run now", "run_now", {"name": name}),
        ]
        for name, cfg in store.all().items()
        if isinstance(cfg, dict)
    ]
    s = Scheduler(client)
    delayed = [
        [
            _when(d.due),
            d.queue,
            d.payload["class"],
            d.payload["id"],
            json.dumps(redact(d.payload["args"]))[:120],
        ]
        for d in s.delayed_jobs(0, 50)
    ]
    return [
        Section("Schedules", ["Name", "Class", "When", "Last run (UTC)", "Error", ""], schedules),
        Section(
            f"Delayed jobs ({s.delayed_count()})",
            ["Due (UTC)", "Queue", "Class", "Id", "Args"],
            delayed,
            note="The first 50, by due time.",
        ),
    ]


def run_now(client: Any, form: dict[str, str]) -> str:
    from .loop import SchedulerLoop

    name = form.get("name", "")
    config = ScheduleStore(client).all().get(name)
    if not isinstance(config, dict):
        return f"no schedule named {name!r}"
    job_id = SchedulerLoop(client).fire(from_config(name, config))
    return f"enqueued {job_id}" if job_id else "not enqueued (vetoed)"


PAGE = Page("schedule", "Schedule", render, {"run_now": run_now})
