"""``resqplug metrics serve`` and ``resqplug metrics show`` as real processes."""

from __future__ import annotations

import signal
import socket
import subprocess
import urllib.request

from metrics_helpers import HERE, samples
from metrics_jobs import Nap

import resqplug
from resqplug.pytest_fixtures import child_env, resqplug_cmd, wait_for

LABELS = (("job_class", "Nap"), ("queue", "metrics"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return str(answer.read().decode())
    except OSError:
        return None


def test_serve_answers_scrapes_until_terminated(redis_url: str, namespace: str):
    resqplug.Resq(redis_url, namespace).enqueue(Nap, 0)
    port = free_port()
    cmd = resqplug_cmd(redis_url, namespace, "metrics", "serve", "--port", str(port))
    proc = subprocess.Popen(cmd, env=child_env(HERE), stderr=subprocess.PIPE, text=True)
    try:
        text = wait_for(lambda: fetch(f"http://127.0.0.1:{port}/metrics"), 20, "the server")
        assert samples(text)[("resqplug_jobs_enqueued_total", LABELS)] == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait(10)
    assert proc.stderr is not None
    assert proc.stderr.read() == f"resqplug metrics on http://127.0.0.1:{port}/metrics\n"


def test_a_busy_port_is_a_one_line_error(redis_url: str, namespace: str):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cmd = resqplug_cmd(redis_url, namespace, "metrics", "serve", "--port", str(port))
        done = subprocess.run(cmd, env=child_env(HERE), capture_output=True, text=True, timeout=30)
    assert done.returncode == 4
    assert done.stderr == (
        f"resqplug: error: cannot listen on http://127.0.0.1:{port}/: Address already in use\n"
    )


def test_redis_away_is_exit_3(namespace: str):
    cmd = resqplug_cmd("redis://127.0.0.1:1/0", namespace, "metrics", "serve", "--port", "1")
    done = subprocess.run(cmd, env=child_env(HERE), capture_output=True, text=True, timeout=30)
    assert done.returncode == 3
    assert len(done.stderr.splitlines()) == 1, done.stderr


def test_show_prints_the_metrics_once(redis_url: str, namespace: str):
    resqplug.Resq(redis_url, namespace).enqueue_many(Nap, [(0,), (0,)])
    cmd = resqplug_cmd(redis_url, namespace, "metrics", "show")
    done = subprocess.run(cmd, env=child_env(HERE), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert samples(done.stdout)[("resqplug_jobs_enqueued_total", LABELS)] == 2
