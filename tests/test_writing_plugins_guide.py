"""docs/writing-plugins.md shows the example plugin (examples/resqplug-durations)
file for file as it is, so the guide and the tested code cannot drift apart;
the example keeps its size, stays out of .venv, and the READMEs link the guide."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "writing-plugins.md"
EXAMPLE = ROOT / "examples" / "resqplug-durations"
PACKAGE = EXAMPLE / "resqplug_durations"
# A file of the example shown in the guide: a marker line, then a fenced block.
SHOWN = re.compile(r"<!-- example: (\S+) -->\n```\w*\n(.*?)```\n", re.S)


def test_the_guide_shows_every_file_of_the_example_plugin_exactly():
    shown = SHOWN.findall(GUIDE.read_text("utf-8"))
    expected = [EXAMPLE / "pyproject.toml", *sorted(PACKAGE.rglob("*.py"))]
    expected += sorted(PACKAGE.rglob("*.lua"))
    assert [path for path, _ in shown] == [str(p.relative_to(ROOT)) for p in expected]
    for path, text in shown:
        assert text == (ROOT / path).read_text("utf-8"), f"the guide's copy of {path} differs"


def test_the_example_plugin_is_under_60_lines_of_python_as_the_guide_says():
    lines = sum(len(p.read_text("utf-8").splitlines()) for p in PACKAGE.rglob("*.py"))
    assert lines < 60
    assert f"{lines} lines of Python" in GUIDE.read_text("utf-8")


def test_the_example_plugin_is_not_installed_where_the_core_suite_runs():
    assert find_spec("resqplug_durations") is None
    assert "durations" not in {e.name for e in entry_points(group="resqplug")}


def test_the_readmes_link_the_guide():
    assert "(docs/writing-plugins.md)" in (ROOT / "README.md").read_text("utf-8")
    assert "(../docs/writing-plugins.md)" in (ROOT / "plugins" / "README.md").read_text("utf-8")
    assert "(../../docs/writing-plugins.md)" in (EXAMPLE / "README.md").read_text("utf-8")
