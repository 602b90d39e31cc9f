"""Fixtures of the metrics plugin's tests: all shared (a real Redis, a
fresh namespace per test, a redis-server of its own for MONITOR: own_redis),
from resqplug/pytest_fixtures.py through the root conftest.py."""
