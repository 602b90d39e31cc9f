"""The bundled plugins (and the example ones under examples/) use the core only
through ``resqplug`` and ``resqplug.ext``, and none of them needs another at
import: each module of plugins/*/resqplug_*/ and examples/*/resqplug_*/ is read
with ``ast`` (nothing is imported)."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import resqplug

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = sorted(p.parent for p in (ROOT / "plugins").glob("*/resqplug_*/__init__.py"))
# The example third-party plugins (docs/writing-plugins.md) follow the same rule.
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/resqplug_*/__init__.py"))
ALLOWED = {"resqplug", "resqplug.ext"}
CORE_SUBMODULES = {m.name for m in pkgutil.iter_modules(resqplug.__path__)}


def modules(package: Path) -> Iterator[Path]:
    yield from sorted(package.rglob("*.py"))


def imported_modules(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every module an import statement names, with
    ``from resqplug import b`` giving ``resqplug.b`` (b may be a submodule)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module != "resqplug":
                yield node.lineno, node.module
                continue
            for alias in node.names:
                yield node.lineno, f"resqplug.{alias.name}"


def core_violations(source: str, where: str) -> list[str]:
    """``where``:line of each use of a core module other than resqplug and
    resqplug.ext: an import, ``from resqplug import <submodule>``, or
    ``resqplug.<submodule>.x`` after ``import resqplug``."""
    tree = ast.parse(source, where)
    found = []
    for line, name in imported_modules(tree):
        parts = name.split(".")
        if parts[0] != "resqplug" or name in ALLOWED:
            continue
        if len(parts) == 2 and parts[1] not in CORE_SUBMODULES:
            continue  # from resqplug import Job: a name of the package itself
        found.append((line, f"{where}:{line}: imports {name}"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "resqplug"
            and node.attr in CORE_SUBMODULES - {"ext"}
        ):
            found.append((node.lineno, f"{where}:{node.lineno}: uses resqplug.{node.attr}"))
    return [text for _, text in sorted(found)]


def violations_in(path: Path) -> list[str]:
    return core_violations(path.read_text("utf-8"), str(path.relative_to(ROOT)))


def test_the_plugin_packages_are_found():
    assert [p.name for p in PACKAGES] == [
        "resqplug_cleaner",
        "resqplug_loner",
        "resqplug_metrics",
        "resqplug_retry",
        "resqplug_scheduler",
        "resqplug_status",
    ]
    assert [p.name for p in EXAMPLES] == ["resqplug_durations"]
    assert "ext" in CORE_SUBMODULES
    assert {"payload", "failure", "cli", "web"} <= CORE_SUBMODULES


@pytest.mark.parametrize("package", PACKAGES + EXAMPLES, ids=lambda p: p.name)
def test_plugins_use_only_resqplug_and_resqplug_ext(package: Path):
    found = [v for path in modules(package) for v in violations_in(path)]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("package", PACKAGES + EXAMPLES, ids=lambda p: p.name)
def test_plugins_import_no_other_plugin(package: Path):
    others = {p.name for p in PACKAGES + EXAMPLES} - {package.name}
    found = []
    for path in modules(package):
        tree = ast.parse(path.read_text("utf-8"), str(path))
        for line, name in imported_modules(tree):
            if name.split(".")[0] in others:
                found.append(f"{path.relative_to(ROOT)}:{line}: imports {name}")
    assert found == [], "\n".join(found)


def test_the_walk_catches_each_kind_of_core_import():
    source = (
        "import resqplug\n"
        "import resqplug.payload\n"
        "from resqplug import registry, Job\n"
        "from resqplug.failure import message\n"
        "from resqplug.ext import hookimpl\n"
        "def f():\n"
        "    from resqplug.cli.work import load_apps\n"
        "    return resqplug.payload.dumps(1)\n"
    )
    assert core_violations(source, "probe.py") == [
        "probe.py:2: imports resqplug.payload",
        "probe.py:3: imports resqplug.registry",
        "probe.py:4: imports resqplug.failure",
        "probe.py:7: imports resqplug.cli.work",
        "probe.py:8: uses resqplug.payload",
    ]


def absolute_imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted name) of each module or name a core module imports."""
    package = list(path.relative_to(ROOT).parent.parts)
    tree = ast.parse(path.read_text("utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def test_the_core_never_imports_ext():
    """ext imports the core, so a core module importing it would be a cycle."""
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "resqplug").rglob("*.py"))
        if path != ROOT / "resqplug" / "ext.py"
        for line, name in absolute_imports(path)
        if name == "resqplug.ext" or name.startswith("resqplug.ext.")
    ]
    assert found == []
    probe = ROOT / "resqplug" / "cli" / "demo.py"  # from ..plugins import get_plugins
    assert any(name == "resqplug.plugins.get_plugins" for _, name in absolute_imports(probe))


def test_ext_loads_the_dashboard_cli_and_redis_only_when_asked():
    code = (
        "import sys, resqplug.ext as ext\n"
        "heavy = ('redis', 'click', 'resqplug.web', 'resqplug.cli', 'resqplug.client')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "for name in ext.__all__: getattr(ext, name)\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    before, after = result.stdout.splitlines()
    assert before == "[]"
    assert after == str(
        sorted(("redis", "click", "resqplug.web", "resqplug.cli", "resqplug.client"))
    )


def test_every_name_ext_exports_is_documented_in_its_docstring():
    import resqplug.ext as ext

    doc = ext.__doc__ or ""
    missing = [n for n in ext.__all__ if f"``{n}``" not in doc and n[0].islower()]
    assert missing == []


def test_loading_every_plugin_leaves_redis_py_unloaded() -> None:
    """The job side of a worker (a fork server, each fork child) loads the
    plugins; one that loaded redis-py there would make the fork server as big
    as the worker, and the worker would fork every job itself (slower)."""
    code = (
        "import sys\n"
        "from resqplug.plugins import Plugins\n"
        "names = Plugins().names()\n"
        "print(sorted(names), 'redis' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names, loaded = out.stdout.rsplit(" ", 1)
    assert all(p.name.removeprefix("resqplug_") in names for p in PACKAGES), names
    assert loaded.strip() == "False", f"loading {names} loaded redis-py"
