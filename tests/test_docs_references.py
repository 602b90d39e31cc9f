"""The guarantee maps (docs/reliability.md, docs/architecture.md) name the
tests that prove them, and the architecture map links files: each named test
and each linked file must exist, or the map silently points at nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REFERENCE = re.compile(r"`([\w/]+\.py)::(test_\w+)")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def missing_tests(text: str) -> list[str]:
    """``file::test`` references whose file or test does not exist; a file is
    under tests/ unless its path starts with tests/ or plugins/."""
    missing = []
    for file, test in REFERENCE.findall(text):
        under_root = file.startswith(("plugins/", "tests/"))
        path = ROOT / file if under_root else ROOT / "tests" / file
        if not path.exists() or f"def {test}(" not in path.read_text():
            missing.append(f"{file}::{test}")
    return missing


def test_every_test_named_in_the_reliability_map_exists():
    text = (DOCS / "reliability.md").read_text()
    assert len(REFERENCE.findall(text)) > 50
    assert missing_tests(text) == []


def test_every_test_named_in_the_architecture_map_exists():
    text = (DOCS / "architecture.md").read_text()
    assert len(REFERENCE.findall(text)) > 30
    assert missing_tests(text) == []


def test_every_link_of_the_architecture_map_exists():
    text = (DOCS / "architecture.md").read_text()
    anchors = {
        re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in text.splitlines()
        if line.startswith("#")
    }
    broken = []
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        found = (DOCS / path).exists() if path else anchor in anchors
        if not found:
            broken.append(target)
    assert broken == []
