"""Retention's activity as arrays: the counts of a cohort matrix, read with NumPy.

Why whole days. Every user-relative period boundary lies a whole number of 24-hour days
after the user's anchor: days and weeks are 24 h and 168 h long, and a month boundary
(``add_periods(anchor, k, "month")``) keeps the anchor's time of day. So an instant ``off``
microseconds after the anchor lies in the same period ``k`` as the instant
``floor(off / 1 day)`` whole days after it, for all three periods. A user's distinct
*day offsets* therefore say everything retention needs, and there are fewer of them
than instants (several events on one day count once).

From the day offsets (:func:`day_offsets`), each period kind gives (:func:`period_counts`):
per cohort and ``k``, how many users were active in their period ``k`` (every period,
elapsed or not), and per user the ``k`` of their last activity. Those do not depend on
the log's last timestamp; :func:`matrix` then applies it (which periods have elapsed)
with a few passes over the users, never over the instants. A user's activity in
periods after ``k`` can only come from events after ``k`` ended, so when no activity
lies after the last timestamp, the one period a user was active in that has not
elapsed is their last one: removing it from the counts is one pass over the users.

Everything is indexed by *anchor day*: the distinct UTC days holding an anchor, in
order. Calendar periods are runs of days, so a cohort is a run of anchor days and its
counts are sums of theirs, whatever the period kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import polars as pl

from cfnb.periods import Period, start_days

__all__ = [
    "DAY_US",
    "Anchors",
    "Matrix",
    "PeriodCounts",
    "day_offsets",
    "elapsed",
    "flat_offsets",
    "matrix",
    "period_counts",
]

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Ints = npt.NDArray[np.signedinteger]
Bool = npt.NDArray[np.bool_]

#: One UTC day in microseconds.
DAY_US = 86_400_000_000
# A (anchor day × day offset) table this small is worth building to read a month index
# with one lookup per pair; above it (logs spanning many years) the index is computed.
_GRID_CELLS = 1 << 22


# --------------------------------------------------------------------------- day offsets


@dataclass(frozen=True, eq=False)
class Anchors:
    """The users of a matrix: those with an anchor, in the order they were given.

    ``us``
        the anchor, microseconds since the epoch (UTC);
    ``day``
        the index in ``days`` of the anchor's UTC day;
    ``days``
        the distinct anchor days (days since 1970-01-01), ascending;
    ``last``
        whole days from the anchor to the user's last active instant, -1 when none.
    """

    us: I64
    day: I64
    days: I64
    last: I64

    @property
    def users(self) -> int:
        return int(self.us.size)


@dataclass(frozen=True, eq=False)
class Pairs:
    """Each user's distinct day offsets (``day`` = their anchor day's index), grouped by
    user and ascending within one; ``first`` marks a user's first pair."""

    day: I32
    offset: I32
    first: Bool

    @property
    def width(self) -> int:
        """One more than the largest day offset (0 when there is none)."""
        return int(self.offset.max()) + 1 if self.offset.size else 0


def flat_offsets(offsets: pl.Series) -> tuple[I64, I64]:
    """A list column as flat values and bounds: row ``i`` is ``values[bounds[i]:bounds[i+1]]``.

    Nulls read as empty lists; no copy when the column is one chunk of Int64 lists.
    """
    if offsets.dtype != pl.List(pl.Int64):
        offsets = offsets.cast(pl.List(pl.Int64))
    if offsets.null_count():
        offsets = offsets.fill_null(pl.lit([], dtype=pl.List(pl.Int64)))
    lists = offsets.to_arrow()
    if not isinstance(lists, pa.LargeListArray):  # pragma: no cover - polars' own list type
        lists = pa.array(lists.to_pylist(), pa.large_list(pa.int64()))
    if lists.values.null_count:
        offsets = offsets.list.drop_nulls()
        lists = offsets.to_arrow()
    bounds = np.asarray(lists.offsets, dtype=np.int64)
    values = np.asarray(lists.values, dtype=np.int64)[bounds[0] : bounds[-1]]
    return values, bounds - bounds[0]


def day_offsets(
    values: I64,
    bounds: I64,
    anchor: I64,
    has_anchor: Bool,
    *,
    shift: I64 | None = None,
    upto: I64 | None = None,
) -> tuple[Anchors, Pairs]:
    """The users with an anchor and their distinct day offsets from it.

    ``values[bounds[i]:bounds[i + 1]]`` are user ``i``'s active instants as microseconds
    after a reference time, ascending; ``shift[i]`` is their anchor minus that reference
    (default 0: the offsets are measured from the anchor). Instants before the anchor,
    and with ``upto``, later than ``upto[i]`` microseconds after it, are left out.
    """
    counts = np.diff(bounds)
    if shift is not None or upto is not None or not has_anchor.all():
        user = np.repeat(np.arange(counts.size), counts)
        values = values - shift[user] if shift is not None else values
        keep = has_anchor[user] & (values >= 0)
        if upto is not None:
            keep &= values <= upto[user]
        values, counts = values[keep], np.bincount(user[keep], minlength=counts.size)
    counts, us = counts[has_anchor], anchor[has_anchor]
    n = us.size
    ends = np.cumsum(counts)
    starts = ends - counts
    some = counts > 0
    if n and (values[starts[some]] < 0).any():
        # Instants before the reference time are not activity (offsets from the journeys'
        # own index never are).
        return day_offsets(values, np.r_[0, ends], us, np.ones(n, dtype=bool), shift=np.zeros(n, dtype=np.int64))
    offset = (values // DAY_US).astype(np.int32)
    first = np.zeros(offset.size, dtype=bool)
    first[starts[some]] = True
    new = first.copy()
    new[1:] |= offset[1:] != offset[:-1]
    if (offset[1:] < offset[:-1])[~first[1:]].any():
        return _unsorted(values, ends, us)
    day, days = _anchor_days(us)
    last = np.full(n, -1, dtype=np.int64)
    last[some] = offset[ends[some] - 1]
    pairs = Pairs(
        day=np.repeat(day.astype(np.int32), counts)[new],
        offset=offset[new],
        first=first[new],
    )
    return Anchors(us=us, day=day, days=days, last=last), pairs


def _unsorted(values: I64, ends: I64, anchor: I64) -> tuple[Anchors, Pairs]:
    # A hand-made activity whose offsets are not ascending: sort each user's, then go on.
    lists = pl.Series(
        pa.LargeListArray.from_arrays(pa.array(np.r_[0, ends]), pa.array(values, pa.int64()))
    ).list.sort()
    flat, bounds = flat_offsets(lists)
    return day_offsets(flat, bounds, anchor, np.ones(anchor.size, dtype=bool))


def _anchor_days(us: I64) -> tuple[I64, I64]:
    days = us // DAY_US
    if days.size == 0:
        return days, days
    lo = int(days.min())
    span = int(days.max()) - lo + 1
    if span > 4 * days.size + 1024:  # anchors scattered over centuries: sort them
        found, index = np.unique(days, return_inverse=True)
        return index.astype(np.int64), found
    seen = np.bincount(days - lo, minlength=span) > 0
    rank = np.cumsum(seen) - 1
    return rank[days - lo], np.flatnonzero(seen) + lo


# --------------------------------------------------------------------------- period index


@dataclass(frozen=True, eq=False)
class _Months:
    """Calendar months counted from each anchor day, clamped like Polars ``offset_by``.

    For an anchor on day ``a`` and a day ``e`` (``d`` days after ``a``), the month
    index is ``month(e) - month(a)``, less one when the anchor's day of month, clamped to
    ``e``'s month length, is still ahead of ``e``'s day of month (the same rule as
    :func:`cfnb.periods.whole_periods`). The second part depends only on the anchor's day
    of month and ``e``: one table of 31 rows over the days covered.
    """

    table: I64  # (31 × span), flattened: month(e) less the clamped-day correction
    row: I64  # per anchor day: where its row and its own day start in `table`
    base: I64  # per anchor day: month(a)

    def index(self, day: Ints, offset: Ints) -> I64:
        found: I64 = self.table[self.row[day] + offset] - self.base[day]
        return found


def _civil(days: I64) -> tuple[I64, I64, I64]:
    """Per day since the epoch: months since 1970-01, day of month, days in its month."""
    date = days.astype("datetime64[D]")
    month = date.astype("datetime64[M]")
    start = month.astype("datetime64[D]")
    dom = (date - start).astype(np.int64) + 1
    length = ((month + 1).astype("datetime64[D]") - start).astype(np.int64)
    return month.astype(np.int64), dom, length


def _months(days: I64, reach: int) -> _Months:
    """Month indices for anchors on ``days`` and day offsets ``0 … reach - 1``."""
    lo = int(days[0])
    span = int(days[-1]) - lo + max(reach, 1)
    month, dom, length = _civil(np.arange(lo, lo + span, dtype=np.int64))
    anchor_dom = np.arange(1, 32, dtype=np.int64)[:, None]
    early = np.minimum(anchor_dom, length[None, :]) > dom[None, :]
    table = (month[None, :] - early).ravel()
    base, start_dom, _ = _civil(days)
    return _Months(table=table, row=(start_dom - 1) * span + (days - lo), base=base)


def _index(period: Period, day: Ints, offset: Ints, months: _Months | None) -> I64:
    """The period ``k`` holding day offset ``offset`` (>= 0) of anchors on days ``day``."""
    if period == "day":
        return offset.astype(np.int64)
    if period == "week":
        return offset.astype(np.int64) // 7
    assert months is not None
    return months.index(day, offset)


def _index_or_none(period: Period, anchors: Anchors, offset: I64, months: _Months | None) -> I64:
    out = np.full(offset.size, -1, dtype=np.int64)
    ok = offset >= 0
    out[ok] = _index(period, anchors.day[ok], offset[ok], months)
    return out


# --------------------------------------------------------------------------- counts


@dataclass(frozen=True, eq=False)
class PeriodCounts:
    """What a period kind makes of the day offsets, before any period has elapsed.

    ``cohorts``
        start of each cohort (days since 1970-01-01), ascending; each has a user;
    ``cohort``
        per user, the index of their cohort;
    ``users``
        per cohort, its users;
    ``last``
        per user, the period ``k`` of their last activity, -1 when none;
    ``active``
        per cohort and ``k`` (``cohorts × K``), users active in their period ``k``.
    """

    period: Period
    cohorts: I64
    cohort: I64
    users: I64
    last: I64
    active: I64


def period_counts(
    anchors: Anchors, pairs: Pairs, periods: Iterable[Period]
) -> dict[Period, PeriodCounts]:
    """:class:`PeriodCounts` for each of ``periods``, from one set of day offsets."""
    width = max(pairs.width, 1)
    n_days = anchors.days.size
    need = set(periods)
    months = _months(anchors.days, width) if "month" in need and n_days else None
    cells: Ints | None = None  # a pair's cell in the (anchor day × day offset) grid

    def grid_cells() -> Ints:
        nonlocal cells
        if cells is None:
            wide = np.int64 if n_days * width >= 2**31 else np.int32
            cells = pairs.day.astype(wide) * width + pairs.offset
        return cells

    out: dict[Period, PeriodCounts] = {}
    for period in periods:
        last = _index_or_none(period, anchors, anchors.last, months)
        k = int(last.max()) + 1 if last.size else 0
        if period == "day":
            key = grid_cells()  # day offsets are distinct per user already
        elif period == "week":
            key = pairs.day.astype(np.int64) * k + pairs.offset // 7
        else:
            assert months is not None or n_days == 0
            key = _month_keys(pairs, months, n_days, width, k, grid_cells)
        if period != "day" and key.size:
            new = pairs.first.copy()
            new[1:] |= key[1:] != key[:-1]
            key = key[new]
        active = np.bincount(key, minlength=n_days * k).reshape(n_days, k)
        out[period] = _by_cohort(period, anchors, active, last)
    return out


def _month_keys(
    pairs: Pairs,
    months: _Months | None,
    n_days: int,
    width: int,
    k: int,
    grid_cells: object,
) -> Ints:
    if months is None or pairs.day.size == 0:
        return np.zeros(0, dtype=np.int64)
    if n_days * width <= _GRID_CELLS:
        # One lookup per pair in a table of every (anchor day, day offset).
        day = np.arange(n_days, dtype=np.int64)
        grid = months.index(day[:, None], np.arange(width)[None, :]) + day[:, None] * k
        cells: Ints = grid_cells()  # type: ignore[operator]
        found: Ints = grid.ravel()[cells]
        return found
    return months.index(pairs.day, pairs.offset) + pairs.day.astype(np.int64) * k


def _by_cohort(period: Period, anchors: Anchors, active: I64, last: I64) -> PeriodCounts:
    start = start_days(anchors.days * DAY_US, period)
    new = np.ones(start.size, dtype=bool)
    new[1:] = start[1:] != start[:-1]
    runs = np.flatnonzero(new)
    per_day = np.cumsum(new) - 1
    cohort = per_day[anchors.day]
    users = np.bincount(cohort, minlength=runs.size)
    summed = np.add.reduceat(active, runs, axis=0) if runs.size else active[:0]
    return PeriodCounts(
        period=period,
        cohorts=start[runs],
        cohort=cohort,
        users=users.astype(np.int64),
        last=last,
        active=summed.astype(np.int64),
    )


# --------------------------------------------------------------------------- matrix


def elapsed(anchors: Anchors, period: Period, last_us: int | None) -> I64:
    """Per user: how many of their periods had fully elapsed by ``last_us``.

    That is the index of the period holding ``last_us`` (negative before the anchor),
    as :func:`cfnb.periods.whole_periods` gives it; 0 without a last timestamp.
    """
    if last_us is None:
        return np.zeros(anchors.users, dtype=np.int64)
    days = (last_us - anchors.us) // DAY_US
    if period != "month" or not anchors.users:
        return _index_or_none(period, anchors, days, None)
    months = _months(anchors.days, int(days.max()) + 1)
    return _index_or_none(period, anchors, days, months)


@dataclass(frozen=True, eq=False)
class Matrix:
    """Cohort × ``k`` counts of a retention matrix, for ``k < K`` (``K`` = the largest
    number of elapsed periods, at least 1; 0 columns without users).

    ``eligible[c, k]`` counts cohort ``c``'s users whose period ``k`` has elapsed;
    ``on[c, k]`` those of them active in it, ``on_or_after[c, k]`` those active at or
    after its start.
    """

    cohorts: I64
    users: I64
    eligible: I64
    on: I64
    on_or_after: I64

    @property
    def periods(self) -> int:
        return int(self.eligible.shape[1])


def exceeds(counts: PeriodCounts, done: I64) -> bool:
    """Whether some activity lies in a period after the one holding the last timestamp
    (only a hand-made log or journeys can do that)."""
    return bool((counts.last > done).any())


def matrix(counts: PeriodCounts, done: I64, on: PeriodCounts | None = None) -> Matrix:
    """The counts of the matrix once ``done`` (per user, :func:`elapsed`) periods elapsed.

    ``on`` gives the ``"on"`` counts when they must come from other day offsets (the
    activity up to the last timestamp, when :func:`exceeds`); by default ``counts``.
    """
    on = counts if on is None else on
    n_cohorts = counts.cohorts.size
    k = max(int(done.max()), 1) if done.size else 0
    cohort = counts.cohort
    eligible = _at_least(cohort, np.clip(done, 0, k), n_cohorts, k)
    reach = np.clip(np.minimum(counts.last + 1, done), 0, k)
    on_or_after = _at_least(cohort, reach, n_cohorts, k)
    active = np.zeros((n_cohorts, k), dtype=np.int64)
    shown = min(k, on.active.shape[1])
    active[:, :shown] = on.active[:, :shown]
    # Every period a user was active in lies at or before the one holding the last
    # timestamp; only that one, their last, may not have elapsed: take it out.
    running = (on.last >= 0) & (on.last == done) & (done < k)
    np.subtract.at(active, (cohort[running], done[running]), 1)
    return Matrix(
        cohorts=counts.cohorts,
        users=counts.users,
        eligible=eligible,
        on=active,
        on_or_after=on_or_after,
    )


def _at_least(cohort: I64, n: I64, n_cohorts: int, k: int) -> I64:
    """Per cohort and ``j < k``: users whose ``n`` is above ``j``."""
    hist = np.bincount(cohort * (k + 1) + n, minlength=n_cohorts * (k + 1))
    above = np.cumsum(hist.reshape(n_cohorts, k + 1)[:, ::-1], axis=1)[:, ::-1]
    return np.ascontiguousarray(above[:, 1:])
