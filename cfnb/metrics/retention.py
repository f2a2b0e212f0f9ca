"""Cohort retention (DESIGN.md §4): who keeps coming back, period by period.

Semantics, exactly:

* **Cohorts.** A user's *anchor* is their reach time of the cohort stage: acquisition
  (``reach_0``, the default), activation (``reach_1``) or any stage by name. Users who
  never reached it are in no cohort. The cohort is the calendar period (see
  :mod:`cfnb.periods`) holding the anchor, labelled by its start date.
* **User-relative periods.** Period ``k`` of a user runs from ``anchor + k·period``
  (inclusive) to ``anchor + (k+1)·period`` (exclusive). Days and weeks are 24 h and
  168 h; months are calendar months counted from the anchor, clamped to shorter months
  like Polars ``offset_by`` (anchor 31 January: period 1 starts 29 February 2024).
* **Active.** An event matching the retention condition (default: any event) at or after
  the anchor. The event that set the anchor counts, so with the default condition every
  user is active in period 0 and period 0 is 100% by construction; with a narrower
  condition period 0 is the share that did the retained thing in their first period.
* **Modes.** ``"on"``: active at least once inside period ``k``. ``"on_or_after"``: active
  at least once at or after the start of period ``k`` (so the curve never rises).
* **Elapsed cells only.** In *both* modes a user counts in cell ``(cohort, k)`` only when
  their period ``k`` has fully elapsed by the log's last timestamp:
  ``anchor + (k+1)·period <= last_ts``. A cell with no such user is empty: its
  ``rate`` and ``active_users`` are null, never 0.

The per-user precompute, :func:`activity`, is built once per log; :func:`retention` then
answers any period, mode or cohort choice from it without rescanning the events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import polars as pl

from cfnb.errors import ActivityError
from cfnb.metrics._inputs import DescribedPredicateLike, HasEvents, HasTable, JourneysLike
from cfnb.metrics._render import html_grid, json_rows, pct_cell
from cfnb.periods import (
    UTC_US,
    Period,
    check_period,
    fixed_length_us,
    period_start,
    whole_periods,
)
from cfnb.spec.errors import SpecError, choice_list, unknown_choice

__all__ = [
    "Activity",
    "ActivityError",
    "RetentionCurve",
    "RetentionResult",
    "activity",
    "retention",
    "retention_curve",
]

Mode: TypeAlias = Literal["on", "on_or_after"]
MODES: tuple[Mode, ...] = ("on", "on_or_after")


# --------------------------------------------------------------------------- activity


@dataclass(frozen=True)
class Activity:
    """When each acquired user was active, built once per log by :func:`activity`.

    ``table`` has one row per user of the journeys table it was built from:

    ``user_id`` (String), ``reach_0`` (Datetime us UTC)
        the user and the acquisition time the offsets are measured from;
    ``offsets`` (List[Int64])
        the distinct instants of the user's active events at or after ``reach_0``, as
        microseconds after ``reach_0``, sorted ascending (empty when none).

    Microsecond offsets keep the exact event times (month periods need calendar arithmetic)
    while storing each instant once, however many events share it.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from types import SimpleNamespace
    >>> t = lambda d, h=0: dt.datetime(2024, 1, d, h, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"user_id": ["a", "a", "a"], "event": ["visit", "use", "use"],
    ...                        "ts": [t(1), t(2), t(2)]})
    >>> journeys = SimpleNamespace(table=pl.DataFrame({"user_id": ["a"], "reach_0": [t(1)]}))
    >>> activity(events, journeys).table["offsets"].to_list()
    [[0, 86400000000]]
    """

    table: pl.DataFrame
    condition: str = "any event"

    @property
    def users(self) -> int:
        """Number of users covered (every acquired user, active or not)."""
        return self.table.height

    def __repr__(self) -> str:
        instants = int(self.table["offsets"].list.len().sum()) if self.table.height else 0
        return (
            f"Activity({self.users:,} users, {instants:,} active instants, "
            f"active = {self.condition})"
        )


def activity(
    events: pl.DataFrame | HasEvents,
    journeys: HasTable,
    active: pl.Expr | DescribedPredicateLike | None = None,
) -> Activity:
    """Precompute, per acquired user, the instants they were active.

    Parameters
    ----------
    events
        The events table (``user_id``, ``ts`` and properties), or an ``EventLog``.
    journeys
        The journeys (anything with a ``.table`` holding ``user_id`` and ``reach_0``).
    active
        The retention condition on one event, as a Polars expression or a spec predicate
        (anything with ``.to_polars()``); ``None`` means any event is activity.

    Returns
    -------
    Activity
        One row per journeys user; see :class:`Activity`.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from types import SimpleNamespace
    >>> t = lambda d: dt.datetime(2024, 1, d, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"user_id": ["a", "a", "b"], "event": ["visit", "use", "visit"],
    ...                        "ts": [t(1), t(3), t(2)]})
    >>> journeys = SimpleNamespace(table=pl.DataFrame({"user_id": ["a", "b"],
    ...                                                "reach_0": [t(1), t(2)]}))
    >>> act = activity(events, journeys, pl.col("event") == "use")
    >>> act.table.select("user_id", "offsets").rows()
    [('a', [172800000000]), ('b', [])]
    """
    condition = "any event"
    expr: pl.Expr | None = None
    if active is not None:
        if isinstance(active, pl.Expr):
            expr, condition = active, str(active)
        else:
            expr, condition = active.to_polars(), active.describe()
    users = journeys.table.select(pl.col("user_id"), pl.col("reach_0").cast(UTC_US))
    frame: pl.DataFrame | None = None
    try:
        # Journeys built on these very events answer from their index (no join, and a
        # log's table is never copied into Polars).
        reads = getattr(journeys, "reads", None)
        if reads is not None and reads(events) and not isinstance(active, pl.Expr):
            offsets = journeys.active_instants(active)  # type: ignore[attr-defined]
            if offsets is not None:
                return Activity(table=users.with_columns(offsets), condition=condition)
        frame = events if isinstance(events, pl.DataFrame) else events.events
        missing = [c for c in ("user_id", "ts") if c not in frame.columns]
        if missing:
            raise ActivityError(
                f"the events table has no column {missing[0]!r}: pass the events of an "
                f"EventLog (columns user_id, event, ts, …); it has {choice_list(frame.columns)}"
            )
        if not isinstance(frame.schema["ts"], pl.Datetime):
            raise ActivityError(
                f"events column 'ts' must be a Datetime, got {frame.schema['ts']}: load the log "
                "with cfnb.load(), which parses times to UTC"
            )
        if expr is not None:
            frame = frame.lazy().filter(expr).collect()
    except pl.exceptions.ColumnNotFoundError as err:
        columns = list(frame.columns) if frame is not None else list(_columns_of(events))
        raise SpecError(
            "active",
            f"the retention condition {condition} names a column the events do not "
            f"have ({err}); the events have {choice_list(columns)}",
        ) from err

    offsets = (
        frame.lazy()
        .select("user_id", pl.col("ts").dt.convert_time_zone("UTC").cast(UTC_US))
        .join(users.lazy(), on="user_id", how="inner")
        .filter(pl.col("ts") >= pl.col("reach_0"))
        .group_by("user_id")
        .agg(offsets=(pl.col("ts") - pl.col("reach_0")).dt.total_microseconds().unique().sort())
    )
    table = (
        users.lazy()
        .join(offsets, on="user_id", how="left", maintain_order="left")
        .with_columns(pl.col("offsets").fill_null(pl.lit([], dtype=pl.List(pl.Int64))))
        .collect()
    )
    return Activity(table=table, condition=condition)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class RetentionCurve:
    """Retention per user-relative period with every cohort pooled.

    ``table`` columns: ``period`` (Int64, ``k``), ``eligible_users`` (users whose period
    ``k`` has fully elapsed), ``active_users`` (those of them active per ``mode``; null
    when none is eligible) and ``rate`` = ``active_users / eligible_users`` (null when none
    is eligible). Pooling weights each cohort by its eligible users.
    """

    table: pl.DataFrame
    period: Period
    mode: Mode
    cohort_by: str
    active: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: settings plus ``rows`` (one dict per period ``k``)."""
        return {
            "period": self.period,
            "mode": self.mode,
            "cohort_by": self.cohort_by,
            "active": self.active,
            "rows": json_rows(self.table),
        }

    def _repr_html_(self) -> str:
        rows = [
            (r["period"], r["eligible_users"], r["active_users"], pct_cell(r["rate"]))
            for r in self.table.iter_rows(named=True)
        ]
        caption = (
            f"Retention curve: active {self.mode.replace('_', ' ')} {self.period} k "
            f"after {self.cohort_by} (active = {self.active})"
        )
        return html_grid([self.period, "eligible", "active", "rate"], rows, caption)


@dataclass(frozen=True)
class RetentionResult:
    """Cohort retention table (semantics in :mod:`cfnb.metrics.retention`).

    ``table`` has one row per cohort and user-relative period ``k``, sorted by both:

    ``cohort`` (Date)
        start of the calendar period holding the users' anchor (their reach of
        ``cohort_by``);
    ``cohort_users`` (Int64)
        users in the cohort;
    ``period`` (Int64)
        ``k``, counted in ``period`` units from each user's own anchor;
    ``eligible_users`` (Int64)
        cohort users whose period ``k`` has fully elapsed by ``last_ts``;
    ``active_users`` (Int64, null when ``eligible_users`` is 0)
        eligible users active in period ``k`` (``mode="on"``) or at or after its start
        (``mode="on_or_after"``);
    ``rate`` (Float64 in [0, 1], null when ``eligible_users`` is 0)
        ``active_users / eligible_users``.
    """

    table: pl.DataFrame
    period: Period
    mode: Mode
    cohort_by: str
    active: str
    last_ts: dt.datetime | None

    def curve(self) -> RetentionCurve:
        """All cohorts pooled: eligible and active users summed per ``k``."""
        pooled = (
            self.table.group_by("period")
            .agg(pl.col("eligible_users").sum(), pl.col("active_users").sum())
            .sort("period")
        )
        return RetentionCurve(
            table=_with_rate(pooled),
            period=self.period,
            mode=self.mode,
            cohort_by=self.cohort_by,
            active=self.active,
        )

    def matrix(self) -> pl.DataFrame:
        """The familiar triangle: one row per cohort, one rate column per ``k`` (``"0"``, …)."""
        if self.table.height == 0:
            return pl.DataFrame(schema={"cohort": pl.Date, "cohort_users": pl.Int64})
        return self.table.pivot(
            on="period", index=["cohort", "cohort_users"], values="rate", sort_columns=True
        ).sort("cohort")

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: settings plus ``rows`` (one dict per cohort and ``k``)."""
        return {
            "period": self.period,
            "mode": self.mode,
            "cohort_by": self.cohort_by,
            "active": self.active,
            "last_ts": None if self.last_ts is None else self.last_ts.isoformat(),
            "rows": json_rows(self.table),
        }

    def _repr_html_(self) -> str:
        wide = self.matrix()
        ks = wide.columns[2:]
        rows = [
            (r["cohort"].isoformat(), r["cohort_users"], *(pct_cell(r[k]) for k in ks))
            for r in wide.iter_rows(named=True)
        ]
        caption = (
            f"Retention by {self.period} cohort of {self.cohort_by}: share active "
            f"{self.mode.replace('_', ' ')} {self.period} k (active = {self.active}; "
            "blank = not yet elapsed)"
        )
        return html_grid(["cohort", "users", *ks], rows, caption)


# --------------------------------------------------------------------------- retention


def _with_rate(frame: pl.DataFrame) -> pl.DataFrame:
    none_eligible = pl.col("eligible_users") == 0
    return frame.with_columns(
        active_users=pl.when(none_eligible).then(None).otherwise(pl.col("active_users")),
        rate=pl.when(none_eligible)
        .then(None)
        .otherwise(pl.col("active_users") / pl.col("eligible_users")),
    )


def _anchor_stage(stages: Sequence[str], cohort_by: str | int) -> int:
    if isinstance(cohort_by, bool):
        raise SpecError("cohort_by", f"expected a stage name or index, got {cohort_by!r}")
    if isinstance(cohort_by, int):
        if 0 <= cohort_by < len(stages):
            return cohort_by
        raise SpecError(
            "cohort_by",
            f"{cohort_by} is not a stage index: the factory has {len(stages)} "
            f"stages, 0 to {len(stages) - 1} ({', '.join(stages)})",
        )
    if cohort_by in stages:
        return list(stages).index(cohort_by)
    if cohort_by == "acquisition":
        return 0
    if cohort_by == "activation":
        if len(stages) < 2:
            raise SpecError(
                "cohort_by",
                "'activation' needs a second stage, but the factory has only "
                f"{stages[0]!r}: add an activation stage or use cohort_by='acquisition'",
            )
        return 1
    choices = ["acquisition", "activation", *stages]
    raise SpecError("cohort_by", unknown_choice("cohort stage", cohort_by, choices))


def _columns_of(events: object) -> list[str]:
    schema = getattr(events, "schema", None)
    return list(schema) if schema is not None else []


def _check_activity(users: pl.DataFrame, act: Activity) -> pl.DataFrame:
    table = act.table
    if table.height == users.height and all(
        table[c].equals(users[c]) for c in ("user_id", "reach_0")
    ):
        # Built from these very journeys, row for row (the usual case): no join needed.
        return users.with_columns(table["offsets"])
    joined = users.join(act.table.rename({"reach_0": "_act_reach_0"}), on="user_id", how="left")
    stale = joined.filter(
        pl.col("_act_reach_0").is_null() | (pl.col("_act_reach_0") != pl.col("reach_0"))
    )
    if stale.height:
        raise ActivityError(
            f"the activity does not match these journeys (user {stale['user_id'][0]!r} "
            "is missing or has another acquisition time): rebuild it with "
            "activity(events, journeys) after changing the acquisition stage"
        )
    return joined.drop("_act_reach_0")


def retention(
    journeys: JourneysLike,
    activity: Activity,
    *,
    period: str | None = None,
    mode: str = "on",
    cohort_by: str | int = "acquisition",
    max_periods: int | None = None,
) -> RetentionResult:
    """Cohort retention: the share of each cohort active in (or after) each period ``k``.

    Parameters
    ----------
    journeys
        The journeys (``.table`` with ``user_id`` and ``reach_i``; ``.stages``;
        ``.period``; ``.last_ts``).
    activity
        :func:`activity` built from the same journeys' acquisition stage.
    period
        ``"day"``, ``"week"`` or ``"month"``, both for the cohorts and for ``k``; default
        the journeys' period.
    mode
        ``"on"`` (active inside period ``k``) or ``"on_or_after"`` (active at or after
        its start).
    cohort_by
        ``"acquisition"`` (``reach_0``), ``"activation"`` (``reach_1``), a stage name or
        a stage index: whose reach time is the anchor.
    max_periods
        Show ``k = 0 … max_periods-1``. By default every ``k`` up to the last one with an
        eligible user.

    Returns
    -------
    RetentionResult
        Semantics in the module docstring; columns in :class:`RetentionResult`.

    Examples
    --------
    Two users acquired on Monday 1 January 2024; ``a`` comes back on day 8 (week 1),
    ``b`` never does. The log ends on 20 January, so weeks 0 and 1 have elapsed for both,
    week 2 (15 to 22 January) for neither:

    >>> import datetime as dt, polars as pl
    >>> from types import SimpleNamespace
    >>> t = lambda d: dt.datetime(2024, 1, d, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"user_id": ["a", "b", "a", "c"], "event": "e",
    ...                        "ts": [t(1), t(1), t(8), t(20)]})
    >>> journeys = SimpleNamespace(
    ...     table=pl.DataFrame({"user_id": ["a", "b"], "reach_0": [t(1), t(1)]}),
    ...     stages=("Acquisition",), period="week", last_ts=t(20))
    >>> r = retention(journeys, activity(events, journeys), max_periods=3)
    >>> r.table.select("period", "eligible_users", "active_users", "rate").rows()
    [(0, 2, 2, 1.0), (1, 2, 1, 0.5), (2, 0, None, None)]
    """
    period_ = check_period(period if period is not None else journeys.period)
    if mode not in MODES:
        raise SpecError("mode", unknown_choice("retention mode", mode, MODES))
    mode_: Mode = "on" if mode == "on" else "on_or_after"
    if max_periods is not None and (
        isinstance(max_periods, bool) or not isinstance(max_periods, int) or max_periods < 1
    ):
        raise SpecError("max_periods", f"expected a whole number >= 1 or None, got {max_periods!r}")
    stage = _anchor_stage(journeys.stages, cohort_by)
    anchor_col = f"reach_{stage}"
    if anchor_col not in journeys.table.columns:
        raise ActivityError(
            f"the journeys table has no column {anchor_col!r} for stage "
            f"{journeys.stages[stage]!r}: rebuild the journeys from the same factory"
        )
    last_ts = pl.lit(journeys.last_ts, dtype=UTC_US)

    base = journeys.table.select(
        "user_id",
        pl.col("reach_0").cast(UTC_US),
        anchor=pl.col(anchor_col).cast(UTC_US),
    )
    users = (
        _check_activity(base, activity)
        .lazy()
        .filter(pl.col("anchor").is_not_null())
        .with_columns(
            cohort=period_start(pl.col("anchor"), period_),
            # periods 0 … elapsed-1 of this user have fully elapsed by last_ts
            elapsed=whole_periods(pl.col("anchor"), last_ts, period_).fill_null(0),
        )
        .collect()
    )

    if max_periods is not None:
        n_k = max_periods
    else:
        n_k = max(int(users.select(pl.col("elapsed").max()).item()), 1) if users.height else 0
    cohorts = users.group_by("cohort").agg(cohort_users=pl.len())
    grid = cohorts.join(
        pl.DataFrame({"period": pl.int_range(0, n_k, eager=True, dtype=pl.Int64)}),
        how="cross",
    )

    def users_beyond(column: str) -> pl.DataFrame:
        # how many users per cohort have `column` > k, for every k of the grid
        hist = users.group_by("cohort", column).agg(n=pl.len())
        return (
            grid.select("cohort", "period")
            .join(hist, on="cohort")
            .filter(pl.col(column) > pl.col("period"))
            .group_by("cohort", "period")
            .agg(pl.col("n").sum())
        )

    eligible = users_beyond("elapsed").rename({"n": "eligible_users"})
    length = fixed_length_us(period_)
    if mode_ == "on" and length is not None:
        # Fixed-length periods: k is integer arithmetic on the offsets, deduplicated
        # within each user's list before anything is exploded.
        delta = (pl.col("anchor") - pl.col("reach_0")).dt.total_microseconds()
        periods_active = (
            users.lazy()
            .select(
                "cohort", "elapsed", period=((pl.col("offsets") - delta) // length).list.unique()
            )
            .explode("period")
            .filter((pl.col("period") >= 0) & (pl.col("period") < pl.col("elapsed")))
            .group_by("cohort", "period")
            .agg(active_users=pl.len())
            .collect()
        )
    elif mode_ == "on":
        periods_active = (
            users.lazy()
            .select("user_id", "cohort", "anchor", "elapsed", "reach_0", "offsets")
            .explode("offsets")
            .drop_nulls("offsets")
            .with_columns(ts=pl.col("reach_0") + pl.duration(microseconds=pl.col("offsets")))
            .filter(pl.col("ts") >= pl.col("anchor"))
            .with_columns(period=whole_periods(pl.col("anchor"), pl.col("ts"), period_))
            .filter(pl.col("period") < pl.col("elapsed"))
            .unique(["user_id", "period"])
            .group_by("cohort", "period")
            .agg(active_users=pl.len())
            .collect()
        )
    else:
        last_active = (
            users.with_columns(
                ts=pl.col("reach_0") + pl.duration(microseconds=pl.col("offsets").list.max())
            )
            .with_columns(
                # active at or after period k's start <=> last activity lies in period >= k
                reach=pl.when(pl.col("ts") >= pl.col("anchor"))
                .then(whole_periods(pl.col("anchor"), pl.col("ts"), period_) + 1)
                .otherwise(0)
            )
            .with_columns(reach=pl.min_horizontal("reach", "elapsed"))
        )
        hist = last_active.group_by("cohort", "reach").agg(n=pl.len())
        periods_active = (
            grid.select("cohort", "period")
            .join(hist, on="cohort")
            .filter(pl.col("reach") > pl.col("period"))
            .group_by("cohort", "period")
            .agg(active_users=pl.col("n").sum())
        )

    table = (
        grid.join(eligible, on=["cohort", "period"], how="left")
        .join(periods_active, on=["cohort", "period"], how="left")
        .with_columns(
            pl.col("cohort_users").cast(pl.Int64),
            pl.col("eligible_users").fill_null(0).cast(pl.Int64),
            pl.col("active_users").fill_null(0).cast(pl.Int64),
        )
        .pipe(_with_rate)
        .select("cohort", "cohort_users", "period", "eligible_users", "active_users", "rate")
        .sort("cohort", "period")
    )
    return RetentionResult(
        table=table,
        period=period_,
        mode=mode_,
        cohort_by=journeys.stages[stage],
        active=activity.condition,
        last_ts=journeys.last_ts,
    )


def retention_curve(
    journeys: JourneysLike,
    activity: Activity,
    *,
    period: str | None = None,
    mode: str = "on",
    cohort_by: str | int = "acquisition",
    max_periods: int | None = None,
) -> RetentionCurve:
    """Retention per period ``k`` with all cohorts pooled (same arguments as :func:`retention`).

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from types import SimpleNamespace
    >>> t = lambda d: dt.datetime(2024, 1, d, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"user_id": ["a", "b", "b"], "event": "e",
    ...                        "ts": [t(1), t(2), t(4)]})
    >>> journeys = SimpleNamespace(
    ...     table=pl.DataFrame({"user_id": ["a", "b"], "reach_0": [t(1), t(2)]}),
    ...     stages=("Acquisition",), period="day", last_ts=t(4))
    >>> c = retention_curve(journeys, activity(events, journeys), mode="on_or_after")
    >>> c.table.rows()
    [(0, 2, 2, 1.0), (1, 2, 1, 0.5), (2, 1, 0, 0.0)]
    """
    return retention(
        journeys,
        activity,
        period=period,
        mode=mode,
        cohort_by=cohort_by,
        max_periods=max_periods,
    ).curve()
