"""Errors raised by cfnb.

Every error names the thing that is wrong (a file, a row, a column, a field of a spec)
and says what to do about it. They all derive from :class:`CfnbError`, so a notebook can
catch everything cfnb raises in one ``except``; each also derives from the built-in
exception a Python user would expect (``FileNotFoundError``, ``ValueError``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cfnb.eventlog import LoadReport

__all__ = [
    "ActivityError",
    "AmbiguousColumnError",
    "CfnbError",
    "ColumnNotFoundError",
    "EmptyFileError",
    "JourneyError",
    "LoadError",
    "MetricError",
    "NoUsableRowsError",
    "NotUtf8Error",
    "SourceNotFoundError",
    "ThroughputError",
    "TimestampError",
    "UnsupportedSourceError",
    "WrongDelimiterError",
    "did_you_mean",
]


class CfnbError(Exception):
    """Base class of every error cfnb raises on purpose."""


class LoadError(CfnbError, ValueError):
    """An event log could not be loaded as given."""


class SourceNotFoundError(LoadError, FileNotFoundError):
    """The file, glob or directory given to :func:`cfnb.load` does not exist."""


class UnsupportedSourceError(LoadError, TypeError):
    """The source is neither a supported file format nor a supported frame type."""


class EmptyFileError(LoadError):
    """The file holds no data rows (it is empty, or has a header only)."""


class WrongDelimiterError(LoadError):
    """The file's rows do not split into columns with the delimiter used."""


class NotUtf8Error(LoadError, UnicodeError):
    """The file's bytes are not valid UTF-8 (and no other encoding was given)."""


class ColumnNotFoundError(LoadError, KeyError):
    """A column named in the mapping, or needed by it, is not in the source."""

    def __str__(self) -> str:  # KeyError would otherwise wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class AmbiguousColumnError(LoadError):
    """More than one source column could play the same role (user, event, time)."""


class TimestampError(LoadError):
    """The timestamp column's values cannot be read as times as configured."""


class NoUsableRowsError(LoadError):
    """Every row of the source was rejected.

    The load report and the rejected rows are attached, so nothing is lost even when
    loading fails: ``err.report`` and ``err.rejected``.
    """

    def __init__(self, message: str, report: LoadReport, rejected: Any) -> None:
        super().__init__(message)
        self.report = report
        self.rejected = rejected


class JourneyError(CfnbError, ValueError):
    """The events table cannot be turned into journeys as given.

    Raised by :func:`cfnb.journeys.build_journeys` (missing ``user_id``/``event``/``ts``
    columns, or a ``ts`` column that does not hold timestamps).
    """


class MetricError(CfnbError, ValueError):
    """A metric cannot be computed from the inputs as given (the message says what to do).

    Raised by the constraint, activation, referral and revenue metrics of
    :mod:`cfnb.metrics`.
    """


class ActivityError(CfnbError, ValueError):
    """Retention's inputs do not fit together.

    Raised by :mod:`cfnb.metrics.retention`: events without ``user_id``/``ts``, an
    activity built from other journeys, or journeys without the cohort stage's column.
    """


class ThroughputError(CfnbError, ValueError):
    """Throughput cannot be computed for these journeys as asked.

    Raised by :func:`cfnb.metrics.throughput.throughput` when the journeys table lacks
    the happy stage's ``reach_i`` column.
    """


def did_you_mean(name: str, choices: Iterable[str], *, n: int = 3) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choices, or ``""``.

    Examples
    --------
    >>> did_you_mean("user", ["user_id", "event", "ts"])
    " Did you mean 'user_id'?"
    """
    pool = list(choices)
    by_case = {c.lower(): c for c in pool}
    close = difflib.get_close_matches(name.lower(), list(by_case), n=n, cutoff=0.6)
    if not close:
        return ""
    quoted = " or ".join(f"'{by_case[c]}'" for c in close)
    return f" Did you mean {quoted}?"


# Spec errors live with the spec (cfnb.spec imports CfnbError from here, so this import
# must come last); re-exported so `cfnb.errors` lists every error cfnb raises.
from cfnb.spec.errors import SpecError  # noqa: E402

__all__ += ["SpecError"]
