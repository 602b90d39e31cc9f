"""``resqplug loner list`` and ``resqplug loner release KEY`` as real processes."""

from __future__ import annotations

import re

import loner_jobs as jobs
from loner_helpers import holder, lock_key_of, run_cli

import resqplug


def listed(stdout: str) -> dict[str, tuple[str, int]]:
    """``key  owner  NNs`` lines -> {key: (owner, seconds)}."""
    out = {}
    for line in stdout.splitlines():
        match = re.fullmatch(r"(\S+)  (\S+)  (\d+)s", line)
        assert match, f"unexpected line {line!r}"
        out[match[1]] = (match[2], int(match[3]))
    return out


def test_list_shows_key_owner_and_ttl(default_client, redis_url, namespace):
    keyed = resqplug.enqueue(jobs.Keyed, 3, {"full": True})  # unique_for = 120
    plain = resqplug.enqueue(jobs.Unique, "r")  # the default TTL (6 h)
    resqplug.enqueue(jobs.NotUnique, 1)

    result = run_cli(redis_url, namespace, "loner", "list")
    assert result.returncode == 0, result.stderr
    rows = listed(result.stdout)
    assert set(rows) == {
        lock_key_of(default_client, jobs.Keyed, 3, {}),
        lock_key_of(default_client, jobs.Unique, "r"),
    }
    owner, ttl = rows[lock_key_of(default_client, jobs.Keyed, 3, {})]
    assert owner == keyed and 100 <= ttl <= 120
    owner, ttl = rows[lock_key_of(default_client, jobs.Unique, "r")]
    assert owner == plain and 6 * 3600 - 60 <= ttl <= 6 * 3600
    assert "(2 locks)" in result.stderr


def test_list_without_locks(default_client, redis_url, namespace):
    result = run_cli(redis_url, namespace, "loner", "list")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "(0 locks)" in result.stderr


def test_list_limit(default_client, redis_url, namespace):
    for n in range(5):
        resqplug.enqueue(jobs.Unique, n)
    result = run_cli(redis_url, namespace, "loner", "list", "--limit", "2")
    assert result.returncode == 0, result.stderr
    assert len(listed(result.stdout)) == 2
    assert "(2 locks)" in result.stderr


def test_release_frees_the_lock(default_client, redis_url, namespace):
    first = resqplug.enqueue(jobs.Unique, "r")
    key = lock_key_of(default_client, jobs.Unique, "r")
    assert resqplug.enqueue(jobs.Unique, "r") is None

    result = run_cli(redis_url, namespace, "loner", "release", key)
    assert result.returncode == 0, result.stderr
    assert f"released {key}" in result.stdout
    assert holder(jobs.Unique, "r") is None
    second = resqplug.enqueue(jobs.Unique, "r")
    assert second is not None and second != first
    assert holder(jobs.Unique, "r") == second


def test_release_refuses_a_key_of_another_namespace(default_client, redis_url, namespace):
    other = resqplug.Resq(redis_url, namespace + "-b")
    try:
        other_id = other.enqueue(jobs.Unique, "r")
        other_key = lock_key_of(other, jobs.Unique, "r")
        assert other.redis.get(other_key) == other_id.encode()

        result = run_cli(redis_url, namespace, "loner", "release", other_key)
        assert result.returncode == 4
        assert "not a loner lock key of namespace" in result.stderr
        assert namespace in result.stderr
        assert other.redis.get(other_key) == other_id.encode()  # untouched
    finally:
        for k in other.redis.scan_iter(match=f"{namespace}-b:*"):
            other.redis.delete(k)


def test_release_refuses_a_key_that_is_not_a_lock(default_client, redis_url, namespace):
    resqplug.enqueue(jobs.Unique, "r")
    key = default_client.keys.queue("loner")
    result = run_cli(redis_url, namespace, "loner", "release", key)
    assert result.returncode == 4
    assert "not a loner lock key" in result.stderr
    assert default_client.size("loner") == 1


def test_release_of_a_missing_lock_is_not_found(default_client, redis_url, namespace):
    key = lock_key_of(default_client, jobs.Unique, "nobody")
    result = run_cli(redis_url, namespace, "loner", "release", key)
    assert "no lock" in result.stderr
    assert result.returncode == 5
    assert "unexpected" not in result.stderr
