"""The README's Django section, run as written: its settings make a working
backend, and each worker command line in it (with ``--burst`` added so it
ends) runs the test project's tasks; and the worker's ``--app`` module says
in one line what is missing without DJANGO_SETTINGS_MODULE."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django_support import PROJECT, finished

import resqplug
from resqplug.contrib.django import ResqplugBackend
from resqplug.contrib.django.compat import TaskResultStatus
from resqplug.pytest_fixtures import child_env

from djapp import tasks  # isort: skip - importable once Django is set up

README = Path(__file__).resolve().parent.parent / "README.md"


def django_blocks() -> dict[str, list[str]]:
    section = README.read_text("utf-8").split("\n## Django\n", 1)[1].split("\n## ", 1)[0]
    found: dict[str, list[str]] = {}
    for lang, code in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S):
        found.setdefault(lang, []).append(code)
    return found


def command_lines() -> list[str]:
    [shell] = django_blocks()["sh"]
    return [line.split("  #")[0].strip() for line in shell.splitlines() if line.strip()]


def test_the_readme_settings_make_a_resqplug_backend() -> None:
    [settings] = django_blocks()["python"]
    names: dict[str, Any] = {"INSTALLED_APPS": []}
    exec(settings, names)
    assert "resqplug.contrib.django" in names["INSTALLED_APPS"]
    params = names["TASKS"]["default"]
    assert params["BACKEND"] == "resqplug.contrib.django.ResqplugBackend"
    assert ResqplugBackend("default", params).queues == {"default", "emails"}


@pytest.mark.parametrize("line", command_lines())
def test_each_readme_worker_command_runs_tasks(
    line: str, redis_url: str, namespace: str, default_client: resqplug.Resq
) -> None:
    results = [tasks.send_mail.enqueue("ada@example.com")]
    if "-q emails" not in line:
        results.append(tasks.add.enqueue(1, 2))
    command = line.replace("mysite.settings", "djproject.settings") + " --burst --no-fork"
    env = {"RESQPLUG_REDIS_URL": redis_url, "RESQPLUG_NAMESPACE": namespace}
    env = child_env(PROJECT, env)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    done = subprocess.run(
        ["bash", "-c", command], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert all(finished(r).status == TaskResultStatus.SUCCESSFUL for r in results)


def test_the_worker_app_without_settings_says_what_is_missing(
    redis_url: str, namespace: str
) -> None:
    env = {k: v for k, v in child_env(PROJECT).items() if k != "DJANGO_SETTINGS_MODULE"}
    args = ["work", "-q", "default", "--burst", "--app", "resqplug.contrib.django.worker"]
    cmd = [sys.executable, "-m", "resqplug", "--redis", redis_url, "--namespace", namespace, *args]
    done = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 4
    [line] = done.stderr.strip().splitlines()
    assert "set DJANGO_SETTINGS_MODULE" in line
