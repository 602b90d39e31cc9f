"""Lua scripts, loaded from ``lua/*.lua`` and run with EVALSHA.

redis-py's Script reloads a script after ``NOSCRIPT`` (a ``SCRIPT FLUSH`` or a
restarted server), so callers never see that error.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import redis
from redis.commands.core import Script

NAMES = (
    "enqueue",
    "enqueue_batch",
    "dequeue",
    "queue_remove",
    "fetch",
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
)


@cache
def source(name: str) -> str:
    return resources.files("resqplug").joinpath(f"lua/{name}.lua").read_text("utf-8")


class Scripts:
    """The core's scripts, registered on one client."""

    def __init__(self, client: redis.Redis) -> None:
        self.enqueue: Script = client.register_script(source("enqueue"))
        self.enqueue_batch: Script = client.register_script(source("enqueue_batch"))
        self.dequeue: Script = client.register_script(source("dequeue"))
        self.queue_remove: Script = client.register_script(source("queue_remove"))
        self.fetch: Script = client.register_script(source("fetch"))
        self.ack: Script = client.register_script(source("ack"))
        self.requeue: Script = client.register_script(source("requeue"))
        self.failure_remove: Script = client.register_script(source("failure_remove"))
        self.failure_clear: Script = client.register_script(source("failure_clear"))
        self.failure_replace: Script = client.register_script(source("failure_replace"))
        self.lock_release: Script = client.register_script(source("lock_release"))
        self.delayed_promote: Script = client.register_script(source("delayed_promote"))
        self.delayed_remove: Script = client.register_script(source("delayed_remove"))
        self.delayed_move: Script = client.register_script(source("delayed_move"))
        self.delayed_fail: Script = client.register_script(source("delayed_fail"))
        self.delayed_add: Script = client.register_script(source("delayed_add"))
