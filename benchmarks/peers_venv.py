"""The benchmark's own virtual environment (benchmarks/.venv-peers): the peers
from PyPI plus resqplug and its bundled plugins (editable), made on first use,
refreshed when requirements-peers.txt or the pyproject.toml of resqplug or of
a plugin change."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv-peers"
PY = VENV / "bin" / "python"
REQUIREMENTS = HERE / "requirements-peers.txt"


def plugin_dirs() -> list[Path]:
    return sorted(p for p in (ROOT / "plugins").glob("*") if (p / "pyproject.toml").exists())


def plugin_names() -> list[str]:
    """The bundled plugins' names (each one's directory is its entry point's name)."""
    return [p.name for p in plugin_dirs()]


def inside() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure() -> None:
    stamp = VENV / ".installed"
    files = [REQUIREMENTS, ROOT / "pyproject.toml"] + [p / "pyproject.toml" for p in plugin_dirs()]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files))
    if PY.exists() and stamp.exists() and stamp.read_text() == digest.hexdigest():
        return
    print(f"installing the peers into {VENV.relative_to(ROOT)} ...", file=sys.stderr, flush=True)
    if not PY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        quiet([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    pip = [str(PY), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS), "-e", str(ROOT)]
    for plugin in plugin_dirs():
        pip += ["-e", str(plugin)]
    quiet(pip)
    stamp.write_text(digest.hexdigest())


def quiet(command: list[str]) -> None:
    """Run pip with its output in the venv's install.log, shown only when it
    fails (pip warns about every unusable index location a machine has)."""
    log = VENV / "install.log"
    with log.open("ab") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        sys.stderr.write(log.read_text("utf-8", "replace")[-4000:])
        sys.exit(f"installing the peers failed (exit {done.returncode}); all of it: {log}")


def reexec(script: str) -> None:
    """Run `script` with the same arguments inside the peers' venv."""
    ensure()
    os.execv(str(PY), [str(PY), script, *sys.argv[1:]])
