"""The guarantees in docs/reliability.md name the tests that prove them: each
named test must exist, or the map silently points at nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"`([\w/]+\.py)::(test_\w+)")


def test_every_test_named_in_the_reliability_map_exists():
    text = (ROOT / "docs" / "reliability.md").read_text()
    named = REFERENCE.findall(text)
    assert len(named) > 50
    missing = []
    for file, test in named:
        path = ROOT / file if file.startswith("plugins/") else ROOT / "tests" / file
        if not path.exists() or f"def {test}(" not in path.read_text():
            missing.append(f"{file}::{test}")
    assert missing == []
