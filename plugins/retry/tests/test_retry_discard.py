"""A retried job removed before its next attempt (``job_discarded``) takes its
retry state along."""

from __future__ import annotations

import retry_jobs as jobs
from resqplug_retry.plugin import state_key

import resqplug
from resqplug.testing import drain


def test_a_dequeued_retry_drops_its_retry_state(default_client: resqplug.Resq) -> None:
    job_id = resqplug.enqueue(jobs.RetryFlaky, 5)
    assert job_id is not None
    assert drain(default_client, "retry", limit=1) == 1  # failed once, queued again
    state = state_key(default_client, job_id)
    assert default_client.redis.exists(state)
    assert resqplug.dequeue(jobs.RetryFlaky, 5) == 1
    assert not default_client.redis.exists(state)
