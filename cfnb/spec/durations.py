"""Durations in a spec: ``"45s"``, ``"30m"``, ``"36h"``, ``"14d"``, ``"2w"``.

A duration is a whole, positive number of seconds. It may be written as text (a whole
number and a unit: ``s``, ``m``, ``h``, ``d``, ``w``, or the words ``seconds``,
``minutes``, ``hours``, ``days``, ``weeks``), as a :class:`datetime.timedelta`, or as a
whole number of seconds. :func:`format_duration` writes it back in the largest unit that
divides it exactly, so ``"14d"`` is written ``"2w"`` and ``"36h"`` stays ``"36h"``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TypeAlias

from cfnb.spec.errors import SpecError

__all__ = ["DurationLike", "format_duration", "parse_duration"]

DurationLike: TypeAlias = timedelta | str | int
"""What a spec accepts wherever it wants a duration."""

_UNIT_SECONDS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_UNIT_WORDS: dict[str, str] = {
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "m": "m",
    "min": "m",
    "mins": "m",
    "minute": "m",
    "minutes": "m",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "d": "d",
    "day": "d",
    "days": "d",
    "w": "w",
    "wk": "w",
    "wks": "w",
    "week": "w",
    "weeks": "w",
}
_TEXT = re.compile(r"\s*([+-]?\d+)\s*([A-Za-z]+)\s*")
_EXPECTED = "expected a duration like '14d'"


def parse_duration(value: object, path: str = "duration") -> timedelta:
    """Read a duration given as text, a ``timedelta`` or whole seconds.

    Parameters
    ----------
    value
        ``"45s"``, ``"30m"``, ``"36h"``, ``"14d"``, ``"2w"`` (also ``"3 days"``), a
        :class:`datetime.timedelta`, or an ``int`` number of seconds.
    path
        Where the value sits in the spec, used in the error message.

    Raises
    ------
    SpecError
        If the value is not a duration, is zero or negative, or is not a whole number of
        seconds.

    Examples
    --------
    >>> parse_duration("36h")
    datetime.timedelta(days=1, seconds=43200)
    >>> parse_duration(90)
    datetime.timedelta(seconds=90)
    >>> parse_duration(-3, "stages[2].within")
    Traceback (most recent call last):
    ...
    cfnb.spec.errors.SpecError: stages[2].within: expected a duration like '14d', got -3
    """
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = _seconds(value, value, path)
    elif isinstance(value, str):
        result = _parse_text(value, path)
    else:
        kind = type(value).__name__
        raise SpecError(path, f"{_EXPECTED}, got {value!r} ({kind})")
    if result <= timedelta(0):
        raise SpecError(path, f"{_EXPECTED}, got {_show(value)}; a duration must be positive")
    if result.microseconds:
        raise SpecError(path, f"{_EXPECTED}, got {_show(value)}; a duration must be whole seconds")
    return result


def format_duration(value: timedelta) -> str:
    """Write a duration in the largest unit that divides it exactly.

    Examples
    --------
    >>> from datetime import timedelta
    >>> format_duration(timedelta(days=14))
    '2w'
    >>> format_duration(timedelta(hours=36))
    '36h'
    >>> format_duration(timedelta(seconds=90))
    '90s'
    """
    seconds = parse_duration(value) // timedelta(seconds=1)
    for unit, size in _UNIT_SECONDS.items():
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("every whole number of seconds divides by 1")  # pragma: no cover


def _parse_text(text: str, path: str) -> timedelta:
    found = _TEXT.fullmatch(text)
    if found is None:
        raise SpecError(
            path, f"{_EXPECTED}, got {text!r}; write a whole number and a unit: s, m, h, d, w"
        )
    number, word = int(found.group(1)), found.group(2).lower()
    unit = _UNIT_WORDS.get(word)
    if unit is None:
        raise SpecError(
            path, f"{_EXPECTED}, got {text!r}; unknown unit {found.group(2)!r}, use s, m, h, d or w"
        )
    return _seconds(number * _UNIT_SECONDS[unit], text, path)


def _seconds(seconds: int, shown: object, path: str) -> timedelta:
    if seconds <= 0:
        suffix = "" if isinstance(shown, int) else "; a duration must be positive"
        raise SpecError(path, f"{_EXPECTED}, got {_show(shown)}{suffix}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise SpecError(path, f"{_EXPECTED}, got {_show(shown)}; that is too long") from None


def _show(value: object) -> str:
    if isinstance(value, timedelta):
        return repr(str(value))
    return repr(value)
