"""The cleaner's dashboard page: failures grouped, with bulk requeue and clear."""

from __future__ import annotations

from typing import Any

from resqplug.ext import Button, Page, Section

from .cleaner import Cleaner
from .select import Filter

PAGE_SAMPLE = 10_000  # a page load reads at most this many of the newest records


def render(client: Any, params: dict[str, str]) -> list[Section]:
    cleaner = Cleaner(client)
    groups = cleaner.stats(newest=PAGE_SAMPLE)
    sections = []
    for group, field in (("exception", "exception"), ("class", "job_class")):
        rows = [
            [
                key,
                count,
                Button("Requeue all", "requeue", {field: key}, f"Requeue {count} jobs?"),
                Button("Clear all", "clear", {field: key}, f"Remove {count} records?"),
            ]
            for key, count in groups[group].most_common(25)
        ]
        sections.append(Section(f"Failed jobs by {group}", [group.title(), "Count", "", ""], rows))
    limit = cleaner.limit()
    sections.append(
        Section(
            "By day",
            ["Day", "Count"],
            [[day, n] for day, n in sorted(groups["day"].items())],
            note=f"Counted over the newest {PAGE_SAMPLE:,} records (`resqplug cleaner stats` "
            f"counts all). Limiter: {limit if limit is not None else 'off'}; "
            f"dropped so far: {cleaner.dropped()}.",
        )
    )
    return sections


def _filter(form: dict[str, str]) -> Filter:
    return Filter(job_class=form.get("job_class") or None, exception=form.get("exception") or None)


def requeue(client: Any, form: dict[str, str]) -> str:
    out = Cleaner(client).requeue(_filter(form), clear=True)
    return f"requeued {out.requeued} of {out.matched}; skipped {out.skipped}"


def clear(client: Any, form: dict[str, str]) -> str:
    out = Cleaner(client).clear(_filter(form))
    return f"cleared {out.cleared} of {out.matched}"


PAGE = Page("cleaner", "Cleaner", render, {"requeue": requeue, "clear": clear})
