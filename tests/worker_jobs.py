"""Job classes the worker tests run in real worker processes (--app worker_jobs).

Each job records what it did in Redis lists under the test's namespace, so the
test (another process) can check it: ``done`` (ids, in completion order),
``started`` (ids), ``runs`` (hash id -> run count), ``pids`` (the process that ran).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import resqplug


def _redis():  # type: ignore[no-untyped-def]
    return resqplug.default_client().redis


def key(name: str) -> str:
    return resqplug.default_client().keys.plugin("test", name)


def record_start(job: resqplug.Job) -> None:
    r = _redis()
    pipe = r.pipeline()
    pipe.rpush(key("started"), job.id)
    pipe.hincrby(key("runs"), job.id, 1)
    pipe.rpush(key("pids"), f"{os.getpid()}:{os.getppid()}")
    pipe.hset(key("meta"), job.id, resqplug.payload.dumps(job.meta))
    pipe.execute()


def record_done(job: resqplug.Job) -> None:
    _redis().rpush(key("done"), job.id)


class WRecord(resqplug.Job):
    queue = "work"

    def perform(self, *args: object) -> None:
        record_start(self)
        record_done(self)


class WSleep(resqplug.Job):
    queue = "work"

    def perform(self, seconds: float) -> None:
        record_start(self)
        time.sleep(seconds)
        record_done(self)


class WBusy(resqplug.Job):
    """Spins in Python (no sleeping) for ``seconds``."""

    queue = "work"

    def perform(self, seconds: float) -> None:
        record_start(self)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
        record_done(self)


class WTimeout(resqplug.Job):
    queue = "work"
    timeout = 0.5

    def perform(self, seconds: float) -> None:
        record_start(self)
        time.sleep(seconds)
        record_done(self)


class WFail(resqplug.Job):
    queue = "work"

    def perform(self, message: str) -> None:
        record_start(self)
        raise ValueError(message)


class WSuicide(resqplug.Job):
    """Kills the process running it (the worker itself in --no-fork mode)."""

    queue = "work"

    def perform(self) -> None:
        record_start(self)
        os.kill(os.getpid(), signal.SIGKILL)


class WConcurrent(resqplug.Job):
    """Records the highest number of these running at once."""

    queue = "work"

    def perform(self, seconds: float) -> None:
        r = _redis()
        now = r.incr(key("running"))
        r.eval(
            "if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then "
            "redis.call('SET', KEYS[1], ARGV[1]) end",
            1,
            key("max_running"),
            now,
        )
        time.sleep(seconds)
        r.decr(key("running"))
        record_done(self)


class WStubborn(resqplug.Job):
    """Ignores the soft timeout (swallows JobTimeout) and starts a grandchild."""

    queue = "work"

    def perform(self, seconds: float) -> None:
        import subprocess

        record_start(self)
        child = subprocess.Popen(["sleep", "60"])
        _redis().set(key("grandchild"), child.pid)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with contextlib.suppress(resqplug.JobTimeout):
                time.sleep(0.05)


class WClientLoaded(resqplug.Job):
    """Records whether its process had the Redis client loaded before it ran."""

    queue = "work"

    def perform(self, *args: object) -> None:
        import sys

        loaded = "redis" in sys.modules
        _redis().rpush(key("client_loaded"), f"{self.id}:{int(loaded)}")


class WKillParent(resqplug.Job):
    """SIGKILLs the process that forked it (a fork server, or the worker)."""

    queue = "work"

    def perform(self, *args: object) -> None:
        record_start(self)
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(5)  # killed with its parent meanwhile (PDEATHSIG)


class WSpawnThenDie(resqplug.Job):
    """Starts a program in the background, then dies by SIGKILL: the program
    must hold no end of the child's pipes to its worker."""

    queue = "work"

    def perform(self, seconds: float) -> None:
        record_start(self)
        os.system(f"sleep {seconds} &")
        os.kill(os.getpid(), signal.SIGKILL)
