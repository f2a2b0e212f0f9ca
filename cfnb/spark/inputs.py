"""Reduced events frames: what revenue, referral and activation read, rebuilt on the driver.

The metrics of :mod:`cfnb.metrics` read an events frame. On Spark the driver never holds
the events, so for each metric an executor pass (:mod:`cfnb.spark.partition`) returns a
per-user summary, and this module turns it back into a small frame with the events'
columns on which the *unchanged* metric function gives the result it gives on the full
log. Each builder says why.

A metric's own argument checks run first on an empty frame with the log's columns, so a
wrong column or condition raises the metric's own error before any pass.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import polars as pl

from cfnb.backend import EarlyEvents, Invites, Need, Payments, Referrers
from cfnb.journeys import Journeys
from cfnb.metrics import activation as _activation
from cfnb.metrics._inputs import filter_events, predicate_expr
from cfnb.periods import UTC_US
from cfnb.reduced import like_log
from cfnb.spark.partition import (
    DAY_US,
    EarlyWant,
    HitsWant,
    InvitesWant,
    PaymentsWant,
    ReferrersWant,
    Want,
)

if TYPE_CHECKING:
    from cfnb.spark.backend import SparkBackend

__all__ = ["inputs"]


def inputs(
    backend: SparkBackend, need: Need, journeys: Journeys
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The frame (and keyword overrides) the metric behind ``need`` reads on this log."""
    if isinstance(need, Payments):
        return _payments(backend, need, journeys)
    if isinstance(need, Invites | Referrers):
        # Both come from one pass: the referrer on the acquisition row, and the invites.
        wants = _referrer_wants(backend, need.referrer, journeys)
        invite = None
        if isinstance(need, Invites) and need.invite is not None:
            invite = predicate_expr(need.invite, "invite")
            filter_events(backend.empty(), invite, "invite")  # an unknown column raises here
            wants.append((("invites", need.invite), InvitesWant(invite)))
        tables = backend.fetch(journeys, wants)
        frames = []
        if wants and isinstance(wants[0][1], ReferrersWant):
            frames.append(_referrers(tables.pop(0), need.referrer, journeys))
        if invite is not None:
            frames.append(_invites(tables.pop(0)))
        return _like_log(backend, frames), {}
    return _early(backend, need, journeys)


def _like_log(
    backend: SparkBackend,
    frames: list[pl.DataFrame],
    types: dict[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """``frames`` with exactly the log's columns (missing ones null), in its types or ``types``."""
    return like_log(dict(backend.schema), frames, types)


def _users(journeys: Journeys) -> pl.DataFrame:
    return journeys.table.select("user_id", pl.col("reach_0").cast(UTC_US))


def _payments(
    backend: SparkBackend, need: Payments, journeys: Journeys
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """One row per user, day after ``reach_0`` and sign: the day's positive (or other) sum.

    Revenue keeps rows with an amount at or after ``reach_0``; per user it sums them and
    asks whether one is positive, per age (whole days after ``reach_0``) it sums them.
    The day's positive sum is positive exactly when one amount was, and sums of sums
    are the sums (up to float rounding order, exact for amounts in cents or quarters
    alike when they are whole binary fractions). The condition is applied on Spark, so
    the metric is told ``paid=None``.
    """
    schema, amount = backend.schema, need.amount
    if amount not in schema or not schema[amount].is_numeric():
        return backend.empty(), {}  # the metric says what is wrong with the column
    expr = None if need.paid is None else predicate_expr(need.paid, "paid")
    if expr is not None:
        filter_events(backend.empty(), expr, "paid")  # an unknown column raises here
    (sums,) = backend.fetch(journeys, [(("payments", need), PaymentsWant(expr, amount))])
    if sums.height == 0:
        return _like_log(backend, [], {amount: pl.Float64()}), {"paid": None}
    rows = pl.concat(
        [
            sums.filter(pl.col("__has_pos")).select("user_id", "__day", __a=pl.col("__pos")),
            sums.filter(pl.col("__has_rest")).select("user_id", "__day", __a=pl.col("__rest")),
        ]
    )
    frame = rows.join(_users(journeys), on="user_id").select(
        "user_id",
        ts=pl.col("reach_0") + pl.duration(microseconds=pl.col("__day") * DAY_US),
        **{amount: pl.col("__a")},
    )
    # Sums stay Float64: the metric reads amounts as Float64 whatever the column's type.
    return _like_log(backend, [frame], {amount: pl.Float64()}), {"paid": None}


def _referrer_wants(
    backend: SparkBackend, referrer: str, journeys: Journeys
) -> list[tuple[Any, Want]]:
    # Read from the journeys when they carry the column as a segment, as the metric does.
    if referrer not in backend.schema or referrer in journeys.table.columns:
        return []
    return [(("referrers", referrer), ReferrersWant(referrer))]


def _referrers(found: pl.DataFrame, referrer: str, journeys: Journeys) -> pl.DataFrame:
    """One row per user at ``reach_0`` holding the smallest referrer seen at that instant.

    That is all the metrics read of the referrer column (and only when the journeys do
    not carry it as a segment).
    """
    if found.height == 0:
        return pl.DataFrame()
    return found.join(_users(journeys), on="user_id").select(
        "user_id", ts=pl.col("reach_0"), **{referrer: pl.col("__referrer")}
    )


def _invites(found: pl.DataFrame) -> pl.DataFrame:
    """Per inviting user, ``n`` copies of their first invite at or after ``reach_0``.

    Referral counts a user's invites at or after ``reach_0``; copies of a real invite
    row match the invite condition and that window as the originals do.
    """
    if found.height == 0:
        return pl.DataFrame()
    index = pl.int_range(pl.len()).repeat_by(pl.col("__invites")).explode()
    return found.select(pl.all().gather(found.select(index).to_series())).drop("__invites")


def _early(
    backend: SparkBackend, need: EarlyEvents, journeys: Journeys
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Per user and event, ``min(n, max(counts))`` rows at ``reach_0`` (``n`` in the first days).

    The candidates count each user's events of each name in the first ``first_days``
    days and ask "at least c times" for c in ``counts``: capped counts give the same
    answers. A condition as ``retained`` adds one real matching event per user in the
    outcome window: the metric only asks whether there is one.
    """
    options = dict(need.options)
    # The metric checks its own arguments: on the empty log it raises before any pass.
    _activation.activation_candidates(backend.empty(), journeys, **options)
    defaults = inspect.signature(_activation.activation_candidates).parameters
    value = {k: options.get(k, p.default) for k, p in defaults.items()}
    first_days, counts = int(value["first_days"]), value["counts"]
    cap = max(counts)
    wants: list[tuple[Any, Want]] = [(("early", first_days, cap), EarlyWant(first_days, cap))]
    retained = value["retained"]
    if retained is not None and not isinstance(retained, bool | int | str):
        expr = predicate_expr(retained, "retained")
        start, end = first_days, first_days + int(value["outcome_days"])
        wants.append((("hits", retained, start, end), HitsWant(expr, start, end)))
    early, *hits = backend.fetch(journeys, wants)
    frames = []
    if early.height:
        rows = early.join(_users(journeys), on="user_id").select(
            "user_id", "event", ts=pl.col("reach_0"), __n=pl.col("__n")
        )
        index = pl.int_range(pl.len()).repeat_by(pl.col("__n")).explode()
        frames.append(rows.select(pl.all().gather(rows.select(index).to_series())).drop("__n"))
    return _like_log(backend, [*frames, *hits]), {}
