"""Job classes and test plugins for the scheduler tests (``--app scheduler_jobs``).

Jobs record what they ran in Redis, under ``<ns>:resqplug:schedtest:*``, so the
test (another process) can check it:

- ``ran``: list of job ids, in start order
- ``runs``: hash id -> number of runs
- ``started``: hash id -> Redis server time at start (epoch seconds)
- ``meta`` / ``args`` / ``attempt``: hash id -> JSON of the job's meta / args, attempt

Test plugins are registered in a worker or scheduler process when the
environment variable ``SCHEDTEST_PLUGINS`` names them (comma separated):

- ``count``: ``before_enqueue`` appends ``<pid> <redis time>`` to
  ``before_enqueue:<job id>`` (so a test sees where and when the hook ran)
- ``explode``: ``before_enqueue`` raises for jobs of class ``SchedExplode``
"""

from __future__ import annotations

import json
import os
from typing import Any

import resqplug

PLUGINS_ENV = "SCHEDTEST_PLUGINS"


def key(*parts: str) -> str:
    return resqplug.default_client().keys.plugin("schedtest", *parts)


def redis_now(r: Any) -> float:
    seconds, micros = r.time()
    return int(seconds) + int(micros) / 1e6


def record(job: resqplug.Job) -> None:
    r = resqplug.default_client().redis
    now = redis_now(r)
    pipe = r.pipeline()
    pipe.rpush(key("ran"), job.id)
    pipe.hincrby(key("runs"), job.id, 1)
    pipe.hset(key("started"), job.id, repr(now))
    pipe.hset(key("meta"), job.id, json.dumps(job.meta))
    pipe.hset(key("args"), job.id, json.dumps(job.args))
    pipe.hset(key("attempt"), job.id, job.attempt)
    pipe.execute()


class SchedRecord(resqplug.Job):
    queue = "sched"

    def perform(self, *args: Any) -> None:
        record(self)


class SchedOther(resqplug.Job):
    queue = "sched"

    def perform(self, *args: Any) -> None:
        record(self)


class SchedExplode(resqplug.Job):
    """Its before_enqueue raises where the ``explode`` test plugin is loaded."""

    queue = "sched"

    def perform(self, *args: Any) -> None:
        record(self)


@resqplug.job(queue="sched", name="sched_function")
def sched_function(*args: Any) -> None:
    r = resqplug.default_client().redis
    r.rpush(key("function_calls"), json.dumps(list(args)))


# --- test plugins -------------------------------------------------------------------


class CountEnqueues:
    """Records every before_enqueue call: which process and when (Redis time)."""

    @resqplug.hookimpl
    def before_enqueue(self, job: resqplug.Job) -> None:
        r = resqplug.default_client().redis
        r.rpush(key("before_enqueue", job.id), f"{os.getpid()} {redis_now(r)!r}")


class ExplodeOnEnqueue:
    @resqplug.hookimpl
    def before_enqueue(self, job: resqplug.Job) -> None:
        if job.class_name == "SchedExplode":
            raise RuntimeError("explode plugin refuses SchedExplode")


class ScheduledHook:
    """Records the scheduler plugin's job_scheduled(job, due) hook."""

    @resqplug.hookimpl(optionalhook=True)
    def job_scheduled(self, job: resqplug.Job, due: float) -> None:
        r = resqplug.default_client().redis
        r.hset(key("job_scheduled"), job.id, repr(due))


TEST_PLUGINS = {"count": CountEnqueues, "explode": ExplodeOnEnqueue}


def install(names: str) -> None:
    for name in (n.strip() for n in names.split(",")):
        if name:
            resqplug.register(TEST_PLUGINS[name](), name=f"schedtest-{name}")


if os.environ.get(PLUGINS_ENV):
    install(os.environ[PLUGINS_ENV])
