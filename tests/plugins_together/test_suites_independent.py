"""Each plugin's own suite stands alone: it imports no other plugin (nor another
plugin's test modules) and skips nothing for want of one. ``./dev test`` also
runs each in a virtual environment holding only the core and that plugin; this
catches the same mistake earlier, and names the line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from together_helpers import ALL_PLUGINS, ROOT


def suite_modules(plugin: str) -> list[Path]:
    return sorted((ROOT / "plugins" / plugin / "tests").glob("*.py"))


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module) of every import in ``path``, late ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("plugin", ALL_PLUGINS)
def test_a_plugin_suite_imports_no_other_plugin(plugin: str) -> None:
    others = [p for p in ALL_PLUGINS if p != plugin]
    theirs = {f"resqplug_{p}" for p in others}
    theirs |= {path.stem for p in others for path in suite_modules(p)}  # their test helpers
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in suite_modules(plugin)
        for line, module in imported(path)
        if module in theirs
    ]
    assert found == []


@pytest.mark.parametrize("plugin", ALL_PLUGINS)
def test_a_plugin_suite_skips_nothing_for_a_missing_plugin(plugin: str) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in suite_modules(plugin)
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if "importorskip" in line or "is not installed" in line
    ]
    assert found == []
