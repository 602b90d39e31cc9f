"""The cost of each bundled plugin alone: resqplug_bench.py's adapter with one
plugin loaded and the other four blocked, for each plugin in turn. Not a
module-per-system adapter like the others: SYSTEMS holds one adapter (a
namespace with the adapter interface) per plugin, and the report gathers them
in one table against the core alone (their BASELINE). Two worker variants
(no-fork, fork per job) keep the run short."""

from __future__ import annotations

from types import SimpleNamespace

import resqplug_bench as core
from peers_venv import plugin_names

VARIANTS = {name: core.VARIANTS[name] for name in ("no-fork", "fork per job")}


def alone(plugin: str) -> SimpleNamespace:
    setup = core.Setup(blocked=[p for p in plugin_names() if p != plugin])
    return SimpleNamespace(
        NAME=f"resqplug + {plugin}",
        BASELINE=core.NAME,
        PLUGIN=plugin,
        BULK=core.BULK,
        VARIANTS=VARIANTS,
        WORKER_ENV=setup.worker_env,
        enqueue_one_by_one=setup.enqueue_one_by_one,
        enqueue_bulk=setup.enqueue_bulk,
        prefill=setup.prefill,
        stamper=setup.stamper,
        worker_cmd=core.worker_cmd,
        left=core.left,
    )


SYSTEMS = [alone(plugin) for plugin in plugin_names()]
