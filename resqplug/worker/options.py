"""A worker's settings (no Redis here: the fork server reads them too)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..plugins import Plugins
    from .processor import Processor

DEFAULT_MAX_RECOVERIES = 3
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
        from ..errors import ConfigError

        raise ConfigError(f"{FORK_SERVER_ENV}={value!r}: use auto, always or never")
    return FORK_SERVER_POLICIES[value]


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


@dataclass
class WorkerOptions:
    queues: list[str]
    mode: str = "fork" if hasattr(os, "fork") else "nofork"
    threads: int = 4
    max_jobs_per_child: int = 1
    # When job children come from a lean fork server (forkserver.py) instead of
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
    heartbeat_s: float = field(default_factory=lambda: _env_float("RESQPLUG_HEARTBEAT_S", 5.0))
    dead_after_s: float = field(default_factory=lambda: _env_float("RESQPLUG_DEAD_AFTER_S", 60.0))
    max_recoveries: int = DEFAULT_MAX_RECOVERIES
    wait_timeout: float = 1.0
    max_batch: int = 50


class JobSide(Protocol):
    """What running jobs needs of a worker: a Worker, or a fork server's
    stand-in for it."""

    id: str
    options: WorkerOptions
    plugins: Plugins
    processor: Processor
