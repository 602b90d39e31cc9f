"""``resqplug retry show ID``, ``resqplug plugins`` and RESQPLUG_DISABLE_PLUGINS,
through the real ``resqplug`` command (a subprocess)."""

from __future__ import annotations

import builtins
import calendar
import logging
import re
import time

import pytest
import resqplug_retry
import retry_jobs as rj
from resqplug_retry.plugin import state_key
from retry_helpers import run_cli, waiting_set

import resqplug
from resqplug.testing import drain

Q = "retry"


class RetryLater(rj.Flaky):
    """The first retry at once, the second a minute later."""

    name = "retry_tests.cli.RetryLater"
    retry_exceptions = {builtins.ConnectionError: [0, 60]}


class RetryLimitOnly(rj.Flaky):
    name = "retry_tests.cli.RetryLimitOnly"
    retry_limit = 3


class RecordFailuresOnly(rj.Flaky):
    name = "retry_tests.cli.RecordFailuresOnly"
    retry_record_failures = True


def field(output: str, name: str) -> str:
    match = re.search(rf"^{name}:\s*(.*)$", output, re.MULTILINE)
    assert match, f"no {name!r} line in:\n{output}"
    return match.group(1)


# --- retry show ---------------------------------------------------------------------


def test_show_prints_attempts_last_error_and_next_run(redis_url, namespace, default_client):
    job_id = default_client.enqueue(RetryLater, 99)
    assert drain(default_client, Q) == 2  # attempt 1 retried at once, attempt 2 delayed
    due = waiting_set(default_client).find(job_id).due
    result = run_cli(redis_url, namespace, "retry", "show", job_id)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert job_id in field(out, "job")
    assert "retry_tests.cli.RetryLater" in field(out, "job")
    assert field(out, "attempts") == "2 failed"
    assert field(out, "last error") == "ConnectionError: flaky 2"
    next_run = field(out, "next run")
    shown = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC \(in (\d+\.\d)s\)$", next_run)
    assert shown, next_run
    at = calendar.timegm(time.strptime(shown.group(1), "%Y-%m-%d %H:%M:%S"))
    assert abs(at - due) <= 1.5
    assert 50 < float(shown.group(2)) <= 60


def test_show_of_a_finished_job_finds_no_retry_state(redis_url, namespace, default_client):
    job_id = default_client.enqueue(rj.RetryFlaky, 1)
    drain(default_client, Q)
    assert rj.done(default_client, job_id)
    result = run_cli(redis_url, namespace, "retry", "show", job_id)
    assert result.returncode != 0
    assert "no retry state" in result.stderr
    assert result.stdout == ""


def test_show_of_an_unknown_id_exits_5(redis_url, namespace, default_client):
    result = run_cli(redis_url, namespace, "retry", "show", "no-such-job")
    assert "no-such-job" in result.stderr
    assert "unexpected" not in result.stderr
    assert result.returncode == 5


def test_show_after_retries_are_exhausted_announces_no_next_run(
    redis_url, namespace, default_client
):
    job_id = default_client.enqueue(rj.RetryFlaky, 99)
    drain(default_client, Q)
    assert default_client.failures.get(job_id)["error"] == "flaky 4"
    result = run_cli(redis_url, namespace, "retry", "show", job_id)
    # Either no retry state any more, or one that tells the truth.
    assert "(due)" not in result.stdout
    assert "flaky 3" not in result.stdout
    if result.returncode == 0:
        assert field(result.stdout, "attempts").startswith("4")


# --- loading and disabling ----------------------------------------------------------


def test_the_plugin_loads_from_its_entry_point(default_client):
    plugins = resqplug.get_plugins()
    assert plugins.pm.get_plugin("retry") is resqplug_retry.plugin
    assert ("retry", "resqplug-retry", "0.1.0") in plugins.describe()
    assert "retry_limit" in plugins.owned_options()


def test_resqplug_plugins_lists_it(redis_url, namespace):
    result = run_cli(redis_url, namespace, "plugins")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert ["retry", "resqplug-retry", "0.1.0"] in rows


def test_disabled_by_env_it_is_not_loaded(redis_url, namespace):
    result = run_cli(
        redis_url, namespace, "plugins", extra_env={"RESQPLUG_DISABLE_PLUGINS": "retry"}
    )
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert "core" in names
    assert "retry" not in names
    # Nor its command.
    show = run_cli(
        redis_url, namespace, "retry", "show", "x", extra_env={"RESQPLUG_DISABLE_PLUGINS": "retry"}
    )
    assert show.returncode == 2


def option_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "resqplug.options"]


def test_disabled_a_job_with_retry_options_enqueues_with_one_warning_per_class(
    monkeypatch, default_client, caplog
):
    monkeypatch.setenv("RESQPLUG_DISABLE_PLUGINS", "retry")
    resqplug.plugins.reset_plugins()
    assert "retry" not in resqplug.get_plugins().names()
    caplog.set_level(logging.WARNING, logger="resqplug.options")
    for job_class in (RetryLimitOnly, RecordFailuresOnly):
        for n in range(2):
            assert default_client.enqueue(job_class, n) is not None
    assert default_client.size(Q) == 4
    assert option_warnings(caplog) == [
        "job RetryLimitOnly sets 'retry_limit', which no installed plugin declares: "
        "it has no effect here",
        "job RecordFailuresOnly sets 'retry_record_failures', which no installed plugin "
        "declares: it has no effect here",
    ]


def test_disabled_a_job_with_retry_options_runs_once_without_retries(monkeypatch, default_client):
    monkeypatch.setenv("RESQPLUG_DISABLE_PLUGINS", "retry")
    resqplug.plugins.reset_plugins()
    default_client.enqueue(RetryLimitOnly, 1)
    assert drain(default_client, Q) == 1
    assert default_client.failures.count() == 1  # failed once, for good


class RetryLimitTypo(rj.Flaky):
    name = "retry_tests.cli.RetryLimitTypo"
    retry_limt = 3


def test_a_typo_of_a_retry_option_is_refused_with_the_close_name(default_client, caplog):
    with pytest.raises(resqplug.UnknownOptionError) as info:
        default_client.enqueue(RetryLimitTypo, 1)
    assert str(info.value) == (
        "job RetryLimitTypo sets 'retry_limt', which no installed plugin declares: "
        "did you mean 'retry_limit' (plugin retry)?"
    )
    assert default_client.size(Q) == 0


@pytest.mark.parametrize(
    "record",
    [b"not json", b"[1]", b'{"class": "X"}', b'{"class":"X","queue":"q","attempts":1,'
     b'"last_exception":"E","last_error":"e","next_at":NaN}', b"\xff"],
)  # fmt: skip
def test_show_of_an_unreadable_state_is_one_line_and_exit_6(
    redis_url, namespace, default_client, record
):
    default_client.redis.set(state_key(default_client, "bad-state"), record)
    result = run_cli(redis_url, namespace, "retry", "show", "bad-state")
    assert result.returncode == 6, result.stderr
    assert result.stderr.count("\n") == 1
    assert "retry state of job 'bad-state' is unreadable" in result.stderr


def test_the_dashboard_page_lists_an_unreadable_state_and_the_readable_ones(default_client):
    from resqplug_retry.web import render

    job_id = default_client.enqueue(RetryLater, 99)
    drain(default_client, Q)
    default_client.redis.set(state_key(default_client, "bad"), b"{")
    (section,) = render(default_client, {})
    rows = {row[0]: row for row in section.rows}
    assert "unreadable retry state" in rows["bad"][3]
    assert rows[job_id][2] == 2
