"""An --app module whose import stands for a slow start-up: it says it is being
imported (a file ``importing-<pid>`` in $SLOW_START_DIR) and then waits for the
test's ``go`` file there, so a test can signal a worker in the middle of its
start-up, before the worker's own handlers are installed."""

from __future__ import annotations

import os
import time
from pathlib import Path

_DIR = Path(os.environ["SLOW_START_DIR"])
(_DIR / f"importing-{os.getpid()}").touch()
_deadline = time.monotonic() + 60
while not (_DIR / "go").exists() and time.monotonic() < _deadline:
    time.sleep(0.01)
