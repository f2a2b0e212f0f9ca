"""The spec error, and the small helpers every spec message is made with.

A :class:`SpecError` says *where* (``.path``, written the way the TOML file is laid out,
e.g. ``stages[2].within``) and *what to do* (the message). Helpers here keep the
wording of "choose one of …" and "did you mean …?" the same across the package.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from cfnb.errors import CfnbError

__all__ = ["SpecError"]


class SpecError(CfnbError, ValueError):
    """A Factory spec (stages, predicates, durations, TOML) is invalid.

    Parameters
    ----------
    path
        Where the problem is, as in the TOML layout: ``"stages[2].within"``,
        ``"period"``; ``""`` for the whole document.
    message
        What is wrong and how to fix it.

    Examples
    --------
    >>> err = SpecError("stages[2].within", "expected a duration like '14d', got -3")
    >>> str(err)
    "stages[2].within: expected a duration like '14d', got -3"
    >>> err.path
    'stages[2].within'
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)

    def __reduce__(self) -> tuple[type[SpecError], tuple[str, str]]:
        return (type(self), (self.path, self.message))

    def under(self, prefix: str) -> SpecError:
        """Return the same error with ``prefix`` put in front of its path.

        Examples
        --------
        >>> SpecError("within", "bad").under("stages[2]").path
        'stages[2].within'
        """
        return type(self)(join_path(prefix, self.path), self.message)


def join_path(prefix: str, path: str) -> str:
    """Join two parts of a spec path: ``stages[1]`` + ``within`` → ``stages[1].within``."""
    if not prefix:
        return path
    if not path:
        return prefix
    return prefix + path if path.startswith("[") else f"{prefix}.{path}"


def close_matches(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` of ``choices`` that look like ``name`` (case-insensitive), best first."""
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    key = name.lower()
    # Swapped letters ("=>" for ">=", "wiht" for "with") are the likeliest slip.
    swapped = [c for c in by_lower if c != key and sorted(c) == sorted(key)]
    found = swapped + difflib.get_close_matches(key, list(by_lower), n=n, cutoff=0.6)
    return [by_lower[c] for c in dict.fromkeys(found)][:n]


def suggestion(name: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""`` if none is close."""
    close = close_matches(name, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def choice_list(choices: Iterable[str], first: str | None = None, limit: int = 20) -> str:
    """Quote ``choices`` as ``'a', 'b', 'c'``; close matches of ``first`` come first.

    Long lists are cut after ``limit`` names with a count of the rest, so a message about
    a log with hundreds of columns stays readable.
    """
    pool = list(dict.fromkeys(choices))
    if first is not None:
        close = close_matches(first, pool)
        pool = close + [c for c in pool if c not in close]
    shown = ", ".join(repr(c) for c in pool[:limit])
    if len(pool) > limit:
        shown += f" and {len(pool) - limit} more"
    return shown


def unknown_choice(what: str, value: object, choices: Iterable[str]) -> str:
    """Message for a value that is not one of a fixed set of choices.

    Examples
    --------
    >>> unknown_choice("period", "weak", ["day", "week", "month"])
    "unknown period 'weak'; choose one of 'day', 'week', 'month'; did you mean 'week'?"
    """
    pool = list(choices)
    hint = suggestion(value, pool) if isinstance(value, str) else ""
    return f"unknown {what} {value!r}; choose one of {choice_list(pool)}{hint}"
