"""The chaos runner's oracle (chaos.py): from what the runs recorded, what the
failed store holds and which process got which signal, decide whether a job
was lost or ran twice without a reason.

- Lost: a job id with no finished run, unless it is failed for a fault the
  runner injected (USR1 to its worker, SIGKILL of its fork server).
- Run twice: every run of a job but its last must have been cut short by an
  injected fault: a SIGKILL of a process of its run (the child, the fork
  server or the worker; a finished but unacknowledged run dies with its
  worker too), or the end of its worker's shutdown wait (TERM/INT) while it
  ran: it started before the wait ran out and had not finished then (the job
  goes back to its queue; a thread cannot be stopped, so in threads mode it
  may still finish before the process exits).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

USR1_REASON = "killed by USR1"
# A run records its start a moment after the worker started it (in the child,
# after the fork or the GO): a start this much after a deadline counts as before.
RECORD_LAG_S = 0.05
SERVER_KILLED = re.compile(r"child (\d+) killed by signal 9 \(SIGKILL\)")


@dataclass(frozen=True)
class Run:
    """One run of a job, as the job recorded it (chaos_jobs.ChaosJob)."""

    job: str
    t: float
    pid: int  # the process that ran it
    ppid: int  # its parent: the worker, or a fork server
    gppid: int  # the worker when a fork server forked the child
    finished_at: float | None  # when its work was done, if it was
    worker: int = 0  # the worker it ran for, by its id (0: unknown)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


@dataclass
class Facts:
    ids: list[str]
    runs: list[Run]
    failures: list[dict[str, Any]]
    workers: dict[int, int | None]  # worker pid -> exit code (None: still running)
    modes: dict[int, str]  # worker pid -> its mode (chaos.MODES)
    sigkilled: dict[int, float]  # pid (worker or fork server) -> when
    stopped: dict[int, float]  # worker pid -> when its shutdown wait (TERM, INT) ran out
    usr1: dict[int, float]  # worker pid -> when it first got USR1
    server_killed: dict[int, float]  # worker pid -> when its fork server was first SIGKILLed
    leftovers: dict[str, int] = field(default_factory=dict)  # what is still queued, in flight


@dataclass
class Verdict:
    problems: list[str]
    reruns: Counter[str]  # why jobs ran again: "SIGKILL", "TERM/INT"
    failed: Counter[str]  # why jobs are failed: "USR1", "fork server SIGKILL"


def worker_of(run: Run, facts: Facts) -> int | None:
    for pid in (run.worker, run.pid, run.ppid, run.gppid):
        if pid in facts.workers:
            return pid
    return None


def killed(run: Run, facts: Facts) -> bool:
    """A process of the run (child, fork server, worker) was SIGKILLed. A
    parent was alive when the run recorded its start (a dead parent's children
    get another parent), so the run started before the kill took effect, even
    if a child started it in the moment its worker was dying. The worker comes
    from the job's worker id too: a fork server whose worker is SIGKILLed is
    reparented before its child can read its grandparent."""
    return any(p in facts.sigkilled for p in (run.pid, run.ppid, run.gppid, run.worker))


def abandoned(run: Run, facts: Facts) -> bool:
    """The run was under way when its worker's shutdown wait (TERM/INT) ran out."""
    deadline = facts.stopped.get(worker_of(run, facts) or 0)
    if deadline is None or run.t > deadline + RECORD_LAG_S:
        return False
    return run.finished_at is None or run.finished_at >= deadline


def failure_reason(record: dict[str, Any], facts: Facts) -> str | None:
    """Which injected fault explains a failure record, if one does: a USR1 to
    its worker, or a SIGKILL of its worker's fork server (which takes the
    running child along), sent before the failure."""
    error = str(record.get("error", ""))
    worker_id = str(record.get("worker", "")).split(":")
    worker = int(worker_id[1]) if len(worker_id) > 1 and worker_id[1].isdigit() else 0
    failed_at = float(record.get("failed_at_ts", 0))
    if USR1_REASON in error and facts.usr1.get(worker, failed_at + 1) <= failed_at:
        return "USR1"
    if SERVER_KILLED.search(error) and facts.server_killed.get(worker, failed_at + 1) <= failed_at:
        return "fork server SIGKILL"
    return None


def judge(facts: Facts) -> Verdict:
    verdict = Verdict([], Counter(), Counter())
    runs_of: dict[str, list[Run]] = defaultdict(list)
    for run in facts.runs:
        runs_of[run.job].append(run)
    failed = {str(f.get("id")): f for f in facts.failures}
    wanted = set(facts.ids)
    for job in sorted(wanted | set(runs_of) | set(failed)):
        if job not in wanted:
            verdict.problems.append(f"job {job} ran or failed but was never enqueued")
            continue
        runs = sorted(runs_of[job], key=lambda r: r.t)
        judge_runs(job, runs, facts, verdict)
        judge_outcome(job, runs, failed.get(job), facts, verdict)
    judge_processes(facts, verdict)
    return verdict


def judge_runs(job: str, runs: list[Run], facts: Facts, verdict: Verdict) -> None:
    for run in runs:
        if worker_of(run, facts) is None:
            verdict.problems.append(f"job {job} ran in pid {run.pid}, a process of no worker")
    for earlier in runs[:-1]:
        if killed(earlier, facts):
            verdict.reruns["SIGKILL"] += 1
        elif abandoned(earlier, facts):
            verdict.reruns["TERM/INT"] += 1
        else:
            verdict.problems.append(
                f"job {job} ran again after a run that no SIGKILL or shutdown cut short: "
                + describe(earlier, facts)
            )


def describe(run: Run, facts: Facts) -> str:
    """A run and the faults its worker got, with times relative to its start."""
    worker = worker_of(run, facts)
    faults = [
        f"{name} {when - run.t:+.3f}s"
        for name, table in (("shutdown deadline", facts.stopped), ("USR1", facts.usr1))
        for when in [table.get(worker or 0)]
        if when is not None
    ]
    state = f"finished {run.finished_at - run.t:+.3f}s" if run.finished_at else "unfinished"
    mode = facts.modes.get(worker or 0, "?")
    return (
        f"run ({state}) in pid {run.pid} of {mode} worker {worker} "
        f"({', '.join(faults) or 'no fault'})"
    )


def judge_outcome(
    job: str, runs: list[Run], record: dict[str, Any] | None, facts: Facts, verdict: Verdict
) -> None:
    if record is not None:
        reason = failure_reason(record, facts)
        if reason is None:
            verdict.problems.append(
                f"job {job} failed without an injected cause: "
                f"{record.get('exception')}: {record.get('error')}"
            )
        else:
            verdict.failed[reason] += 1
        return
    if not any(r.finished for r in runs):
        verdict.problems.append(f"job {job} lost: {len(runs)} unfinished runs, not failed")
    elif not runs[-1].finished and not killed(runs[-1], facts):
        verdict.problems.append(f"job {job}: its last run was cut short and nothing failed it")


def judge_processes(facts: Facts, verdict: Verdict) -> None:
    for pid, code in sorted(facts.workers.items()):
        expected = -9 if pid in facts.sigkilled else 0
        if code != expected:
            verdict.problems.append(f"worker {pid} exited with {code}, expected {expected}")
    for what, count in sorted(facts.leftovers.items()):
        if count:
            verdict.problems.append(f"left at the end: {count} {what}")
