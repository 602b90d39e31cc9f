"""A disposable redis-server on a free port, for tests (and the chaos runner)
that kill and restart Redis."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import redis
from helpers import wait_for

REDIS_SERVER = shutil.which("redis-server")
needs_redis_server = pytest.mark.skipif(
    REDIS_SERVER is None, reason="needs a redis-server binary for a disposable server"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A disposable redis-server on a free port that a test can kill and restart."""

    def __init__(self, *extra: str) -> None:
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def first_start(self) -> None:
        """Start on a free port; another port if that one was taken meanwhile."""
        for _ in range(3):
            self.port = free_port()
            if self.start():
                return
        raise AssertionError("could not start a disposable redis-server")

    def start(self) -> bool:
        """(Re)start on this port; False if redis-server exited (port taken)."""
        assert REDIS_SERVER is not None
        cmd = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", *self.extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)

        def up() -> bool | None:
            if self.proc is None or self.proc.poll() is not None:
                return None
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        try:
            wait_for(lambda: up() is not False, timeout=10, what=f"redis-server on {self.port}")
            return bool(up())
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    @classmethod
    def persistent(cls, directory: str | Path) -> RedisServer:
        """Persists every write before answering (AOF, fsync always), so a
        restart, even after SIGKILL, loses no acknowledged write."""
        return cls(
            "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", str(directory)
        )
