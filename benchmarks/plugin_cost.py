"""The hot-path cost of one plugin, measured closely: the core alone against
the core with that plugin (every other bundled plugin blocked), in
interleaved rounds on one redis-server, for bulk enqueue (enqueue_many, 1,000
jobs a call) and a no-fork drain. Each is measured twice: throughput (jobs/s,
wall clock, as run.py measures it) and CPU time per job (the client's or the
worker's, and the Redis server's), which a busy machine disturbs far less.
Prints each round, then the medians.

    .venv/bin/python benchmarks/plugin_cost.py metrics --rounds 7
    BENCH_REDIS_URL=redis://127.0.0.1:6392/0 .venv/bin/python benchmarks/plugin_cost.py metrics

Without BENCH_REDIS_URL it starts a private redis-server (persistence off);
the server should be this benchmark's alone (its CPU time is read). Runs in
.venv (the core and every plugin installed); the comparison with peers is
run.py's (`./dev bench --only resqplug,each-plugin`)."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE / "peers")]

import common  # noqa: E402
import redis  # noqa: E402

FIGURES = (
    ("enqueue bulk", "jobs/s"),
    ("enqueue client CPU", "µs/job"),
    ("enqueue Redis CPU", "µs/job"),
    ("drain", "jobs/s"),
    ("drain worker CPU", "µs/job"),
    ("drain Redis CPU", "µs/job"),
)


def redis_cpu(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def burst_cpu(system: ModuleType, url: str) -> float:
    """CPU seconds of one `--burst` no-fork worker that empties the queue."""
    cmd = [*system.worker_cmd("no-fork"), "--burst"]
    env = common.env_with(**getattr(system, "WORKER_ENV", {}))
    proc = subprocess.Popen(
        cmd, env=env, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"the burst worker exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime


def enqueue_round(system: ModuleType, url: str, n: int) -> dict[str, float]:
    import harness

    found = harness.enqueue(system, url, n, bulk=True)
    r = harness.fresh(url)
    cpu, server = time.process_time(), redis_cpu(r)
    system.enqueue_bulk(url, n)
    found["enqueue client CPU"] = (time.process_time() - cpu) / n * 1e6
    found["enqueue Redis CPU"] = (redis_cpu(r) - server) / n * 1e6
    return found


def drain_round(system: ModuleType, url: str, n: int) -> dict[str, float]:
    import harness

    found = harness.drain(system, url, "no-fork", n)
    r = harness.fresh(url)
    idle = burst_cpu(system, url)  # start-up and exit, no job
    system.prefill(url, n)
    server = redis_cpu(r)
    worker = burst_cpu(system, url)
    found["drain Redis CPU"] = (redis_cpu(r) - server) / n * 1e6
    found["drain worker CPU"] = (worker - idle) / n * 1e6
    return found


def measure(plugin: str, url: str, rounds: int, bulk_n: int, drain_n: int) -> None:
    import resqplug_bench as core
    from resqplug_each_plugin_bench import alone

    setups = {"core": core, f"core + {plugin}": alone(plugin)}
    figures: dict[tuple[str, str], list[float]] = {}
    for n in range(rounds):
        order = list(setups.items()) if n % 2 == 0 else list(reversed(setups.items()))
        for name, system in order:
            found = enqueue_round(system, url, bulk_n) | drain_round(system, url, drain_n)
            for figure, _ in FIGURES:
                figures.setdefault((name, figure), []).append(found[figure])
            shown = ", ".join(f"{f} {found[f]:,.1f}" for f, _ in FIGURES)
            print(f"round {n + 1} {name}: {shown}", file=sys.stderr, flush=True)
    print(f"| median of {rounds} rounds | core | core + {plugin} | ratio |")
    print("|---|---:|---:|---:|")
    for figure, unit in FIGURES:
        base = statistics.median(figures[("core", figure)])
        with_plugin = statistics.median(figures[(f"core + {plugin}", figure)])
        ratio = with_plugin / base if base else float("nan")
        print(f"| {figure} ({unit}) | {base:,.1f} | {with_plugin:,.1f} | {ratio:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("plugin")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bulk", type=int, default=20_000, help="jobs enqueued in bulk")
    parser.add_argument("--drain", type=int, default=20_000, help="jobs drained")
    args = parser.parse_args()
    with ExitStack() as stack:
        url = os.environ.get("BENCH_REDIS_URL") or stack.enter_context(common.private_redis())
        os.environ["BENCH_REDIS_URL"] = url  # read by the adapters when imported
        try:
            measure(args.plugin, url, args.rounds, args.bulk, args.drain)
        finally:
            common.stop_all()


if __name__ == "__main__":
    main()
