"""The fixtures every suite here shares (core and plugins): resqplug/pytest_fixtures.py."""

pytest_plugins = ["resqplug.pytest_fixtures"]
