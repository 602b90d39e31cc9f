"""``resqplug web`` as a real process (REFERENCE D.40): loopback or public is
decided from the addresses the server binds, not from how ``--host`` is spelled;
a public bind or a public ``--allow-host`` name needs credentials (exit 4
otherwise); the served dashboard answers only to its own host names."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import web_jobs as wj
from helpers import env, resqplug_cmd

from resqplug.web.bind import served_names

CREDS = {"RESQPLUG_WEB_USER": "ops", "RESQPLUG_WEB_PASSWORD": "pw"}
# The real CLI, with one more name in its resolver: `dash.test` (.test is
# reserved, so no real resolver answers for it) resolves to a TEST-NET address,
# as the name of this machine's public interface would.
FAKE_DNS = """
import socket, sys
real = socket.getaddrinfo
def getaddrinfo(host, port, *args, **kw):
    return real("192.0.2.10" if host == "dash.test" else host, port, *args, **kw)
socket.getaddrinfo = getaddrinfo
from resqplug.cli import main
main()
"""


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start_web(
    redis_url: str, namespace: str, *args: str, extra: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    cmd = resqplug_cmd(redis_url, namespace, "web", *args)
    if "dash.test" in args:
        cmd[1:3] = ["-c", FAKE_DNS]  # python -c FAKE_DNS instead of python -m resqplug
    return subprocess.Popen(
        cmd, env=env(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def refusal(proc: subprocess.Popen[str]) -> str:
    """The one stderr line of a ``resqplug web`` that must exit 4 without serving."""
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("resqplug web served instead of refusing")
    assert proc.returncode == 4, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def wait_served(proc: subprocess.Popen[str], url: str, **kw: Any) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            assert proc.stderr is not None
            raise AssertionError(f"resqplug web exited {proc.returncode}: {proc.stderr.read()}")
        try:
            return httpx.get(url, timeout=2, **kw)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def served(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        proc.communicate()


def first_stderr_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    return proc.stderr.readline()


# --- public binds are refused without credentials (issue 17 item 6) --------------------


@pytest.mark.parametrize(
    "host, bound",
    [
        ("", "0.0.0.0"),  # every interface: was taken for loopback
        ("0.0.0.0", "0.0.0.0"),
        ("::", "[::]"),
        ("0", "0.0.0.0"),
        ("192.0.2.10", "192.0.2.10"),
        ("dash.test", "192.0.2.10"),  # a name resolving to a public address
    ],
)
def test_resqplug_web_refuses_a_public_bind_without_credentials(redis_url, namespace, host, bound):
    port = free_port()
    line = refusal(start_web(redis_url, namespace, "--host", host, "--port", str(port)))
    assert line.startswith(
        f"resqplug: error: refusing to serve the dashboard on http://{bound}:{port}/"
    ), line
    assert "RESQPLUG_WEB_USER" in line and "--insecure" in line


@pytest.mark.parametrize(
    "host, url_host, bound",
    [
        ("localhost", "localhost", "127.0.0.1"),
        ("127.0.0.2", "127.0.0.2", "127.0.0.2"),
        ("::1", "[::1]", "[::1]"),
    ],
)
def test_resqplug_web_serves_a_loopback_bind_without_credentials(
    redis_url, namespace, host, url_host, bound
) -> None:
    try:
        port = free_port("::1" if host == "::1" else "127.0.0.1")
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    proc = start_web(redis_url, namespace, "--host", host, "--port", str(port))
    with served(proc):
        r = wait_served(proc, f"http://{url_host}:{port}/")
        assert r.status_code == 200 and "Overview" in r.text
        # The URLs it prints are the addresses bound, IPv6 ones in brackets.
        assert f"http://{bound}:{port}/" in first_stderr_line(proc)


def test_resqplug_web_binds_loopback_by_default(redis_url, namespace) -> None:
    help_text = subprocess.run(
        resqplug_cmd(redis_url, namespace, "web", "--help"),
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "default: 127.0.0.1" in help_text
    port = free_port()
    proc = start_web(redis_url, namespace, "--port", str(port))
    with served(proc):
        assert wait_served(proc, f"http://127.0.0.1:{port}/").status_code == 200
        assert f"http://127.0.0.1:{port}/" in first_stderr_line(proc)


def test_resqplug_web_insecure_serves_on_all_interfaces(redis_url, namespace, client) -> None:
    client.enqueue(wj.WebRecord, 1)
    port = free_port()
    proc = start_web(redis_url, namespace, "--host", "0.0.0.0", "--port", str(port), "--insecure")
    with served(proc):
        r = wait_served(proc, f"http://127.0.0.1:{port}/")
        assert r.status_code == 200 and 'data-queue="web"' in r.text
        assert "content-security-policy" in r.headers
        # Reached by any IPv4 address (0.0.0.0 binds no IPv6); a name must be allowed.
        for host, status in [("192.0.2.77", 200), ("[2001:db8::7]", 400), ("evil.example", 400)]:
            r = httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": f"{host}:{port}"})
            assert r.status_code == status, host


def test_resqplug_web_with_credentials_serves_and_asks_for_them(redis_url, namespace) -> None:
    port = free_port()
    proc = start_web(redis_url, namespace, "--host", "0.0.0.0", "--port", str(port), extra=CREDS)
    with served(proc):
        r = wait_served(proc, f"http://127.0.0.1:{port}/")
        assert r.status_code == 401
        ok = httpx.get(f"http://127.0.0.1:{port}/", auth=("ops", "pw"), timeout=5)
        assert ok.status_code == 200


def test_resqplug_web_cannot_listen_on_an_address_it_lacks(redis_url, namespace) -> None:
    port = free_port()
    args = ("--host", "192.0.2.10", "--port", str(port))
    line = refusal(start_web(redis_url, namespace, *args, extra=CREDS))
    assert line.startswith(f"resqplug: error: cannot listen on http://192.0.2.10:{port}/: "), line


def test_resqplug_web_on_a_busy_port_says_so_in_one_line_and_exits_4(redis_url, namespace):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = refusal(start_web(redis_url, namespace, "--port", str(port)))
    assert line == (
        f"resqplug: error: cannot listen on http://127.0.0.1:{port}/: Address already in use"
    )


def test_resqplug_web_names_a_host_it_cannot_resolve(redis_url, namespace) -> None:
    line = refusal(start_web(redis_url, namespace, "--host", "nowhere.invalid"))
    assert line.startswith("resqplug: error: cannot resolve --host 'nowhere.invalid': "), line


# --- the names it answers to (issue 17 item 5) ------------------------------------------


def test_resqplug_web_refuses_a_public_allowed_name_without_credentials(redis_url, namespace):
    args = ("--allow-host", "dash.example.com", "--port", str(free_port()))
    line = refusal(start_web(redis_url, namespace, *args))
    assert line.startswith(
        "resqplug: error: refusing to serve the dashboard as dash.example.com without credentials"
    ), line


def test_resqplug_web_refuses_a_malformed_allowed_name(redis_url, namespace) -> None:
    args = ("--allow-host", "http://dash.example.com/", "--port", str(free_port()))
    line = refusal(start_web(redis_url, namespace, *args, extra=CREDS))
    assert line.startswith("resqplug: error: invalid allowed host 'http://dash.example.com/'")


def test_resqplug_web_answers_to_loopback_and_its_allowed_name_only(redis_url, namespace):
    port = free_port()
    args = ("--allow-host", "Dash.Example.com", "--port", str(port))
    proc = start_web(redis_url, namespace, *args, extra=CREDS)
    url, auth = f"http://127.0.0.1:{port}/", ("ops", "pw")
    with served(proc):
        assert wait_served(proc, url, auth=auth).status_code == 200
        for host in (f"dash.example.com:{port}", "dash.example.com", f"localhost:{port}"):
            r = httpx.get(url, headers={"Host": host}, auth=auth, timeout=5)
            assert r.status_code == 200, host
        r = httpx.get(url, headers={"Host": f"evil.example:{port}"}, auth=auth, timeout=5)
        assert r.status_code == 400
        assert r.text.startswith("bad request: host 'evil.example' is not served here")


def test_a_public_bind_adds_its_address_and_name_never_a_loopback_name() -> None:
    public = [(socket.AF_INET, ("192.0.2.10", 5678))]
    every = [(socket.AF_INET, ("0.0.0.0", 5678)), (socket.AF_INET6, ("::", 5678, 0, 0))]
    loopback = [(socket.AF_INET, ("127.0.0.1", 5678))]
    assert served_names("dash.test", public, ("a.example",)) == [
        "a.example",
        "192.0.2.10",
        "dash.test",
    ]
    assert served_names("192.0.2.10", public, ()) == ["192.0.2.10"]
    # Every interface: any address (a page cannot rebind one), but no name.
    assert served_names("", every, ()) == ["0.0.0.0/0", "::/0"]
    # A rebinding domain resolves to 127.0.0.1 too: binding by it allows no name.
    assert served_names("rebind.example", loopback, ()) == []
