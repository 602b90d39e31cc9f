"""resqplug-retry: retry failed jobs on listed exceptions, with delays, backoff
and jitter. The attempt count lives in the job's meta; the job keeps its id."""

from __future__ import annotations

from .plugin import RetryPlugin, policy_for, schedule_retry
from .policy import Policy, read_policy

__version__ = "0.1.0"
__all__ = ["Policy", "RetryPlugin", "plugin", "policy_for", "read_policy", "schedule_retry"]

plugin = RetryPlugin()
