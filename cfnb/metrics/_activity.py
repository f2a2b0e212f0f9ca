"""Retention's activity as arrays: the counts of a cohort matrix, read with NumPy.

Why whole days. Every user-relative period boundary lies a whole number of 24-hour days
after the user's anchor: days and weeks are 24 h and 168 h long, and a month boundary
(``add_periods(anchor, k, "month")``) keeps the anchor's time of day. So an instant
``off`` microseconds after the anchor lies in the same period ``k`` as the instant
``floor(off / 1 day)`` whole days after it, for all three period kinds: a user's distinct
*day offsets* say everything retention needs.

Why anchor days. Calendar periods are runs of UTC days, so whatever the period kind a
cohort is a run of *anchor days* (the distinct days holding an anchor) and its counts are
the sums of theirs. Users on one anchor day also share every period boundary, up to their
time of day; and whether a period has elapsed by the last timestamp depends only on the
anchor day and on whether the anchor's time of day is after the last timestamp's.

So the work splits in two:

* :func:`period_counts` reads the instants once (in runs of users small enough to stay in
  the CPU caches) and counts, per anchor day and period ``k``, the users active in their
  period ``k``, for each period kind; and per user the ``k`` of their last activity. None
  of it depends on the last timestamp.
* :func:`matrix` applies the last timestamp with one pass over the users (a histogram of
  anchor day, last active ``k`` and that time-of-day bit), never over the instants. A
  user's last timestamp lies in their period ``elapsed``, and every activity before it in
  that one or an earlier one: so ``"on"`` needs only to take out each user's activity in
  their running period, which is their last one. (Activity after the last timestamp,
  which only a hand-made log has, is counted again from the instants up to it.)

Examples
--------
User ``a``, acquired on Monday 1 January 2024, is active on days 0, 1 and 8 after it;
``b``, acquired the next day, on day 0 only. By Sunday 21 January two weeks have
elapsed for both:

>>> import numpy as np
>>> values, bounds = np.array([0, 1, 8, 0]) * DAY_US, np.array([0, 3, 4])
>>> anchor = np.array([19723, 19724]) * DAY_US  # days since 1970-01-01
>>> anchors, values, bounds = anchored(values, bounds, anchor, np.array([True, True]))
>>> weeks = period_counts(anchors, values, bounds, ["week"])["week"]
>>> m = matrix(anchors, weeks, 19743 * DAY_US)
>>> m.cohorts.tolist(), m.eligible.tolist(), m.on.tolist(), m.on_or_after.tolist()
([19723], [[2, 2]], [[2, 1]], [[2, 1]])
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from cfnb.periods import Period, start_days

__all__ = [
    "DAY_US",
    "Anchors",
    "Matrix",
    "PeriodCounts",
    "affordable",
    "anchored",
    "flat_offsets",
    "matrix",
    "period_counts",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]

#: One UTC day in microseconds.
DAY_US = 86_400_000_000
# Tables of every (anchor day, day offset) up to this many cells are worth building, to
# read a week or month key with one lookup per active day (logs spanning many years
# compute it instead); and period counts up to this size are made before they are asked.
_GRID_CELLS = 1 << 22
# Instants are read in runs of whole users about this long, so that every intermediate
# array stays in the CPU caches (a pass over main memory costs several times more).
_CHUNK = 1 << 17


# --------------------------------------------------------------------------- instants


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

    @functools.cached_property
    def per_day(self) -> I64:
        """Users per anchor day."""
        return np.bincount(self.day, minlength=self.days.size)

    @functools.cached_property
    def time_of_day(self) -> I64:
        """The anchor's microseconds since its UTC midnight."""
        found: I64 = self.us - self.days[self.day] * DAY_US
        return found


def flat_offsets(offsets: pl.Series) -> tuple[I64, I64]:
    """A list column as flat values and bounds: row ``i`` is ``values[bounds[i]:bounds[i+1]]``.

    Nulls read as empty lists. The arrays are views of the column's Arrow buffers (read
    without NumPy's Arrow interface, which imports pandas on first use).
    """
    if offsets.dtype != pl.List(pl.Int64):
        offsets = offsets.cast(pl.List(pl.Int64))
    if offsets.null_count():
        offsets = offsets.fill_null(pl.lit([], dtype=pl.List(pl.Int64)))
    lists = offsets.to_arrow()
    if lists.values.null_count:
        lists = offsets.list.drop_nulls().to_arrow()
    bounds = _int64s(lists.buffers()[1], lists.offset, len(lists) + 1)
    items = lists.values
    values = _int64s(items.buffers()[1], items.offset, len(items))
    return values[bounds[0] : bounds[-1]], bounds - bounds[0]


def _int64s(buffer: pa.Buffer | None, offset: int, length: int) -> I64:
    if buffer is None or length == 0:
        return np.zeros(length, dtype=np.int64)
    found: I64 = np.frombuffer(buffer, dtype=np.int64)[offset : offset + length]
    return found


def anchored(
    values: I64,
    bounds: I64,
    anchor: I64,
    has_anchor: Bool,
    *,
    shift: I64 | None = None,
    upto: I64 | None = None,
) -> tuple[Anchors, I64, I64]:
    """The users with an anchor, and their active instants as microseconds after it.

    ``values[bounds[i]:bounds[i + 1]]`` are user ``i``'s active instants as microseconds
    after a reference time, ascending; ``shift[i]`` is their anchor minus that reference
    (default 0: measured from the anchor already). Instants before the anchor and, with
    ``upto``, more than ``upto[i]`` microseconds after it are left out. Returns the
    :class:`Anchors` and the kept instants with their bounds, one row per anchored user.
    """
    us = anchor
    if not has_anchor.all():
        # Only the anchored users' instants go on (often a small share, for a late stage).
        values, bounds = _rows(values, bounds, has_anchor)
        us = anchor[has_anchor]
        shift = None if shift is None else shift[has_anchor]
        upto = None if upto is None else upto[has_anchor]
    if shift is not None or upto is not None:
        values, counts = _kept(values, bounds, shift, upto)
        bounds = np.zeros(us.size + 1, dtype=np.int64)
        np.cumsum(counts, out=bounds[1:])
    last, ascending, negative = _scan(values, bounds)
    if not ascending:
        # A hand-made activity whose offsets are not ascending: sort each user's.
        lists = pa.LargeListArray.from_arrays(pa.array(bounds), pa.array(values, pa.int64()))
        values, bounds = flat_offsets(pl.Series(lists).list.sort())
        last, _, negative = _scan(values, bounds)
    if negative:
        # Instants before the reference time are not activity (offsets from the journeys'
        # own index never are).
        everyone = np.ones(us.size, dtype=bool)
        return anchored(values, bounds, us, everyone, shift=np.zeros(us.size, dtype=np.int64))
    day, days = _anchor_days(us)
    return Anchors(us=us, day=day, days=days, last=last), values, bounds


def _rows(values: I64, bounds: I64, rows: Bool) -> tuple[I64, I64]:
    """The instants of the users ``rows`` selects, and their bounds.

    Gathered run by run into the final array: the positions gathered from are never a
    whole array as long as the instants.
    """
    counts = np.diff(bounds)[rows]
    kept = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=kept[1:])
    shift = bounds[:-1][rows] - kept[:-1]
    out = np.empty(int(kept[-1]), dtype=np.int64)
    for u0, u1 in _runs(kept, _CHUNK):
        k0, k1 = int(kept[u0]), int(kept[u1])
        at = np.arange(k0, k1, dtype=np.int64)
        at += np.repeat(shift[u0:u1], counts[u0:u1])
        np.take(values, at, out=out[k0:k1])
    return out, kept


def _kept(values: I64, bounds: I64, shift: I64 | None, upto: I64 | None) -> tuple[I64, I64]:
    """The instants of :func:`anchored` moved by ``shift`` and filtered; their counts.

    Two passes over runs of users: the first counts what each keeps, the second writes it
    into an array of that size (kept runs gathered and then joined would hold it twice).
    """
    runs = _runs(bounds, _CHUNK)
    kept = np.zeros(bounds.size - 1, dtype=np.int64)
    for u0, u1 in runs:
        v, keep = _moved(values, bounds, shift, upto, u0, u1)
        total = np.zeros(v.size + 1, dtype=np.int32)
        np.cumsum(keep, dtype=np.int32, out=total[1:])
        ends = total[bounds[u0 : u1 + 1] - bounds[u0]]
        kept[u0:u1] = ends[1:] - ends[:-1]
    out = np.empty(int(kept.sum()), dtype=np.int64)
    at = 0
    for u0, u1 in runs:
        v, keep = _moved(values, bounds, shift, upto, u0, u1)
        part = v.compress(keep)
        out[at : at + part.size] = part
        at += part.size
    return out, kept


def _moved(
    values: I64, bounds: I64, shift: I64 | None, upto: I64 | None, u0: int, u1: int
) -> tuple[I64, Bool]:
    """Users ``u0 … u1 - 1``'s instants moved by ``shift``, and which :func:`_kept` keeps."""
    n = np.diff(bounds[u0 : u1 + 1])
    v = values[int(bounds[u0]) : int(bounds[u1])]
    if shift is not None:
        v = v - np.repeat(shift[u0:u1], n)
    keep = v >= 0
    if upto is not None:
        keep &= v <= np.repeat(upto[u0:u1], n)
    return v, keep


def _scan(values: I64, bounds: I64) -> tuple[I64, bool, bool]:
    """Per user, whole days to their last instant (-1 when none); whether each user's
    instants ascend; whether any is negative (assuming they ascend)."""
    last = np.full(bounds.size - 1, -1, dtype=np.int64)
    ascending, negative = True, False
    for u0, u1 in _runs(bounds, _CHUNK):
        v = values[bounds[u0] : bounds[u1]]
        starts = bounds[u0:u1] - bounds[u0]
        ends = bounds[u0 + 1 : u1 + 1] - bounds[u0]
        some = ends > starts
        last[u0:u1][some] = v[ends[some] - 1] // DAY_US
        negative = negative or bool((v[starts[some]] < 0).any())
        down = v[1:] < v[:-1]
        down[starts[some & (starts > 0)] - 1] = False  # a new user may start lower
        ascending = ascending and not down.any()
    return last, ascending, negative


def _runs(bounds: I64, size: int) -> list[tuple[int, int]]:
    """Runs of whole users, about ``size`` instants each (one user may make more)."""
    users = bounds.size - 1
    if users <= 0:
        return []
    cuts = np.searchsorted(bounds, np.arange(0, int(bounds[-1]), size), side="right") - 1
    edges = np.unique(np.r_[0, cuts, users])
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


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
    rank = np.cumsum(seen, dtype=np.int32).astype(np.int64) - 1
    return rank[days - lo], np.flatnonzero(seen) + lo


# --------------------------------------------------------------------------- period index


@dataclass(frozen=True, eq=False)
class _Months:
    """Calendar months counted from each anchor day, clamped like Polars ``offset_by``.

    For an anchor on day ``a`` and a day ``e`` after it, the month index is
    ``month(e) - month(a)``, less one when the anchor's day of month, clamped to the
    length of ``e``'s month, is still ahead of ``e``'s day of month (the rule of
    :func:`cfnb.periods.whole_periods`, where the times of day are equal). The second
    part depends only on the anchor's day of month and on ``e``: a table of 31 rows.
    """

    table: I64  # 31 rows over the days covered, flattened: month(e) less the correction
    row: I64  # per anchor day: where its row, at its own day, starts in `table`
    base: I64  # per anchor day: month(a)

    def index(self, day: I64, offset: I64) -> I64:
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
    base, start_dom, _ = _civil(days)
    return _Months(
        table=(month[None, :] - early).ravel(),
        row=(start_dom - 1) * span + (days - lo),
        base=base,
    )


def _index(period: Period, day: I64, offset: I64, months: _Months | None) -> I64:
    """The period ``k`` holding day offset ``offset`` (>= 0) of anchors on days ``day``."""
    if period == "day":
        return offset
    if period == "week":
        return offset // 7
    assert months is not None
    return months.index(day, offset)


def _index_or_none(period: Period, day: I64, offset: I64, months: _Months | None) -> I64:
    """:func:`_index`, and -1 where ``offset`` is negative."""
    ok = offset >= 0
    if ok.all() and ok.size:
        return _index(period, day, offset, months)
    out = np.full(offset.size, -1, dtype=np.int64)
    if ok.any():
        out[ok] = _index(period, day[ok], offset[ok], months)
    return out


# --------------------------------------------------------------------------- counts


@dataclass(frozen=True, eq=False)
class PeriodCounts:
    """What a period kind makes of the instants, before any period has elapsed.

    ``cohorts``
        start of each cohort (days since 1970-01-01), ascending; each has a user;
    ``cohort``
        per anchor day, the index of its cohort;
    ``users``
        per cohort, its users;
    ``active``
        per cohort and ``k`` (``cohorts x k``), the users active in their period ``k``;
    ``last``
        per user, the ``k`` of their last activity, -1 when none.
    """

    period: Period
    cohorts: I64
    cohort: I64
    users: I64
    active: I64
    last: I64

    @property
    def k(self) -> int:
        return int(self.active.shape[1])


def period_counts(
    anchors: Anchors, values: I64, bounds: I64, periods: Iterable[Period]
) -> dict[Period, PeriodCounts]:
    """:class:`PeriodCounts` for each of ``periods``, in one pass over the instants.

    ``values`` and ``bounds`` are the instants :func:`anchored` returned with ``anchors``.
    """
    wanted = tuple(periods)
    n_days = anchors.days.size
    width = int(anchors.last.max()) + 1 if anchors.users else 0
    months = _months(anchors.days, width) if "month" in wanted and n_days else None
    lasts = {p: _index_or_none(p, anchors.day, anchors.last, months) for p in wanted}
    keys = {p: _Keys(p, n_days, width, int(lasts[p].max(initial=-1)) + 1, months) for p in wanted}
    active = {p: np.zeros(keys[p].cells, dtype=np.int64) for p in wanted}
    # A user's active days are grid cells ((anchor day x 2 + parity) x width + day offset),
    # ascending within the user. The parity alternates between consecutive users with
    # activity, so neighbouring users never share a key: "differs from the previous key"
    # is "first of its user and key", and one comparison keeps one count per user and key.
    # (NumPy sums bools into int32 several times faster than into int64.)
    parity = (np.cumsum(np.diff(bounds) > 0, dtype=np.int32) & 1).astype(np.int64)
    start = (anchors.day * 2 + parity) * width
    counts = np.diff(bounds)
    size = max(_CHUNK, 2 * max((a.size for a in active.values()), default=0))
    for u0, u1 in _runs(bounds, size):
        b0, b1 = int(bounds[u0]), int(bounds[u1])
        if b0 == b1:
            continue
        cell = np.repeat(start[u0:u1], counts[u0:u1])
        cell += values[b0:b1] // DAY_US
        cell = cell.compress(_new(cell))
        for p in wanted:
            key = keys[p].of(cell)
            if p != "day":  # a user's active days in one period count once
                key = key.compress(_new(key))
            active[p] += np.bincount(key, minlength=active[p].size)
    return {p: _by_cohort(p, anchors, keys[p].fold(active[p]), lasts[p]) for p in wanted}


def _new(key: I64) -> Bool:
    new = np.empty(key.size, dtype=bool)
    new[:1] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    return new


@dataclass(frozen=True, eq=False)
class _Keys:
    """A period kind's counting key, ``(anchor day x k + period) x 2 + parity``, read
    from a grid cell ``(anchor day x 2 + parity) x width + day offset``."""

    period: Period
    n_days: int
    width: int
    k: int
    months: _Months | None

    @property
    def cells(self) -> int:
        return self.n_days * self.k * 2

    def of(self, cell: I64) -> I64:
        if self.period == "day":
            return cell  # k == width, and the day offset is the period
        if self.table is not None:
            found: I64 = self.table.take(cell, mode="clip")
            return found
        return self._compute(cell // self.width, cell % self.width)

    def _compute(self, half: I64, offset: I64) -> I64:
        day, parity = half >> 1, half & 1
        key: I64 = (_index(self.period, day, offset, self.months) + day * self.k) * 2 + parity
        return key

    @functools.cached_property
    def table(self) -> I64 | None:
        if 2 * self.n_days * self.width > _GRID_CELLS:
            return None
        half = np.arange(2 * self.n_days, dtype=np.int64)[:, None]
        offset = np.arange(self.width, dtype=np.int64)[None, :]
        return self._compute(half, offset).ravel()

    def fold(self, counts: I64) -> I64:
        """The counts per anchor day and ``k``, both parities summed."""
        if self.period == "day":
            found: I64 = counts.reshape(self.n_days, 2, self.k).sum(axis=1)
        else:
            found = counts.reshape(self.n_days, self.k, 2).sum(axis=2)
        return found


def affordable(anchors: Anchors, period: Period) -> bool:
    """Whether ``period``'s counts are small enough to make before they are asked for:
    anchor days times the periods their activity spans, at most a few million."""
    days = int(anchors.last.max()) + 1 if anchors.users else 0
    per = {"day": 1, "week": 7, "month": 28}[period]
    return 2 * anchors.days.size * (days // per + 1) <= _GRID_CELLS


def _by_cohort(period: Period, anchors: Anchors, active: I64, last: I64) -> PeriodCounts:
    start = start_days(anchors.days * DAY_US, period)
    new = np.ones(start.size, dtype=bool)
    new[1:] = start[1:] != start[:-1]
    runs = np.flatnonzero(new)
    cohort = np.cumsum(new) - 1
    users = np.bincount(cohort, weights=anchors.per_day, minlength=runs.size)
    if runs.size and active.shape[1]:
        summed = np.add.reduceat(active, runs, axis=0)
    else:
        summed = np.zeros((runs.size, active.shape[1]), dtype=np.int64)
    return PeriodCounts(
        period=period,
        cohorts=start[runs],
        cohort=cohort,
        users=users.astype(np.int64),
        active=summed.astype(np.int64),
        last=last,
    )


# --------------------------------------------------------------------------- matrix


@dataclass(frozen=True, eq=False)
class Matrix:
    """Cohort x ``k`` counts of a retention matrix, for ``k`` below the largest number of
    elapsed periods (at least 1; no column without users).

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


def matrix(
    anchors: Anchors, counts: PeriodCounts, last_us: int | None, on: PeriodCounts | None = None
) -> Matrix | None:
    """The counts of the matrix once the periods before ``last_us`` have elapsed.

    ``on`` gives the ``"on"`` counts when they must come from other instants than
    ``counts`` (those up to ``last_us``). ``None`` when some activity lies after
    ``last_us`` and ``on`` is not given.
    """
    n_cohorts = counts.cohorts.size
    # Per user: their anchor day, whether their time of day is after last_us's, and the k
    # of their last activity; the periods elapsed depend on the first two only.
    late, done = _elapsed(anchors, counts.period, last_us)
    hist = _histogram(anchors, counts, late)
    hist_on = hist if on is None else _histogram(anchors, on, late)
    j = np.arange(hist.shape[1], dtype=np.int64)[None, :, None]  # last active k + 1
    el = done[:, None, :]
    if on is None and (hist[(j - 1 > el) & (hist > 0)]).any():
        return None
    populated = hist.sum(axis=1) > 0
    k = max(int(done[populated].max(initial=0)), 1) if anchors.users else 0
    cohort = counts.cohort[:, None, None]
    eligible = _above(cohort, el, hist, n_cohorts, k)
    on_or_after = _above(cohort, np.minimum(j, el), hist, n_cohorts, k)
    active = np.zeros((n_cohorts, k), dtype=np.int64)
    source = counts if on is None else on
    shown = min(k, source.k)
    active[:, :shown] = source.active[:, :shown]
    # Every period a user was active in lies at or before the one holding last_us; only
    # that one, their last active, has not elapsed: take it out.
    j_on = np.arange(hist_on.shape[1], dtype=np.int64)[None, :, None]
    running = (j_on - 1 == el) & (el >= 0) & (el < k)
    cell = np.broadcast_to(cohort * k + el, hist_on.shape)[running]
    taken = np.bincount(cell, weights=hist_on[running], minlength=n_cohorts * k)
    active -= taken.astype(np.int64).reshape(n_cohorts, k)
    return Matrix(
        cohorts=counts.cohorts,
        users=counts.users,
        eligible=eligible,
        on=active,
        on_or_after=on_or_after,
    )


def _elapsed(anchors: Anchors, period: Period, last_us: int | None) -> tuple[I64, I64]:
    """Per user whether their anchor's time of day is after ``last_us``'s; per anchor
    day and that bit, the periods elapsed by ``last_us``.

    That is the index of the period holding ``last_us``, as
    :func:`cfnb.periods.whole_periods` gives it (negative before the anchor); 0 without a
    last timestamp.
    """
    n_days = anchors.days.size
    if last_us is None:
        return np.zeros(anchors.users, dtype=np.int64), np.zeros((n_days, 2), dtype=np.int64)
    late = (anchors.time_of_day > last_us % DAY_US).astype(np.int64)
    # Whole days from an anchor to last_us: one fewer when the anchor's time is later.
    days = (last_us // DAY_US - anchors.days)[:, None] - np.arange(2)[None, :]
    day = np.broadcast_to(np.arange(n_days, dtype=np.int64)[:, None], days.shape)
    months = _months(anchors.days, int(days.max()) + 1) if period == "month" and n_days else None
    done = _index_or_none(period, day.ravel(), days.ravel(), months).reshape(n_days, 2)
    return late, done


def _histogram(anchors: Anchors, counts: PeriodCounts, late: I64) -> I64:
    """Users per anchor day, last active ``k`` + 1 and time-of-day bit."""
    bins = counts.k + 1
    key = (anchors.day * bins + counts.last + 1) * 2 + late
    found: I64 = np.bincount(key, minlength=anchors.days.size * bins * 2).reshape(
        anchors.days.size, bins, 2
    )
    return found


def _above(cohort: I64, n: I64, hist: I64, n_cohorts: int, k: int) -> I64:
    """Per cohort and ``i < k``: the users (counted in ``hist``) whose ``n`` is above ``i``."""
    n = np.clip(n, 0, k)
    cell = np.broadcast_to(cohort * (k + 1) + n, hist.shape).ravel()
    per = np.bincount(cell, weights=hist.ravel(), minlength=n_cohorts * (k + 1))
    above = np.cumsum(per.reshape(n_cohorts, k + 1)[:, ::-1], axis=1)[:, ::-1]
    return np.ascontiguousarray(above[:, 1:]).astype(np.int64)
