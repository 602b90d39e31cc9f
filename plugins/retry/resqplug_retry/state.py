"""A retry's state record, read back from Redis: untrusted input, checked
field by field so a record written by hand or by another version is one
clear error, never a traceback."""

from __future__ import annotations

import json
import math
from typing import Any

import resqplug

FIELDS: dict[str, tuple[type, ...]] = {
    "class": (str,),
    "queue": (str,),
    "attempts": (int,),
    "last_exception": (str,),
    "last_error": (str,),
    "next_at": (int, float),
}
LATEST_TIME = 1e11  # about year 5138: later is not a time a retry was set for


def read_state(raw: bytes) -> dict[str, Any]:
    """The checked state record; PayloadError says what is wrong with it."""
    try:
        state = json.loads(raw)
    except (ValueError, RecursionError):  # not UTF-8 or JSON, an int too long, too deep
        raise resqplug.PayloadError("it is not JSON") from None
    if not isinstance(state, dict):
        raise resqplug.PayloadError(f"it is a JSON {type(state).__name__}, not an object")
    for field, kinds in FIELDS.items():
        value = state.get(field)
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise resqplug.PayloadError(f"its {field!r} is {value!r:.60}")
    if not (math.isfinite(state["next_at"]) and 0 <= state["next_at"] < LATEST_TIME):
        raise resqplug.PayloadError(f"its 'next_at' is {state['next_at']!r}")
    return state
