"""The hot-path cost of one plugin, measured closely: the core alone against
the core with that plugin (every other bundled plugin blocked), in
interleaved rounds on one redis-server, for bulk enqueue (enqueue_many, 1,000
jobs a call) and a no-fork drain. Prints each round and the medians.

    .venv/bin/python benchmarks/plugin_cost.py metrics --rounds 7
    BENCH_REDIS_URL=redis://127.0.0.1:6392/0 .venv/bin/python benchmarks/plugin_cost.py metrics

Without BENCH_REDIS_URL it starts a private redis-server (persistence off).
Runs in .venv (the core and every plugin installed); the full comparison with
peers is run.py's (`./dev bench --only resqplug,each-plugin`)."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE / "peers")]

import common  # noqa: E402


def measure(plugin: str, url: str, rounds: int, bulk_n: int, drain_n: int) -> None:
    import harness
    import resqplug_bench as core
    from resqplug_each_plugin_bench import alone

    setups = {"core": core, f"core + {plugin}": alone(plugin)}
    figures: dict[tuple[str, str], list[float]] = {}
    for n in range(rounds):
        order = list(setups.items()) if n % 2 == 0 else list(reversed(setups.items()))
        for name, system in order:
            found = harness.enqueue(system, url, bulk_n, bulk=True)
            found |= harness.drain(system, url, "no-fork", drain_n)
            for figure in ("enqueue bulk", "drain"):
                figures.setdefault((name, figure), []).append(found[figure])
            print(
                f"round {n + 1} {name}: {found['enqueue bulk']:,.0f} enqueued/s, "
                f"{found['drain']:,.0f} drained/s",
                file=sys.stderr,
                flush=True,
            )
    print(f"| measure (jobs/s, median of {rounds}) | core | core + {plugin} | ratio |")
    print("|---|---:|---:|---:|")
    for figure in ("enqueue bulk", "drain"):
        base = statistics.median(figures[("core", figure)])
        with_plugin = statistics.median(figures[(f"core + {plugin}", figure)])
        print(f"| {figure} | {base:,.0f} | {with_plugin:,.0f} | {with_plugin / base:.2f}x |")


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
