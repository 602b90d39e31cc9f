"""``resqplug status ID``, ``status list [--state]`` and ``status kill ID`` as real
processes (started together, so the set stays quick)."""

from __future__ import annotations

import subprocess

import pytest
import resqplug_status
import status_jobs as sj
from status_helpers import finish, start_cli

import resqplug
from resqplug.testing import drain

Q = "status"


def test_show_list_and_kill(default_client: resqplug.Resq, redis_url: str, namespace: str) -> None:
    done = resqplug.enqueue(sj.StatusProgress, 2)
    failed = resqplug.enqueue(sj.StatusFail, "boom")
    assert done is not None and failed is not None
    drain(default_client, Q)
    queued = resqplug.enqueue(sj.StatusRecord, "waiting")
    assert queued is not None

    def cli(*args: str) -> subprocess.Popen[str]:
        return start_cli(redis_url, namespace, "status", *args)

    procs = {
        "show": cli(done),
        "list-completed": cli("list", "--state", "completed"),
        "list-all": cli("list", "--limit", "2"),
        "list-bad-state": cli("list", "--state", "bogus"),
        "kill": cli("kill", queued),
    }
    out = {name: finish(proc) for name, proc in procs.items()}

    code, stdout, stderr = out["show"]
    assert code == 0, stderr
    assert f"id:      {done}" in stdout
    assert "status:  completed" in stdout
    assert "progress: 100.0%" in stdout
    assert "class: StatusProgress" in stdout
    assert "message: finishing" in stdout  # the last tick
    assert "finished_at: 20" in stdout  # shown as a date
    assert "result: " in stdout

    code, stdout, stderr = out["list-completed"]
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{done}  completed")
    assert "StatusProgress" in lines[0]

    code, stdout, stderr = out["list-all"]
    assert code == 0, stderr
    assert len(stdout.splitlines()) == 2  # --limit
    assert stdout.splitlines()[0].startswith(f"{queued}  ")  # newest first (killed meanwhile?)

    code, _stdout, stderr = out["list-bad-state"]
    assert code == 2  # a usage error names the choices
    assert "completed" in stderr

    code, stdout, stderr = out["kill"]
    assert code == 0, stderr
    assert f"kill requested for {queued}" in stdout
    drain(default_client, Q)
    status = resqplug_status.get(queued)
    assert status is not None and status.status == "killed"
    assert queued not in sj.events(default_client, "started")


def test_unknown_id_exits_5(default_client: resqplug.Resq, redis_url: str, namespace: str) -> None:
    done = resqplug.enqueue(sj.StatusRecord)
    assert done is not None
    drain(default_client, Q)
    procs = [
        start_cli(redis_url, namespace, "status", "no-such-job"),
        start_cli(redis_url, namespace, "status", "kill", "no-such-job"),
        start_cli(redis_url, namespace, "status", "kill", done),  # already finished
    ]
    for code, stdout, stderr in (finish(p) for p in procs):
        assert stdout == ""
        assert "no-such-job" in stderr or done in stderr
        assert "unexpected" not in stderr
        assert code == 5, stderr


def test_a_status_written_by_another_tool_is_shown_not_a_traceback(
    default_client: resqplug.Resq, redis_url: str, namespace: str
) -> None:
    store = resqplug_status.StatusStore(default_client)
    default_client.redis.hset(
        store.key("odd"),
        mapping={
            "status": "working", "num": "abc", "total": "inf", "attempt": "x",
            "started_at": "1e300", "result": "{", b"\xffkey": "v",
        },
    )  # fmt: skip
    code, stdout, stderr = finish(start_cli(redis_url, namespace, "status", "odd"))
    assert code == 0, stderr
    assert "status:  working" in stdout
    assert "num: abc" in stdout
    status = resqplug_status.get("odd")
    assert status is not None and status.pct_complete is None
    with pytest.raises(resqplug.PayloadError, match="result of job odd is not JSON"):
        _ = status.result
