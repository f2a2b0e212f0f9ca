"""The load report's numbers, counted per partition of users and summed on the driver.

Every row of a user lives in one partition, and so does every copy of an exact
duplicate row (the copies share their user), so distinct users, distinct users per
event name and duplicate copies all add up across partitions exactly. One pass thus
counts everything the report needs, and it is the pass that fills the executors' cache
of the partitioned events.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from cfnb.periods import UTC_US

__all__ = ["LoadStats", "combine", "partition_stats"]


@dataclass(frozen=True)
class LoadStats:
    """The numbers of a load report, and the events' schema as executors read it."""

    reasons: dict[str | None, int]  # rows per rejection reason; None: loaded
    duplicates: int  # exact duplicate copies among loaded rows (before any drop)
    users: int
    event_names: pl.DataFrame  # event, events, users; most frequent first
    first_ts: dt.datetime | None
    last_ts: dt.datetime | None
    schema: dict[str, pl.DataType]
    first_events: pl.DataFrame  # event, len: users whose first event it is; most first


def partition_stats(
    frame: pl.DataFrame, public: list[str], reason: str, seq: str, drop: bool
) -> list[pl.DataFrame]:
    """Counts of one partition: reasons; per event name; users and duplicates; schema;
    first events.

    ``seq`` numbers the rows in the source's order: a user's first event is their
    earliest, and among events at that instant the first row, as locally.
    """
    reasons = frame.group_by(reason).agg(n=pl.len().cast(pl.Int64))
    first = (
        frame.filter(pl.col(reason).is_null())
        .group_by("user_id")
        .agg(pl.col("event").sort_by("ts", seq).first())
        .group_by("event")
        .agg(len=pl.len().cast(pl.Int64))
    )
    loaded = frame.filter(pl.col(reason).is_null()).select(public)
    loaded = loaded.with_columns(pl.col("ts").dt.convert_time_zone("UTC").cast(UTC_US))
    unique = loaded.unique()
    duplicates = loaded.height - unique.height
    if drop:
        loaded = unique
    per_event = loaded.group_by("event").agg(
        events=pl.len().cast(pl.Int64),
        users=pl.col("user_id").n_unique().cast(pl.Int64),
        first=pl.col("ts").min(),
        last=pl.col("ts").max(),
    )
    totals = pl.DataFrame(
        {"users": [loaded["user_id"].n_unique()], "duplicates": [duplicates]},
        schema={"users": pl.Int64, "duplicates": pl.Int64},
    )
    return [reasons, per_event, totals, loaded.head(0), first]


def combine(parts: list[list[pl.DataFrame]], reason: str) -> LoadStats:
    """The whole log's numbers from every partition's :func:`partition_stats`."""
    reasons, per_event, totals, schemas, first = parts
    counts = pl.concat(reasons).group_by(reason).agg(pl.col("n").sum())
    events = (
        pl.concat(per_event)
        .group_by("event")
        .agg(
            pl.col("events").sum(),
            pl.col("users").sum(),
            pl.col("first").min(),
            pl.col("last").max(),
        )
        .sort(["events", "event"], descending=[True, False])
    )
    total = pl.concat(totals).sum()
    return LoadStats(
        reasons={r: int(n) for r, n in counts.iter_rows()},
        duplicates=int(total["duplicates"].item()),
        users=int(total["users"].item()),
        event_names=events.select("event", "events", "users"),
        first_ts=events["first"].min() if events.height else None,  # type: ignore[arg-type]
        last_ts=events["last"].max() if events.height else None,  # type: ignore[arg-type]
        schema=dict(schemas[0].schema),
        first_events=pl.concat(first)
        .group_by("event")
        .agg(pl.col("len").sum().cast(pl.UInt32))
        .sort(["len", "event"], descending=[True, False]),
    )
