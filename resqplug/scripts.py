"""Lua scripts, loaded from ``lua/*.lua`` and run with EVALSHA.

redis-py's Script reloads a script after ``NOSCRIPT`` (a ``SCRIPT FLUSH`` or a
restarted server), so callers never see that error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources

import redis
from redis.commands.core import Script

from .errors import ConfigError
from .writes import compose

NAMES = (
    "enqueue",
    "enqueue_batch",
    "dequeue",
    "queue_remove",
    "fetch",
    "tail_cancelled",
    "ack",
    "requeue",
    "lease",
    "unregister",
    "failure_remove",
    "failure_clear",
    "failure_replace",
    "lock_release",
    "delayed_promote",
    "delayed_remove",
    "delayed_move",
    "delayed_fail",
    "delayed_add",
    "writes",
)


@cache
def source(name: str) -> str:
    return resources.files("resqplug").joinpath(f"lua/{name}.lua").read_text("utf-8")


class Scripts:
    """The core's scripts, registered on one client. ``fragments`` gives the
    loaded plugins' write fragments (the same mapping while they are the
    same), which the carriers of writes are composed with."""

    def __init__(
        self, client: redis.Redis, fragments: Callable[[], Mapping[str, str]] = dict
    ) -> None:
        self._client = client
        self.fragments = fragments
        self._composed: dict[str, tuple[Mapping[str, str], Script]] = {}
        self.dequeue: Script = client.register_script(source("dequeue"))
        self.queue_remove: Script = client.register_script(source("queue_remove"))
        self.fetch: Script = client.register_script(source("fetch"))
        self.tail_cancelled: Script = client.register_script(source("tail_cancelled"))
        self.requeue: Script = client.register_script(source("requeue"))
        self.failure_remove: Script = client.register_script(source("failure_remove"))
        self.failure_clear: Script = client.register_script(source("failure_clear"))
        self.failure_replace: Script = client.register_script(source("failure_replace"))
        self.lock_release: Script = client.register_script(source("lock_release"))
        self.delayed_promote: Script = client.register_script(source("delayed_promote"))
        self.delayed_remove: Script = client.register_script(source("delayed_remove"))
        self.delayed_fail: Script = client.register_script(source("delayed_fail"))

    def carrier(self, name: str) -> Script:
        """The core script ``name`` with the writes prelude and the plugins'
        fragments in it (rebuilt when the fragments change)."""
        fragments = self.fragments()
        held = self._composed.get(name)
        if held is None or held[0] is not fragments:
            self._check_compiles(fragments)
            core = "" if name == "writes" else source(name)
            text = compose(core, source("writes"), fragments)
            held = self._composed[name] = (fragments, self._client.register_script(text))
        return held[1]

    @property
    def enqueue(self) -> Script:
        return self.carrier("enqueue")

    @property
    def enqueue_batch(self) -> Script:
        return self.carrier("enqueue_batch")

    @property
    def ack(self) -> Script:
        return self.carrier("ack")

    @property
    def delayed_add(self) -> Script:
        return self.carrier("delayed_add")

    @property
    def delayed_move(self) -> Script:
        return self.carrier("delayed_move")

    @property
    def writes(self) -> Script:
        """The writes alone (ARGV: count, then the writes; returns errors)."""
        return self.carrier("writes")

    def _check_compiles(self, fragments: Mapping[str, str]) -> None:
        """ConfigError naming a fragment that is not valid Lua (else every
        carrier fails to compile, with an error that names no plugin)."""
        for name, text in fragments.items():
            if (name, text) in _COMPILED:
                continue
            try:  # compiled only: a script that defines a function runs nothing
                self._client.script_load(f"local f = function(KEYS, ARGV)\n{text}\nend")
            except redis.ResponseError as exc:
                raise ConfigError(f"write script {name!r} is not valid Lua: {exc}") from None
            _COMPILED.add((name, text))


_COMPILED: set[tuple[str, str]] = set()  # fragments known to compile
