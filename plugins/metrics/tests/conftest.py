"""Fixtures of the metrics plugin's tests. The shared ones (a real Redis, a
fresh namespace per test, a clean environment and plugin manager) come from
resqplug/pytest_fixtures.py through the root conftest.py."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from resqplug.pytest_fixtures import wait_for


@pytest.fixture
def own_redis() -> Iterator[str]:
    """The URL of a redis-server only this test uses (a unix socket): watching
    it with MONITOR slows no one else down."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("this test needs a redis-server binary on PATH")
    folder = Path(tempfile.mkdtemp(prefix="rqm-"))  # short: a socket path has a length limit
    sock = folder / "redis.sock"
    cmd = [binary, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"unix://{sock}"

    def answers() -> bool:
        try:
            return bool(redis.Redis.from_url(url).ping())
        except (redis.ConnectionError, FileNotFoundError):
            return False

    try:
        wait_for(answers, 10, "the test's own redis-server")
        yield url
    finally:
        proc.kill()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
