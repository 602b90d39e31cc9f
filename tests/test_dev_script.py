"""``./dev`` building a venv: a line per step on the terminal, pip's output in
``<venv>/install.log``, shown (its end) only when a step fails."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

DEV = Path(__file__).resolve().parent.parent / "dev"

# One build step of ./dev's, run on a command that prints as pip does.
STEP = textwrap.dedent(
    """
    import runpy, sys
    from pathlib import Path
    dev = runpy.run_path(sys.argv[1])
    noisy = (
        "import sys\\n"
        "for n in range(80): print('SetuptoolsDeprecationWarning: Editable installation', n)\\n"
        "raise SystemExit(int(sys.argv[1]))"
    )
    dev["step"]([sys.executable, "-c", noisy, sys.argv[3]], Path(sys.argv[2]), None)
    print("step done")
    """
)


def run_step(venv: Path, code: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", STEP, str(DEV), str(venv), str(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_build_step_keeps_pips_output_out_of_the_terminal(tmp_path):
    result = run_step(tmp_path / "venv", 0)
    assert (result.returncode, result.stdout, result.stderr) == (0, "step done\n", "")
    log = (tmp_path / "venv" / "install.log").read_text().splitlines()
    assert sum(line.startswith("SetuptoolsDeprecationWarning") for line in log) == 80


def test_a_failed_build_step_shows_the_end_of_its_output_and_its_exit_code(tmp_path):
    result = run_step(tmp_path / "venv", 3)
    assert result.returncode == 3 and "step done" not in result.stdout
    lines = result.stderr.splitlines()
    assert lines[-2].endswith("Editable installation 79")
    assert lines[-1].startswith(f"building {tmp_path / 'venv'} failed (exit 3) after ")
    assert lines[-1].endswith(f"the whole output is in {tmp_path / 'venv' / 'install.log'}")
    assert "Traceback" not in result.stderr


def test_dev_resqplug_becomes_the_command_so_its_signals_reach_the_worker(redis_url, namespace):
    """``./dev resqplug work`` is the worker process itself: TERM to the pid
    the caller holds stops the worker cleanly (no wrapper to die and leave it
    running, nor to print a traceback on Ctrl-C)."""
    cmd = [str(DEV), "resqplug", "--redis", redis_url, "--namespace", namespace]
    proc = subprocess.Popen(
        [*cmd, "work", "-q", "dev-signals", "--no-fork"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the start-up line, once its signal handlers are in place
            if "started" in line:
                break
        with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
            script = f.read().split(b"\0")[1]  # after the interpreter: the venv's resqplug
        assert script.endswith(b"/resqplug") and not script.endswith(b"/dev")
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest
    assert "stopped (exit code 0)" in rest and "Traceback" not in rest
