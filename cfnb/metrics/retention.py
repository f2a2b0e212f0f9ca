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
answers any period, mode or cohort choice from it without rescanning the events. It keeps
with the activity what it derives from it (each user's active days counted per period kind,
see :mod:`cfnb.metrics._activity`, and every finished table): after the first matrix,
another period, mode or ``max_periods`` is one pass over the users, and a question asked
again (after a window, target or segment edit, which keep the activity) is answered from
memory.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypeVar

import numpy as np
import polars as pl

from cfnb.errors import ActivityError
from cfnb.journeys import Reach
from cfnb.metrics import _activity
from cfnb.metrics._arrays import cached
from cfnb.metrics._inputs import DescribedPredicateLike, HasEvents, HasTable, JourneysLike
from cfnb.metrics._render import html_grid, json_rows, pct_cell
from cfnb.periods import PERIODS, UTC_US, Period, check_period
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
_T = TypeVar("_T")


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
    # What retention derives from the table (day offsets, counts, finished matrices),
    # kept for every later call: an edit that keeps the activity reuses all of it.
    _memo: dict[Hashable, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

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
    users = _users(journeys)
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


def _users(journeys: HasTable) -> pl.DataFrame:
    """``user_id`` and ``reach_0`` per journeys row, as in their table."""
    reach = getattr(journeys, "reach", None)
    at = getattr(journeys, "columns_at_reach0", None)
    if not isinstance(reach, Reach) or at is None:
        return journeys.table.select(pl.col("user_id"), pl.col("reach_0").cast(UTC_US))
    # Journeys keep their user ids for every edit and their reach times as arrays: the
    # table (every reach column and segment, fetched from the events) is not made.
    reach0 = pl.Series("reach_0", reach.ts[:, 0]).cast(UTC_US)
    reached = reach.reached[:, 0]
    if not reached.all():
        reach0 = pl.select(pl.when(pl.Series(reached)).then(reach0)).to_series()
    ids: pl.DataFrame = at(["user_id"])
    return ids.with_columns(reach0.alias("reach_0"))


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


def _aligned(journeys: JourneysLike, act: Activity) -> Activity:
    """``act`` with one row per journeys row, in their order: itself when it was built from
    them (the usual case), else its rows gathered; an ActivityError when it is stale."""
    # The activities found to be built from these journeys, by id; kept with every edit of
    # them that keeps each user's reach_0 row (a window, target or segment edit). Weak
    # values: an entry goes with its activity, before another can take its id.
    built_from: weakref.WeakValueDictionary[int, Activity] = cached(
        journeys, ("retention activities",), weakref.WeakValueDictionary, by_reach0=True
    )
    if built_from.get(id(act)) is act:
        return act
    other = _align(journeys, act)
    if other is None:
        built_from[id(act)] = act
    return act if other is None else other


def _align(journeys: JourneysLike, act: Activity) -> Activity | None:
    has, at = _reach(journeys, 0)
    act_has, act_at = _reach0(act)
    if (
        has.size == act_has.size
        and np.array_equal(has, act_has)
        and (np.array_equal(at, act_at) if has.all() else np.array_equal(at[has], act_at[has]))
        and _user_ids(journeys).equals(act.table["user_id"])
    ):
        return None
    users = journeys.table.select("user_id", pl.col("reach_0").cast(UTC_US))
    joined = users.join(
        act.table.rename({"reach_0": "_act_reach_0"}),
        on="user_id",
        how="left",
        maintain_order="left",
    )
    stale = joined.filter(
        pl.col("_act_reach_0").is_null() | (pl.col("_act_reach_0") != pl.col("reach_0"))
    )
    if stale.height:
        raise ActivityError(
            f"the activity does not match these journeys (user {stale['user_id'][0]!r} "
            "is missing or has another acquisition time): rebuild it with "
            "activity(events, journeys) after changing the acquisition stage"
        )
    return Activity(table=joined.select("user_id", "reach_0", "offsets"), condition=act.condition)


def _reach(journeys: JourneysLike, stage: int) -> tuple[_activity.Bool, _activity.I64]:
    """Per journeys row: whether it reached ``stage``, and when (microseconds)."""
    reach = getattr(journeys, "reach", None)
    if isinstance(reach, Reach):
        return reach.reached[:, stage], reach.ts[:, stage]
    # A hand-made table: read the one column (it may not have the others).
    column = journeys.table[f"reach_{stage}"].cast(UTC_US)
    return column.is_not_null().to_numpy(), column.to_physical().fill_null(0).to_numpy()


def _user_ids(journeys: JourneysLike) -> pl.Series:
    # Journeys gather their user ids once for all the edits that keep them (no table).
    at = getattr(journeys, "columns_at_reach0", None)
    ids: pl.Series = at(["user_id"]).to_series() if at is not None else journeys.table["user_id"]
    return ids


def _reach0(act: Activity) -> tuple[_activity.Bool, _activity.I64]:
    """Whether each row has a ``reach_0``, and its microseconds (0 where it has none)."""

    def compute() -> tuple[_activity.Bool, _activity.I64]:
        column = act.table["reach_0"].cast(UTC_US)
        has = column.is_not_null().to_numpy()
        return has, column.to_physical().fill_null(0).to_numpy().astype(np.int64, copy=False)

    return _remember(act, ("reach_0",), compute)


def _remember(act: Activity, key: Hashable, compute: Callable[[], _T]) -> _T:
    if key not in act._memo:
        act._memo[key] = compute()
    found: _T = act._memo[key]
    return found


def _micros(ts: dt.datetime | None) -> int | None:
    if ts is None:
        return None
    if type(ts) is dt.datetime and (
        ts.tzinfo is None or ts.tzinfo is dt.UTC or getattr(ts.tzinfo, "key", None) == "UTC"
    ):
        # The usual case, without a Polars query per call (naive reads as UTC).
        return (ts.replace(tzinfo=dt.UTC) - _EPOCH) // _MICROSECOND
    us: int = pl.select(pl.lit(ts, dtype=UTC_US)).to_series().to_physical().item()
    return us


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def _reach0_table(
    act: Activity, period: Period, mode: Mode, max_periods: int | None, last_us: int | None
) -> pl.DataFrame:
    """The matrix anchored at ``reach_0``, remembered with the activity: it depends on
    nothing else, so every edit that keeps the activity (a window, target or segment
    edit) finds it made."""
    return _remember(
        act,
        ("table", period, mode, max_periods, last_us),
        lambda: _table(_reach0_matrix(act, period, last_us), mode, max_periods),
    )


def _reach0_matrix(act: Activity, period: Period, last_us: int | None) -> _activity.Matrix:
    key = ("matrix", period, last_us)
    if key not in act._memo:
        if "counts" not in act._memo:
            # The first matrix counts every period at once (one pass over the instants):
            # a later period edit is then a pass over the users only.
            anchors, values, bounds = _instants(act)
            eager = [p for p in PERIODS if _activity.affordable(anchors, p)]
            act._memo["anchors"] = anchors
            act._memo["counts"] = _activity.period_counts(anchors, values, bounds, eager)
            for other in eager:
                act._memo["matrix", other, last_us] = _matrix(act, other, last_us)
        if key not in act._memo:
            act._memo[key] = _matrix(act, period, last_us)
    found: _activity.Matrix = act._memo[key]
    return found


def _matrix(act: Activity, period: Period, last_us: int | None) -> _activity.Matrix:
    anchors: _activity.Anchors = act._memo["anchors"]
    counts_of: dict[Period, _activity.PeriodCounts] = act._memo["counts"]
    if period not in counts_of:  # a span too long to count every period up front
        counts_of.update(_activity.period_counts(*_instants(act), [period]))
    counts = counts_of[period]
    found = _activity.matrix(anchors, counts, last_us)
    if found is None:
        # Activity after the last timestamp (a hand-made log): count "on" from the rest.
        upto = np.full(anchors.users, -1) if last_us is None else last_us - anchors.us
        capped = _instants(act, _spread(upto, _reach0(act)[0]))
        on = _activity.period_counts(*capped, [period])[period]
        found = _activity.matrix(anchors, counts, last_us, on)
    assert found is not None
    return found


def _spread(values: _activity.I64, has: _activity.Bool) -> _activity.I64:
    """Per-user ``values`` of the users with an anchor, back on every row."""
    out = np.zeros(has.size, dtype=np.int64)
    out[has] = values
    return out


def _instants(
    act: Activity, upto: _activity.I64 | None = None
) -> tuple[_activity.Anchors, _activity.I64, _activity.I64]:
    has, at = _reach0(act)
    values, bounds = _activity.flat_offsets(act.table["offsets"])
    return _activity.anchored(values, bounds, at, has, upto=upto)


def _anchored_matrix(
    journeys: JourneysLike, act: Activity, stage: int, period: Period, last_us: int | None
) -> _activity.Matrix:
    """The matrix anchored at another stage: offsets moved to each user's anchor."""
    has, anchor = _reach(journeys, stage)
    acquired, reach0 = _reach0(act)
    values, bounds = _activity.flat_offsets(act.table["offsets"])
    # Without a reach_0 the offsets have no origin: such a user is in a cohort, never active.
    origin = np.where(acquired, np.iinfo(np.int64).max, -1)
    shift = np.where(acquired, anchor - reach0, 0)

    def counts(limit: _activity.I64 | None) -> tuple[_activity.Anchors, _activity.PeriodCounts]:
        anchors, kept, runs = _activity.anchored(
            values, bounds, anchor, has, shift=shift, upto=limit
        )
        return anchors, _activity.period_counts(anchors, kept, runs, [period])[period]

    anchors, all_counts = counts(None if acquired.all() else origin)
    found = _activity.matrix(anchors, all_counts, last_us)
    if found is None:
        on = counts(np.minimum(origin, -1 if last_us is None else last_us - anchor))[1]
        found = _activity.matrix(anchors, all_counts, last_us, on)
    assert found is not None
    return found


def _table(m: _activity.Matrix, mode: Mode, max_periods: int | None) -> pl.DataFrame:
    n_k = m.periods if max_periods is None else max_periods
    n_cohorts = m.cohorts.size
    active = m.on if mode == "on" else m.on_or_after
    return pl.DataFrame(
        {
            "cohort": pl.Series(np.repeat(m.cohorts, n_k).astype(np.int32)).cast(pl.Date),
            "cohort_users": np.repeat(m.users, n_k),
            "period": np.tile(np.arange(n_k, dtype=np.int64), n_cohorts),
            "eligible_users": _columns(m.eligible, n_k).ravel(),
            "active_users": _columns(active, n_k).ravel(),
        }
    ).pipe(_with_rate)


def _columns(counts: _activity.I64, n: int) -> _activity.I64:
    """The first ``n`` columns of ``counts``, zeros past its last."""
    if counts.shape[1] >= n:
        return counts[:, :n]
    out = np.zeros((counts.shape[0], n), dtype=np.int64)
    out[:, : counts.shape[1]] = counts
    return out


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
    if not isinstance(getattr(journeys, "reach", None), Reach):
        anchor_col = f"reach_{stage}"
        if anchor_col not in journeys.table.columns:
            raise ActivityError(
                f"the journeys table has no column {anchor_col!r} for stage "
                f"{journeys.stages[stage]!r}: rebuild the journeys from the same factory"
            )
    last_us = _micros(journeys.last_ts)
    act = _aligned(journeys, activity)
    if stage == 0:
        table = _reach0_table(act, period_, mode_, max_periods, last_us)
    else:
        table = _table(_anchored_matrix(journeys, act, stage, period_, last_us), mode_, max_periods)
    return RetentionResult(
        # A copy (of the column references only): the remembered table stays as made.
        table=table.clone(),
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
