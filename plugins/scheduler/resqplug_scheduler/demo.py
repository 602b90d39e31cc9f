"""The scheduler's job in ``resqplug demo``. Imported only by the demo (its
names would otherwise be taken in every application)."""

from __future__ import annotations

import resqplug


class SendReminder(resqplug.Job):
    name = "scheduler.demo.SendReminder"
    queue = "mail"

    def perform(self, user_id: int, address: str) -> str:
        return f"reminded {address}"
