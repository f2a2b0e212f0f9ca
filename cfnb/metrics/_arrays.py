"""The journeys as arrays, and the counts the funnel, throughput and constraint read.

The metrics are defined on the journeys table (``user_id``, ``reach_0 …``; see
docs/internals.md). What they read of it reduces to a few counts: users per stage, per
cohort and stage, per calendar period of a stage; and the quantiles of the time
between two stages. This module counts them from the reach arrays
(:class:`cfnb.journeys.Reach`) with NumPy, in one pass each, so an edit's metrics cost
milliseconds whatever the log's size. Journeys built by :mod:`cfnb.journeys` hand over
their arrays and keep what is derived from them (cohorts of each user, segment codes)
for the edits that leave it unchanged; any other journeys-like object (a table in a
namespace) is read from its table.

Examples
--------
>>> import datetime as dt, polars as pl
>>> from types import SimpleNamespace
>>> t = lambda d: dt.datetime(2024, 1, d, tzinfo=dt.UTC)
>>> table = pl.DataFrame({"user_id": ["a", "b"], "reach_0": [t(1), t(9)], "reach_1": [t(2), None]})
>>> j = SimpleNamespace(table=table, stages=("Visit", "Pay"), period="week", last_ts=t(20))
>>> cohort_counts(j, "week").rows()
[(datetime.date(2024, 1, 1), 0, 1, None, None), (datetime.date(2024, 1, 1), 1, 1, 1, 1), (datetime.date(2024, 1, 8), 0, 1, None, None), (datetime.date(2024, 1, 8), 1, 0, 1, 0)]
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from cfnb.journeys import Reach
from cfnb.periods import UTC_US, start_days
from cfnb.sources import encode

__all__ = [
    "QUANTILES",
    "CohortCounts",
    "Steps",
    "admitted",
    "as_dates",
    "cached",
    "cohort_codes",
    "cohort_count_arrays",
    "cohort_counts",
    "first_reach0_us",
    "group_codes",
    "has_steps",
    "period_counts",
    "quantiles_of",
    "reach_of",
    "stage_days",
    "steps",
    "users_by_group",
]

_T = TypeVar("_T")
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]

#: The quantiles every funnel reports (p25, median, p75), as the funnel names them.
QUANTILES: tuple[tuple[str, float], ...] = (
    ("median_seconds", 0.5),
    ("p25_seconds", 0.25),
    ("p75_seconds", 0.75),
)


def cached(
    journeys: object,
    key: Hashable,
    compute: Callable[[], _T],
    *,
    by_reach0: bool = False,
    scope: str | None = None,
) -> _T:
    """``compute()``, kept with ``journeys`` when they keep values (see ``Journeys.cached``:
    ``scope`` is ``"reach"``, ``"reach0"`` or ``"chains"``; ``by_reach0`` means ``"reach0"``)."""
    keep = getattr(journeys, "cached", None)
    if keep is None:
        return compute()
    value: _T = keep(key, compute, scope=scope or ("reach0" if by_reach0 else "reach"))
    return value


def reach_of(journeys: Any) -> Reach:
    """The reach arrays of ``journeys``: its own, or read from its table."""
    reach = getattr(journeys, "reach", None)
    if isinstance(reach, Reach):
        return reach
    table: pl.DataFrame = journeys.table
    n = len(journeys.stages)
    columns = [_utc_us(table[f"reach_{i}"]) for i in range(n)]
    reached = np.empty((table.height, n), dtype=bool, order="F")
    ts = np.empty((table.height, n), dtype=np.int64, order="F")
    for i, c in enumerate(columns):
        reached[:, i] = c.is_not_null().to_numpy()
        ts[:, i] = c.to_physical().fill_null(0).to_numpy()
    return Reach(reached, ts, cumulative=bool(np.all(reached[:, 1:] <= reached[:, :-1])))


def _utc_us(column: pl.Series) -> pl.Series:
    dtype = column.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None and dtype.time_zone != "UTC":
            column = column.dt.convert_time_zone("UTC")
        return column.dt.cast_time_unit("us")
    return column.cast(UTC_US)


def stage_days(journeys: Any, stage: int, period: str) -> I64:
    """Per user: the start (days since 1970-01-01) of the calendar period holding ``reach_stage``.

    Meaningless where the stage is not reached.
    """
    reach = reach_of(journeys)

    def compute() -> I64:
        return start_days(reach.ts[:, stage], period)

    # reach_0 does not move when a window or period edit keeps each user's acquisition row.
    return cached(journeys, ("days", stage, period), compute, by_reach0=stage == 0)


def cohort_codes(journeys: Any, period: str) -> tuple[I64, I64]:
    """Per user, the number of its cohort (-1 without ``reach_0``); each cohort's start day.

    Cohorts are the calendar periods of ``reach_0`` holding at least one user, numbered
    in time order; start days count from 1970-01-01.
    """

    def compute() -> tuple[I64, I64]:
        reach = reach_of(journeys)
        acquired = reach.reached[:, 0]
        days = stage_days(journeys, 0, period)
        codes = np.full(days.size, -1, dtype=np.int64)
        if not acquired.any():
            return codes, np.zeros(0, dtype=np.int64)
        found = days[acquired]
        low = int(found.min())
        # Few distinct periods in a narrow range: count them instead of sorting users.
        present = np.bincount(found - low) > 0
        number = np.cumsum(present) - 1
        codes[acquired] = number[found - low]
        return codes, low + np.flatnonzero(present)

    return cached(journeys, ("cohorts", period), compute, by_reach0=True)


@dataclass(frozen=True, eq=False)
class CohortCounts:
    """Per cohort and stage (arrays of shape ``(cohorts, stages)``): users reaching the
    stage (``users``), users reaching the stage before it (``entered``; column 0 unused)
    and users reaching both (``passed``; column 0 unused). ``starts``: each cohort's
    first day (days since 1970-01-01), ascending; cohorts are the periods of ``reach_0``
    holding at least one user."""

    starts: I64
    users: I64
    entered: I64
    passed: I64


def cohort_count_arrays(journeys: Any, period: str) -> CohortCounts:
    """The :class:`CohortCounts` of ``journeys`` by ``period`` (kept with the reach)."""

    def compute() -> CohortCounts:
        reach = reach_of(journeys)
        n = reach.reached.shape[1]
        code, starts = cohort_codes(journeys, period)
        c = starts.size
        acquired = code >= 0
        if reach.cumulative:
            # Reaching stage i means reaching every stage before it: one count per level.
            key = code * (n + 1) + reach.levels
            at = np.bincount(key if acquired.all() else key[acquired], minlength=c * (n + 1))
            at_least = np.cumsum(at.reshape(c, n + 1)[:, ::-1], axis=1)[:, ::-1]
            users = at_least[:, 1:].astype(np.int64)
            entered = np.column_stack([users[:, :1], users[:, :-1]])
            passed = users
        else:
            users = np.empty((c, n), dtype=np.int64)
            entered = np.zeros((c, n), dtype=np.int64)
            passed = np.zeros((c, n), dtype=np.int64)
            reached = reach.reached[acquired]
            kept = code[acquired]
            for i in range(n):
                users[:, i] = np.bincount(kept[reached[:, i]], minlength=c)
                if i:
                    entered[:, i] = np.bincount(kept[reached[:, i - 1]], minlength=c)
                    both = reached[:, i - 1] & reached[:, i]
                    passed[:, i] = np.bincount(kept[both], minlength=c)
        return CohortCounts(starts, users, entered, passed)

    return cached(journeys, ("cohort count arrays", period), compute)


def cohort_counts(journeys: Any, period: str) -> pl.DataFrame:
    """Per cohort (calendar period of ``reach_0`` holding a user) and stage ``i``.

    Columns: ``cohort`` (Date), ``stage`` (Int64), ``users`` (``reach_i`` set),
    ``users_in`` (``reach_{i-1}`` set; null for stage 0), ``users_out`` (``reach_{i-1}``
    and ``reach_i`` set; null for stage 0). Sorted by cohort, then stage.
    """
    counts = cohort_count_arrays(journeys, period)
    c, n = counts.users.shape
    stage = np.tile(np.arange(n, dtype=np.int64), c)
    first = pl.Series(stage == 0)
    return pl.DataFrame(
        {
            "cohort": as_dates(np.repeat(counts.starts, n)),
            "stage": stage,
            "users": counts.users.reshape(-1),
            "users_in": pl.Series(counts.entered.reshape(-1)).set(first, None),
            "users_out": pl.Series(counts.passed.reshape(-1)).set(first, None),
        }
    )


def as_dates(days: I64) -> pl.Series:
    """Days since 1970-01-01 as a ``pl.Date`` series."""
    return pl.Series(days.astype(np.int32)).cast(pl.Date)


def period_counts(journeys: Any, stage: int, period: str) -> tuple[I64, I64]:
    """Users per calendar period of ``reach_stage``: the periods holding any (start days
    since 1970-01-01, ascending) and their users."""

    def compute() -> tuple[I64, I64]:
        reach = reach_of(journeys)
        reached = reach.reached[:, stage]
        if stage == 0:
            days = stage_days(journeys, 0, period)[reached]
        else:  # the few users who got that far
            days = start_days(reach.ts[reached, stage], period)
        if not days.size:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        low = int(days.min())
        counts = np.bincount(days - low)
        found = np.flatnonzero(counts)
        return low + found, counts[found].astype(np.int64)

    return cached(journeys, ("period counts", stage, period), compute)


def first_reach0_us(journeys: Any) -> int | None:
    """The earliest ``reach_0`` in microseconds (``None`` without users)."""

    def compute() -> int | None:
        reach = reach_of(journeys)
        acquired = reach.ts[reach.reached[:, 0], 0]
        return int(acquired.min()) if acquired.size else None

    return cached(journeys, ("first reach_0",), compute, by_reach0=True)


def group_codes(journeys: Any, by: str) -> tuple[I64, pl.Series]:
    """Per user, the code of its value of segment column ``by``; the values by code.

    Codes follow the values' sort order, nulls last (one group of their own).
    """

    def compute() -> tuple[I64, pl.Series]:
        at = getattr(journeys, "codes_at_reach0", None)
        if at is not None:
            found, distinct = at(by)
        else:
            found, distinct = encode(journeys.table[by].to_arrow())
        # Number the values in sorted order, with null (if any) last.
        order = distinct.arg_sort().to_numpy()
        rank = np.empty(order.size + 1, dtype=np.int64)
        rank[order] = np.arange(order.size)
        rank[-1] = order.size  # code -1: null
        labels = distinct.gather(pl.Series(order))
        codes = rank[found]
        if (found < 0).any():
            labels = labels.append(pl.Series([None], dtype=labels.dtype))
        return codes, labels

    return cached(journeys, ("segment codes", by), compute, by_reach0=True)


@dataclass(frozen=True, eq=False)
class Steps:
    """The users who can pass from one stage to the next, ordered by group, then seconds.

    ``secs`` is the time the step took (as the funnel measures it), ``rows`` the users'
    rows, ``group`` their group codes (``None``: no split), ``since_start`` (for chains
    before limits, see ``Journeys.unlimited``) the microseconds from ``reach_0`` to the
    step, which the ``window`` bounds.
    """

    secs: F64
    rows: I64
    group: npt.NDArray[np.integer] | None
    since_start: I64 | None
    chains: bool
    bounds: I64 | None = None  # where each group's users start (groups run contiguous)


def steps(journeys: Any, stage: int, by: str | None = None) -> Steps:
    """The :class:`Steps` into ``stage`` (from ``stage - 1``), split by ``by`` (a segment
    column, ``"cohort"``, or ``None``).

    For lifecycle journeys the users are those of the chains before limits (see
    ``Journeys.unlimited``): the order is sorted once, and every window, ``within``,
    period or segment edit only filters it. Otherwise they are the users reaching both.
    """
    unlimited = getattr(journeys, "unlimited", None)
    chains: Reach | None = unlimited() if unlimited is not None else None
    base = chains if chains is not None else reach_of(journeys)
    scope = "chains" if chains is not None else "reach"

    def by_seconds() -> Steps:
        both = np.flatnonzero(base.reached[:, stage] & base.reached[:, stage - 1])
        # Times the reciprocal, as Polars divides a column by a number (the funnel's
        # seconds were always Polars'; this keeps them to the last bit).
        micros = (base.ts[both, stage] - base.ts[both, stage - 1]).astype(np.float64)
        secs = micros * (1.0 / 1e6)
        order = np.argsort(secs, kind="stable")
        rows = both[order]
        since = base.ts[rows, stage] - base.ts[rows, 0] if chains is not None else None
        return Steps(secs[order], rows, None, since, chains is not None)

    plain: Steps = cached(journeys, ("steps", stage), by_seconds, scope=scope)
    if by is None:
        return plain
    period = journeys.period

    def by_group() -> Steps:
        codes = (
            cohort_codes(journeys, period)[0] if by == "cohort" else group_codes(journeys, by)[0]
        )
        group = codes[plain.rows]
        # A stable sort of small codes is one radix pass, and keeps seconds ascending.
        if group.max(initial=0) < 65_536:
            group = group.astype(np.uint16)
        order = np.argsort(group, kind="stable")
        since = plain.since_start[order] if plain.since_start is not None else None
        bounds = np.concatenate([[0], np.cumsum(np.bincount(group))]).astype(np.int64)
        return Steps(
            plain.secs[order], plain.rows[order], group[order], since, plain.chains, bounds
        )

    key = ("steps by", stage, by, period if by == "cohort" else None)
    return cached(journeys, key, by_group, scope=scope)


def admitted(journeys: Any, found: Steps, stage: int) -> Bool:
    """Which of ``found``'s users reach ``stage`` under the journeys' limits."""
    if not found.chains or found.since_start is None:
        reach = reach_of(journeys)
        both: Bool = reach.reached[found.rows, stage] & reach.reached[found.rows, stage - 1]
        return both
    # Chains before limits: a user reaches the stage when every step so far keeps its
    # ``within`` (kept per within-setting) and the step lies in the window.
    within = journeys.within_ok()
    key = ("within ok at", stage, id(found), journeys.within_key())
    ok: Bool = cached(journeys, key, lambda: within[found.rows, stage], scope="chains")
    window = journeys.window_us()
    return ok if window is None else ok & (found.since_start <= window)


def users_by_group(journeys: Any, groups: I64 | None, n_groups: int) -> I64:
    """Users reaching each stage, per group: ``(groups, stages)`` counts (one group when
    ``groups`` is ``None``; users in group -1 are left out)."""
    reach = reach_of(journeys)
    n = reach.reached.shape[1]
    code = np.zeros(reach.users, dtype=np.int64) if groups is None else groups
    if reach.cumulative:
        # Reaching stage i means reaching every stage before it: one count per level.
        key = code * (n + 1) + reach.levels
        if groups is not None and groups.min(initial=0) < 0:
            key = key[groups >= 0]
        at = np.bincount(key, minlength=n_groups * (n + 1)).reshape(n_groups, n + 1)
        return np.cumsum(at[:, ::-1], axis=1)[:, ::-1][:, 1:].astype(np.int64)
    out = np.empty((n_groups, n), dtype=np.int64)
    for i in range(n):
        hit = reach.reached[:, i] & (code >= 0)
        out[:, i] = np.bincount(code[hit], minlength=n_groups)
    return out


def quantiles_of(
    journeys: Any, stage: int, groups: I64 | None, n_groups: int, by: str | None
) -> dict[str, F64]:
    """Per group, the funnel's quantiles of the seconds from stage ``stage - 1`` to
    ``stage`` over the users reaching it (NaN for a group without any).

    Linear interpolation between order statistics, computed exactly as Polars'
    ``quantile(q, "linear")`` and ``median()`` do, so the numbers are the same to the
    last bit: with ``f = (count - 1) q`` and ``i = floor(f)``, the value is ``v[i]`` when
    ``v[i] == v[i + 1]``, else ``(f - i) (v[i + 1] - v[i]) + v[i]``.
    """
    split = by if groups is not None else None
    if not has_steps(journeys, stage, split):
        # Sorting every user's step time pays off only over several edits: the first
        # time, select the quantiles (the explorer sorts them ahead, prepare_edits).
        return _selected_quantiles(journeys, stage, groups, n_groups)
    found = steps(journeys, stage, split)
    keep = admitted(journeys, found, stage)
    ordered = found.secs[keep]
    if found.group is None or found.bounds is None:
        bounds = np.array([0, ordered.size], dtype=np.int64)
    else:
        # Groups run contiguous: count what each keeps (no pass over group codes).
        starts = np.zeros(n_groups + 1, dtype=np.int64)
        starts[: found.bounds.size] = found.bounds
        starts[found.bounds.size :] = found.bounds[-1]
        kept = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
        bounds = kept[starts]
    return {name: _from_sorted(ordered, bounds, q) for name, q in QUANTILES}


def has_steps(journeys: Any, stage: int, by: str | None) -> bool:
    kept = getattr(journeys, "kept", None)
    if kept is None:
        return False
    scope = "chains" if journeys.unlimited() is not None else "reach"
    key = (
        ("steps", stage)
        if by is None
        else ("steps by", stage, by, journeys.period if by == "cohort" else None)
    )
    return kept(key, scope=scope) is not None


def _selected_quantiles(
    journeys: Any, stage: int, groups: I64 | None, n_groups: int
) -> dict[str, F64]:
    """:func:`quantiles_of` by selection (``np.partition``) instead of a full sort."""
    reach = reach_of(journeys)
    both = np.flatnonzero(reach.reached[:, stage] & reach.reached[:, stage - 1])
    micros = (reach.ts[both, stage] - reach.ts[both, stage - 1]).astype(np.float64)
    secs = micros * (1.0 / 1e6)  # as steps() measures them
    out = {name: np.full(n_groups, np.nan) for name, _ in QUANTILES}
    if groups is None:
        spans = [(0, secs)] if secs.size else []
    else:
        group = groups[both]
        if group.max(initial=0) < 65_536:
            group = group.astype(np.uint16)
        order = np.argsort(group, kind="stable")
        ordered, counts = secs[order], np.bincount(group, minlength=n_groups)
        bounds = np.concatenate([[0], np.cumsum(counts)])
        spans = [(g, ordered[bounds[g] : bounds[g + 1]]) for g in range(n_groups) if counts[g]]
    for g, values in spans:
        count = values.size
        points = {}
        for name, q in QUANTILES:
            i = int((count - 1) * q)
            points[name] = (i, min(i + 1, count - 1), (count - 1) * q - i)
        part = np.partition(values, sorted({k for p in points.values() for k in p[:2]}))
        for name, (i, j, proportion) in points.items():
            lower, upper = part[i], part[j]
            out[name][g] = lower if lower == upper else proportion * (upper - lower) + lower
    return out


def _from_sorted(ordered: F64, bounds: I64, q: float) -> F64:
    counts = np.diff(bounds)
    f = (counts - 1) * q
    i = f.astype(np.int64)
    base = bounds[:-1]
    empty = counts == 0
    lo_at = np.where(empty, 0, base + i)
    hi_at = np.where(empty, 0, base + np.minimum(i + 1, counts - 1))
    lower, upper = (
        ordered[lo_at] if ordered.size else np.zeros(counts.size),
        (ordered[hi_at] if ordered.size else np.zeros(counts.size)),
    )
    value = np.where(lower == upper, lower, (f - i) * (upper - lower) + lower)
    return np.where(empty, np.nan, value)
