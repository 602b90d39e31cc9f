"""The dashboard's ``/metrics``: the Prometheus text of the dashboard's client."""

from __future__ import annotations

from typing import Any

from resqplug.ext import Endpoint


def serve(client: Any, params: dict[str, str]) -> tuple[bytes, str]:
    from .collector import exposition

    return exposition(client)


ENDPOINT = Endpoint("metrics", serve)
