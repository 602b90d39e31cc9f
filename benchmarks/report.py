"""The markdown tables: enqueue, workers, and resqplug against its targets,
the best peer and the ceiling."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

from common import median

Results = dict[tuple[str, str], list[float]]
Failures = dict[tuple[str, str], str]
CEILING_DRAIN = ("redis-py, RPOP pipelined", "drain")
CEILING_WORKER = "redis-py, BRPOP loop"
CEILING_FORK = "redis-py, fork per job"  # the most a forking Python worker does here


class RunInfo(NamedTuple):
    systems: list[str]
    rounds: int
    quick: bool
    seconds: float
    load_before: float  # 1-minute load average
    load_after: float
    date: str


# resqplug's targets (issue 5): ">= 0.9x" is relative to the ceiling
GOALS = {
    ("resqplug", "enqueue 1x1"): ">= 0.9x",
    ("resqplug", "enqueue bulk"): ">= 100000",
    ("resqplug, no-fork", "drain"): ">= 20000",
    ("resqplug, threads 8", "drain"): ">= 10000",
    ("resqplug, fork per job", "drain"): ">= 500",
    ("resqplug, fork, 100 jobs/child", "drain"): ">= 5000",
    ("resqplug, no-fork", "pickup p50"): "<= 1",
    ("resqplug, no-fork", "pickup p99"): "<= 3",
    ("resqplug, fork per job", "pickup p50"): "<= 5",
    ("resqplug, no-fork", "idle RSS"): "<= 35",
    ("resqplug, fork per job", "idle RSS"): "<= 35",
}
ENQUEUE_FIGURES = ("enqueue 1x1", "enqueue bulk")
WORKER_FIGURES = ("drain", "pickup p50", "pickup p99", "peak RSS", "idle RSS")
LOWER_IS_BETTER = {"pickup p50", "pickup p99", "peak RSS", "idle RSS"}
# resqplug variants are compared with the peers' workers of these kinds
COMPARED_WITH = {"in-process": ("in-process",), "fork": ("fork",), "pool": ("fork", "pool")}


def num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def cell(results: Results, failures: Failures, row: str, figure: str, stage: str) -> str:
    values = results.get((row, figure))
    if not values:
        return "failed" if (row, stage) in failures else "n/a"
    if len(values) == 1:
        return num(values[0])
    return f"{num(median(values))} ({num(min(values))}-{num(max(values))})"


def header(info: RunInfo) -> str:
    server = shutil.which("redis-server") or shutil.which("valkey-server") or "redis-server"
    version = subprocess.run([server, "--version"], capture_output=True, text=True, check=False)
    redis_version = (version.stdout.split(" v=")[-1].split() or ["?"])[0]
    mode = "quick" if info.quick else "full"
    return (
        f"{info.date}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, redis-server {redis_version}; {mode} run, "
        f"{info.rounds} round(s) in {info.seconds / 60:.1f} min; load average (1 min) "
        f"{info.load_before:.2f} at start, {info.load_after:.2f} at end. "
        "Cells: median (min-max) over rounds."
    )


def enqueue_table(results: Results, failures: Failures, systems: list[ModuleType]) -> str:
    lines = ["| system | one by one, jobs/s | bulk, jobs/s | bulk method |", "|---|--:|--:|---|"]
    for s in systems:
        one = cell(results, failures, s.NAME, "enqueue 1x1", "enqueue 1x1")
        bulk = cell(results, failures, s.NAME, "enqueue bulk", "enqueue bulk")
        lines.append(f"| {s.NAME} | {one} | {bulk} | {s.BULK or 'none'} |")
    return "\n".join(lines)


def worker_table(
    results: Results, failures: Failures, systems: list[ModuleType], quick: bool
) -> str:
    lines = [
        "| system, worker | kind | drain N | drain, jobs/s | pickup p50, ms | pickup p99, ms "
        "| peak RSS, MiB | idle RSS, MiB |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for s in systems:
        for variant, spec in s.VARIANTS.items():
            row = f"{s.NAME}, {variant}"
            n = spec.drain_n // 4 if quick else spec.drain_n
            figures = [("drain", "drain"), ("pickup p50", "pickup"), ("pickup p99", "pickup")]
            figures += [("peak RSS", "drain"), ("idle RSS", "pickup")]
            cells = " | ".join(cell(results, failures, row, f, st) for f, st in figures)
            lines.append(f"| {row} | {spec.kind} | {n:,} | {cells} |")
    n = 5000 if quick else 20000
    for row in ("redis-py, RPOP loop", CEILING_DRAIN[0]):
        drain = cell(results, failures, row, "drain", "drain")
        lines.append(f"| {row} (in-process) | ceiling | {n:,} | {drain} | - | - | - | - |")
    return "\n".join(lines)


def ceiling_of(figure: str, kind: str | None = None) -> tuple[str, str]:
    if figure.startswith("enqueue"):
        return ("redis-py", figure)
    if kind == "fork" and figure in ("drain", "pickup p50", "pickup p99"):
        return (CEILING_FORK, figure)
    return CEILING_DRAIN if figure == "drain" else (CEILING_WORKER, figure)


def is_peer(system: ModuleType) -> bool:
    """Neither resqplug (in any setup) nor the ceiling."""
    return system.NAME not in ("resqplug", "redis-py") and not hasattr(system, "BASELINE")


def best_peer(
    results: Results, systems: list[ModuleType], figure: str, kind: str | None
) -> tuple[float, str] | None:
    """The best peer's median for a figure, among workers of comparable kinds."""
    rows = [
        s.NAME if kind is None else f"{s.NAME}, {variant}"
        for s in systems
        if is_peer(s)
        for variant, spec in ({"": None} if kind is None else s.VARIANTS).items()
        if kind is None or spec.kind in COMPARED_WITH[kind]
    ]
    peers = [(median(results[(r, figure)]), r) for r in rows if results.get((r, figure))]
    return (min if figure in LOWER_IS_BETTER else max)(peers, default=None)


def goal_met(row: str, figure: str, value: float, ceiling: float) -> tuple[str, str]:
    if (row, figure) not in GOALS:
        return "", ""
    op, goal = GOALS[(row, figure)].split()
    wanted = float(goal.rstrip("x")) * (ceiling if goal.endswith("x") else 1)
    met = value >= wanted if op == ">=" else value <= wanted
    text = f"{op} {goal} ceiling" if goal.endswith("x") else f"{op} {float(goal):,g}"
    return text, "yes" if met else "**no**"


def summary_line(
    results: Results, systems: list[ModuleType], row: str, figure: str, kind: str | None
) -> str:
    values = results.get((row, figure))
    if not values:
        return f"| {row}: {figure} | n/a | | | | | | |"
    value = median(values)
    ceiling = median(results.get(ceiling_of(figure, kind)) or [float("nan")])
    goal, met = goal_met(row, figure, value, ceiling)
    best = best_peer(results, systems, figure, kind)
    peer = f"{num(best[0])} ({best[1]}) | {value / best[0]:.2f}x" if best else "n/a | "
    return (
        f"| {row}: {figure} | {num(value)} | {goal} | {met} | {peer} "
        f"| {num(ceiling)} | {value / ceiling:.3g}x |"
    )


def summary_table(results: Results, systems: list[ModuleType]) -> str:
    lines = [
        "| resqplug figure | median | target | met | best peer (comparable) | vs best peer "
        "| ceiling | vs ceiling |",
        "|---|--:|---|---|--:|--:|--:|--:|",
    ]
    lines += [summary_line(results, systems, "resqplug", f, None) for f in ENQUEUE_FIGURES]
    resqplug = next((s for s in systems if s.NAME == "resqplug"), None)
    for variant, spec in (resqplug.VARIANTS if resqplug else {}).items():
        for figure in WORKER_FIGURES:
            row = f"resqplug, {variant}"
            lines.append(summary_line(results, systems, row, figure, spec.kind))
    return "\n".join(lines)


def ratio_line(results: Results, figure: str, system: ModuleType, variant: str = "") -> str:
    """One figure of `system` against its BASELINE's: both medians and their ratio."""
    row, base_row = (f"{n}, {variant}" if variant else n for n in (system.NAME, system.BASELINE))
    values, base = results.get((row, figure)), results.get((base_row, figure))
    shown = " | ".join(num(median(v)) if v else "n/a" for v in (base, values))
    ratio = f"{median(values) / median(base):.3g}x" if values and base else "n/a"
    return f"| {variant + ': ' if variant else ''}{figure} | {shown} | {ratio} |"


def baseline_table(results: Results, system: ModuleType) -> str:
    """A system that is a setup of another (BASELINE) against it, figure by figure."""
    lines = [
        f"| figure | {system.BASELINE} | {system.NAME} | ratio |",
        "|---|--:|--:|--:|",
    ]
    lines += [ratio_line(results, f, system) for f in ENQUEUE_FIGURES]
    for variant in system.VARIANTS:
        lines += [ratio_line(results, f, system, variant) for f in WORKER_FIGURES]
    return "\n".join(lines)


def plugin_cost_table(results: Results, systems: list[ModuleType]) -> str:
    """One row per plugin: its drain and enqueue figures over the core's."""
    columns = [("", f) for f in ENQUEUE_FIGURES]
    columns += [(v, "drain") for v in systems[0].VARIANTS]
    heads = [f"{v}: {f}" if v else f for v, f in columns]
    lines = ["| plugin | " + " | ".join(heads) + " |", "|---|" + "--:|" * len(columns)]
    for s in systems:
        cells = []
        for variant, figure in columns:
            row, base = (f"{n}, {variant}" if variant else n for n in (s.NAME, s.BASELINE))
            value, ref = results.get((row, figure)), results.get((base, figure))
            cells.append(f"{median(value) / median(ref):.2f}x" if value and ref else "n/a")
        lines.append(f"| {s.PLUGIN} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(results: Results, failures: Failures, systems: list[ModuleType], info: RunInfo) -> str:
    parts = [
        header(info),
        "Enqueue (20,000 no-op jobs; 5,000 with --quick):\n\n"
        + enqueue_table(results, failures, systems),
        "Workers (one worker process each):\n\n"
        + worker_table(results, failures, systems, info.quick),
        "resqplug (core only) against its targets (issue 5), the best comparable peer and the "
        "ceiling (ratios of medians; for ms and MiB lower is better):\n\n"
        + summary_table(results, systems),
    ]
    alone = [s for s in systems if hasattr(s, "PLUGIN")]
    if alone:
        parts.append(
            "Each plugin alone against resqplug (core only): ratios of medians, "
            "the plugin loaded / every plugin blocked (below 1 is slower):\n\n"
            + plugin_cost_table(results, alone)
        )
    parts += [
        f"{s.NAME} against {s.BASELINE} (core only: every plugin blocked); ratio = "
        f"{s.NAME} / {s.BASELINE}, of the medians: below 1 is slower for jobs/s, above 1 "
        "is slower or bigger for ms and MiB:\n\n" + baseline_table(results, s)
        for s in systems
        if hasattr(s, "BASELINE") and not hasattr(s, "PLUGIN")
    ]
    if failures:
        lines = [f"- {row}: {stage}: {message}" for (row, stage), message in failures.items()]
        parts.append("Failures:\n\n" + "\n".join(lines))
    return "\n\n".join(parts)


def save(path: Path, results: Results, failures: Failures, info: RunInfo) -> None:
    data = {
        "info": info._asdict(),
        "results": [[row, figure, values] for (row, figure), values in results.items()],
        "failures": [[row, stage, message] for (row, stage), message in failures.items()],
    }
    path.write_text(json.dumps(data, indent=1))


def load(path: Path) -> tuple[Results, Failures, RunInfo]:
    data = json.loads(path.read_text())
    results = {(row, figure): values for row, figure, values in data["results"]}
    failures = {(row, stage): message for row, stage, message in data["failures"]}
    return results, failures, RunInfo(**data["info"])
