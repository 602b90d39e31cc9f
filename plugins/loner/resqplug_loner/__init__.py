"""resqplug-loner: one copy of a job at a time."""

from __future__ import annotations

from .identity import DEFAULT_TTL_S, identity, lock_key
from .plugin import LonerPlugin, holder, release

__version__ = "0.1.0"
__all__ = ["DEFAULT_TTL_S", "LonerPlugin", "holder", "identity", "lock_key", "plugin", "release"]

plugin = LonerPlugin()
