"""The retry plugin's dashboard page: retries waiting for their delay."""

from __future__ import annotations

import time
from typing import Any

import resqplug
from resqplug.ext import Page, Section

from .state import read_state


def render(client: Any, params: dict[str, str]) -> list[Section]:
    rows = []
    pattern = client.keys.plugin("retry", "state", "*")
    for key in client.redis.scan_iter(match=pattern, count=500):
        raw = client.redis.get(key)
        if raw is None:
            continue
        job_id = key.decode("utf-8", "replace").rsplit(":", 1)[-1]
        try:
            state = read_state(raw)
        except resqplug.PayloadError as exc:
            rows.append([job_id, "", "", f"unreadable retry state: {exc}", ""])
            continue
        wait = state["next_at"] - time.time()
        rows.append(
            [
                job_id,
                state.get("class", ""),
                state.get("attempts"),
                f"{state.get('last_exception')}: {state.get('last_error', '')}"[:200],
                f"in {wait:.0f}s" if wait > 0 else "due",
            ]
        )
        if len(rows) >= 200:
            break
    return [
        Section(
            "Jobs being retried",
            ["Job id", "Class", "Failed attempts", "Last error", "Next run"],
            rows,
            note="Up to 200; a job leaves this list when it succeeds or runs out.",
        )
    ]


PAGE = Page("retries", "Retries", render)
