"""Job classes of the durations tests (the workers' --app)."""

from __future__ import annotations

import time

import resqplug


class Nap(resqplug.Job):
    queue = "durations"

    def perform(self, seconds: float) -> None:
        time.sleep(seconds)


class Broken(resqplug.Job):
    queue = "durations"

    def perform(self) -> None:
        time.sleep(0.01)
        raise RuntimeError("broken on purpose")
