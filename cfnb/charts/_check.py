"""Friendly type checks at the boundary of the chart functions."""

from __future__ import annotations

from typing import Any


def expect(result: object, kind: type[Any], function: str, how: str) -> None:
    """Raise a ``TypeError`` naming the result ``function`` needs and how to compute it."""
    if not isinstance(result, kind):
        got = type(result).__name__
        hint = ""
        if got == "DataFrame":
            hint = " (charts draw results, not tables or raw events)"
        raise TypeError(f"{function} takes a {kind.__name__} from {how}, got {got}{hint}")
