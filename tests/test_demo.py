"""``resqplug demo``: the README's first command, on the embedded server with
nothing configured, and against the test Redis.

The demo shows the installed plugins at work, so its numbers depend on them:
the core-only runs disable every plugin (RESQPLUG_DISABLE_PLUGINS) for exact
counts; one run checks whatever plugins are installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import BUNDLED, CORE_ONLY, env, resqplug_cmd

from resqplug import demo_jobs, embedded

WORKLOAD = sum(len(args) for _, args in demo_jobs.workload())
CORE_TOTAL = WORKLOAD + 1  # + one RebuildReport
CHARGE_FAILURES = sum(1 for n in range(1, 57) if n % 7 == 0)  # every 7th order, first attempt
FEED_FAILURES = 3
# The plugins with a part in the demo (CORE_ONLY disables every bundled plugin).
PLUGINS = ("cleaner", "loner", "retry", "scheduler", "status")
DEMO_NS = "resqplug-demo"
# Each plugin's part of the demo: the runs it adds, and a line it prints.
PARTS = {
    "cleaner": (
        0,
        r"^  failed jobs by exception: .* \(more: the commands below, `cleaner stats`\)$",
    ),
    "loner": (1, r"^  enqueued RefreshSearchIndex\(7\) twice: [0-9a-f]{32}, then None - dup"),
    "retry": (CHARGE_FAILURES, r"^  ChargeCard timeouts were retried after 0.5 s and succeeded"),
    "scheduler": (1, r"^  scheduled    1 x SendReminder to run in 1 s \(scheduler\)$"),
    "status": (1, r"^  status of ExportInvoices [0-9a-f]{32}: completed, 100.0%, result \{"),
}


def run(
    cmd: list[str], extra_env: dict[str, str], timeout: float = 120
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        cmd,
        env=env(extra_env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result, time.monotonic() - started


def resqplug(*args: str) -> list[str]:
    return [sys.executable, "-m", "resqplug", *args]


def suggested(output: str, ending: str) -> list[str]:
    """The argv of the ``resqplug ...`` command the summary suggests, ending with ``ending``."""
    lines = [x.strip() for x in output.splitlines()]
    [line] = [x for x in lines if x.startswith("resqplug ") and x.endswith(ending)]
    return resqplug(*line.split()[1:])


def check_core_summary(result: subprocess.CompletedProcess[str], elapsed: float) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 60
    out = result.stdout
    assert "plugins: core\n" in out
    assert re.search(rf"^ran {CORE_TOTAL} jobs in [\d.]+s \(\d+ jobs/s\); failed 11$", out, re.M), (
        out
    )
    assert re.search(rf"^\s+{CHARGE_FAILURES} x ChargeCard: PaymentAPITimeout$", out, re.M), out
    assert re.search(rf"^\s+{FEED_FAILURES} x ImportPartnerFeed: ValueError$", out, re.M), out
    assert "look at the failures with:" in out
    assert "Traceback" not in result.stderr


@pytest.fixture
def xdg() -> Iterator[Path]:
    """A short XDG_DATA_HOME (the socket lives under it); its server is stopped."""
    directory = Path(tempfile.mkdtemp(prefix="rqd-", dir="/tmp")).resolve()
    try:
        yield directory
    finally:
        embedded.stop(directory / "resqplug")
        shutil.rmtree(directory, ignore_errors=True)


def test_workload_size():
    assert WORKLOAD == 289
    assert CHARGE_FAILURES == 8


def test_demo_on_the_embedded_server_with_nothing_configured(xdg):
    demo_env = {"XDG_DATA_HOME": str(xdg), **CORE_ONLY}  # helpers.env drops RESQPLUG_* vars
    result, elapsed = run(resqplug("demo"), demo_env)
    check_core_summary(result, elapsed)
    sock = xdg / "resqplug" / "redis.sock"
    assert result.stdout.startswith(f"resqplug demo on unix://{sock} (namespace {DEMO_NS})\n")
    assert f"(the embedded server in {xdg / 'resqplug'}: it serves this machine only" in (
        result.stdout
    )
    assert "WARNING" not in result.stderr

    # The failures are on that server, under the demo's namespace ...
    url = f"embedded://{xdg / 'resqplug'}"
    listed, _ = run(resqplug("--redis", url, "--namespace", DEMO_NS, "failed", "list"), {})
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == CHARGE_FAILURES + FEED_FAILURES
    assert sum("ChargeCard  PaymentAPITimeout" in x for x in lines) == CHARGE_FAILURES
    assert sum("ImportPartnerFeed  ValueError" in x for x in lines) == FEED_FAILURES
    assert f"{len(lines)} of {len(lines)} failed jobs shown" in listed.stderr

    # ... and the suggested commands, run as printed, find them.
    as_printed, _ = run(suggested(result.stdout, "failed list"), {"XDG_DATA_HOME": str(xdg)})
    assert as_printed.stdout == listed.stdout
    job_id = lines[0].split()[0]
    show_cmd = [job_id if a == "<ID>" else a for a in suggested(result.stdout, "failed show <ID>")]
    shown, _ = run(show_cmd, {})
    assert shown.returncode == 0, shown.stderr
    assert job_id in shown.stdout

    # Nothing is left queued and the demo's workers are gone.
    info, _ = run(resqplug("--redis", url, "--namespace", DEMO_NS, "info", "--once"), {})
    assert re.search(rf"processed {CORE_TOTAL}\s+failed 11\s+workers 0\s+pending 0", info.stdout)


def check_plugin_parts(out: str, loaded: set[str]) -> None:
    """Each loaded plugin's part shows (its line, its runs); no other's does."""
    expected = CORE_TOTAL + sum(PARTS[name][0] for name in loaded & set(PARTS))
    failed = FEED_FAILURES + CHARGE_FAILURES * ("retry" not in loaded)
    assert re.search(rf"^ran {expected} jobs in .*; failed {failed}$", out, re.M), out
    for name, (_, line) in PARTS.items():
        assert bool(re.search(line, out, re.M)) == (name in loaded), (name, out)
    assert ("ChargeCard: PaymentAPITimeout" in out) == ("retry" not in loaded)


def test_demo_shows_the_installed_plugins_at_work(xdg):
    result, elapsed = run(resqplug("demo"), {"XDG_DATA_HOME": str(xdg)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 60
    out = result.stdout
    [plugins_line] = [x for x in out.splitlines() if x.startswith("plugins: ")]
    loaded = set(plugins_line[len("plugins: ") :].split(", "))
    assert "core" in loaded
    check_plugin_parts(out, loaded)
    failed = FEED_FAILURES + CHARGE_FAILURES * ("retry" not in loaded)
    listed, _ = run(suggested(out, "failed list"), {})
    assert len(listed.stdout.splitlines()) == failed, listed.stdout + listed.stderr


def test_demo_with_every_plugin_disabled_shows_no_plugin_part(xdg):
    result, elapsed = run(resqplug("demo"), {"XDG_DATA_HOME": str(xdg), **CORE_ONLY})
    check_core_summary(result, elapsed)
    check_plugin_parts(result.stdout, {"core"})
    assert "(cleaner" not in result.stdout and "(status)" not in result.stdout


@pytest.mark.parametrize("plugin", PLUGINS)
def test_demo_with_one_plugin_shows_that_plugins_part_alone(xdg, plugin):
    others = ",".join(p for p in BUNDLED if p != plugin)
    demo_env = {"XDG_DATA_HOME": str(xdg), "RESQPLUG_DISABLE_PLUGINS": others}
    result, elapsed = run(resqplug("demo"), demo_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 60
    assert f"plugins: core, {plugin}\n" in result.stdout or (
        f"plugins: {plugin}, core\n" in result.stdout
    )
    check_plugin_parts(result.stdout, {"core", plugin})
    assert "Traceback" not in result.stderr


def test_demo_can_run_again_from_a_clean_slate(xdg):
    demo_env = {"XDG_DATA_HOME": str(xdg), **CORE_ONLY}
    for _ in range(2):
        result, elapsed = run(resqplug("demo", "--workers", "3"), demo_env)
        check_core_summary(result, elapsed)


def test_demo_against_the_test_redis(resq, redis_url, namespace):
    result, elapsed = run(resqplug_cmd(redis_url, namespace, "demo"), CORE_ONLY)
    check_core_summary(result, elapsed)
    assert result.stdout.startswith(f"resqplug demo on {redis_url} (namespace {namespace})\n")
    assert "embedded server" not in result.stdout + result.stderr
    stats = resq.stats()
    assert (stats["processed"], stats["failed"], stats["pending"], stats["workers"]) == (
        CORE_TOTAL,
        CHARGE_FAILURES + FEED_FAILURES,
        0,
        0,
    )
    assert resq.failures.count() == CHARGE_FAILURES + FEED_FAILURES
    # The suggested command names this server, so it works from a shell with
    # nothing configured.
    cmd = suggested(result.stdout, "failed list")
    assert cmd[cmd.index("--redis") + 1] == redis_url
    listed, _ = run(cmd, {})
    assert len(listed.stdout.splitlines()) == CHARGE_FAILURES + FEED_FAILURES


def test_demo_suggests_the_command_as_dev_runs_it(xdg):
    """Run by ``./dev demo``, the closing hints spell the command ``./dev
    resqplug ...`` (resqplug is not on PATH without the venv activated)."""
    dev = str(Path(__file__).resolve().parent.parent / "dev")
    demo_env = {"XDG_DATA_HOME": str(xdg), "RESQPLUG_CLI": f"{dev} resqplug", **CORE_ONLY}
    result, _ = run(resqplug("demo"), demo_env)
    assert result.returncode == 0, result.stderr
    [line] = [x.strip() for x in result.stdout.splitlines() if x.strip().endswith("failed list")]
    assert line.startswith(f"{dev} resqplug --redis unix://")
    listed, _ = run([dev, "resqplug", *line.split()[2:]], {"XDG_DATA_HOME": str(xdg)})
    assert listed.returncode == 0 and "ChargeCard  PaymentAPITimeout" in listed.stdout, (
        listed.stderr
    )
