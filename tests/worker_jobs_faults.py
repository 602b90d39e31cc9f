"""Jobs for tests/test_worker_faults.py (loaded with --app worker_jobs,worker_jobs_faults).

``FQuiet`` touches no Redis while it runs: it writes to a file, so a test can cut
Redis during the job and still see whether (and how often) the job ran.
"""

from __future__ import annotations

import time

import resqplug


class FQuiet(resqplug.Job):
    queue = "work"

    def perform(self, path: str, seconds: float) -> None:
        with open(path, "a") as f:
            f.write(f"start {self.id}\n")
        time.sleep(seconds)
        with open(path, "a") as f:
            f.write(f"done {self.id}\n")


class FNoop(resqplug.Job):
    """Touches nothing: it runs (and succeeds) while Redis is out of memory."""

    queue = "work"

    def perform(self, *args: object) -> None:
        pass
