"""Fixtures the dashboard's tests share (tests/web_support.py); the fixtures of
every suite come from resqplug/pytest_fixtures.py through the root conftest.py."""

from web_support import action_world, client, spawn, web  # noqa: F401 - fixtures, found by pytest here
