"""The README's Quick start, run as written: its job module, its producer
code and its first worker line (with ``--burst`` so it ends), producer and
worker finding Redis the same way (RESQPLUG_REDIS_URL, as the README says)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import resqplug

README = Path(__file__).resolve().parent.parent / "README.md"


def quick_start_blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced block of the Quick start section."""
    text = README.read_text("utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)


def test_the_quick_start_runs_its_jobs_as_written(
    tmp_path: Path, redis_url: str, namespace: str, resq: resqplug.Resq
) -> None:
    blocks = quick_start_blocks()
    python = [code for lang, code in blocks if lang == "python"]
    shell = [code for lang, code in blocks if lang == "sh"]
    assert len(python) == 2 and shell, blocks
    (tmp_path / "jobs.py").write_text(python[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESQPLUG_")}
    env.update(RESQPLUG_REDIS_URL=redis_url, RESQPLUG_NAMESPACE=namespace)
    subprocess.run([sys.executable, "-c", python[1]], cwd=tmp_path, env=env, check=True)
    assert resq.size("file_serve") == 1 and resq.size("emails") == 1

    first = shell[0].strip().splitlines()[0].split("#", 1)[0]
    argv = shlex.split(first)
    assert argv[0] == "resqplug", first
    worker = [sys.executable, "-m", "resqplug", *argv[1:], "--burst"]
    subprocess.run(worker, cwd=tmp_path, env=env, check=True, timeout=60)
    assert resq.stats()["processed"] == 2 and resq.failures.count() == 0


def test_the_quick_start_with_nothing_configured_uses_one_server(tmp_path: Path) -> None:
    """Nothing set: producer and worker both use the embedded server (here one
    of the test's own, under its XDG_DATA_HOME, stopped at the end)."""
    python = [code for lang, code in quick_start_blocks() if lang == "python"]
    shell = [code for lang, code in quick_start_blocks() if lang == "sh"]
    (tmp_path / "jobs.py").write_text(python[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESQPLUG_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    cli = [sys.executable, "-m", "resqplug"]
    try:
        subprocess.run([sys.executable, "-c", python[1]], cwd=tmp_path, env=env, check=True)
        argv = shlex.split(shell[0].strip().splitlines()[0].split("#", 1)[0])
        subprocess.run([*cli, *argv[1:], "--burst"], cwd=tmp_path, env=env, check=True, timeout=60)
        code = "import resqplug; s = resqplug.stats(); print(s['processed'], s['failed'])"
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, env=env, check=True, capture_output=True
        )
        assert out.stdout.split() == [b"2", b"0"]
    finally:
        subprocess.run([*cli, "embedded", "stop"], env=env, capture_output=True, timeout=30)
