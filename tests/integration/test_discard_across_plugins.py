"""``job_discarded`` across plugins: a unique job (loner) removed unrun by
another plugin's action (cleaner clear, status kill, scheduler remove_delayed)
can be enqueued again at once; a failing plugin does not keep the lock."""

from __future__ import annotations

import json
import logging

import pytest

import resqplug
from resqplug import failure
from resqplug.testing import drain

loner = pytest.importorskip("resqplug_loner")
cleaner = pytest.importorskip("resqplug_cleaner")
status = pytest.importorskip("resqplug_status")
scheduler = pytest.importorskip("resqplug_scheduler")

Q = "discard-int"


class DiscardUnique(resqplug.Job):
    name = "discard_integration.Unique"
    queue = Q
    unique = True

    def perform(self, n: int) -> None:
        pass


class Raises:
    @resqplug.hookimpl
    def job_discarded(self, job: resqplug.Job) -> None:
        raise RuntimeError("plugin broke")


def test_cleared_failure_releases_the_lock_its_job_still_held(default_client):
    first = resqplug.enqueue(DiscardUnique, 1)
    assert first is not None
    [raw] = default_client.redis.lpop(default_client.keys.queue(Q), 1)  # failed, lock kept
    record = failure.build(json.loads(raw), RuntimeError("x"), worker="w", queue=Q, job_id=first)
    default_client.redis.rpush(default_client.keys.failed, record)
    default_client.redis.hset(default_client.keys.failed_index, first, record)
    assert resqplug.enqueue(DiscardUnique, 1) is None
    assert cleaner.Cleaner(default_client).clear().cleared == 1
    assert resqplug.enqueue(DiscardUnique, 1) is not None


def test_unique_job_killed_before_its_start_can_be_enqueued_again_at_once(default_client):
    first = resqplug.enqueue(DiscardUnique, 2)
    assert first is not None and status.kill(first)
    second = resqplug.enqueue(DiscardUnique, 2)
    assert second is not None
    assert drain(default_client, Q) == 1  # the killed copy is dropped unrun, the new one runs
    assert status.get(first).status == "killed"
    assert status.get(second).status == "completed"
    assert loner.holder(DiscardUnique, 2) is None


def test_unique_job_removed_from_the_schedule_can_be_enqueued_again_at_once(default_client):
    assert scheduler.enqueue_in(3600, DiscardUnique, 3) is not None
    assert scheduler.remove_delayed(DiscardUnique, 3) == 1
    assert resqplug.enqueue(DiscardUnique, 3) is not None


def test_a_raising_plugin_does_not_keep_the_lock_or_the_queue(default_client, caplog):
    resqplug.register(Raises(), name="discard-int-raises")
    resqplug.enqueue(DiscardUnique, 4)
    with caplog.at_level(logging.ERROR, logger="resqplug.plugins"):
        assert resqplug.remove_queue(Q) == 1
    assert "plugin discard-int-raises failed in job_discarded" in caplog.text
    assert resqplug.enqueue(DiscardUnique, 4) is not None
