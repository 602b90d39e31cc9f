"""The loner's dashboard page: held locks, and release."""

from __future__ import annotations

from typing import Any

from resqplug.ext import Button, Page, Section

from .identity import describe, lock_pattern


def render(client: Any, params: dict[str, str]) -> list[Section]:
    rows = []
    for key in client.redis.scan_iter(match=lock_pattern(client), count=500):
        owner, ttl = client.redis.get(key), client.redis.pttl(key)
        if owner is not None:
            rows.append(
                [
                    describe(key),
                    describe(owner),
                    f"{max(ttl, 0) / 1000:.0f}s",
                    Button("Release", "release", {"key": describe(key)}, "Release?"),
                ]
            )
        if len(rows) >= 200:
            break
    return [
        Section(
            "Held locks", ["Key", "Owner job id", "TTL left", ""], rows, note="Up to 200 locks."
        )
    ]


def release(client: Any, form: dict[str, str]) -> str:
    key = form.get("key", "")
    if not key.startswith(client.keys.plugin("loner", "lock")):
        return "not a lock of this namespace"
    return "released" if client.redis.delete(key) else "no such lock"


PAGE = Page("locks", "Locks", render, {"release": release})
