"""The status plugin's dashboard page: statuses with progress, and kill."""

from __future__ import annotations

import time
from typing import Any

from resqplug.ext import Button, Page, Progress, Section

from . import api
from .store import STATES, StatusStore


def render(client: Any, params: dict[str, str]) -> list[Section]:
    state = params.get("state") if params.get("state") in STATES else None
    store = StatusStore(client)
    rows = []
    for s in store.list(state, limit=100):
        updated = s.fields.get("updated_at")
        rows.append(
            [
                s.id,
                s.status,
                s.fields.get("class", ""),
                Progress(s.pct_complete),
                s.fields.get("message") or s.fields.get("error") or "",
                time.strftime("%H:%M:%S", time.gmtime(updated)) if updated else "",
                None if s.final else Button("Kill", "kill", {"id": s.id}, "Kill this job?"),
            ]
        )
    counts = ", ".join(f"{name} {store.count(name)}" for name in STATES)
    return [
        Section(
            f"Statuses{f' ({state})' if state else ''}",
            ["Job id", "Status", "Class", "Progress", "Message", "Updated (UTC)", ""],
            rows,
            note=f"The 100 most recently updated. {counts}.",
        )
    ]


def kill(client: Any, form: dict[str, str]) -> str:
    job_id = form.get("id", "")
    return f"kill requested for {job_id}" if api.kill(job_id, client) else "unknown or finished"


PAGE = Page("statuses", "Statuses", render, {"kill": kill})
