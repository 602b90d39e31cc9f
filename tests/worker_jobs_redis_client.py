"""An --app module that loads redis-py at import (as an app using Redis
itself would): a fork server that imports it is as big as the worker."""

from __future__ import annotations

import redis  # noqa: F401
from worker_jobs import WRecord

__all__ = ["WRecord"]
