"""Worker settings that would break the lease are refused before the worker
starts, the same way from every entry point (flags, environment, in-process)."""

from __future__ import annotations

import subprocess

import pytest
import worker_jobs as wj
from helpers import env, registered_workers, resqplug_cmd

from resqplug.errors import ConfigError
from resqplug.worker.options import WorkerOptions
from resqplug.worker.worker import Worker

COMMANDS = [["work"], ["workers", "-c", "1"]]
# (flags, environment) that give a 5 s heartbeat and a 10.9 s dead-after (minimum 11 s)
TOO_SHORT = [
    (["--heartbeat", "5", "--dead-after", "10.9"], {}),
    ([], {"RESQPLUG_HEARTBEAT_S": "5", "RESQPLUG_DEAD_AFTER_S": "10.9"}),
    (["--heartbeat", "5"], {"RESQPLUG_DEAD_AFTER_S": "10.9"}),
]


def start(redis_url: str, namespace: str, command: list[str], *args: str, extra_env=None):
    cmd = resqplug_cmd(redis_url, namespace, *command, "-q", "work", "--app", "worker_jobs", *args)
    return subprocess.run(cmd, env=env(extra_env), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("flags", "environment"), TOO_SHORT)
def test_a_dead_after_below_the_minimum_is_refused_before_any_job_runs(
    resq, redis_url, namespace, command, flags, environment
):
    resq.enqueue(wj.WRecord, 1)

    result = start(redis_url, namespace, command, *flags, extra_env=environment)

    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "dead-after 10.9s" in lines[0] and "minimum is 11s" in lines[0]
    assert resq.size("work") == 1
    assert registered_workers(resq.redis, namespace) == []


def test_the_minimum_dead_after_itself_is_accepted(resq, redis_url, namespace):
    resq.enqueue(wj.WRecord, 1)

    result = start(
        redis_url, namespace, ["work"], "--burst", "--heartbeat", "1", "--dead-after", "3"
    )

    assert result.returncode == 0, result.stderr
    assert resq.size("work") == 0


@pytest.mark.parametrize("value", ["abc", "nan", "-1", "inf"])
def test_a_heartbeat_that_is_not_a_positive_number_is_refused(redis_url, namespace, value):
    result = start(redis_url, namespace, ["work"], extra_env={"RESQPLUG_HEARTBEAT_S": value})

    assert result.returncode == 4, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "heartbeat" in result.stderr.lower()


def test_in_process_options_and_workers_check_the_lease(resq):
    with pytest.raises(ConfigError, match="minimum is 11s"):
        WorkerOptions(queues=["work"], heartbeat_s=5, dead_after_s=10)
    options = WorkerOptions(queues=["work"], heartbeat_s=5, dead_after_s=60)
    options.dead_after_s = 6  # changed after it was made
    with pytest.raises(ConfigError, match="minimum is 11s"):
        Worker(resq, options)
