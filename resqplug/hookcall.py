"""Calling the per-job hooks without pluggy's general machinery.

A hook on the hot path (``before_enqueue``, ``before_perform``, ``perform``,
``after_perform``) runs once per job, so pluggy's per-call cost (argument
checks, a generic loop that allows for wrappers) is paid per job by every
user who installs a plugin. ``fast_caller`` builds, once per set of
plugins, a function that calls the implementations directly, in pluggy's
order and with pluggy's result rules. A hook with a wrapper, or an
implementation taking keyword arguments, keeps pluggy's own call: the
semantics are pluggy's either way, only the cost differs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pluggy

Caller = Callable[..., Any]


def fast_caller(hook: pluggy.HookCaller) -> Caller:
    """A function taking the hook's arguments positionally, in the order of
    its specification, that calls every implementation like pluggy does."""
    spec_names = tuple(hook.spec.argnames) if hook.spec else ()
    impls = list(reversed(hook.get_hookimpls()))  # pluggy calls the last registered first
    if any(i.hookwrapper or i.wrapper or i.kwargnames for i in impls):
        return lambda *args: hook(**dict(zip(spec_names, args, strict=True)))
    firstresult = bool(hook.spec and hook.spec.opts.get("firstresult"))
    calls = [_positional(i.function, tuple(i.argnames), spec_names) for i in impls]
    if len(calls) == 1 and firstresult:
        return calls[0]
    if firstresult:
        return _first_result(calls)
    return _all_results(calls)


def _positional(function: Caller, names: tuple[str, ...], spec_names: tuple[str, ...]) -> Caller:
    """``function`` taking the spec's arguments positionally (an
    implementation may take fewer of them, in any order)."""
    if names == spec_names:
        return function
    where = tuple(spec_names.index(n) for n in names)
    if len(where) == 1:  # the common case (a hook taking only the job): no list built
        (only,) = where
        return lambda *args: function(args[only])
    return lambda *args: function(*[args[i] for i in where])


def _first_result(calls: Sequence[Caller]) -> Caller:
    def call(*args: Any) -> Any:
        for function in calls:
            result = function(*args)
            if result is not None:
                return result
        return None

    return call


def _all_results(calls: Sequence[Caller]) -> Caller:
    def call(*args: Any) -> list[Any]:
        results = []
        for function in calls:
            result = function(*args)
            if result is not None:
                results.append(result)
        return results

    return call
