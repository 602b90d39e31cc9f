#!/usr/bin/env python3
"""The chaos runner: real workers of every execution model drain a stream of
jobs while random faults hit them (SIGKILL, TERM, INT, QUIT and USR1 of
workers, SIGKILL of fork servers, restarts of Redis); then the oracle
(chaos_oracle.py) checks that no job was lost and none ran twice without a
fault that allows it.

Used by tests/test_worker_chaos.py (fixed seed, CI-sized) and, as a script,
by ``./dev chaos [--seed N] [--jobs N] [--seconds S] [--workers N]`` (a random
seed, printed, so a failure replays with ``--seed``).

Redis is a disposable redis-server of the runner's own (AOF, fsync always:
a restart loses no acknowledged write). Leases are short (heartbeat 0.25 s,
dead after 2.5 s), so dead workers' jobs come back within the run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

import chaos_jobs
import redis
from chaos_oracle import Facts, Run, Verdict, judge
from helpers import CORE_ONLY, env, fork_server_pids, process_gone, resqplug_cmd, wait_for
from redis_server import RedisServer

import resqplug
from resqplug.plugins import Plugins

T = TypeVar("T")
NAMESPACE = "chaos"
LEASE = {"RESQPLUG_HEARTBEAT_S": "0.25", "RESQPLUG_DEAD_AFTER_S": "2.5"}
# A job is recovered as often as its workers die (no poison pill in this test:
# tests/test_reaper.py covers the cap).
SHUTDOWN_TIMEOUT_S = 0.2
WORKER_ARGS = ("--shutdown-timeout", str(SHUTDOWN_TIMEOUT_S), "--max-recoveries", "1000")
SERVER = {"RESQPLUG_FORK_SERVER": "always"}
MODES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "fork": (("--fork",), {"RESQPLUG_FORK_SERVER": "never"}),
    "fork-k5": (("--fork", "--max-jobs-per-child", "5"), {}),
    "server": (("--fork",), SERVER),
    "server-k3": (("--fork", "--max-jobs-per-child", "3"), SERVER),
    "no-fork": (("--no-fork",), {}),
    "threads": (("--threads", "3"), {}),
}
SIGNALS = {
    "SIGKILL": signal.SIGKILL,
    "SIGTERM": signal.SIGTERM,
    "SIGINT": signal.SIGINT,
    "SIGQUIT": signal.SIGQUIT,
    "SIGUSR1": signal.SIGUSR1,
}
# Weights of the faults (of workers, but the last two); a run starts with one of each.
FAULTS = {
    "SIGKILL": 4,
    "SIGTERM": 2,
    "SIGINT": 2,
    "SIGQUIT": 2,
    "SIGUSR1": 4,
    "fork server SIGKILL": 2,
    "Redis restart": 1,
}
# A fault without a target this long (say, every worker is starting) is skipped.
FAULT_PATIENCE_S = 5.0


@dataclass
class Plan:
    seed: int
    jobs: int = 1000
    seconds: float = 15.0  # jobs are fed and faults injected over this long
    workers: int = len(MODES)  # one of each mode
    fault_every: float = 0.4  # mean seconds between faults
    settle_s: float = 60.0  # then at most this long for every job to end

    def durations(self, rng: random.Random) -> list[float]:
        """Mostly quick jobs (batched), some slower, a few past the shutdown wait."""
        out = []
        for _ in range(self.jobs):
            draw = rng.random()
            low, high = (0.3, 0.5) if draw < 0.03 else (0.03, 0.12) if draw < 0.15 else (0, 0.004)
            out.append(round(rng.uniform(low, high), 4))
        return out

    def faults(self, rng: random.Random) -> list[tuple[float, str]]:
        """(seconds after the start, fault), one of each kind first."""
        kinds = list(FAULTS)
        rng.shuffle(kinds)
        at, out = 1.0, []
        while at < self.seconds:
            kind = kinds.pop() if kinds else rng.choices(list(FAULTS), list(FAULTS.values()))[0]
            out.append((at, kind))
            at += rng.expovariate(1 / self.fault_every)
        return out


@dataclass
class Worker:
    mode: str
    proc: subprocess.Popen[bytes]
    log: Path
    stopping: bool = False

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class Log:
    """Which process got which fault, and when (time.time(), as the jobs record)."""

    sigkilled: dict[int, float] = field(default_factory=dict)
    stopped: dict[int, float] = field(default_factory=dict)  # shutdown deadlines (TERM, INT)
    usr1: dict[int, float] = field(default_factory=dict)
    server_killed: dict[int, float] = field(default_factory=dict)  # by worker pid
    injected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.lines.append(f"{time.time():.3f} {text}")


class Chaos:
    def __init__(self, plan: Plan, workdir: Path, datadir: Path) -> None:
        self.plan, self.workdir = plan, workdir  # workdir: the logs
        self.rng = random.Random(plan.seed)
        self.redis_server = RedisServer.persistent(datadir)
        self.workers: list[Worker] = []
        self.exits: dict[int, int | None] = {}
        self.log = Log()
        self.ids: list[str] = []

    # --- the run ----------------------------------------------------------------------

    def run(self) -> tuple[Verdict, Facts]:
        self.redis_server.first_start()
        try:
            self.resq = resqplug.Resq(
                self.redis_server.url, NAMESPACE, plugins=Plugins(load_entry_points=False)
            )
            modes = sorted(MODES)
            self.rng.shuffle(modes)
            for slot in range(self.plan.workers):
                self.start_worker(modes[slot % len(modes)])
            # Faults start once every worker is up (on a loaded machine start-up
            # takes seconds): a fault's target must have registered.
            wait_for(lambda: len(self.registered()) == self.plan.workers, 60, "workers up")
            self.storm()
            self.settle()
            self.stop_all()
            facts = self.facts()
            return judge(facts), facts
        finally:
            for w in self.workers:
                if w.proc.poll() is None:
                    w.proc.kill()
                    w.proc.wait(5)
            self.redis_server.kill()

    def storm(self) -> None:
        """Feed the jobs evenly over the plan's seconds and inject the faults."""
        durations = self.plan.durations(self.rng)
        faults = self.plan.faults(self.rng)
        start = time.monotonic()
        while len(self.ids) < len(durations) or faults:
            elapsed = time.monotonic() - start
            due = min(len(durations), int(elapsed / self.plan.seconds * len(durations)) + 1)
            if due > len(self.ids):
                # Not retried: a lost reply would leave jobs of unknown ids (and
                # the runner never enqueues while it restarts Redis).
                fed = [(d,) for d in durations[len(self.ids) : due]]
                ids = self.resq.enqueue_many(chaos_jobs.ChaosJob, fed)
                self.ids += [i for i in ids if i is not None]  # None: vetoed (no plugin here)
            self.replace_exited()
            if faults and faults[0][0] <= elapsed:
                at, fault = faults[0]
                if self.inject(fault):
                    self.log.injected[fault] += 1
                    faults.pop(0)
                elif elapsed - at > FAULT_PATIENCE_S:
                    self.log.skipped[fault] += 1
                    self.log.note(f"skipped {fault}: no target for {FAULT_PATIENCE_S}s")
                    faults.pop(0)
            time.sleep(0.02)

    def settle(self) -> None:
        """No more faults: wait until every job has ended and dead workers are reaped."""
        deadline = time.monotonic() + self.plan.settle_s
        while time.monotonic() < deadline:
            self.replace_exited()
            waiting = self.call(self.waiting_for)
            if not waiting:
                return
            time.sleep(0.1)
        self.log.note(f"not settled after {self.plan.settle_s}s: {waiting}")

    def waiting_for(self) -> dict[str, int]:
        """What has not ended yet: jobs, queued or in-flight entries, dead workers."""
        r, k = self.resq.redis, self.resq.keys
        ended = {json.loads(v)["id"] for v in r.hvals(k.plugin("chaos", "finished"))}
        ended |= {job.decode() for job in r.hkeys(k.failed_index)}
        live = {w.pid for w in self.live()}
        registered = {int(w.split(b":")[1]) for w in r.smembers(k.workers)}
        waiting = {k: n for k, n in self.leftovers().items() if n}
        waiting["jobs not ended"] = len(self.ids) - len(ended)
        waiting["dead workers registered"] = len(registered - live)
        return {what: n for what, n in waiting.items() if n > 0}

    def stop_all(self) -> None:
        """QUIT every live worker (finish the current job, then exit), once all
        are up: a signal during a worker's start-up is not what this run tests."""
        wait_for(lambda: len(self.registered()) == len(self.live()), 60, "workers up before QUIT")
        for w in self.workers:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGQUIT)
        for w in self.workers:
            try:
                self.exits[w.pid] = w.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.exits[w.pid] = None

    # --- workers and faults -----------------------------------------------------------

    def start_worker(self, mode: str) -> None:
        """A worker of ``mode``; a worker that exits is replaced by one of its
        mode, so every mode runs all along."""
        args, extra = MODES[mode]
        cmd = resqplug_cmd(self.redis_server.url, NAMESPACE, "work", "--app", "chaos_jobs")
        cmd += ["-q", chaos_jobs.QUEUE, *args, *WORKER_ARGS]
        log = self.workdir / f"worker-{len(self.workers)}-{mode}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd, env=env({**CORE_ONLY, **LEASE, **extra}), stdout=out, stderr=out
            )
        self.workers.append(Worker(mode, proc, log))
        self.log.note(f"started {mode} worker {proc.pid}")

    def replace_exited(self) -> None:
        for w in self.workers:
            if w.pid not in self.exits and w.proc.poll() is not None:
                self.exits[w.pid] = w.proc.returncode
                self.log.note(f"worker {w.pid} exited with {w.proc.returncode}")
                self.start_worker(w.mode)

    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.proc.poll() is None]

    def registered(self) -> list[Worker]:
        """Live workers that have registered (their signal handlers are in place)."""
        ids = self.call(lambda: self.resq.redis.smembers(self.resq.keys.workers))
        pids = {int(w.split(b":")[1]) for w in ids}
        return [w for w in self.live() if w.pid in pids]

    def inject(self, fault: str) -> bool:
        """Inject one fault; False if it has no target now (it is tried again)."""
        ready = self.registered()
        if fault == "Redis restart":
            return len(ready) == len(self.live()) and self.restart_redis()
        if fault == "fork server SIGKILL":
            servers = [
                (w, p) for w in ready if w.mode.startswith("server") for p in self.servers(w)
            ]
            if not servers:
                return False
            w, pid = self.rng.choice(servers)
            now = time.time()  # before: the failure it causes comes after
            self.log.sigkilled[pid] = now
            self.log.server_killed.setdefault(w.pid, now)
            os.kill(pid, signal.SIGKILL)
            self.log.note(f"SIGKILL fork server {pid} of worker {w.pid}")
            return True
        targets = [w for w in ready if fault == "SIGKILL" or not w.stopping]
        if not targets:
            return False
        self.signal(self.rng.choice(targets), fault)
        return True

    def signal(self, w: Worker, name: str) -> None:
        now = time.time()  # before: what the signal causes comes after
        if name == "SIGKILL":
            self.log.sigkilled[w.pid] = now
        elif name in ("SIGTERM", "SIGINT"):
            deadline = now + (SHUTDOWN_TIMEOUT_S if name == "SIGTERM" else 0.0)
            self.log.stopped[w.pid] = min(deadline, self.log.stopped.get(w.pid, deadline))
        elif name == "SIGUSR1":
            self.log.usr1.setdefault(w.pid, now)
        w.stopping = w.stopping or name != "SIGUSR1"
        os.kill(w.pid, SIGNALS[name])
        self.log.note(f"{name} {w.mode} worker {w.pid}")

    def servers(self, w: Worker) -> list[int]:
        return fork_server_pids(w.pid)

    def restart_redis(self) -> bool:
        self.redis_server.kill()
        self.log.note("Redis killed")
        time.sleep(self.rng.uniform(0.2, 0.6))  # the outage
        if not self.redis_server.start():
            raise AssertionError("redis-server could not restart on its port")
        self.resq.redis.connection_pool.disconnect()
        self.log.note("Redis restarted")
        return True

    def call(self, fn: Callable[[], T]) -> T:
        """The runner's own Redis reads, retried over a restart's last moments."""
        answer: tuple[T] = wait_for(lambda: self._try(fn), timeout=10, what="Redis for the runner")
        return answer[0]

    @staticmethod
    def _try(fn: Callable[[], T]) -> tuple[T] | None:
        try:
            return (fn(),)
        except (redis.ConnectionError, redis.TimeoutError):
            return None

    # --- what happened ----------------------------------------------------------------

    def leftovers(self) -> dict[str, int]:
        r, k = self.resq.redis, self.resq.keys
        inflight = sum(r.llen(key) for key in r.scan_iter(match=k.inflight("*"), count=1000))
        return {"jobs queued": r.llen(k.queue(chaos_jobs.QUEUE)), "jobs in flight": inflight}

    def facts(self) -> Facts:
        r, k = self.resq.redis, self.resq.keys
        finished = {
            run.decode(): json.loads(end)["t"]
            for run, end in r.hgetall(k.plugin("chaos", "finished")).items()
        }
        runs = []
        for run, text in r.hgetall(k.plugin("chaos", "runs")).items():
            doc = json.loads(text)
            pids = doc["pid"], doc["ppid"], doc["gppid"]
            end = finished.get(run.decode())
            runs.append(Run(doc["id"], doc["t"], *pids, end, doc.get("worker", 0)))
        leftovers = self.leftovers()
        leftovers["workers registered"] = r.scard(k.workers)
        ran = {p for run in runs for p in (run.pid, run.ppid)} - {os.getpid()}
        leftovers["processes that ran jobs still alive"] = sum(not process_gone(p) for p in ran)
        return Facts(
            ids=self.ids,
            runs=runs,
            failures=list(self.resq.failures.iter()),
            workers=self.exits,
            modes={w.pid: w.mode for w in self.workers},
            sigkilled=self.log.sigkilled,
            stopped=self.log.stopped,
            usr1=self.log.usr1,
            server_killed=self.log.server_killed,
            leftovers=leftovers,
        )


@dataclass
class Result:
    verdict: Verdict
    faults: Counter[str]  # injected, by kind
    text: str  # the summary, and the problems if any


def run_chaos(plan: Plan, workdir: Path) -> Result:
    """Run ``plan``; logs in ``workdir``, Redis's data on tmpfs where there is one."""
    with tempfile.TemporaryDirectory(prefix="resqplug-chaos-", dir=shm_or_tmp()) as datadir:
        chaos = Chaos(plan, workdir, Path(datadir))
        verdict, facts = chaos.run()
    (workdir / "faults.log").write_text("\n".join(chaos.log.lines) + "\n")
    with open(workdir / "runs.jsonl", "w") as out:  # for a post-mortem
        out.writelines(json.dumps(asdict(run)) + "\n" for run in facts.runs)
    return Result(verdict, chaos.log.injected, report(plan, verdict, facts, chaos))


def report(plan: Plan, verdict: Verdict, facts: Facts, chaos: Chaos) -> str:
    modes = sorted(w.mode for w in chaos.workers)
    lines = [
        f"chaos seed {plan.seed}: {len(facts.ids)} jobs, {len(facts.runs)} runs, "
        f"{len(chaos.workers)} workers ("
        + ", ".join(f"{m} x{modes.count(m)}" for m in sorted(set(modes)))
        + ")",
        "faults: " + ", ".join(f"{k} x{n}" for k, n in sorted(chaos.log.injected.items())),
        f"skipped (no target): {dict(chaos.log.skipped)}",
        f"re-runs: {dict(verdict.reruns)}; failed on purpose: {dict(verdict.failed)}",
    ]
    if verdict.problems:
        lines.append(f"{len(verdict.problems)} PROBLEMS (replay: ./dev chaos --seed {plan.seed}):")
        lines += [f"  {p}" for p in verdict.problems[:40]]
        lines.append(f"worker logs and the fault log: {chaos.workdir}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(10**6))
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=60.0, help="chaos phase length")
    parser.add_argument("--workers", type=int, default=2 * len(MODES))
    opts = parser.parse_args(argv)
    # TERM (e.g. from `timeout`) ends the run through its clean-up: no worker or
    # redis-server of the run is left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = Plan(opts.seed, jobs=opts.jobs, seconds=opts.seconds, workers=opts.workers)
    print(f"chaos seed {plan.seed} (replay: ./dev chaos --seed {plan.seed})", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="resqplug-chaos-logs-"))
    result = run_chaos(plan, workdir)
    print(result.text)
    return 1 if result.verdict.problems else 0


def shm_or_tmp() -> str | None:
    """Redis's AOF on tmpfs: fsync always costs nothing there, and a restart of
    redis-server (not of the machine) is all the runner needs to survive."""
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


if __name__ == "__main__":
    sys.exit(main())
