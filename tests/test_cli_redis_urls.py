"""Every bad ``--redis`` gets one line and its documented exit code, through the
real command: 4 for a URL or embedded data dir that cannot work, 3 for a
server that is not there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import env

COMMANDS = [["queues"], ["work", "-q", "a", "--burst"], ["workers", "-q", "a", "--burst"]]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "resqplug", *args]
    return subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=60)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("")
    return path


def bad_embedded_dirs(a_file: Path) -> dict[str, tuple[str, str]]:
    """URL -> (what the message names, why)."""
    return {
        "embedded:///proc/nonexistent": ("/proc/nonexistent", "cannot create it"),
        f"embedded://{a_file}": (str(a_file), "not a directory"),
        f"embedded://{a_file}/sub": (f"{a_file}/sub", "cannot create it"),
        "embedded:///proc/1": ("/proc/1", "cannot write in it"),  # exists, not writable
    }


@pytest.mark.parametrize("command", COMMANDS)
def test_an_embedded_data_dir_that_cannot_be_used_exits_4_naming_it(a_file, command):
    for url, (named, why) in bad_embedded_dirs(a_file).items():
        result = run("--redis", url, *command)

        assert result.returncode == 4, (url, result.stderr)
        line = one_line(result)
        assert named in line and why in line, line


def test_embedded_start_with_a_dir_that_cannot_be_used_exits_4(a_file):
    result = run("embedded", "start", "--dir", str(a_file))

    assert result.returncode == 4, result.stderr
    assert str(a_file) in one_line(result)


@pytest.mark.parametrize(
    "url",
    [
        "foo://x",
        "redis://127.0.0.1:99999/0",
        "redis://127.0.0.1:abc/0",
        "redis://[::1/0",
        "redis:///0",
        "127.0.0.1:70000",
        "127.0.0.1:0/ns",
        "unix://",
    ],
)
def test_a_malformed_redis_url_exits_4_with_one_line(url):
    result = run("--redis", url, "work", "-q", "a", "--burst")

    assert result.returncode == 4, result.stderr
    assert "invalid Redis URL" in one_line(result)


def test_a_unix_socket_that_does_not_exist_is_unreachable_redis_exit_3(tmp_path):
    result = run("--redis", f"unix://{tmp_path}/missing.sock", "work", "-q", "a", "--burst")

    assert result.returncode == 3, result.stderr
    assert "missing.sock" in one_line(result)
