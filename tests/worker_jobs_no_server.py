"""An --app module that refuses to load in a fork server, so that a worker
whose fork server cannot run its jobs can be tested."""

from __future__ import annotations

import sys

from worker_jobs import WRecord

if sys.argv[0].endswith("/worker/run/fork/server.py"):  # python -m resqplug.worker.run.fork.server
    raise ImportError("this module does not load in a fork server")

__all__ = ["WRecord"]
