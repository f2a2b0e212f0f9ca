"""Hand-built journeys for the metric tests.

The metrics read the journeys by contract (``table``, ``stages``, ``period``,
``last_ts``), so a test can write out exactly the users it needs, row by row, instead of
deriving them from events:

>>> j = J(pl.DataFrame({"user_id": ["a"], "reach_0": [jan(1)]}), ("Acquisition",), "week", jan(8))
>>> j.stages, j.mode
(('Acquisition',), 'lifecycle')
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

__all__ = ["MONDAY", "J", "jan", "reach_schema"]

#: Monday 1 January 2024, 00:00 UTC: the first day of ISO week 2024-W01.
MONDAY = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class J:
    """The journeys contract (table, stages, period, last_ts, mode), built by hand."""

    table: pl.DataFrame
    stages: tuple[str, ...]
    period: str
    last_ts: dt.datetime | None
    mode: str = "lifecycle"


def jan(day: int) -> dt.datetime:
    """Midnight UTC on ``day`` January 2024."""
    return dt.datetime(2024, 1, day, tzinfo=dt.UTC)


def reach_schema(stages: int) -> dict[str, pl.DataType | type[pl.DataType]]:
    """The schema of a journeys table: ``user_id``, then ``reach_0 … reach_{stages-1}`` (UTC).

    >>> list(reach_schema(2))
    ['user_id', 'reach_0', 'reach_1']
    """
    schema: dict[str, pl.DataType | type[pl.DataType]] = {"user_id": pl.String}
    return schema | {f"reach_{k}": pl.Datetime("us", "UTC") for k in range(stages)}
