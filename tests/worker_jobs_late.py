"""Jobs for tests/test_worker_late_signals.py: a signal or a timeout that
arrives after a job's run returned, while the process that ran it is still
busy with its outcome.

A log handler makes the "done" line of a ``Late`` job slow (``LATE_SLEEP``
seconds), and first sends the process the signal named by ``LATE_SIGNAL``,
if any: whatever that signal does lands on the worker's own bookkeeping of a
job that is done. Each run is written to the file ``LATE_RUNS``, and each
slow line's process to ``LATE_RUNS.logging`` when it starts.
"""

from __future__ import annotations

import logging
import os
import signal
import time

import resqplug


class SlowDoneLine(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if not record.getMessage().startswith("done Late"):
            return
        with open(os.environ["LATE_RUNS"] + ".logging", "a") as f:
            f.write(f"{os.getpid()}\n")
        name = os.environ.get("LATE_SIGNAL")
        if name:
            os.kill(os.getpid(), signal.Signals[name])
        time.sleep(float(os.environ.get("LATE_SLEEP", "1.0")))


logging.getLogger("resqplug.worker").addHandler(SlowDoneLine())


class Late(resqplug.Job):
    queue = "late"

    def perform(self) -> None:
        with open(os.environ["LATE_RUNS"], "a") as f:
            f.write(f"{self.id}\n")


class LateTimed(Late):
    timeout = 0.3  # over while its done line is logged
