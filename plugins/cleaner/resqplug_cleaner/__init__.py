"""resqplug-cleaner: find, group, requeue and clear failed jobs in bulk."""

from __future__ import annotations

from .cleaner import Cleaner, Outcome
from .plugin import CleanerPlugin
from .select import Filter, Record, parse_time

__version__ = "0.1.0"
__all__ = ["Cleaner", "CleanerPlugin", "Filter", "Outcome", "Record", "parse_time", "plugin"]

plugin = CleanerPlugin()
