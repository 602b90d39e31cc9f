"""resqplug.hookcall: the per-job hooks called without pluggy's machinery
behave as pluggy's own calls do (order, results, errors, wrappers)."""

from __future__ import annotations

from collections.abc import Generator
from types import SimpleNamespace
from typing import Any

import pluggy
import pytest

from resqplug.hookcall import fast_caller

spec = pluggy.HookspecMarker("hc")
impl = pluggy.HookimplMarker("hc")


class Specs:
    @spec
    def notify(self, job: Any, result: Any) -> None: ...

    @spec(firstresult=True)
    def first(self, job: Any) -> Any: ...


def manager(*plugins: object) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("hc")
    pm.add_hookspecs(Specs)
    for plugin in plugins:
        pm.register(plugin)
    return pm


def plugin(calls: list[Any], name: str, answer: Any = None, *, tryfirst: bool = False) -> Any:
    """A plugin answering ``answer`` to both hooks; ``notify`` takes a
    subset of the hook's arguments, in another order."""

    def notify(result: Any, job: Any) -> Any:
        calls.append((name, job, result))
        return answer

    def first(job: Any) -> Any:
        return answer

    return SimpleNamespace(notify=impl(tryfirst=tryfirst)(notify), first=impl(first))


def test_implementations_run_in_pluggys_order_with_pluggys_results() -> None:
    calls: list[Any] = []
    pm = manager(plugin(calls, "a", 1), plugin(calls, "b"), plugin(calls, "c", 3, tryfirst=True))
    assert pm.hook.notify(job="job", result="res") == [3, 1]
    pluggys, calls[:] = list(calls), []
    assert fast_caller(pm.hook.notify)("job", "res") == [3, 1]
    assert calls == pluggys == [("c", "job", "res"), ("b", "job", "res"), ("a", "job", "res")]
    assert fast_caller(pm.hook.first)("job") == pm.hook.first(job="job") == 3


def test_first_result_stops_at_the_first_answer_and_none_without_one() -> None:
    calls: list[Any] = []
    assert fast_caller(manager(plugin(calls, "a"), plugin(calls, "b")).hook.first)("job") is None
    pm = manager(plugin(calls, "registered first", "x"), plugin(calls, "registered last", "y"))
    assert fast_caller(pm.hook.first)("job") == "y"


def test_an_error_propagates_and_stops_the_implementations_after_it() -> None:
    class Breaks:
        @impl
        def notify(self, job: Any) -> None:
            raise KeyError(job)

    calls: list[Any] = []
    pm = manager(plugin(calls, "called after"), Breaks())
    with pytest.raises(KeyError):
        fast_caller(pm.hook.notify)("job", None)
    assert calls == []


def test_a_wrapper_keeps_pluggys_own_call() -> None:
    class Wraps:
        @impl(wrapper=True)
        def first(self, job: Any) -> Generator[None, Any, Any]:
            result = yield
            return f"wrapped {result}"

    call = fast_caller(manager(plugin([], "a", "inner"), Wraps()).hook.first)
    assert call("job") == "wrapped inner"
