"""Benchmarks: resqplug and its peers side by side on one private redis-server.

    ./dev bench                    full run: every system, 3 rounds (< 15 min)
    ./dev bench --quick            fewer jobs, 1 round (< 3 min)
    ./dev bench --only resqplug    resqplug (core only, and with all plugins) and the ceiling
    ./dev bench --only resqplug,each-plugin    and each plugin alone (its cost)
    ./dev bench --rounds 5         more rounds

Runs inside benchmarks/.venv-peers (made on first use). Progress goes to
stderr, the tables (markdown) to stdout; the raw figures are kept in
benchmarks/.logs/results.json (`--render` prints them again). See
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE / "peers")]

import peers_venv  # noqa: E402

if __name__ == "__main__" and not peers_venv.inside():
    peers_venv.reexec(__file__)  # does not return

import ceiling  # noqa: E402
import common  # noqa: E402
import harness  # noqa: E402
import report  # noqa: E402

# system -> its adapter modules; resqplug runs twice: core only, and with every
# bundled plugin loaded (the product users run)
MODULES = {
    "resqplug": ("resqplug_bench", "resqplug_plugins_bench"),
    "each-plugin": ("resqplug_each_plugin_bench",),  # resqplug with one plugin, each in turn
    "rq": ("rq_adapter",),
    "dramatiq": ("dramatiq_adapter",),
    "huey": ("huey_adapter",),
    "celery": ("celery_adapter",),
    "arq": ("arq_adapter",),
}


Results = dict[tuple[str, str], list[float]]  # (row, figure) -> one value per round


class Task(NamedTuple):
    row: str  # table row: "system" or "system, variant"
    stage: str
    call: Callable[[str], dict[str, float]]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer jobs, 1 round")
    parser.add_argument("--rounds", type=int, help="rounds (default 3, 1 with --quick)")
    systems = ",".join(MODULES)
    parser.add_argument("--only", default=systems, help="systems to run (the ceiling always runs)")
    parser.add_argument("--render", metavar="JSON", help="print the tables of a saved run")
    args = parser.parse_args()
    args.systems = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.systems) - set(MODULES)
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}; choose from {', '.join(MODULES)}")
    args.rounds = args.rounds or (1 if args.quick else 3)
    return args


def stage_tasks(stage: str, system: ModuleType, quick: bool) -> list[Task]:
    n = 5000 if quick else 20000
    name = system.NAME
    if stage == "enqueue 1x1":
        return [Task(name, stage, lambda u: harness.enqueue(system, u, n, False))]
    if stage == "enqueue bulk":
        bulk = system.BULK is not None
        return [Task(name, stage, lambda u: harness.enqueue(system, u, n, True))] if bulk else []
    tasks = []
    for variant, spec in system.VARIANTS.items():
        row = f"{name}, {variant}"
        if stage == "drain":
            count = spec.drain_n // 4 if quick else spec.drain_n
            call = lambda u, v=variant, c=count: harness.drain(system, u, v, c)  # noqa: E731
            tasks.append(Task(row, stage, call))
        else:  # fork-per-job workers get 50 ms gaps so that each job finds them idle
            gap = 0.05 if spec.kind == "fork" else 0.01
            call = lambda u, v=variant, g=gap: harness.pickup(system, u, v, 200, g)  # noqa: E731
            tasks.append(Task(row, stage, call))
    return tasks


def ceiling_tasks(quick: bool) -> list[Task]:
    n = 5000 if quick else 20000
    return [
        Task(f"redis-py, RPOP {name}", "drain", lambda u, p=p: {"drain": ceiling.pop_loop(u, n, p)})
        for name, p in (("loop", False), ("pipelined", True))
    ]


def round_tasks(systems: list[ModuleType], quick: bool, r: int) -> list[Task]:
    """Stage by stage, every system in turn; the order of systems rotates per round."""
    turn = systems[r % len(systems) :] + systems[: r % len(systems)]
    tasks = []
    for stage in ("enqueue 1x1", "enqueue bulk", "drain", "pickup"):
        for system in turn:
            tasks += stage_tasks(stage, system, quick)
    return tasks + ceiling_tasks(quick)


def adapters(names: list[str]) -> list[ModuleType]:
    """The adapter modules of these systems, then the ceiling's."""
    systems: list[ModuleType] = []
    for module in (importlib.import_module(m) for s in names for m in MODULES[s]):
        systems += getattr(module, "SYSTEMS", [module])  # a module may hold several setups
    return [*systems, ceiling]


def load(names: list[str], url: str) -> list[ModuleType]:
    """Import the adapters once the Redis URL is known (they read it on import)."""
    os.environ["BENCH_REDIS_URL"] = url
    return adapters(names)


def run_rounds(
    args: argparse.Namespace, systems: list[ModuleType], url: str, results: Results
) -> dict[tuple[str, str], str]:
    failures: dict[tuple[str, str], str] = {}
    for r in range(args.rounds):
        for task in round_tasks(systems, args.quick, r):
            t0 = time.monotonic()
            try:
                figures = task.call(url)
            except Exception as exc:  # one system failing must not stop the others
                failures[(task.row, task.stage)] = f"{type(exc).__name__}: {exc}"
                print(f"round {r + 1}: {task.row}: {task.stage}: FAILED {exc!r}", file=sys.stderr)
                continue
            for figure, value in figures.items():
                results[(task.row, figure)].append(value)
            shown = ", ".join(f"{k} {v:,.1f}" for k, v in figures.items())
            took = time.monotonic() - t0
            print(f"round {r + 1}: {task.row}: {shown} ({took:.1f} s)", file=sys.stderr)
    return failures


def measure(args: argparse.Namespace) -> tuple[Results, dict[tuple[str, str], str], report.RunInfo]:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: Results = defaultdict(list)
    started, load_before = time.monotonic(), os.getloadavg()[0]
    try:
        with common.private_redis() as url:
            failures = run_rounds(args, load(args.systems, url), url, results)
    finally:
        common.stop_all()
    seconds, date = time.monotonic() - started, time.strftime("%Y-%m-%d %H:%M")
    info = report.RunInfo(
        args.systems, args.rounds, args.quick, seconds, load_before, os.getloadavg()[0], date
    )
    report.save(common.LOGS / "results.json", results, failures, info)
    return results, failures, info


def main() -> None:
    args = parse_args()
    if args.render:
        results, failures, info = report.load(Path(args.render))
    else:
        results, failures, info = measure(args)
    print(report.render(results, failures, adapters(info.systems), info))


if __name__ == "__main__":
    main()
