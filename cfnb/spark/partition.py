"""What one Spark task computes from its partition of users: small per-user tables.

Every row of a user is in the same partition (the events are hash-partitioned by
``user_id``), and the journeys of a user depend on that user's rows only, so the
ordinary engine (:func:`cfnb.journeys.build_journeys`) run on one partition gives
exactly the rows the whole log would give for those users: same canonical order, same
ties. :func:`compute` builds them once per task and derives what the driver asked for
(the *wants*), each a table of at most a few rows per user. Nothing here imports
pyspark; :mod:`cfnb.spark.passes` ships it to the executors.

Day buckets
-----------
Retention, revenue by age and the activation candidates look at events relative to a
user's ``reach_0`` in whole days, weeks or calendar months. Every such boundary lies a
whole number of UTC days after the anchor (a calendar month from 31 Jan 09:30 ends on
29 Feb 09:30), so events are summarised per *day bucket* ``(ts - reach_0) // 1 day``:
within one bucket a boundary splits the events at most once. That makes the summaries
exact, not approximations; each want says why its summary suffices.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TypeAlias

import polars as pl

from cfnb.journeys import Journeys, build_journeys
from cfnb.metrics import retention as _retention
from cfnb.periods import UTC_US
from cfnb.spark._state import export_state, first_starts
from cfnb.spec import Factory, Predicate

__all__ = [
    "DAY_US",
    "ActivityWant",
    "ChainsWant",
    "EarlyWant",
    "HitsWant",
    "InvitesWant",
    "PaymentsWant",
    "ReferrersWant",
    "Task",
    "Want",
    "compute",
    "needed_columns",
]

DAY_US = 86_400_000_000


@dataclass(frozen=True)
class ChainsWant:
    """The journeys' raw chains and anchor rows (see :mod:`cfnb.spark._state`)."""


@dataclass(frozen=True)
class ActivityWant:
    """Retention's activity relative to each user's first start, two instants per day.

    Per user and day bucket only the first and last active instants are kept. Any
    anchor at or after the first start (``reach_0``, or a later stage's reach) splits a
    bucket at most once, so the anchor-relative periods holding the bucket's events are
    those of its first and last instant; ``on_or_after`` and the activation effect read
    only the last instant, which is kept too.
    """

    active: Predicate | pl.Expr | None


@dataclass(frozen=True)
class PaymentsWant:
    """Per user and day bucket after ``reach_0``: the sums of positive and other amounts.

    Revenue needs per user the total and whether one amount was positive, and per age
    (a whole number of days after ``reach_0``) the sum: both follow from these sums.
    """

    paid: pl.Expr | None
    amount: str


@dataclass(frozen=True)
class InvitesWant:
    """Per inviting user: one real invite at or after ``reach_0``, and how many there are."""

    invite: pl.Expr


@dataclass(frozen=True)
class ReferrersWant:
    """Per user: the smallest non-null referrer on their events at the ``reach_0`` instant."""

    referrer: str


@dataclass(frozen=True)
class EarlyWant:
    """Per user and event: how many in ``[reach_0, reach_0 + days)``, capped at ``cap``.

    The candidates only ask "at least n times" for n up to ``cap``.
    """

    days: int
    cap: int


@dataclass(frozen=True)
class HitsWant:
    """Per user: one real event matching ``retained`` in the outcome window, if any."""

    retained: pl.Expr
    start_days: int
    end_days: int


Want: TypeAlias = (
    ChainsWant | ActivityWant | PaymentsWant | InvitesWant | ReferrersWant | EarlyWant | HitsWant
)


@dataclass(frozen=True)
class Task:
    """One pass over the partitions: the spec, the log's last timestamp, the wants."""

    factory: Factory
    last_ts: dt.datetime | None
    wants: tuple[Want, ...]


def needed_columns(schema: Iterable[str], task: Task) -> list[str] | None:
    """The columns a pass must read for ``task``; ``None`` for all of them.

    The chains carry every column of their anchor rows (segment edits are answered on
    the driver), so a pass computing them reads everything. Other passes read the
    journeys' columns (the stages' conditions, the segments the engine checks) and their
    wants' own: moving fewer columns from the JVM to Python is most of a pass's saving.
    """
    factory = task.factory
    needed = {"user_id", "event", "ts", *factory.segment_by}
    reads: list[object] = [stage.match for stage in factory.stages]
    for want in task.wants:
        if isinstance(want, ChainsWant):
            return None
        if isinstance(want, ActivityWant):
            reads.append(want.active)
        elif isinstance(want, PaymentsWant):
            reads.append(want.paid)
            needed.add(want.amount)
        elif isinstance(want, InvitesWant):
            reads.append(want.invite)
        elif isinstance(want, ReferrersWant):
            needed.add(want.referrer)
        elif isinstance(want, HitsWant):
            reads.append(want.retained)
    for condition in reads:
        names = _reads(condition)
        if names is None:
            return None
        needed |= names
    return [c for c in schema if c in needed]


def _reads(condition: object) -> set[str] | None:
    """The columns a condition reads; ``None`` when that cannot be told."""
    if condition is None:
        return set()
    if isinstance(condition, pl.Expr):
        try:
            return set(condition.meta.root_names())
        except pl.exceptions.PolarsError:  # e.g. a wildcard: read everything
            return None
    columns = getattr(condition, "columns", None)
    return set(columns()) if callable(columns) else None


def compute(events: pl.DataFrame, task: Task) -> list[pl.DataFrame]:
    """One table per want (in order) for the users of ``events``, one partition of them."""
    journeys = build_journeys(events, task.factory, last_ts=task.last_ts)
    return [_one(journeys, want) for want in task.wants]


def _users(journeys: Journeys) -> pl.DataFrame:
    return journeys.table.select("user_id", "reach_0")


def _after_reach(journeys: Journeys, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.join(_users(journeys), on="user_id").filter(pl.col("ts") >= pl.col("reach_0"))


def _day() -> pl.Expr:
    return (pl.col("ts") - pl.col("reach_0")).dt.total_microseconds() // DAY_US


def _one(journeys: Journeys, want: Want) -> pl.DataFrame:
    events = journeys._source.frame()  # checked by the engine: user_id, event String; ts UTC µs
    if isinstance(want, ChainsWant):
        return export_state(journeys)
    if isinstance(want, ActivityWant):
        return _activity(journeys, want)
    if isinstance(want, PaymentsWant):
        rows = events if want.paid is None else events.filter(want.paid.fill_null(False))
        amount = pl.col("__a")
        positive = amount > 0
        return (
            _after_reach(
                journeys,
                rows.select("user_id", "ts", __a=pl.col(want.amount).cast(pl.Float64)).filter(
                    amount.is_not_null()
                ),
            )
            .group_by("user_id", __day=_day())
            .agg(
                __pos=amount.filter(positive).sum(),
                __has_pos=positive.any(),
                # NaN is not positive: it goes with the rest, as it would into a total.
                __rest=amount.filter(~positive).sum(),
                __has_rest=(~positive).any(),
            )
        )
    if isinstance(want, InvitesWant):
        sent = _after_reach(journeys, events.filter(want.invite.fill_null(False)))
        counts = sent.group_by("user_id").agg(__invites=pl.len())
        first = sent.unique("user_id", keep="first", maintain_order=True).select(events.columns)
        return first.join(counts, on="user_id")
    if isinstance(want, ReferrersWant):
        col = want.referrer
        return (
            events.select("user_id", "ts", pl.col(col).cast(pl.String))
            .join(_users(journeys), on="user_id")
            .filter(pl.col("ts") == pl.col("reach_0"), pl.col(col).is_not_null())
            .group_by("user_id")
            .agg(__referrer=pl.col(col).min())
        )
    if isinstance(want, EarlyWant):
        return (
            _after_reach(journeys, events.select("user_id", "event", "ts"))
            .filter(pl.col("ts") < pl.col("reach_0") + pl.duration(days=want.days))
            .group_by("user_id", "event")
            .agg(__n=pl.len().clip(upper_bound=want.cap))
        )
    hits = events.filter(want.retained.fill_null(False))
    start, end = pl.duration(days=want.start_days), pl.duration(days=want.end_days)
    return (
        _after_reach(journeys, hits)
        .filter(pl.col("ts") >= pl.col("reach_0") + start, pl.col("ts") < pl.col("reach_0") + end)
        .unique("user_id", keep="first", maintain_order=True)
        .select(events.columns)
    )


def _activity(journeys: Journeys, want: ActivityWant) -> pl.DataFrame:
    base = first_starts(journeys)
    # In lifecycle the first start is reach_0: the journeys answer from their own index.
    source = journeys if base is journeys.table else SimpleNamespace(table=base)
    table = _retention.activity(journeys._source.frame(), source, want.active).table
    flat = table.select("user_id", "offsets").explode("offsets").drop_nulls("offsets")
    key = pl.struct(pl.col("user_id"), pl.col("offsets") // DAY_US)
    # Offsets are sorted per user: a run of one (user, day) is contiguous.
    edge = (key != key.shift(1)).fill_null(True) | (key != key.shift(-1)).fill_null(True)
    kept = flat.filter(edge).group_by("user_id", maintain_order=True).agg(pl.col("offsets"))
    return (
        base.select("user_id", __base=pl.col("reach_0").cast(UTC_US))
        .join(kept, on="user_id", how="left", maintain_order="left")
        .with_columns(pl.col("offsets").fill_null(pl.lit([], dtype=pl.List(pl.Int64))))
    )
