"""An --app module that refuses to load in a fork server, so that a worker
whose fork server cannot run its jobs can be tested."""

from __future__ import annotations

import sys

from worker_jobs import WRecord

if "forkserver" in sys.argv[0]:
    raise ImportError("this module does not load in a fork server")

__all__ = ["WRecord"]
