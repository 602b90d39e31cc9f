"""Job classes of the metrics plugin's tests (loaded by workers with --app)."""

from __future__ import annotations

import os
import signal
import time

import resqplug

QUEUE = "metrics"


class Nap(resqplug.Job):
    queue = QUEUE

    def perform(self, seconds: float) -> None:
        time.sleep(seconds)


class Broken(resqplug.Job):
    queue = QUEUE

    def perform(self) -> None:
        raise ValueError("broken on purpose")


class Dies(resqplug.Job):
    """Kills its own process (run it in a fork child)."""

    queue = QUEUE

    def perform(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


class Sleeper(resqplug.Job):
    """Says it started (a file), then sleeps: its worker is killed meanwhile."""

    queue = QUEUE

    def perform(self, flag: str, seconds: float) -> None:
        with open(flag, "w") as out:
            out.write("started")
        time.sleep(seconds)
