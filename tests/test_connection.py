"""Redis URL forms, password redaction and connection errors."""

from __future__ import annotations

import pytest
import redis

import resqplug
from resqplug.connection import Target, make_client, parse, redact


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost", Target("redis://localhost/0")),
        ("redis://localhost:6380", Target("redis://localhost:6380/0")),
        ("redis://localhost:6379/2", Target("redis://localhost:6379/2")),
        ("redis://h:6379/0/myns", Target("redis://h:6379/0", "myns")),
        ("redis://:pw@h:6379/1/ns", Target("redis://:pw@h:6379/1", "ns")),
        ("redis://user:pw@h:1/0", Target("redis://user:pw@h:1/0")),
        ("rediss://h:6380/0", Target("rediss://h:6380/0")),
        ("rediss://h:6380/3/tls-ns", Target("rediss://h:6380/3", "tls-ns")),
        ("redis://h:6379/0?health=1", Target("redis://h:6379/0?health=1")),
        ("unix:///tmp/redis.sock", Target("unix:///tmp/redis.sock")),
        ("unix:///tmp/redis.sock?db=2", Target("unix:///tmp/redis.sock?db=2")),
        ("localhost:6379", Target("redis://localhost:6379/0")),
        ("localhost:6379:2", Target("redis://localhost:6379/2")),
        ("localhost:6379:2/myns", Target("redis://localhost:6379/2", "myns")),
        ("localhost:6379/myns", Target("redis://localhost:6379/0", "myns")),
        ("10.0.0.5:7000:1/ns", Target("redis://10.0.0.5:7000/1", "ns")),
        ("[::1]:6379:0/ns", Target("redis://[::1]:6379/0", "ns")),
        ("  redis://h:6379/0  ", Target("redis://h:6379/0")),
    ],
)
def test_parse_accepts_every_form(url, expected):
    assert parse(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "http://h:6379/0",
        "redis://",
        "redis:///0",
        "redis://h:6379/x",
        "redis://h:6379/0/ns/extra",
        "redis://h:notaport/0",
        "redis://h:99999/0",
        "unix://",
        "localhost",
        "embedded-ish",
    ],
)
def test_parse_rejects_bad_forms_with_config_error(url):
    with pytest.raises(resqplug.ConfigError):
        parse(url)


@pytest.mark.parametrize("url", ["redis://:secret@h:notaport/0", "redis://:secret@h:99999/0"])
def test_parse_bad_port_with_password_is_config_error_without_password(url):
    with pytest.raises(resqplug.ConfigError) as info:
        parse(url)
    assert "secret" not in str(info.value)


def test_parse_error_message_hides_password():
    with pytest.raises(resqplug.ConfigError) as info:
        parse("redis://:secret@h:6379/notadb")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:secret@h:1/0", "redis://:***@h:1/0"),
        ("redis://user:secret@h:6379/0/ns", "redis://user:***@h:6379/0/ns"),
        ("rediss://:secret@h/0", "rediss://:***@h/0"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("redis://user@h:6379/0", "redis://user@h:6379/0"),
    ],
)
def test_redact_hides_password(url, expected):
    assert redact(url) == expected
    assert "secret" not in redact(url)


def test_client_repr_hides_password(namespace):
    client = resqplug.Resq("redis://:secret@127.0.0.1:1/0", namespace)
    assert "secret" not in repr(client)


def test_namespace_from_url_and_explicit_namespace_wins():
    url = "redis://127.0.0.1:6379/0/from-url"
    assert resqplug.Resq(url).namespace == "from-url"
    assert resqplug.Resq(url, "explicit").namespace == "explicit"


def test_resque_form_works_against_real_redis(redis_url, namespace):
    if redis_url != "redis://127.0.0.1:6379/0":
        pytest.skip("needs the local Redis on 127.0.0.1:6379")
    client = resqplug.Resq("127.0.0.1:6379:0", namespace)
    client.ping()
    assert client.url == "redis://127.0.0.1:6379/0"


def test_refused_port_raises_connection_error_naming_url(namespace):
    client = resqplug.Resq("redis://127.0.0.1:1/0", namespace)
    with pytest.raises(resqplug.ConnectionError) as info:
        client.ping()
    assert "redis://127.0.0.1:1/0" in str(info.value)
    assert isinstance(info.value, resqplug.ResqplugError)


def test_refused_port_error_hides_password(namespace):
    client = resqplug.Resq("redis://:secret@127.0.0.1:1/0", namespace)
    with pytest.raises(resqplug.ConnectionError) as info:
        client.ping()
    assert "secret" not in str(info.value)
    assert "redis://:***@127.0.0.1:1/0" in str(info.value)


def test_enqueue_to_refused_port_raises_connection_error(namespace):
    client = resqplug.Resq("redis://:secret@127.0.0.1:1/0", namespace)
    with pytest.raises(resqplug.ConnectionError) as info:
        client.enqueue(ConnectionJob)
    assert "secret" not in str(info.value)


def test_failure_store_on_refused_port_raises_resqplug_connection_error(namespace):
    client = resqplug.Resq("redis://:secret@127.0.0.1:1/0", namespace)
    with pytest.raises(resqplug.ConnectionError) as info:
        client.failures.count()
    assert "secret" not in str(info.value)


class ConnectionJob(resqplug.Job):
    def perform(self):
        pass


def test_the_fast_packer_writes_what_redis_py_writes(redis_url: str) -> None:
    r = make_client(redis_url)
    key = "resqplug-test:packer"
    r.delete(key)
    r.hset(key, mapping={"f": 0.1 + 0.2, "i": 10**30, "s": "é", "b": b"\xff"})
    assert r.hgetall(key) == {
        b"f": repr(0.1 + 0.2).encode(),
        b"i": str(10**30).encode(),
        b"s": "é".encode(),
        b"b": b"\xff",
    }
    assert r.execute_command("CONFIG GET", "port")  # a two-word name: redis-py splits it
    with pytest.raises(redis.exceptions.DataError):
        r.set(key, True)  # type: ignore[arg-type]  # refused as redis-py refuses it
    r.delete(key)
