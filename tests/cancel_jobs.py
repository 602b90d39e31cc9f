"""Jobs the cancellation tests run in real workers (--app cancel_jobs). Each
records its id in ``<ns>:resqplug:test:ran`` when it ran; ``CGated`` first
records ``started`` and waits for a token on ``gate``."""

from __future__ import annotations

import resqplug


def key(name: str) -> str:
    return resqplug.default_client().keys.plugin("test", name)


class CRecord(resqplug.Job):
    name = "test_cancel.Record"
    queue = "cq"

    def perform(self, *args: object) -> None:
        resqplug.default_client().redis.rpush(key("ran"), self.id)


class CGated(resqplug.Job):
    name = "test_cancel.Gated"
    queue = "cq"

    def perform(self) -> None:
        r = resqplug.default_client().redis
        r.rpush(key("started"), self.id)
        r.blpop([key("gate")], timeout=30)
        r.rpush(key("ran"), self.id)
