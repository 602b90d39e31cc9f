"""The public fixtures of resqplug (a real Redis, a namespace per test, a fresh
plugin manager, and a redis-server of the test's own for MONITOR: own_redis)."""

pytest_plugins = ["resqplug.pytest_fixtures"]
