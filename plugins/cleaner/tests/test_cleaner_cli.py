"""``resqplug cleaner ...`` as a real subprocess against a real Redis: output,
progress, confirmation, one-line errors and exit codes."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time

import pytest
from cleaner_helpers import cli, env, queued_ids, record, resqplug_cmd, ruby_record, snapshot

T0 = 1768046400.0  # 2026-01-10 12:00 UTC
DAY = 86400.0


@pytest.fixture
def seeded(failed):
    """Five records with ids r1..r5 and a Ruby one, over three days."""
    failed.add(
        record("ImportFeed", [1], error="feed 1 timed out", queue="import", at=T0, job_id="r1"),
        record("ImportFeed", [2], exception="ValueError", queue="import", at=T0, job_id="r2"),
        record("ChargeCard", [3], queue="payments", at=T0 + DAY, job_id="r3"),
        record("ChargeCard", [4], queue="payments", at=T0 + DAY, job_id="r4"),
        record("SendMail", [5], queue="mail", at=T0 + 2 * DAY, job_id="r5", retried_at="x"),
        ruby_record(failed_at="2026/01/12 15:23:55 EST"),
    )
    return failed


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


def sections(text: str) -> dict[str, dict[str, int]]:
    """``by NAME:`` blocks of ``count  key`` lines, as dicts."""
    out: dict[str, dict[str, int]] = {}
    current: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("by "):
            current = out.setdefault(line[3:].rstrip(":"), {})
        elif line.strip():
            count, key = line.split(None, 1)
            current[key] = int(count)
    return out


def test_stats(redis_url, namespace, seeded):
    stats = sections(ok(cli(redis_url, namespace, "cleaner", "stats")))
    assert list(stats) == ["class", "exception", "queue", "day"]
    assert stats["class"] == {"ImportFeed": 2, "ChargeCard": 2, "SendMail": 1, "LegacyMailer": 1}
    assert stats["exception"] == {"TimeoutError": 4, "ValueError": 1, "Net::ReadTimeout": 1}
    assert stats["queue"] == {"import": 2, "payments": 2, "mail": 2}
    assert stats["day"] == {"2026-01-10": 2, "2026-01-11": 2, "2026-01-12": 2}
    most = ok(cli(redis_url, namespace, "cleaner", "stats", "--by", "exception"))
    assert most.splitlines()[:2] == ["by exception:", f"  {4:>8}  TimeoutError"]
    filtered = ok(
        cli(
            redis_url,
            namespace,
            "cleaner",
            "stats",
            "--by",
            "queue",
            "--by",
            "class",
            "--exception",
            "TimeoutError",
            "--skip-retried",
        )
    )
    assert sections(filtered) == {
        "queue": {"import": 1, "payments": 2},
        "class": {"ImportFeed": 1, "ChargeCard": 2},
    }


def test_list(redis_url, namespace, seeded):
    lines = ok(cli(redis_url, namespace, "cleaner", "list")).splitlines()
    assert [line.split()[0] for line in lines] == ["r1", "r2", "r3", "r4", "r5", "-"]
    assert lines[0].split("  ") == [
        "r1",
        "2026/01/10 12:00:00 UTC",
        "import",
        "ImportFeed",
        "TimeoutError: feed 1 timed out",
    ]
    assert "LegacyMailer" in lines[-1] and "Net::ReadTimeout" in lines[-1]
    some = ok(
        cli(
            redis_url,
            namespace,
            "cleaner",
            "list",
            "--exception",
            "TimeoutError",
            "--since",
            "2026-01-11",
            "--limit",
            "2",
        )
    )
    assert [line.split()[0] for line in some.splitlines()] == ["r3", "r4"]
    old = ok(cli(redis_url, namespace, "cleaner", "list", "--older-than", "30d", "--queue", "mail"))
    assert [line.split()[0] for line in old.splitlines()] == ["r5", "-"]
    assert ok(cli(redis_url, namespace, "cleaner", "list", "--text", "no such")) == ""
    assert ok(cli(redis_url, namespace, "cleaner", "list", "--class", "NoSuchJob")) == ""


def test_requeue_dry_run_prints_what_would_happen(default_client, redis_url, namespace, seeded):
    before = snapshot(default_client)
    out = ok(
        cli(
            redis_url,
            namespace,
            "cleaner",
            "requeue",
            "--exception",
            "TimeoutError",
            "--to",
            "slow",
            "--clear",
            "--dry-run",
        )
    )
    assert out.splitlines()[-1] == "would requeue 4 of 4 matching; cleared 0; skipped 0"
    out = ok(cli(redis_url, namespace, "cleaner", "clear", "--queue", "import", "--dry-run"))
    assert out.splitlines()[-1] == "would clear 2 of 2 matching"
    assert snapshot(default_client) == before


def test_requeue_with_clear_shows_progress_and_result(default_client, redis_url, namespace, failed):
    failed.bulk(
        record(
            "ImportFeed",
            [i],
            exception="TimeoutError" if i % 3 else "ValueError",
            job_id=f"j{i:04d}",
        )
        for i in range(1500)
    )
    result = cli(
        redis_url, namespace, "cleaner", "requeue", "--exception", "TimeoutError", "--clear"
    )
    lines = ok(result).splitlines()
    assert lines[0] == "requeue"  # click's progress bar, without a terminal: its label
    assert lines[-1] == "requeued 1000 of 1000 matching; cleared 1000; skipped 0"
    assert queued_ids(default_client, "default") == [f"j{i:04d}" for i in range(1500) if i % 3]
    assert failed.ids() == [f"j{i:04d}" for i in range(0, 1500, 3)]
    failed.assert_index_consistent()
    assert default_client.failures.get("j0001") is None


def test_requeue_to_a_queue(default_client, redis_url, namespace, seeded):
    out = ok(
        cli(redis_url, namespace, "cleaner", "requeue", "--class", "ChargeCard", "--to", "slow")
    )
    assert out.splitlines()[-1] == "requeued 2 of 2 matching; cleared 0; skipped 0"
    assert queued_ids(default_client, "slow") == ["r3", "r4"]
    assert "retried_at" in default_client.failures.get("r3")
    out = ok(cli(redis_url, namespace, "cleaner", "requeue", "--exception", "NoSuchError"))
    assert out.splitlines()[-1] == "requeued 0 of 0 matching; cleared 0; skipped 0"


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


def test_progress_bar_reaches_its_end(redis_url, namespace, failed):
    failed.bulk(
        record(exception="TimeoutError" if i % 5 == 0 else "ValueError") for i in range(3000)
    )
    out = run_in_pty(
        resqplug_cmd(
            redis_url, namespace, "cleaner", "requeue", "--exception", "TimeoutError", "--clear"
        )
    )
    assert "requeued 600 of 600 matching; cleared 600" in out
    frames = re.findall(r"requeue(?: \([\d,]+/s\))?\s+\[[#-]*\]\s+(\d+)/(\d+)", out)
    assert frames, out
    done, total = frames[-1]
    assert done == total, f"the bar ended at {done}/{total}"


def test_clear_asks_unless_yes(default_client, redis_url, namespace, seeded):
    no = cli(redis_url, namespace, "cleaner", "clear", "--class", "ImportFeed", stdin="n\n")
    assert no.returncode == 130  # the README's "aborted"
    assert "remove the matching failure records?" in no.stdout
    assert no.stderr.strip() == "aborted"
    assert default_client.failures.count() == 6
    yes = ok(cli(redis_url, namespace, "cleaner", "clear", "--class", "ImportFeed", stdin="y\n"))
    assert yes.splitlines()[-1] == "cleared 2 of 2 matching"
    assert seeded.ids() == ["r3", "r4", "r5", ""]


def test_clear_yes(default_client, redis_url, namespace, seeded):
    out = ok(
        cli(
            redis_url,
            namespace,
            "cleaner",
            "clear",
            "--older-than",
            "30d",
            "--queue",
            "payments",
            "--yes",
        )
    )
    assert out.splitlines()[-1] == "cleared 2 of 2 matching"
    assert seeded.ids() == ["r1", "r2", "r5", ""]
    assert default_client.failures.get("r3") is None
    seeded.assert_index_consistent()
    out = ok(cli(redis_url, namespace, "cleaner", "clear", "--yes"))
    assert out.splitlines()[-1] == "cleared 4 of 4 matching"
    assert default_client.failures.count() == 0 and seeded.index() == {}


def test_limit(default_client, redis_url, namespace, failed):
    assert ok(cli(redis_url, namespace, "cleaner", "limit")) == "limit: off; dropped so far: 0\n"
    assert ok(cli(redis_url, namespace, "cleaner", "limit", "10")) == (
        "limit: 10; dropped so far: 0\n"
    )
    failed.bulk(record(job_id=f"j{i:02d}") for i in range(25))
    from resqplug_cleaner import Cleaner

    assert Cleaner(default_client).enforce_limit() == 15
    assert ok(cli(redis_url, namespace, "cleaner", "limit")) == "limit: 10; dropped so far: 15\n"
    assert ok(cli(redis_url, namespace, "cleaner", "limit", "off")) == (
        "limit: off; dropped so far: 15\n"
    )
    assert Cleaner(default_client).limit() is None
    bad = cli(redis_url, namespace, "cleaner", "limit", "lots")
    assert bad.returncode == 2 and "a number of records, or 'off'" in bad.stderr


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["list", "--since", "yesterday"], "--since"),
        (["stats", "--until", "2026-13-01"], "--until/--older-than"),
        (["requeue", "--older-than", "7days"], "--until/--older-than"),
        (["clear", "--since", "12x", "--yes"], "--since"),
    ],
)
def test_malformed_time_exits_4_with_one_line(
    default_client, redis_url, namespace, seeded, args, option
):
    before = snapshot(default_client)
    result = cli(redis_url, namespace, "cleaner", *args)
    assert result.returncode == 4, result
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"resqplug: error: invalid {option} '{args[2]}'")
    assert "Traceback" not in result.stderr
    assert snapshot(default_client) == before
