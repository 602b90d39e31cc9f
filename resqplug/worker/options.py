"""A worker's settings (no Redis here: the fork server reads them too)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..client import Resq
    from ..job import Job
    from ..plugins import Plugins
    from .processor import Processor

DEFAULT_MAX_RECOVERIES = 3
HEARTBEAT_TICK_S = 0.5  # how often the heartbeat thread looks whether a renewal is due
HEARTBEAT_ENV, DEAD_AFTER_ENV = "RESQPLUG_HEARTBEAT_S", "RESQPLUG_DEAD_AFTER_S"
FORK_SERVER_ENV = "RESQPLUG_FORK_SERVER"  # auto (default), always, or never (also 1 / 0)
FORK_SERVER_POLICIES = {
    "auto": "auto",
    "always": "always",
    "1": "always",
    "never": "never",
    "0": "never",
}


def _fork_server_policy() -> str:
    value = os.environ.get(FORK_SERVER_ENV, "").strip().lower() or "auto"
    if value not in FORK_SERVER_POLICIES:
        raise ConfigError(f"{FORK_SERVER_ENV}={value!r}: use auto, always or never")
    return FORK_SERVER_POLICIES[value]


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r}: not a number of seconds") from None


def min_dead_after(heartbeat_s: float) -> float:
    """The shortest dead-after a live worker's lease survives. Renewals come
    every heartbeat, up to a tick late (the thread looks every tick), and one
    may be missed or late by a whole heartbeat (a slow Redis reply, a loaded
    host): the lease must outlast two such gaps."""
    return 2 * (heartbeat_s + HEARTBEAT_TICK_S)


@dataclass
class WorkerOptions:
    queues: list[str]
    mode: str = "fork" if hasattr(os, "fork") else "nofork"
    threads: int = 4
    max_jobs_per_child: int = 1
    # When job children come from a lean fork server (run/fork/server.py) instead of
    # the worker: "auto" while a backlog is drained, "always", or "never".
    fork_server: str = field(default_factory=_fork_server_policy)
    # auto: an idle worker stops its fork server after this long.
    fork_server_idle_s: float = field(
        default_factory=lambda: _env_float("RESQPLUG_FORK_SERVER_IDLE_S", 10.0)
    )
    apps: list[str] = field(default_factory=list)  # the --app modules, for the fork server
    burst: bool = False
    job_timeout: float | None = None
    timeout_grace: float = 5.0
    shutdown_timeout: float = 25.0
    heartbeat_s: float = field(default_factory=lambda: _env_float(HEARTBEAT_ENV, 5.0))
    dead_after_s: float = field(default_factory=lambda: _env_float(DEAD_AFTER_ENV, 60.0))
    max_recoveries: int = DEFAULT_MAX_RECOVERIES
    wait_timeout: float = 1.0
    max_batch: int = 50

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """ConfigError (one line) for a lease that live workers would lose: a
        dead-after too short for the heartbeat makes workers reap each other
        and run jobs twice."""
        for what, value in (("heartbeat", self.heartbeat_s), ("dead-after", self.dead_after_s)):
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{what} must be a positive number of seconds, not {value!r}")
        least = min_dead_after(self.heartbeat_s)
        if self.dead_after_s < least:
            raise ConfigError(
                f"dead-after {self.dead_after_s:g}s is too short for a {self.heartbeat_s:g}s "
                f"heartbeat: the minimum is {least:g}s (2 x (heartbeat + {HEARTBEAT_TICK_S:g}s)), "
                "else live workers are taken for dead and their jobs run twice "
                f"(--dead-after or {DEAD_AFTER_ENV}, --heartbeat or {HEARTBEAT_ENV})"
            )


@dataclass
class JobSettings:
    """What running jobs needs to know (a run mode, a job child, the fork
    server): never the Worker itself. ``hook_worker`` is what hooks get as
    ``worker`` (the Worker, or the fork server's stand-in for it); ``client``
    is the worker's (None in the fork server, which has none)."""

    id: str
    options: WorkerOptions
    plugins: Plugins
    processor: Processor
    hook_worker: object
    client: Resq | None = None


def job_timeout(settings: JobSettings, job: Job) -> float | None:
    return type(job).timeout or settings.options.job_timeout
