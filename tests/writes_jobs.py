"""Job classes and a test plugin for tests/test_writes.py (``--app writes_jobs``).

The plugin makes its Redis writes only through ``resqplug.Write``, so they
ride the core's scripts. Each job's first argument is the key prefix its
writes go under (None: the plugin adds no write for that job), which works
the same in the test process and in a worker process of any mode. Importing
this module registers the plugin (that is how a worker loads it); the tests
register it themselves in their own plugin manager.
"""

from __future__ import annotations

from typing import Any

import resqplug
import resqplug.ext

PLUGIN_NAME = "writes-test"

FRAGMENTS = {
    "wtest.push": "redis.call('RPUSH', KEYS[1], unpack(ARGV))",
    "wtest.set": "redis.call('SET', KEYS[1], ARGV[1])",
    # INCR on a key holding a list raises (WRONGTYPE): a fragment that fails.
    "wtest.incr": "redis.call('INCR', KEYS[1])",
    # Once per script: '<count>:<args, comma separated>' on the first write's key.
    "wtest.batch": resqplug.ext.Batched(
        "redis.call('RPUSH', KEYS[1], COUNT .. ':' .. table.concat(ARGV, ','))"
    ),
    # Once per group: '<shared args>|<args>', each comma separated.
    "wtest.shared": resqplug.ext.Batched(
        "redis.call('RPUSH', KEYS[1], table.concat(SHARED, ',') .. '|' .. table.concat(ARGV, ','))"
    ),
    # Once per script: each write's job payload (JOBS), '-' for an empty one.
    "wtest.jobs": resqplug.ext.Batched(
        "for i = 1, COUNT do redis.call('RPUSH', KEYS[1], JOBS[i] == '' and '-' or JOBS[i]) end"
    ),
}


def prefix_of(job: resqplug.Job) -> str | None:
    first = job.args[0] if job.args else None
    return first if isinstance(first, str) else None


def batched(job: resqplug.Job, list_name: str) -> None:
    prefix = prefix_of(job)
    if prefix is not None:
        job.writes.append(resqplug.Write("wtest.batch", (f"{prefix}:{list_name}",), (job.id,)))
        job.writes.append(resqplug.Write("wtest.jobs", (f"{prefix}:{list_name}-jobs",)))


def push(job: resqplug.Job, list_name: str, value: str) -> None:
    prefix = prefix_of(job)
    if prefix is not None:
        job.writes.append(resqplug.Write("wtest.push", (f"{prefix}:{list_name}",), (value,)))


class WritesPlugin:
    """Records each hook it sees in lists under the job's prefix:
    ``enqueued``, ``before_perform``, ``after_perform`` (``id=result``),
    ``on_failure`` and ``handle_failure`` (``id:ExceptionClass``)."""

    @resqplug.hookimpl
    def write_scripts(self) -> dict[str, str]:
        return FRAGMENTS

    @resqplug.hookimpl
    def before_enqueue(self, job: resqplug.Job) -> None:
        push(job, "enqueued", job.id)
        batched(job, "batched")
        prefix = prefix_of(job)
        if prefix is not None:
            job.writes.append(resqplug.Write("wtest.set", (f"{prefix}:job:{job.id}",), (job.id,)))

    @resqplug.hookimpl
    def before_perform(self, job: resqplug.Job) -> None:
        push(job, "before_perform", job.id)

    @resqplug.hookimpl
    def after_perform(self, job: resqplug.Job, result: Any) -> None:
        push(job, "after_perform", f"{job.id}={result}")
        batched(job, "ran-batched")
        if isinstance(job, WriteStray):
            job.writes.append(resqplug.Write("nobody.fragment", ("k",), ("v",)))

    @resqplug.hookimpl
    def on_failure(self, job: resqplug.Job, exc: BaseException) -> None:
        push(job, "on_failure", f"{job.id}:{type(exc).__name__}")

    @resqplug.hookimpl
    def handle_failure(self, job: resqplug.Job, exc: BaseException) -> None:
        push(job, "handle_failure", f"{job.id}:{type(exc).__name__}")


class WriteDouble(resqplug.Job):
    """Returns ``2 * number``."""

    queue = "writes"

    def perform(self, prefix: str | None, number: int) -> int:
        return 2 * number


class WriteBoom(resqplug.Job):
    """Fails with ValueError."""

    queue = "writes"

    def perform(self, prefix: str | None) -> None:
        raise ValueError("boom")


class WriteStray(resqplug.Job):
    """Succeeds; the plugin then adds a write naming a fragment nobody registers."""

    queue = "writes"

    def perform(self, prefix: str | None) -> None:
        pass


PLUGIN = WritesPlugin()
resqplug.register(PLUGIN, name=PLUGIN_NAME)
