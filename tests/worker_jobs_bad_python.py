"""An --app module that leaves the worker without a Python to start a fork
server with (as in some embedded interpreters)."""

from __future__ import annotations

import sys

from worker_jobs import WRecord

sys.executable = "/nonexistent/python"

__all__ = ["WRecord"]
