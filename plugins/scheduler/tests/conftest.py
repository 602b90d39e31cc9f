"""Fixtures of the scheduler plugin's tests. The shared ones (a real Redis, a fresh
namespace per test, a clean environment and plugin manager) come from
resqplug/pytest_fixtures.py through the root conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from scheduler_helpers import APP, Proc, Spawn, resqplug_cmd


@pytest.fixture
def spawn(redis_url: str, namespace: str, tmp_path: Path) -> Iterator[Spawn]:
    """``spawn("scheduler", "--interval", "0.1", plugins="count")`` starts
    ``resqplug <args> --app scheduler_jobs`` in the test namespace (``plugins``:
    test plugins of scheduler_jobs to load, ``disable``: installed plugins to
    block); every process started is killed when the test ends."""
    started: list[Proc] = []

    def start(*args: str, plugins: str = "", disable: str = "", app: bool = True) -> Proc:
        command, *rest = args
        extra = ["--app", APP] if app else []
        cmd = resqplug_cmd(redis_url, namespace, command, *extra, *rest)
        log = tmp_path / f"proc-{len(started)}-{command}.log"
        extra_env = {"SCHEDTEST_PLUGINS": plugins, "RESQPLUG_DISABLE_PLUGINS": disable}
        proc = Proc(cmd, log, {k: v for k, v in extra_env.items() if v})
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.kill()
