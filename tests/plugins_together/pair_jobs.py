"""Job classes of the pair matrix (``--app pair_jobs``). This module imports no
plugin, so a worker process loads only the plugins its environment leaves
enabled. A job sets only the options of the plugins of its pair (retry's,
loner's), and fails its first ``fail_runs`` runs, counted per job id in Redis
(not by attempt: without the retry plugin every run is attempt 1). Each run
appends ``{"id", "attempt", "event"}`` to ``<ns>:resqplug:pairtest:runs``."""

from __future__ import annotations

import json

import resqplug

QUEUE = "pairs"
RETRY_DELAY_S = 1.0  # long enough for a test to stop the worker and look in between


class PairFailure(Exception):
    """What a failing run raises (the retried exception, where retry is loaded)."""


def runs_key(client: resqplug.Resq) -> str:
    return client.keys.plugin("pairtest", "runs")


def runs(client: resqplug.Resq) -> list[dict[str, object]]:
    return [json.loads(r) for r in client.redis.lrange(runs_key(client), 0, -1)]


class PairJob(resqplug.Job):
    name = "pairs.Job"
    queue = QUEUE

    def perform(self, fail_runs: int) -> str:
        client = resqplug.default_client()
        run = int(client.redis.incr(client.keys.plugin("pairtest", "count", self.id)))
        event = "fail" if run <= fail_runs else "done"
        doc = {"id": self.id, "attempt": self.attempt, "event": event}
        client.redis.rpush(runs_key(client), json.dumps(doc))
        if event == "fail":
            raise PairFailure(f"run {run} fails")
        return "done"


class PairRetried(PairJob):
    """Retried once, after ``RETRY_DELAY_S``."""

    name = "pairs.Retried"
    retry_exceptions = {PairFailure: RETRY_DELAY_S}
    retry_limit = 1


class PairUnique(PairJob):
    name = "pairs.Unique"
    unique = True


class PairUniqueRetried(PairRetried):
    name = "pairs.UniqueRetried"
    unique = True


def job_class_for(plugins: frozenset[str]) -> type[PairJob]:
    """The class using exactly the options of the loaded ``plugins``."""
    retried, unique = "retry" in plugins, "loner" in plugins
    if retried:
        return PairUniqueRetried if unique else PairRetried
    return PairUnique if unique else PairJob
