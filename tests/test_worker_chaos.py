"""Chaos in CI (REFERENCE.md section D, scenario 4, and beyond): 1,000 jobs fed
to workers of every execution model (fork, fork with --max-jobs-per-child 5,
the fork server with 1 and 3 jobs per child, no-fork, threads) while workers
get SIGKILL, TERM, INT, QUIT and USR1, fork servers are SIGKILLed and Redis
is restarted. The runner and its oracle are tests/chaos.py and
tests/chaos_oracle.py; ``./dev chaos`` runs longer, with a random seed."""

from __future__ import annotations

from chaos import FAULTS, Plan, run_chaos
from redis_server import needs_redis_server

SEED = 20261204


@needs_redis_server
def test_no_job_is_lost_or_run_twice_without_a_sigkill_under_chaos(tmp_path):
    result = run_chaos(Plan(SEED, jobs=1000, seconds=15), tmp_path)

    assert result.verdict.problems == [], result.text
    assert set(result.faults) == set(FAULTS), f"a kind of fault was never injected: {result.text}"
