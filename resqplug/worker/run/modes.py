"""Choosing a run mode, and what the worker needs of one. A run mode is given
the job feed and the job settings, never the worker."""

from __future__ import annotations

from types import FrameType
from typing import Protocol

from ...errors import ConfigError
from ..feed import JobFeed
from ..options import JobSettings
from .fork.parent import ForkParent
from .inprocess import InProcess
from .threads import Threads


class RunMode(Protocol):
    # Whether the heartbeat thread gives back the batch's queued jobs while a
    # job is slow and writes due outcomes (else the run mode's own
    # supervising loop does).
    watch_slow_jobs: bool

    def run(self) -> None: ...
    def close(self) -> None: ...
    def on_signal(self, signum: int, frame: FrameType | None) -> None: ...


def make_mode(feed: JobFeed, settings: JobSettings) -> RunMode:
    mode = settings.options.mode
    if mode == "nofork":
        return InProcess(feed, settings)
    if mode == "fork":
        return ForkParent(feed, settings)
    if mode == "threads":
        return Threads(feed, settings)
    raise ConfigError(f"unknown worker mode {mode!r}: use fork, nofork or threads")
