"""Helpers of the metrics plugin's tests: real workers, reading the figures."""

from __future__ import annotations

import subprocess
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from resqplug_metrics import read_counts

import resqplug
from resqplug.pytest_fixtures import child_env, resqplug_cmd

HERE = Path(__file__).resolve().parent


def run_worker(url: str, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A real ``resqplug work --burst`` on queue metrics, to its end."""
    cmd = resqplug_cmd(url, namespace, "work", "--app", "metrics_jobs", "-q", "metrics")
    done = subprocess.run(
        [*cmd, "--burst", *args], env=child_env(HERE), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def counters(client: resqplug.Resq, queue: str, job_class: str) -> dict[str, int]:
    """The counters of one label set, only those above 0."""
    found = read_counts(client).get((queue, job_class))
    return {k: v for k, v in found.counters.items() if v} if found else {}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text: (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
