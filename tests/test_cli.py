"""The ``resqplug`` command as a real subprocess against a real Redis: output,
one-line errors and the documented exit codes (README, "CLI exit codes")."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import worker_jobs as wj
from helpers import WorkerProcess, env, registered_workers, resqplug_cmd, wait_for

import resqplug
from resqplug.cli import EXIT_CODES

ROOT = Path(__file__).resolve().parent.parent
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
UNREACHABLE = "redis://:pw@127.0.0.1:1/0"


def run(
    redis_url: str,
    namespace: str,
    *args: str,
    extra_env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``resqplug --redis URL --namespace NS ARGS...`` to completion."""
    cmd = resqplug_cmd(redis_url, namespace, *args)
    return _run(cmd, extra_env=extra_env, stdin=stdin, timeout=timeout)


def run_raw(
    *args: str,
    extra_env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``resqplug ARGS...`` (no --redis/--namespace added) to completion."""
    cmd = [sys.executable, "-m", "resqplug", *args]
    return _run(cmd, extra_env=extra_env, stdin=stdin, timeout=timeout)


def _run(
    cmd: list[str],
    extra_env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        env=env(extra_env),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error of a failed command: exactly one line on stderr, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


def run_in_pty(cmd: list[str], timeout: float = 30.0) -> str:
    """Run ``cmd`` with a terminal as stdout and stderr; return what it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, env=env(), stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=max(1.0, deadline - time.monotonic())) == 0, b"".join(chunks)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return b"".join(chunks).decode(errors="replace")


# --- enqueue ---------------------------------------------------------------


def test_enqueue_prints_the_job_id_and_queues_the_job(resq, redis_url, namespace):
    result = run(redis_url, namespace, "enqueue", "WRecord", "1", '"x"', "--app", "worker_jobs")
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.strip()
    assert JOB_ID.match(job_id), result.stdout
    assert result.stdout == job_id + "\n"
    assert resq.queues() == ["work"]
    [doc] = resq.peek("work", 0, 10)
    assert doc["class"] == "WRecord"
    assert doc["args"] == [1, "x"]
    assert doc["id"] == job_id


def test_enqueue_with_queue_option_and_json_values(resq, redis_url, namespace):
    result = run(
        redis_url,
        namespace,
        "enqueue",
        "WRecord",
        '{"a": [1, 2.5, null, true]}',
        '"ü"',
        "--queue",
        "elsewhere",
        "--app",
        "worker_jobs",
    )
    assert result.returncode == 0, result.stderr
    [doc] = resq.peek("elsewhere", 0, 10)
    assert doc["args"] == [{"a": [1, 2.5, None, True]}, "ü"]
    assert resq.size("work") == 0


def test_enqueue_bad_json_argument_exits_6_naming_the_argument(resq, redis_url, namespace):
    result = run(redis_url, namespace, "enqueue", "WRecord", "1", "x", "--app", "worker_jobs")
    assert result.returncode == 6
    assert result.stdout == ""
    line = one_line_error(result)
    assert "argument 2" in line
    assert "'x'" in line
    assert resq.queues() == []


def test_enqueue_unknown_class_without_app_exits_5(resq, redis_url, namespace):
    result = run(redis_url, namespace, "enqueue", "WRecord", "1")
    assert result.returncode == 5
    assert result.stdout == ""
    line = one_line_error(result)
    assert "WRecord" in line
    assert "--app" in line
    assert resq.queues() == []


def test_enqueue_with_an_app_that_cannot_be_imported_exits_4(resq, redis_url, namespace):
    result = run(redis_url, namespace, "enqueue", "WRecord", "--app", "no_such_module_xyz")
    assert result.returncode == 4
    assert "no_such_module_xyz" in one_line_error(result)


def test_enqueue_any_class_by_name(resq, redis_url, namespace):
    result = run(
        redis_url, namespace, "enqueue", "Ruby::Mailer", '{"to": 7}', "--any-class", "--queue", "q"
    )
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.strip()
    assert JOB_ID.match(job_id)
    [doc] = resq.peek("q", 0, 10)
    assert (doc["class"], doc["args"], doc["id"]) == ("Ruby::Mailer", [{"to": 7}], job_id)


def test_enqueue_any_class_without_queue_is_a_usage_error(resq, redis_url, namespace):
    result = run(redis_url, namespace, "enqueue", "Ruby::Mailer", "--any-class")
    assert result.returncode == 2
    assert "--queue" in result.stderr
    assert resq.queues() == []


# --- queues and peek ---------------------------------------------------------


def test_queues_lists_names_and_sizes(resq, redis_url, namespace):
    empty = run(redis_url, namespace, "queues")
    assert (empty.returncode, empty.stdout.strip()) == (0, "no queues")
    resq.enqueue_many(wj.WRecord, [(i,) for i in range(3)], queue="alpha")
    resq.enqueue_to("beta", wj.WRecord, 1)
    result = run(redis_url, namespace, "queues")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows == [["alpha", "3"], ["beta", "1"]]


def test_peek_prints_json_lines_front_first(resq, redis_url, namespace):
    ids = resq.enqueue_many(wj.WRecord, [(i, "v") for i in range(3)])
    result = run(redis_url, namespace, "peek", "work", "--count", "2")
    assert result.returncode == 0, result.stderr
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["id"] for d in docs] == ids[:2]
    assert [d["args"] for d in docs] == [[0, "v"], [1, "v"]]
    assert all(d["class"] == "WRecord" for d in docs)
    rest = run(redis_url, namespace, "peek", "work", "--start", "2", "--count", "5")
    assert [json.loads(line)["id"] for line in rest.stdout.splitlines()] == ids[2:]
    # The jobs are still queued.
    assert resq.size("work") == 3


def test_peek_unknown_queue_exits_5(resq, redis_url, namespace):
    resq.enqueue_to("known", wj.WRecord, 1)
    result = run(redis_url, namespace, "peek", "nosuchqueue")
    line = one_line_error(result)
    assert "nosuchqueue" in line
    assert "unexpected" not in line
    assert result.returncode == 5


def test_peek_invalid_queue_name_exits_6(resq, redis_url, namespace):
    result = run(redis_url, namespace, "peek", "bad:name")
    assert result.returncode == 6
    assert "bad:name" in one_line_error(result)


# --- failed ------------------------------------------------------------------


@pytest.fixture
def failed_ids(resq, redis_url, namespace) -> list[str]:
    """Three WFail jobs failed by a real burst worker."""
    ids = resq.enqueue_many(wj.WFail, [(f"boom-{i}",) for i in range(3)])
    result = run(redis_url, namespace, "work", "-q", "work", "--burst", "--app", "worker_jobs")
    assert result.returncode == 0, result.stderr
    assert resq.failures.count() == 3
    assert resq.size("work") == 0
    return ids


def test_failed_list(failed_ids, redis_url, namespace):
    result = run(redis_url, namespace, "failed", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == failed_ids
    for index, line in enumerate(lines):
        assert "  work  WFail  ValueError: boom-" + str(index) in line
    assert "3 of 3" in result.stderr
    limited = run(redis_url, namespace, "failed", "list", "--start", "1", "--limit", "1")
    assert [line.split()[0] for line in limited.stdout.splitlines()] == failed_ids[1:2]


def test_failed_show(failed_ids, redis_url, namespace):
    result = run(redis_url, namespace, "failed", "show", failed_ids[1])
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["id"] == failed_ids[1]
    assert record["exception"] == "ValueError"
    assert record["error"] == "boom-1"
    assert record["queue"] == "work"
    assert record["payload"]["class"] == "WFail"
    assert record["payload"]["args"] == ["boom-1"]
    assert any("worker_jobs.py" in frame for frame in record["backtrace"])


def test_failed_show_unknown_id_exits_5(failed_ids, redis_url, namespace):
    result = run(redis_url, namespace, "failed", "show", "unknownid")
    line = one_line_error(result)
    assert "unknownid" in line
    assert "unexpected" not in line
    assert result.returncode == 5


def test_failed_retry_one(failed_ids, resq, redis_url, namespace):
    result = run(redis_url, namespace, "failed", "retry", failed_ids[0])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"enqueued {failed_ids[0]}"
    assert [d["id"] for d in resq.peek("work", 0, 10)] == failed_ids[:1]
    assert "retried_at" in resq.failures.get(failed_ids[0])
    assert resq.failures.count() == 3


def test_failed_retry_twice_says_it_was_retried_already(failed_ids, resq, redis_url, namespace):
    assert run(redis_url, namespace, "failed", "retry", failed_ids[0]).returncode == 0
    again = run(redis_url, namespace, "failed", "retry", failed_ids[0])
    retried_at = resq.failures.get(failed_ids[0])["retried_at"]
    assert again.stdout.strip() == f"not enqueued: it was retried already, at {retried_at}"
    assert resq.size("work") == 1  # one copy
    everything = run(redis_url, namespace, "failed", "retry", "--all")
    assert "enqueued 2 of 3 failed jobs again; 1 already retried" in everything.stdout
    listed = run(redis_url, namespace, "failed", "list").stdout.splitlines()
    assert [x.endswith(f"(retried {retried_at})") for x in listed if failed_ids[0] in x] == [True]


def test_failed_retry_unknown_id_exits_5(failed_ids, resq, redis_url, namespace):
    result = run(redis_url, namespace, "failed", "retry", "unknownid")
    assert result.returncode == 5
    assert "unknownid" in one_line_error(result)
    assert resq.size("work") == 0


def test_failed_retry_needs_an_id_or_all(failed_ids, redis_url, namespace):
    assert run(redis_url, namespace, "failed", "retry").returncode == 2
    assert run(redis_url, namespace, "failed", "retry", failed_ids[0], "--all").returncode == 2


def test_failed_retry_all_reenqueues_every_job(failed_ids, resq, redis_url, namespace):
    result = run(redis_url, namespace, "failed", "retry", "--all")
    assert result.returncode == 0, result.stderr
    assert "retrying" in result.stdout
    assert "enqueued 3 of 3 failed jobs again" in result.stdout
    assert sorted(d["id"] for d in resq.peek("work", 0, 10)) == sorted(failed_ids)
    # They run (and fail) again when a worker takes them.
    again = run(redis_url, namespace, "work", "-q", "work", "--burst", "--app", "worker_jobs")
    assert again.returncode == 0, again.stderr
    assert resq.size("work") == 0
    assert resq.stats()["failed"] == 6


def test_failed_retry_all_with_remove(failed_ids, resq, redis_url, namespace):
    result = run(redis_url, namespace, "failed", "retry", "--all", "--remove")
    assert result.returncode == 0, result.stderr
    assert resq.failures.count() == 0
    assert resq.size("work") == 3


def test_failed_retry_all_shows_a_progress_bar_with_counts(failed_ids, redis_url, namespace):
    out = run_in_pty(resqplug_cmd(redis_url, namespace, "failed", "retry", "--all"))
    assert "retrying" in out
    assert "3/3" in out
    assert "enqueued 3 of 3 failed jobs again" in out


def test_failed_retry_all_progress_shows_a_rate(failed_ids, redis_url, namespace):
    out = run_in_pty(resqplug_cmd(redis_url, namespace, "failed", "retry", "--all"))
    assert re.search(r"/s\b", out), out


def test_failed_remove(failed_ids, resq, redis_url, namespace):
    result = run(redis_url, namespace, "failed", "remove", failed_ids[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"removed {failed_ids[1]}"
    assert resq.failures.get(failed_ids[1]) is None
    assert [r["id"] for r in resq.failures.list(0, 10)] == [failed_ids[0], failed_ids[2]]
    again = run(redis_url, namespace, "failed", "remove", failed_ids[1])
    assert again.returncode == 5
    assert failed_ids[1] in one_line_error(again)


def test_failed_clear(failed_ids, resq, redis_url, namespace):
    refused = run(redis_url, namespace, "failed", "clear", stdin="n\n")
    assert refused.returncode == 130 and refused.stderr.strip() == "aborted"
    assert resq.failures.count() == 3
    result = run(redis_url, namespace, "failed", "clear", "--yes")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cleared 3 failure records"
    assert resq.failures.count() == 0
    assert resq.failures.get(failed_ids[0]) is None
    listed = run(redis_url, namespace, "failed", "list")
    assert listed.stdout == ""
    assert "0 of 0" in listed.stderr


# --- info and plugins ----------------------------------------------------------


@pytest.fixture
def busy_worker(resq, redis_url, namespace) -> Iterator[tuple[WorkerProcess, str]]:
    """A worker on queue ``work`` running a long WSleep job."""
    worker = WorkerProcess(redis_url, namespace, "-q", "work")
    try:
        job_id = resq.enqueue(wj.WSleep, 60)
        started = resq.keys.plugin("test", "started")
        wait_for(lambda: resq.redis.lrange(started, 0, -1), timeout=20, what="the job to start")
        # The worker publishes its current job from its heartbeat thread (every 0.5 s).
        [wid] = registered_workers(resq.redis, namespace)
        wait_for(lambda: resq.redis.get(resq.keys.worker(wid)), what="the current job published")
        yield worker, job_id
    finally:
        if worker.proc.poll() is None:
            worker.signal(signal.SIGINT)
            try:
                worker.proc.wait(10)
            except subprocess.TimeoutExpired:
                worker.stop()


def test_info_once_shows_totals_queues_and_running_workers(resq, redis_url, namespace, busy_worker):
    _worker, job_id = busy_worker
    resq.enqueue_many(wj.WRecord, [(i,) for i in range(4)], queue="other")
    resq.enqueue_to("third", wj.WRecord, 1)
    resq.redis.set(resq.keys.stat_processed, 41)
    resq.redis.set(resq.keys.stat_failed, 7)
    result = run(redis_url, namespace, "info", "--once")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"namespace {namespace}" in out
    assert re.search(r"processed 41\s+failed 7\s+workers 1\s+pending 5", out), out
    lines = out.splitlines()
    table = lines[lines.index(next(x for x in lines if x.startswith("QUEUE"))) + 1 :]
    sizes = dict(line.split()[:2] for line in table[: table.index("")])
    assert sizes == {"other": "4", "third": "1", "work": "0"}
    [wid] = registered_workers(resq.redis, namespace)
    [worker_line] = [line for line in lines if line.startswith(wid[:40])]
    assert job_id in worker_line
    assert worker_line.startswith(wid[:40])
    assert worker_line.split()[1:3] == ["working", "WSleep"]


def drain_until_exit(master: int, proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """Read the pty until ``proc`` exits: a process writing to a full pty that
    nobody reads blocks (on Ctrl-C, even its "aborted" line)."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        assert time.monotonic() < deadline, f"no exit within {timeout}s: {b''.join(chunks)!r}"
        if select.select([master], [], [], 0.1)[0]:
            try:
                chunks.append(os.read(master, 65536))
            except OSError:  # EIO: the other side is closed
                break
    proc.wait(max(1.0, deadline - time.monotonic()))
    return b"".join(chunks)


def test_info_refreshes_in_place(resq, redis_url, namespace):
    resq.enqueue_to("live", wj.WRecord, 1)
    master, slave = pty.openpty()
    cmd = resqplug_cmd(redis_url, namespace, "info", "--interval", "0.1")
    proc = subprocess.Popen(cmd, env=env(), stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    seen = bytearray()

    def refreshed_twice() -> bool:
        if select.select([master], [], [], 0.1)[0]:
            seen.extend(os.read(master, 65536))
        return seen.count(b"processed 0") >= 3

    try:
        wait_for(refreshed_twice, timeout=20, what="three renders of info")
        assert b"\x1b[" in seen  # the screen is cleared between renders
        assert b"live" in seen
        proc.send_signal(signal.SIGINT)
        seen.extend(drain_until_exit(master, proc, timeout=10))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert b"Traceback" not in seen
    assert proc.returncode == 130  # Ctrl-C: the README's "aborted", not "unexpected error"


def test_plugins_lists_the_core(redis_url, namespace):
    result = run(redis_url, namespace, "plugins")
    assert result.returncode == 0, result.stderr
    assert ["core", "resqplug", "0.1.0"] in [line.split() for line in result.stdout.splitlines()]


# --- errors and exit codes --------------------------------------------------------


def test_bad_url_exits_4_with_one_line():
    result = run_raw("--redis", "foo://x", "queues")
    assert result.returncode == 4
    assert result.stdout == ""
    assert "foo://x" in one_line_error(result)


def test_unreachable_redis_exits_3_without_the_password():
    result = run_raw("--redis", UNREACHABLE, "queues")
    assert result.returncode == 3
    line = one_line_error(result)
    assert "127.0.0.1:1" in line
    assert "pw" not in result.stdout + result.stderr


def test_debug_shows_the_traceback_but_not_the_password():
    result = run_raw("--debug", "--redis", UNREACHABLE, "queues")
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "pw" not in result.stdout + result.stderr


def test_unknown_command_exits_2():
    result = run_raw("nosuchcommand")
    assert result.returncode == 2
    assert "nosuchcommand" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_option_exits_2(redis_url, namespace):
    result = run(redis_url, namespace, "queues", "--no-such-option")
    assert result.returncode == 2
    assert "--no-such-option" in result.stderr


def test_work_without_queues_exits_4(redis_url, namespace, monkeypatch):
    monkeypatch.delenv("QUEUES", raising=False)  # helpers.env copies os.environ
    monkeypatch.delenv("QUEUE", raising=False)
    result = run(redis_url, namespace, "work", "--burst", "--app", "worker_jobs")
    assert result.returncode == 4
    assert "--queues" in one_line_error(result)


def test_work_honours_the_queues_env_var(resq, redis_url, namespace):
    job_id = resq.enqueue_to("envq", wj.WRecord, 5)
    other = resq.enqueue_to("notwatched", wj.WRecord, 6)
    result = run(
        redis_url,
        namespace,
        "work",
        "--burst",
        "--no-fork",
        "--app",
        "worker_jobs",
        extra_env={"QUEUES": "envq"},
    )
    assert result.returncode == 0, result.stderr
    done = resq.redis.lrange(resq.keys.plugin("test", "done"), 0, -1)
    assert [d.decode() for d in done] == [job_id]
    assert resq.size("envq") == 0
    assert [d["id"] for d in resq.peek("notwatched", 0, 5)] == [other]


def test_readme_documents_every_exit_code():
    readme = (ROOT / "README.md").read_text()
    documented = {int(m) for m in re.findall(r"^\| (\d) \|", readme, flags=re.MULTILINE)}
    assert documented == set(EXIT_CODES)


def test_info_shows_records_written_by_other_tools_instead_of_failing(resq, redis_url, namespace):
    r, k = resq.redis, resq.keys
    for wid, record in [("h:1:q", b"not json"), ("h:2:q", b"[1]"), ("h:3:q", b'{"payload":7}')]:
        r.sadd(k.workers, wid)
        r.set(k.worker(wid), record)
    r.sadd(k.workers, b"h\xff:4:q")
    r.set(k.stat_processed, "lots")
    result = run(redis_url, namespace, "info", "--once")
    assert result.returncode == 0, result.stderr
    assert re.search(r"processed 0\s+failed 0\s+workers 4", result.stdout), result.stdout
    assert result.stdout.count("(unreadable)") == 3


def test_version_prints_the_version_and_exits_0() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "resqplug", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == f"resqplug {resqplug.__version__}"


def test_an_app_module_with_a_syntax_error_is_one_line_and_exit_4(
    tmp_path: Path, redis_url: str, namespace: str
) -> None:
    (tmp_path / "broken_jobs.py").write_text("def broken(:\n    pass\n")
    cmd = resqplug_cmd(redis_url, namespace, "work", "-q", "x", "--burst", "--app", "broken_jobs")
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 4, done.stderr
    assert done.stderr.strip().splitlines() == [
        "resqplug: error: cannot import --app module 'broken_jobs': "
        "SyntaxError: invalid syntax (broken_jobs.py, line 1)"
    ]


@pytest.mark.parametrize("command", ["work", "workers"])
def test_worker_help_shows_every_default(command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "resqplug", command, "--help"], capture_output=True, text=True
    )
    text = " ".join(done.stdout.split())
    for option, default in [
        ("--threads", "off: one job at a time"),
        ("--max-jobs-per-child", "1"),
        ("--job-timeout", "none"),
        ("--shutdown-timeout", "25"),
        ("--heartbeat", "5, or RESQPLUG_HEARTBEAT_S"),
        ("--dead-after", "60, or RESQPLUG_DEAD_AFTER_S"),
        ("--max-recoveries", "3"),
    ]:
        shown = text.split(option, 1)[1].split(" --", 1)[0]
        assert f"[default: ({default})" in shown, (option, shown)
    dead_after = text.split("--dead-after", 1)[1].split(" --", 1)[0]
    assert "a SIGKILLed worker's jobs run again 55-70 s later with the defaults" in dead_after


def test_times_read_as_local_time_and_how_far_from_now() -> None:
    from datetime import datetime

    from resqplug.cli import when

    now = 1_900_000_000.0
    local = datetime.fromtimestamp(now + 5).astimezone().isoformat(" ", "seconds")
    assert when(now + 5, now) == f"{local} (in 5 s)"
    assert when(now - 180, now).endswith(" (3 min ago)")
    assert when(now + 7200, now).endswith(" (in 2 h)")
    assert when(now - 3 * 86400, now).endswith(" (3 days ago)")


def test_the_demo_progress_bar_ends_at_the_number_of_runs_the_summary_gives(
    redis_url: str, namespace: str
) -> None:
    out = run_in_pty(resqplug_cmd(redis_url, namespace, "demo"), timeout=120)
    ran = re.search(r"ran (\d+) jobs in", out)
    assert ran is not None, out
    shown = re.findall(r"\]\s+(\d+)/(\d+)", out.split("ran ", 1)[0])  # the bar: [###]  n/total
    assert shown and shown[-1] == (ran[1], ran[1]), (shown[-3:], ran[0])
