"""The chaos oracle (tests/chaos_oracle.py) on made-up histories: it must catch
what the chaos test is there to catch, and allow only the documented re-runs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chaos_oracle import Facts, Run, judge

WORKER, CHILD, SERVER, RUNNER = 100, 101, 102, 1


def facts(runs: list[Run], **changes: Any) -> Facts:
    """A history of ``runs`` on one fork worker that exited cleanly, with no
    fault but ``changes``."""
    base = Facts(
        ids=sorted({r.job for r in runs}),
        runs=runs,
        failures=[],
        workers={WORKER: 0},
        modes={WORKER: "fork"},
        sigkilled={},
        stopped={},
        usr1={},
        server_killed={},
    )
    return replace(base, **changes)


def run(job: str, t: float, finished_at: float | None = None, pid: int = CHILD) -> Run:
    return Run(job, t, pid, WORKER if pid == CHILD else RUNNER, RUNNER, finished_at)


def test_one_finished_run_per_job_is_clean():
    assert judge(facts([run("a", 1.0, 1.1), run("b", 2.0, 2.1)])).problems == []


def test_a_job_that_never_finished_and_is_not_failed_is_lost():
    problems = judge(facts([run("a", 1.0)], ids=["a", "b"])).problems
    assert any("job a lost" in p for p in problems)
    assert any("job b lost" in p for p in problems)


def test_a_second_run_after_a_finished_run_without_a_fault_is_a_duplicate():
    verdict = judge(facts([run("a", 1.0, 1.1), run("a", 3.0, 3.1)]))
    assert len(verdict.problems) == 1
    assert "ran again" in verdict.problems[0]


def test_a_second_run_after_a_sigkill_of_the_worker_is_allowed():
    history = [run("a", 1.0, 1.1), run("a", 3.0, 3.1)]
    verdict = judge(facts(history, workers={WORKER: -9}, sigkilled={WORKER: 1.2}))
    assert verdict.problems == []
    assert verdict.reruns == {"SIGKILL": 1}


def test_a_sigkill_of_another_worker_does_not_excuse_it():
    history = [run("a", 1.0, 1.1), run("a", 3.0, 3.1)]
    workers = {WORKER: 0, 200: -9}
    assert judge(facts(history, workers=workers, sigkilled={200: 1.2})).problems


def test_a_run_cut_short_by_the_shutdown_deadline_may_run_again_but_a_finished_one_not():
    cut = [run("a", 1.0), run("a", 3.0, 3.1)]
    assert judge(facts(cut, stopped={WORKER: 1.2})).problems == []
    finished = [run("a", 1.0, 1.1), run("a", 3.0, 3.1)]
    assert judge(facts(finished, stopped={WORKER: 1.2})).problems


def test_a_usr1_failure_counts_only_for_a_worker_that_got_usr1_before():
    failure = {"id": "a", "error": "job killed by USR1", "worker": f"h:{WORKER}:q"}
    failure["failed_at_ts"] = 2.0
    history = [run("a", 1.0, pid=WORKER)]
    assert judge(facts(history, failures=[failure], usr1={WORKER: 1.5})).problems == []
    assert judge(facts(history, failures=[failure], usr1={WORKER: 2.5})).problems
    assert judge(facts(history, failures=[failure])).problems


def test_a_worker_that_exits_with_an_error_is_reported():
    problems = judge(facts([run("a", 1.0, 1.1)], workers={WORKER: 1})).problems
    assert problems == [f"worker {WORKER} exited with 1, expected 0"]


def test_a_fork_server_child_orphaned_by_its_workers_sigkill_counts_as_killed():
    # The worker died as its fork server forked the child: the child saw the
    # fork server already reparented (grandparent 1), only the job's worker id
    # names the worker.
    orphan = Run("a", 1.0, CHILD, SERVER, RUNNER, None, worker=WORKER)
    history = [orphan, run("a", 3.0, 3.1)]
    verdict = judge(facts(history, workers={WORKER: -9}, sigkilled={WORKER: 0.99}))
    assert verdict.problems == []
    assert verdict.reruns == {"SIGKILL": 1}


def test_an_orphaned_run_of_a_worker_that_was_not_killed_is_still_a_duplicate():
    orphan = Run("a", 1.0, CHILD, SERVER, RUNNER, None, worker=WORKER)
    verdict = judge(facts([orphan, run("a", 3.0, 3.1)]))
    assert any("ran again" in p for p in verdict.problems)
