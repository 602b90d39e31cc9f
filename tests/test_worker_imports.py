"""The worker package has no import circles: its modules form layers (the job
feed below the run modes, the run modes below the worker), read from the
source with ``ast``. Every import counts: a late import inside a function,
one under ``TYPE_CHECKING``, as well as the module's own."""

from __future__ import annotations

import ast
from pathlib import Path

import resqplug.worker

PACKAGE = "resqplug.worker"
ROOT = Path(resqplug.worker.__file__).resolve().parent


def module_names() -> dict[str, Path]:
    names = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join([PACKAGE, *parts])] = path
    return names


def imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The worker modules that ``module`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module.split(".") if is_package else module.split(".")[:-1]
                anchor = here[: len(here) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # "from package import name": name may be a module of its own.
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    known = set(modules)
    return {name: imported(name, path, known) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module
    that imports itself), by Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_worker_package_has_no_import_circles():
    graph = import_graph()
    assert len(graph) > 20  # the walk found the package's modules
    assert circles(graph) == []


def test_the_walk_sees_late_imports_and_finds_circles():
    graph = import_graph()
    # A late import (inside a function) is an edge too.
    assert "resqplug.worker.run.fork.child" in graph["resqplug.worker.run.fork.server"]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_run_modes_never_import_the_worker():
    graph = import_graph()
    for name, imports in graph.items():
        if name.startswith(f"{PACKAGE}.run") or name == f"{PACKAGE}.feed":
            assert f"{PACKAGE}.worker" not in imports, name


def test_only_the_job_feed_takes_jobs():
    """One fetch loop: every run mode and resqplug.testing take jobs through
    the feed (feed.py), never from InFlight themselves."""
    package = ROOT.parent
    takers = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("fetch", "wait")
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "inflight"
            ):
                takers.add(path.relative_to(package).as_posix())
    assert takers == {"worker/feed.py"}
