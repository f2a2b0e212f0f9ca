"""Revenue: paying share, revenue, ARPU and ARPPU per cohort, and revenue by age.

DESIGN.md §5. Semantics, exactly:

* **Payments** are the events matching ``paid`` (default: every event with a non-null
  ``amount``) made by acquired users at or after their ``reach_0``. A payment's value is
  its ``amount``; rows with a null amount are ignored, negative amounts (refunds) count.
* **Per cohort** (calendar period of ``reach_0``), with everything paid up to the log's
  last timestamp: ``users`` (acquired), ``paying`` (users with at least one payment of
  a positive amount), ``paying_share = paying / users``, ``revenue`` (sum of amounts),
  ``arpu = revenue / users`` (average revenue per acquired user) and
  ``arppu = revenue / paying`` (per paying user; null with no paying user).
* **Cumulative revenue per user by age**: age ``k`` is the user-relative period ``k``
  (from ``add_periods(reach_0, k)`` to ``add_periods(reach_0, k + 1)``, as in retention).
  Cell ``(cohort, k)`` counts only users whose period ``k`` has fully elapsed by the last
  timestamp; ``revenue`` is what those users paid before the end of their period ``k``
  and ``revenue_per_user`` is that divided by those users. A cell with no such user is
  null, never 0, so a young cohort's curve stops instead of dropping.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from cfnb.errors import MetricError
from cfnb.metrics._inputs import (
    JourneysLike,
    PredicateLike,
    check_journeys,
    events_frame,
    filter_events,
    predicate_expr,
)
from cfnb.metrics._render import html_table, json_rows, pct
from cfnb.periods import UTC_US, period_start, utc_datetime, whole_periods
from cfnb.stats import wilson_interval

__all__ = ["RevenueResult", "revenue"]

_COHORT_SCHEMA = {
    "cohort": pl.Date,
    "users": pl.Int64,
    "paying": pl.Int64,
    "paying_share": pl.Float64,
    "revenue": pl.Float64,
    "arpu": pl.Float64,
    "arppu": pl.Float64,
}
_AGE_SCHEMA = {
    "cohort": pl.Date,
    "age": pl.Int64,
    "users": pl.Int64,
    "revenue": pl.Float64,
    "revenue_per_user": pl.Float64,
}


@dataclass(frozen=True)
class RevenueResult:
    """Revenue per cohort and by age (semantics in the module docstring).

    Attributes
    ----------
    table : pl.DataFrame
        ``cohort, users, paying, paying_share, revenue, arpu, arppu``.
    by_age : pl.DataFrame
        ``cohort, age, users, revenue, revenue_per_user`` (cumulative; null when unelapsed).
    users, paying, revenue : int, int, float
        Totals over all acquired users.
    paying_share, paying_lower, paying_upper : float or None
        Overall paying share with its Wilson interval at ``level``.
    arpu, arppu : float or None
        Overall revenue per acquired user and per paying user.

    Examples
    --------
    >>> result = revenue(journeys, events, paid="purchase")   # doctest: +SKIP
    >>> result.arpu                                             # doctest: +SKIP
    4.2
    """

    period: str
    table: pl.DataFrame
    by_age: pl.DataFrame
    users: int
    paying: int
    revenue: float
    paying_share: float | None
    paying_lower: float | None
    paying_upper: float | None
    arpu: float | None
    arppu: float | None
    level: float = 0.95

    @property
    def summary(self) -> str:
        """The overall numbers in one sentence."""
        if not self.users:
            return "Revenue: no acquired users yet"
        arppu = "—" if self.arppu is None else f"{self.arppu:,.2f}"
        return (
            f"{pct(self.paying_share)} of {self.users:,} users paid ({self.level:.0%} CI "
            f"{pct(self.paying_lower)} to {pct(self.paying_upper)}); revenue "
            f"{self.revenue:,.2f}, ARPU {self.arpu or 0:,.2f}, ARPPU {arppu}"
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready totals, cohorts and the by-age curve."""
        return {
            "period": self.period,
            "summary": self.summary,
            "users": self.users,
            "paying": self.paying,
            "revenue": self.revenue,
            "paying_share": self.paying_share,
            "paying_lower": self.paying_lower,
            "paying_upper": self.paying_upper,
            "arpu": self.arpu,
            "arppu": self.arppu,
            "cohorts": json_rows(self.table),
            "by_age": json_rows(self.by_age),
        }

    def _repr_html_(self) -> str:
        return html_table(self.table, title="Revenue", rates=("paying_share",), lead=self.summary)

    def __str__(self) -> str:
        return self.summary


def revenue(
    journeys: JourneysLike,
    events: object,
    *,
    paid: pl.Expr | PredicateLike | str | None = None,
    amount: str = "amount",
    max_age: int | None = None,
    level: float = 0.95,
) -> RevenueResult:
    """Paying share, revenue, ARPU and ARPPU per cohort, and cumulative revenue by age.

    Parameters
    ----------
    journeys : Journeys
        One row per acquired user.
    events : pl.DataFrame or EventLog
        The events, with the ``amount`` column.
    paid : predicate, pl.Expr or str, optional
        Which events are payments (a string is an event name); default: every event with
        a non-null ``amount``.
    amount : str
        The column holding a payment's value.
    max_age : int, optional
        Last age (in periods) of the by-age table; default: the oldest elapsed age.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from types import SimpleNamespace as NS
    >>> t, day = dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.timedelta(days=1)
    >>> table = pl.DataFrame({"user_id": ["a", "b"], "reach_0": [t, t]})
    >>> events = pl.DataFrame({"user_id": ["a", "a"], "event": ["buy", "buy"],
    ...                        "ts": [t, t + 8 * day], "amount": [10.0, 5.0]})
    >>> j = NS(table=table, stages=("Acquisition",), period="week", last_ts=t + 15 * day)
    >>> r = revenue(j, events, paid="buy")
    >>> r.table.select("users", "paying", "revenue", "arpu", "arppu").row(0)
    (2, 1, 15.0, 7.5, 15.0)
    >>> r.by_age.select("age", "users", "revenue_per_user").rows()
    [(0, 2, 5.0), (1, 2, 7.5)]
    """
    check_journeys(journeys)
    frame = events_frame(events, ("user_id", "ts"))
    if amount not in frame.columns:
        numeric = [c for c, t in frame.schema.items() if t.is_numeric()]
        raise MetricError(
            f"the events have no amount column {amount!r}: pass amount='<column>' "
            f"(numeric columns: {', '.join(numeric) or 'none'})"
        )
    if not frame.schema[amount].is_numeric():
        raise MetricError(
            f"column {amount!r} is {frame.schema[amount]}, not a number: load it as numeric "
            "or pass amount= naming the numeric column"
        )
    if max_age is not None and max_age < 0:
        raise MetricError(f"max_age must be ≥ 0, got {max_age}")
    period = journeys.period
    users = journeys.table.select(
        "user_id",
        pl.col("reach_0").cast(UTC_US),
        cohort=period_start(pl.col("reach_0"), period),
    ).with_row_index("_row")
    rows = frame if paid is None else filter_events(frame, predicate_expr(paid, "paid"), "paid")
    payments = (
        rows.select("user_id", pl.col("ts").cast(UTC_US), _amount=pl.col(amount).cast(pl.Float64))
        .filter(pl.col("_amount").is_not_null())
        .join(users, on="user_id")
        .filter(pl.col("ts") >= pl.col("reach_0"))
    )
    per_user = _per_user(users, payments)

    per_cohort = (
        per_user.group_by("cohort")
        .agg(
            users=pl.len().cast(pl.Int64),
            paying=pl.col("_paid").sum().cast(pl.Int64),
            revenue=pl.col("_total").sum(),
        )
        .with_columns(
            paying_share=pl.col("paying") / pl.col("users"),
            arpu=pl.col("revenue") / pl.col("users"),
            arppu=pl.when(pl.col("paying") > 0).then(pl.col("revenue") / pl.col("paying")),
        )
        .select(list(_COHORT_SCHEMA))
        .sort("cohort")
    )
    n = per_user.height
    n_paying = int(per_user["_paid"].sum())
    total = float(per_user["_total"].sum()) if n else 0.0
    share = wilson_interval(n_paying, n, level=level)
    return RevenueResult(
        period=period,
        table=per_cohort.cast(pl.Schema(_COHORT_SCHEMA)),
        by_age=_by_age(users, payments, journeys.last_ts, period, max_age),
        users=n,
        paying=n_paying,
        revenue=total,
        paying_share=share.value,
        paying_lower=share.lower,
        paying_upper=share.upper,
        arpu=total / n if n else None,
        arppu=total / n_paying if n_paying else None,
        level=level,
    )


def _per_user(users: pl.DataFrame, payments: pl.DataFrame) -> pl.DataFrame:
    """``users`` with ``_total`` (sum of their payments) and ``_paid`` (one was positive).

    The payers' values are put in place by row number: a join of every user id would
    cost more than all the rest of the metric.
    """
    found = payments.group_by("_row").agg(
        _total=pl.col("_amount").sum(), _paid=(pl.col("_amount") > 0).any()
    )
    rows = found["_row"].to_numpy()
    total = np.zeros(users.height, dtype=np.float64)
    total[rows] = found["_total"].to_numpy()
    paid = np.zeros(users.height, dtype=bool)
    paid[rows] = found["_paid"].to_numpy()
    return users.with_columns(_total=pl.Series(total), _paid=pl.Series(paid))


def _by_age(
    users: pl.DataFrame,
    payments: pl.DataFrame,
    last_ts: dt.datetime | None,
    period: str,
    max_age: int | None,
) -> pl.DataFrame:
    if users.height == 0 or last_ts is None:
        return pl.DataFrame(schema=_AGE_SCHEMA)
    last = pl.lit(utc_datetime(last_ts))
    # Periods 0 … elapsed-1 of a user have fully elapsed by the last timestamp.
    aged = users.with_columns(_elapsed=whole_periods(pl.col("reach_0"), last, period))
    oldest = int(aged["_elapsed"].max() or 0) - 1  # type: ignore[arg-type]
    if max_age is not None:
        oldest = min(oldest, max_age)
    if oldest < 0:
        return pl.DataFrame(schema=_AGE_SCHEMA)
    ages = pl.DataFrame({"age": pl.int_range(0, oldest + 1, eager=True).cast(pl.Int64)})
    # Histograms instead of a users x ages grid (which outgrows memory on big logs):
    # cell (cohort, a) counts users whose period a has elapsed (elapsed > a), and sums
    # the payments made at ages 0 … a by those users (a payment at age p of a user with
    # `elapsed` periods counts in every cell p <= a < elapsed).
    eligible = (
        aged.filter(pl.col("_elapsed") > 0)
        .group_by("cohort", "_elapsed")
        .agg(n=pl.len())
        .join(ages, how="cross")
        .filter(pl.col("age") < pl.col("_elapsed"))
        .group_by("cohort", "age")
        .agg(users=pl.col("n").sum().cast(pl.Int64))
    )
    paid = (
        payments.with_columns(_elapsed=aged["_elapsed"].gather(payments["_row"]))
        .with_columns(paid_at=whole_periods(pl.col("reach_0"), pl.col("ts"), period))
        .filter((pl.col("paid_at") >= 0) & (pl.col("paid_at") < pl.col("_elapsed")))
        .group_by("cohort", "paid_at", "_elapsed")
        # Summed in value order, so the floating-point result never depends on row order.
        .agg(_amount=pl.col("_amount").sort().sum())
        .join(ages, how="cross")
        .filter((pl.col("paid_at") <= pl.col("age")) & (pl.col("age") < pl.col("_elapsed")))
        .group_by("cohort", "age")
        .agg(revenue=pl.col("_amount").sort().sum())
    )
    cells = eligible.join(paid, on=["cohort", "age"], how="left").with_columns(
        pl.col("revenue").fill_null(0.0)
    )
    cohorts = users.select("cohort").unique()
    return (
        cohorts.join(ages, how="cross")
        .join(cells, on=["cohort", "age"], how="left")
        .with_columns(
            revenue_per_user=pl.when(pl.col("users") > 0).then(pl.col("revenue") / pl.col("users"))
        )
        .select(list(_AGE_SCHEMA))
        .sort("cohort", "age")
        .cast(pl.Schema(_AGE_SCHEMA))
    )
