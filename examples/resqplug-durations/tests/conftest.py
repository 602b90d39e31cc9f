"""The public fixtures of resqplug (a real Redis, a namespace per test, a fresh
plugin manager) and a redis-server of the test's own, for MONITOR."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from resqplug.pytest_fixtures import wait_for

pytest_plugins = ["resqplug.pytest_fixtures"]


@pytest.fixture
def own_redis() -> Iterator[str]:
    """The URL of a redis-server only this test uses (a unix socket, no TCP
    port): watching it with MONITOR slows no one else down."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("this test needs a redis-server binary on PATH")
    folder = Path(tempfile.mkdtemp(prefix="rqd-"))  # short: a socket path has a length limit
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
