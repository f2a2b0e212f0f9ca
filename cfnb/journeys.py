"""The journeys table: when each acquired user reached each stage (DESIGN.md §3).

Every metric is a group-by over this table, so its semantics are the funnel's semantics.
They are written down here, exactly, and ``tests/reference.py`` implements them again as
slow, obvious Python loops that the tests compare against.

Canonical row order
-------------------
Only rows matching at least one stage matter. They are taken per user in one total
order that depends on content only, so shuffling the input never changes a result:

1. ``ts``;
2. then the index of the first stage the row matches (a row that can serve an earlier
   stage comes first: equal timestamps chain in stage order, as in ClickHouse);
3. then ``event``, then every other column by column name (nulls last). Rows equal in
   all of these are interchangeable.

Editing stage ``i`` only moves rows whose first matching stage is ``i`` or later, so the
order among the rows that stages ``< i`` can use never changes.

lifecycle (the default)
-----------------------
A user enters once. ``reach_0`` is the time of their ``times_0``-th row matching stage 0.
``reach_i`` is the time of the ``times_i``-th row matching stage ``i`` among rows with
``ts >= reach_{i-1}`` that no earlier stage has used (a row at the same timestamp as
``reach_{i-1}`` counts as at or after it, wherever it sits in the canonical order). Each
stage uses the rows it counted, so one event row never satisfies two stages. Stage ``i``
is reached only if ``reach_i - reach_{i-1} <= within_i`` and ``reach_i - reach_0 <=
window`` (where set; stage 0 has no previous stage, so its ``within`` is ignored); once a
stage is not reached, no later stage is.

The rows each stage picks do not depend on ``within`` or ``window``: the first match is
beyond a limit exactly when every later match is. So the raw chain is computed once and
the limits are applied as a cumulative mask, which makes limit edits O(users).

best_path (ClickHouse ``windowFunnel(window)``, default mode)
-------------------------------------------------------------
Any row that completes stage 0 (the ``times_0``-th stage-0 row of a user, or any later
one) may start a chain. From a start, stage ``k`` is completed by the ``times_k``-th row
matching stage ``k`` strictly after the previous stage's row in the canonical order
(distinct rows, so one row never serves two stages; equal timestamps still chain in
stage order). The chain reaches stage ``k`` if every step so far satisfies ``within``
and ``reach_k - reach_0 <= window``. A user's level is the best level over all starts;
their row in the table is the chain that reaches that level with the earliest start.

Why the earliest next row is enough (no ``within``): fix a start ``c`` and let ``G_k``
be the greedy rows. Any valid chain from ``c`` completes stage ``k`` at a row ``Q_k``
with ``Q_k >= G_k`` in the canonical order: by induction ``Q_{k-1} >= G_{k-1}``, and
stage ``k`` needs ``times_k`` distinct stage-``k`` rows after ``Q_{k-1}``, so its last
one is at or after the ``times_k``-th stage-``k`` row after ``G_{k-1}``, which is
``G_k``. Rows are sorted by time, so ``ts(G_k) <= ts(Q_k)`` and the greedy chain fits
the window whenever any chain from ``c`` does. Hence the level is the maximum over
starts of the greedy level, which is what ``windowFunnel`` computes (it keeps, per
level, the chain with the latest start; a later start whose greedy chain meets the same
rows dominates an earlier one). With stages of distinct event names the two agree
exactly; the tests check this against chdb.

``within`` in best_path is applied to the greedy chain's steps, as in lifecycle (the
longest chain under per-step limits is a different, costlier question). ``times`` works
as in lifecycle. The greedy chain of every start is stored, so ``window`` and ``within``
edits re-evaluate those chains (O(starts x stages)) without a pass over the events.

Lifecycle with a single start and best_path pick the same rows, except at one instant:
lifecycle may use an unused row at the same ``ts`` as ``reach_{i-1}`` that sits before
that row in the canonical order (it matches an earlier stage too); best_path, being
strict about order, does not.

Segments
--------
A ``segment_by`` column holds the property's value on the row that set ``reach_0``.

Speed
-----
A table is indexed once (rows in (user, ts) order, dense user numbers, event-name
codes) and the index is reused while the table lives. A build then evaluates each
stage's condition (event-name conditions by code, others with Polars), and walks the
stages with vectorised ``searchsorted`` passes over the matching positions: no Python
loop over users or events.
"""

from __future__ import annotations

import datetime as dt
import functools
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from cfnb.errors import JourneyError
from cfnb.periods import UTC_US, check_period
from cfnb.spec.errors import SpecError, choice_list, suggestion, unknown_choice
from cfnb.spec.predicates import AnyEvent, EventIn

__all__ = ["JourneyError", "Journeys", "build_journeys"]

Mode: TypeAlias = Literal["lifecycle", "best_path"]
MODES: tuple[Mode, ...] = ("lifecycle", "best_path")

_I64: TypeAlias = npt.NDArray[np.int64]
_I32: TypeAlias = npt.NDArray[np.int32]
_BOOL: TypeAlias = npt.NDArray[np.bool_]
_REQUIRED = ("user_id", "event", "ts")
_KEY = "__cfnb_key"
_RUN, _POS = "__cfnb_run", "__cfnb_pos"
# Fixed, so the (only) use of the hashes, grouping rows by user, is reproducible.
_HASH_SEED = 0x5EED
_CHECK_SEED = 0xC4EC


class MatchLike(Protocol):
    """What the engine needs from a stage's condition (a :mod:`cfnb.spec` predicate)."""

    def to_polars(self) -> pl.Expr: ...
    def event_names(self) -> frozenset[str] | None: ...


class StageLike(Protocol):
    """What the engine reads from a :class:`cfnb.spec.Stage`."""

    @property
    def name(self) -> str: ...
    @property
    def match(self) -> MatchLike: ...
    @property
    def times(self) -> int: ...
    @property
    def within(self) -> dt.timedelta | None: ...


class FactoryLike(Protocol):
    """What the engine reads from a :class:`cfnb.spec.Factory`."""

    @property
    def stages(self) -> Sequence[StageLike]: ...
    @property
    def mode(self) -> str: ...
    @property
    def window(self) -> dt.timedelta | None: ...
    @property
    def period(self) -> str: ...
    @property
    def segment_by(self) -> Sequence[str]: ...


class HasEvents(Protocol):
    """An :class:`~cfnb.eventlog.EventLog`, or anything else holding an events table."""

    @property
    def events(self) -> pl.DataFrame: ...


# --------------------------------------------------------------------------- prepared rows


@dataclass(frozen=True, eq=False)
class _Rows:
    """The log's rows in canonical order as NumPy arrays (position = index).

    Stages see their rows through ``positions``; rows no stage matches are never read.
    """

    row: _I64  # index of the row in the events table
    position: _I64  # position of each events-table row: the inverse of `row`
    user: _I64  # dense user number, non-decreasing
    ts: _I64  # microseconds since the epoch, UTC
    tie_start: _I64  # first position with the same (user, ts)
    positions: tuple[_I64, ...]  # per stage: positions of the rows matching it, ascending
    overlaps: tuple[bool, ...]  # per stage: does some row match it and an earlier stage?

    def where(self, rows: _I64) -> _I64:
        """Positions of event-table rows (every one must be among these rows)."""
        return self.position[rows]


def _micros(value: dt.timedelta | None) -> int | None:
    return None if value is None else value // dt.timedelta(microseconds=1)


def _user_hash(user_id: pl.Expr, seed: int) -> pl.Expr:
    """A 64-bit key that groups rows by user far faster than sorting the id strings."""
    return user_id.hash(seed)


@dataclass(frozen=True, eq=False)
class _LogIndex:
    """The events table in (user, ts) order: built once per table, shared by every build."""

    order: _I64 | None  # event-table row at each position; None: the table is in order
    user: _I64  # dense user number per position, non-decreasing
    ts: _I64  # microseconds per position
    tie_start: _I64  # first position with the same (user, ts)
    shared: _I64  # positions whose (user, ts) has more than one row
    codes: npt.NDArray[np.int32]  # event-name code per position
    names: dict[str, int]  # event name -> code

    @functools.cached_property
    def rows(self) -> _I64:
        """The event-table row at each position."""
        return np.arange(self.ts.size) if self.order is None else self.order

    @functools.cached_property
    def position(self) -> _I64:
        """The position of each event-table row."""
        if self.order is None:
            return np.arange(self.ts.size)
        position = np.empty(self.ts.size, dtype=np.int64)
        position[self.order] = np.arange(self.ts.size)
        return position


_INDEXES: dict[int, tuple[weakref.ref[pl.DataFrame], _LogIndex]] = {}


def _log_index(events: pl.DataFrame) -> _LogIndex:
    """The index of ``events``, from the cache while that very table is alive."""
    key = id(events)
    cached = _INDEXES.get(key)
    if cached is not None and cached[0]() is events:
        return cached[1]
    index = _build_index(events)
    # The entry dies with the table, so an id reused by a later table never hits it.
    _INDEXES[key] = (weakref.ref(events, lambda _: _INDEXES.pop(key, None)), index)
    return index


def _build_index(events: pl.DataFrame) -> _LogIndex:
    ts = events["ts"].to_physical().to_numpy().astype(np.int64)
    names = sorted(events["event"].unique().drop_nulls().to_list())
    # Code len(names) (never looked up as a name) stands for a missing event name.
    enum = events["event"].cast(pl.Enum(names)).to_physical().fill_null(len(names))
    codes = enum.to_numpy().astype(np.int32)
    order: _I64 | None = None
    if _in_user_order(events):
        # A table stored in (user_id, ts) order (as a loader can cheaply keep it) needs
        # no sort at all.
        user, prev = pl.col("user_id"), pl.col("user_id").shift()
        new_user = events.select((user != prev).fill_null(True)).to_series().to_numpy()
    else:
        order, new_user, ts, codes = _user_order(events, ts, codes)
    new_moment = new_user.copy()
    new_moment[1:] |= ts[1:] != ts[:-1]
    starts = np.flatnonzero(new_moment)
    shared = ~new_moment
    shared[:-1] |= ~new_moment[1:]
    return _LogIndex(
        order=order,
        user=np.cumsum(new_user, dtype=np.int64) - 1,
        ts=ts,
        tie_start=starts[np.cumsum(new_moment, dtype=np.int64) - 1],
        shared=np.flatnonzero(shared),
        codes=codes,
        names={name: code for code, name in enumerate(names)},
    )


def _in_user_order(events: pl.DataFrame) -> bool:
    user, prev = pl.col("user_id"), pl.col("user_id").shift()
    in_order = (user > prev) | ((user == prev) & (pl.col("ts") >= pl.col("ts").shift()))
    check = in_order.fill_null(True).all()
    # Most logs are in time order, not user order: a short prefix usually says so at once.
    if not events.head(1024).select(check).item():
        return False
    return bool(events.select(check).item())


def _user_order(events: pl.DataFrame, ts: _I64, codes: _I32) -> tuple[_I64, _BOOL, _I64, _I32]:
    """Row order grouping each user's rows in ts order; where each user starts; ts, codes.

    Users are grouped by a 64-bit hash of the id (sorting the id strings is several times
    slower), and two ids sharing it are told apart by a second, independent hash;
    should both ever collide, the ids themselves are sorted.
    """
    user = pl.col("user_id")
    hashes = events.select(
        _user_hash(user, _HASH_SEED).alias("h"), _user_hash(user, _CHECK_SEED).alias("c")
    )
    h, check = hashes.to_series(0).to_numpy(), hashes.to_series(1).to_numpy()
    n = ts.size
    time_ordered = bool(n) and bool(np.all(ts[1:] >= ts[:-1]))
    if time_ordered:
        order, key = _time_ordered_groups(h)
    else:
        keys = pl.DataFrame({"h": h, "ts": ts})
        order = keys.select(pl.arg_sort_by("h", "ts")).to_series().to_numpy().astype(np.int64)
        key = h[order]
    # One multi-column gather is cheaper than three NumPy takes.
    moved = pl.DataFrame({"c": check, "t": ts, "e": codes}).gather(pl.Series(order))
    sorted_check = moved["c"].to_numpy(writable=True)
    sorted_ts, sorted_codes = moved["t"].to_numpy(writable=True), moved["e"].to_numpy(writable=True)
    new_user = np.ones(n, dtype=bool)
    new_user[1:] = key[1:] != key[:-1]
    clash = _clashes(new_user, sorted_check)
    if clash.size and time_ordered:
        # Hashes agreeing in the high bits the sort kept interleave: regroup the rows of
        # those keys by the whole hash. A key's rows form one contiguous block, so
        # reordering within blocks moves no other row.
        pos = np.flatnonzero(np.isin(key, np.unique(key[clash])))
        sub = order[pos]
        sub = sub[np.lexsort((sub, h[sub], key[pos]))]
        order[pos] = sub
        sorted_ts[pos], sorted_codes[pos], sorted_check[pos] = ts[sub], codes[sub], check[sub]
        whole = h[sub]
        new_user[pos[1:]] |= whole[1:] != whole[:-1]
        clash = _clashes(new_user, sorted_check)
    if clash.size:
        return _exact_user_order(events, ts, codes)
    return order, new_user, sorted_ts, sorted_codes


def _clashes(new_user: _BOOL, check: npt.NDArray[np.uint64]) -> _I64:
    """Positions grouped with the previous row whose check hash differs from it."""
    return np.flatnonzero(~new_user[1:] & (check[1:] != check[:-1])) + 1


def _exact_user_order(
    events: pl.DataFrame, ts: _I64, codes: _I32
) -> tuple[_I64, _BOOL, _I64, _I32]:
    order = events.select(pl.arg_sort_by("user_id", "ts")).to_series().to_numpy()
    order = order.astype(np.int64)
    ids = events["user_id"].gather(order)
    return order, (ids != ids.shift()).fill_null(True).to_numpy(), ts[order], codes[order]


def _time_ordered_groups(h: npt.NDArray[np.uint64]) -> tuple[_I64, npt.NDArray[np.uint64]]:
    """For rows in time order: an order grouping them by the hashes' high bits; those bits.

    Sorting plain integers is many times faster than an argsort, so the row number rides
    in the low bits of each key, under the hash's high bits: rows of one key stay in
    time order.
    """
    n = h.size
    bits = max(int(n - 1).bit_length(), 1)
    low = np.uint64((1 << bits) - 1)
    keys = np.arange(n, dtype=np.uint64)
    keys |= h & ~low
    keys.sort()
    order = (keys & low).view(np.int64)
    keys >>= np.uint64(bits)
    return order, keys


def _stage_masks(
    events: pl.DataFrame, index: _LogIndex, stages: Sequence[StageLike]
) -> list[_BOOL]:
    """Per stage, whether the row at each position matches it."""
    return _masks(events, index, [stage.match for stage in stages])


def _masks(events: pl.DataFrame, index: _LogIndex, matches: Sequence[MatchLike]) -> list[_BOOL]:
    """Per condition, whether the row at each position matches it."""
    masks: list[_BOOL | None] = []
    general: dict[int, pl.Expr] = {}
    for k, match in enumerate(matches):
        if type(match) is EventIn:
            # Event-name conditions, by far the most common, go by name code: no strings.
            lookup = np.zeros(len(index.names) + 1, dtype=bool)
            lookup[[index.names[n] for n in match.names if n in index.names]] = True
            masks.append(lookup[index.codes])
        elif type(match) is AnyEvent:
            masks.append(np.ones(index.ts.size, dtype=bool))
        else:
            masks.append(None)
            general[k] = match.to_polars().fill_null(False).alias(f"m{k}")
    if general:
        values = events.select(general.values())
        for k in general:
            column = values[f"m{k}"].to_numpy()
            masks[k] = column if index.order is None else column[index.order]
    return [m for m in masks if m is not None]


def _prepare(events: pl.DataFrame, stages: Sequence[StageLike]) -> _Rows:
    index = _log_index(events)
    masks = _stage_masks(events, index, stages)
    row, position = index.rows, index.position
    tied, source = _order_ties(events, index, row, masks)
    if tied.size:
        # Reordering within a (user, ts) run moves no run boundary: only rows and what
        # they match move, so the index's user, ts and tie_start arrays stay valid.
        row = row.copy()
        masks = [m.copy() for m in masks]
        for column in (row, *masks):
            column[tied] = column[source]
        position = position.copy()
        position[row[tied]] = tied
    # Rows that match an earlier stage too are the only ones an earlier stage can use.
    overlaps = tuple(
        any(_overlap(stages[i].match, stages[j].match, masks[i], masks[j]) for j in range(i))
        for i in range(len(masks))
    )
    return _Rows(
        row=row,
        position=position,
        user=index.user,
        ts=index.ts,
        tie_start=index.tie_start,
        positions=tuple(np.flatnonzero(m) for m in masks),
        overlaps=overlaps,
    )


def _overlap(a: MatchLike, b: MatchLike, mask_a: _BOOL, mask_b: _BOOL) -> bool:
    """Whether some row matches both conditions (from the names alone when they say)."""
    if type(a) is EventIn and type(b) is EventIn:
        return bool(set(a.names) & set(b.names))
    return bool(np.any(mask_a & mask_b))


def _order_ties(
    events: pl.DataFrame, index: _LogIndex, row: _I64, masks: list[_BOOL]
) -> tuple[_I64, _I64]:
    """Positions of matching rows sharing a (user, ts), and the position each takes its row from.

    Rows of one (user, ts) are ordered by the first stage they match, then by content.
    """
    shared = index.shared
    matching = shared[np.logical_or.reduce([m[shared] for m in masks])]
    run = index.tie_start[matching]
    shared = np.zeros(matching.size, dtype=bool)
    shared[1:] = run[1:] == run[:-1]
    shared[:-1] |= shared[1:].copy()
    tied = matching[shared]
    if tied.size == 0:
        return tied, tied
    first_stage = np.argmax(np.stack([m[tied] for m in masks], axis=1), axis=1)
    content = ["event", *sorted(c for c in events.columns if c not in _REQUIRED)]
    sub = events.select(pl.col(content).gather(pl.Series(row[tied])))
    source = (
        sub.with_columns(
            pl.Series(_RUN, index.tie_start[tied]),
            pl.Series(_KEY, first_stage),
            pl.Series(_POS, tied),
        )
        .sort(_RUN, _KEY, *content, nulls_last=True, maintain_order=True)[_POS]
        .to_numpy()
    )
    return tied, source


def _ranges(lo: _I64, hi: _I64) -> _I64:
    """Concatenated ``arange(lo[g], hi[g] + 1)`` for every g, without a Python loop."""
    lengths = hi - lo + 1
    ends = np.cumsum(lengths)
    return np.repeat(lo - (ends - lengths), lengths) + np.arange(int(ends[-1]) if ends.size else 0)


def _nth(positions: _I64, after: _I64, owner: _I64, n: int, user: _I64, used: _BOOL | None) -> _I64:
    """Per query, the ``n``-th unused position in ``positions`` at or after ``after``.

    Only positions of the query's user ``owner`` count; -1 where there is none. ``used``
    marks positions already taken (``None``: none are).
    """
    if positions.size == 0:
        return np.full(after.size, -1, dtype=np.int64)
    idx = np.searchsorted(positions, after, side="left")
    if used is None:
        hit = idx + (n - 1)
    else:
        cum = np.cumsum(~used[positions], dtype=np.int64)
        padded = np.concatenate([np.zeros(1, dtype=np.int64), cum])
        hit = np.searchsorted(cum, padded[idx] + n, side="left")
    ok = hit < positions.size
    ok[ok] = user[positions[hit[ok]]] == owner[ok]
    return np.where(ok, positions[np.minimum(hit, positions.size - 1)], -1)


def _first_of_user(user: _I64) -> _BOOL:
    new_user = np.ones(user.size, dtype=bool)
    new_user[1:] = user[1:] != user[:-1]
    return new_user


# --------------------------------------------------------------------------- lifecycle


@dataclass(frozen=True, eq=False)
class _Lifecycle:
    raw_row: _I64  # (users, stages): event-table row that reached each stage, -1 if none
    raw_ts: _I64  # its time in microseconds (meaningless where raw_row is -1)
    used: tuple[_I64, ...]  # per stage: event-table rows that stage used


def _lifecycle(
    rows: _Rows, stages: Sequence[StageLike], start: int = 0, prior: _Lifecycle | None = None
) -> _Lifecycle:
    """Raw lifecycle chains (no within/window), computed from stage ``start`` on."""
    n = len(stages)
    if prior is None:
        p0 = rows.positions[0]
        first = np.flatnonzero(_first_of_user(rows.user[p0]))
        hit = first + stages[0].times - 1
        ok = hit < p0.size
        ok[ok] = rows.user[p0[hit[ok]]] == rows.user[p0[first[ok]]]
        first, hit = first[ok], hit[ok]
        raw_pos = np.full((first.size, n), -1, dtype=np.int64)
        raw_pos[:, 0] = p0[hit]
        used_pos = [p0[_ranges(first, hit)]]
        start = 1
    else:
        raw_pos = np.full((prior.raw_row.shape[0], n), -1, dtype=np.int64)
        kept = prior.raw_row[:, :start]
        raw_pos[:, :start] = np.where(kept >= 0, rows.where(np.maximum(kept, 0)), -1)
        used_pos = [rows.where(u) for u in prior.used[:start]]
    # Marking used rows only matters when a row can match two stages.
    used = np.zeros(rows.row.size if any(rows.overlaps) else 0, dtype=bool)
    if used.size:
        for u in used_pos:
            used[u] = True
    for i in range(start, n):
        alive = np.flatnonzero(raw_pos[:, i - 1] >= 0)
        prev = raw_pos[alive, i - 1]
        positions = rows.positions[i]
        # Rows at the same time as the previous reach count as "at or after" it.
        after = rows.tie_start[prev]
        taken_here = used if rows.overlaps[i] else None
        hit = _nth(positions, after, rows.user[prev], stages[i].times, rows.user, taken_here)
        got = hit >= 0
        raw_pos[alive[got], i] = hit[got]
        lo = np.searchsorted(positions, after[got], side="left")
        hi = np.searchsorted(positions, hit[got], side="left")
        taken = positions[_ranges(lo, hi)]
        if used.size:
            used[taken] = True
        used_pos.append(taken)
    reached = raw_pos >= 0
    return _Lifecycle(
        raw_row=np.where(reached, rows.row[raw_pos], -1),
        raw_ts=np.where(reached, rows.ts[raw_pos], 0),
        used=tuple(rows.row[u] for u in used_pos),
    )


def _limits(ts: _I64, ok: _BOOL, stages: Sequence[StageLike], window: int | None) -> _BOOL:
    """Where each step of each chain keeps its ``within`` and the ``window``."""
    ok = ok.copy()
    for i in range(1, ts.shape[1]):
        within = _micros(stages[i].within)
        if within is not None:
            ok[:, i] &= ts[:, i] - ts[:, i - 1] <= within
        if window is not None:
            ok[:, i] &= ts[:, i] - ts[:, 0] <= window
    return ok


def _lifecycle_reach(
    state: _Lifecycle, stages: Sequence[StageLike], window: int | None
) -> tuple[_BOOL, _I64, _I64]:
    ok = _limits(state.raw_ts, state.raw_row >= 0, stages, window)
    return np.logical_and.accumulate(ok, axis=1), state.raw_ts, state.raw_row[:, 0]


# --------------------------------------------------------------------------- best path


@dataclass(frozen=True, eq=False)
class _BestPath:
    """Greedy chains of every start, stored once per continuation.

    Starts whose next stage-1 completion is the same row continue identically, so they
    form a *group* sharing one continuation (stages 1 and later); within a group a later
    start only loosens the limits, so its level is at least an earlier one's.
    """

    start_row: _I64  # (starts,) event-table row completing stage 0, in canonical order
    start_ts: _I64
    start_user: _I64  # dense user number, non-decreasing
    start_group: _I64  # group of each start; -1: no stage-1 completion after it
    cont_row: _I64  # (groups, stages - 1): row completing stage k + 1, -1 if none
    cont_ts: _I64


def _best_path(
    rows: _Rows, stages: Sequence[StageLike], start: int = 0, prior: _BestPath | None = None
) -> _BestPath:
    """Greedy chains (no within/window) of every start, computed from stage ``start`` on."""
    n = len(stages)
    if prior is None:
        p0 = rows.positions[0]
        new_user = _first_of_user(rows.user[p0])
        rank = np.arange(p0.size) - np.flatnonzero(new_user)[np.cumsum(new_user) - 1]
        start_pos = p0[rank >= stages[0].times - 1]
        start = 1
    else:
        start_pos = rows.where(prior.start_row)
    start_user = rows.user[start_pos]
    if n == 1:
        group = np.full(start_pos.size, -1, dtype=np.int64)
        cont = np.zeros((0, 0), dtype=np.int64)
    elif prior is None or start == 1:
        # Strictly after the previous row, so no row serves two stages of one chain.
        f1 = _nth(rows.positions[1], start_pos + 1, start_user, stages[1].times, rows.user, None)
        has = f1 >= 0
        lead = has.copy()
        lead[1:] &= f1[1:] != f1[:-1]
        group = np.where(has, np.cumsum(lead) - 1, -1)
        cont = np.full((int(lead.sum()), n - 1), -1, dtype=np.int64)
        cont[:, 0] = f1[lead]
        start = 2
    else:
        group = prior.start_group
        cont = np.full((prior.cont_row.shape[0], n - 1), -1, dtype=np.int64)
        kept = prior.cont_row[:, : start - 1]
        cont[:, : start - 1] = np.where(kept >= 0, rows.where(np.maximum(kept, 0)), -1)
    for k in range(start, n):
        alive = np.flatnonzero(cont[:, k - 2] >= 0)
        prev = cont[alive, k - 2]
        cont[alive, k - 1] = _nth(
            rows.positions[k], prev + 1, rows.user[prev], stages[k].times, rows.user, None
        )
    reached = cont >= 0
    return _BestPath(
        start_row=rows.row[start_pos],
        start_ts=rows.ts[start_pos],
        start_user=start_user,
        start_group=group,
        cont_row=np.where(reached, rows.row[cont], -1),
        cont_ts=np.where(reached, rows.ts[cont], 0),
    )


def _first_at_least(values: _I64, lo: _I64, hi: _I64, bound: _I64) -> _I64:
    """Per query, the first index in ``[lo, hi)`` with ``values >= bound`` (sorted runs)."""
    lo, hi = lo.copy(), hi.copy()
    while True:
        open_ = lo < hi
        if not open_.any():
            return lo
        mid = (lo + hi) // 2
        low = values[np.minimum(mid, values.size - 1)] < bound
        lo = np.where(open_ & low, mid + 1, lo)
        hi = np.where(open_ & ~low, mid, hi)


def _best_path_reach(
    state: _BestPath, stages: Sequence[StageLike], window: int | None
) -> tuple[_BOOL, _I64, _I64]:
    n = len(stages)
    new_user = _first_of_user(state.start_user)
    first = np.flatnonzero(new_user)
    level = np.ones(first.size, dtype=np.int64)
    chosen = first.copy()  # level 1: the user's first start
    ts = np.zeros((first.size, n), dtype=np.int64)
    in_group = np.flatnonzero(state.start_group >= 0)
    if in_group.size:
        group = state.start_group[in_group]
        lead = _first_of_user(group)
        tail = np.append(lead[1:], True)
        g_first, g_last = in_group[lead], in_group[tail]
        g_user = (np.cumsum(new_user) - 1)[g_last]
        # A group's best level is its latest start's.
        chain = np.column_stack([state.start_ts[g_last], state.cont_ts])
        ok = np.column_stack([np.ones(g_last.size, dtype=bool), state.cont_row >= 0])
        g_level = np.logical_and.accumulate(_limits(chain, ok, stages, window), axis=1).sum(1)
        np.maximum.at(level, g_user, g_level)
        # The user's row: the earliest start of their best level, which lies in their
        # first group reaching it, at the first start late enough for every limit.
        best = np.flatnonzero((g_level == level[g_user]) & (g_level > 1))
        best = best[_first_of_user(g_user[best])]
        users = g_user[best]
        bound = np.full(best.size, np.iinfo(np.int64).min, dtype=np.int64)
        within = _micros(stages[1].within)
        if within is not None:
            bound = np.maximum(bound, state.cont_ts[best, 0] - within)
        if window is not None:
            bound = np.maximum(bound, state.cont_ts[best, level[users] - 2] - window)
        chosen[users] = _first_at_least(state.start_ts, g_first[best], g_last[best] + 1, bound)
        ts[users, 1:] = state.cont_ts[best]
    reached = np.arange(n)[None, :] < level[:, None]
    ts[:, 0] = state.start_ts[chosen]
    return reached, ts, state.start_row[chosen]


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True, eq=False)
class Journeys:
    """One row per acquired user: when they reached each stage.

    Build it with :func:`build_journeys`; edit it with :meth:`update`.

    Attributes
    ----------
    table
        ``user_id`` (String), ``reach_0 … reach_{n-1}`` (``Datetime("us", "UTC")``, null
        when not reached; ``reach_0`` never null), then one column per ``segment_by``
        property. Row order carries no meaning.
    stages
        Stage names, in the order of the ``reach_i`` columns.
    period
        ``"day"``, ``"week"`` or ``"month"``: how cohorts are cut.
    last_ts
        The log's last timestamp (``None`` for an empty log).
    mode
        ``"lifecycle"`` or ``"best_path"``.
    factory
        The spec the table was built from.
    """

    table: pl.DataFrame
    stages: tuple[str, ...]
    period: str
    last_ts: dt.datetime | None
    mode: str
    factory: FactoryLike = field(repr=False)
    _events: pl.DataFrame = field(repr=False)
    _state: _Lifecycle | _BestPath = field(repr=False)
    # Each user's row that set reach_0, and columns gathered at those rows: shared with
    # the journeys of an edit that leaves the rows alone (window, period, segment edits).
    _row0: _I64 = field(repr=False, default_factory=lambda: np.zeros(0, dtype=np.int64))
    _gathered: dict[str, pl.Series] = field(repr=False, default_factory=dict)

    def update(self, factory: FactoryLike) -> Journeys:
        """The journeys of an edited factory, recomputing only what the edit touches.

        ``period``, ``window``, ``within`` and ``segment_by`` edits reuse the computed
        chains (no pass over the events). Editing, adding or removing stage ``i``
        recomputes stages ``i`` and later from the stored rows of stages before ``i``;
        changing the first stage or the mode rebuilds everything.

        Examples
        --------
        >>> import datetime as dt, polars as pl
        >>> from cfnb.spec import Factory, Stage
        >>> events = pl.DataFrame({
        ...     "user_id": ["a", "a", "b"], "event": ["visit", "signup", "visit"],
        ...     "ts": [dt.datetime(2024, 1, 1, h, tzinfo=dt.UTC) for h in (0, 5, 1)],
        ... })
        >>> j = build_journeys(events, Factory([Stage("Visit", "visit"), Stage("Signup", "signup")]))
        >>> j.table["reach_1"].count(), j.update(j.factory.replace(window="1h")).table["reach_1"].count()
        (1, 0)
        """
        old = self.factory
        if factory.mode != old.mode:
            return build_journeys(self._events, factory, last_ts=self.last_ts)
        new, before = list(factory.stages), list(old.stages)
        changed = next(
            (
                i
                for i, (a, b) in enumerate(zip(new, before, strict=False))
                if a.match != b.match or a.times != b.times
            ),
            min(len(new), len(before)),
        )
        state = self._state
        if changed == 0:
            return build_journeys(self._events, factory, last_ts=self.last_ts)
        if changed < len(new):
            rows = _prepare(self._events, new)
            if isinstance(state, _Lifecycle):
                state = _lifecycle(rows, new, changed, state)
            else:
                state = _best_path(rows, new, changed, state)
        elif changed < len(before):
            state = _truncate(state, changed)
        return _assemble(self._events, factory, state, self.last_ts, prior=self)

    def active_instants(self, events: pl.DataFrame, active: MatchLike | None) -> pl.Series | None:
        """Per row of :attr:`table`: the distinct instants, in microseconds after ``reach_0``,
        of the user's events at or after ``reach_0`` matching ``active`` (any event when
        ``None``), ascending; ``None`` when ``events`` is not the table these journeys
        were built from.

        Retention's activity, answered from the log's index (rows already grouped by user
        and sorted by time) in a few vectorised passes instead of a join of every event
        to its user.
        """
        if events is not self._events or not self._row0.size:
            return None
        index = _log_index(events)
        start = index.position[self._row0]  # each journeys user's reach_0 row
        dense = index.user[start]
        # Per dense user number: their reach_0 time, or -1 for users never acquired.
        reach0 = np.full(int(index.user[-1]) + 1, -1, dtype=np.int64)
        reach0[dense] = index.ts[start]
        if active is None or type(active) is AnyEvent:
            user, ts = index.user, index.ts
        else:
            hits = np.flatnonzero(_masks(events, index, [active])[0])
            user, ts = index.user[hits], index.ts[hits]
        since = reach0[user]
        # Positions run in (user, ts) order: equal instants of a user are neighbours, and
        # a user's rows at or after reach_0 are a run's tail, so one mask does both.
        keep = (since >= 0) & (ts >= since)
        keep[1:] &= (user[1:] != user[:-1]) | (ts[1:] != ts[:-1])
        user, offset = user[keep], ts[keep] - since[keep]
        bounds = np.zeros(reach0.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(user, minlength=reach0.size), out=bounds[1:])
        lists = pa.LargeListArray.from_arrays(pa.array(bounds), pa.array(offset, pa.int64()))
        return pl.Series("offsets", lists).gather(pl.Series(dense))

    def _repr_html_(self) -> str:
        reached = " → ".join(
            f"{name} {self.table[f'reach_{i}'].count():,}" for i, name in enumerate(self.stages)
        )
        return (
            f"<p><b>Journeys</b> ({self.mode}, by {self.period}): {reached}</p>"
            + self.table.head(10)._repr_html_()
        )


def _truncate(state: _Lifecycle | _BestPath, n: int) -> _Lifecycle | _BestPath:
    if isinstance(state, _Lifecycle):
        return _Lifecycle(state.raw_row[:, :n], state.raw_ts[:, :n], state.used[:n])
    cont = max(n - 1, 0)
    group = state.start_group if n > 1 else np.full_like(state.start_group, -1)
    return _BestPath(
        state.start_row,
        state.start_ts,
        state.start_user,
        group,
        state.cont_row[:, :cont] if n > 1 else np.zeros((0, 0), dtype=np.int64),
        state.cont_ts[:, :cont] if n > 1 else np.zeros((0, 0), dtype=np.int64),
    )


def _check_events(events: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in _REQUIRED if c not in events.columns]
    if missing:
        hints = "".join(suggestion(c, events.columns) for c in missing)
        raise JourneyError(
            f"the events table has no column {choice_list(missing)}: it needs 'user_id', "
            f"'event' and 'ts' (cfnb.load makes them); its columns are "
            f"{choice_list(events.columns)}{hints}"
        )
    ts = events.schema["ts"]
    if not isinstance(ts, pl.Datetime):
        raise JourneyError(
            f"column 'ts' must hold timestamps (Datetime), not {ts}; load the log with "
            "cfnb.load or cast it with pl.col('ts').str.to_datetime()"
        )
    casts = []
    if ts.time_zone is None:
        casts.append(pl.col("ts").dt.replace_time_zone("UTC"))
    elif ts.time_zone != "UTC":
        casts.append(pl.col("ts").dt.convert_time_zone("UTC"))
    if casts:
        events = events.with_columns(casts)
    if events.schema["ts"] != UTC_US:
        events = events.with_columns(pl.col("ts").dt.cast_time_unit("us"))
    if events.schema["user_id"] != pl.String or events.schema["event"] != pl.String:
        events = events.with_columns(pl.col("user_id", "event").cast(pl.String))
    return events


def _check_factory(events: pl.DataFrame, factory: FactoryLike) -> None:
    if not factory.stages:
        raise SpecError(
            "stages", "a factory needs at least one stage, e.g. Stage('Visit', 'visit')"
        )
    if factory.mode not in MODES:
        raise SpecError("mode", unknown_choice("mode", factory.mode, MODES))
    check_period(factory.period)
    for name in factory.segment_by:
        if name.startswith("reach_"):
            raise SpecError(
                "segment_by",
                f"{name!r} would clash with the journeys' reach columns; rename the property "
                f"(events.rename({{{name!r}: 'my_{name}'}})) before segmenting by it",
            )
        if name not in events.columns or name in _REQUIRED:
            props = [c for c in events.columns if c not in _REQUIRED]
            raise SpecError(
                "segment_by",
                f"no property column {name!r} in the events; choose from "
                f"{choice_list(props, first=name)}{suggestion(name, props)}",
            )


def _assemble(
    events: pl.DataFrame,
    factory: FactoryLike,
    state: _Lifecycle | _BestPath,
    last_ts: dt.datetime | None,
    prior: Journeys | None = None,
) -> Journeys:
    _check_factory(events, factory)
    stages = list(factory.stages)
    window = _micros(factory.window)
    if isinstance(state, _Lifecycle):
        reached, ts, row0 = _lifecycle_reach(state, stages, window)
    else:
        reached, ts, row0 = _best_path_reach(state, stages, window)
    gathered = prior._gathered if prior is not None and np.array_equal(prior._row0, row0) else {}
    index = pl.Series(row0, dtype=pl.Int64)
    for name in ("user_id", *factory.segment_by):
        if name not in gathered:
            gathered[name] = events[name].gather(index)
    raw = pl.DataFrame(
        {f"t{i}": ts[:, i] for i in range(len(stages))}
        | {f"m{i}": reached[:, i] for i in range(len(stages))}
    )
    reach = raw.select(
        pl.when(pl.col(f"m{i}")).then(pl.col(f"t{i}")).cast(UTC_US).alias(f"reach_{i}")
        for i in range(len(stages))
    )
    table = pl.concat(
        [
            gathered["user_id"].to_frame(),
            reach,
            pl.DataFrame([gathered[n] for n in factory.segment_by]),
        ],
        how="horizontal",
    )
    return Journeys(
        table=table,
        stages=tuple(s.name for s in stages),
        period=factory.period,
        last_ts=last_ts,
        mode=factory.mode,
        factory=factory,
        _events=events,
        _state=state,
        _row0=row0,
        _gathered=gathered,
    )


def build_journeys(
    events: pl.DataFrame | HasEvents, factory: FactoryLike, *, last_ts: dt.datetime | None = None
) -> Journeys:
    """Build the journeys table: each acquired user's reach time of every stage.

    The semantics (lifecycle and best_path, ties, ``times``, ``within``, ``window``) are
    in this module's docstring.

    Parameters
    ----------
    events
        The events table (``user_id``, ``event``, ``ts`` and property columns), or an
        :class:`~cfnb.eventlog.EventLog`. Row order does not change the result. The
        first build on a table indexes it by user and time (no sort needed when it is
        stored in ``(user_id, ts)`` order); later builds and edits on the same table
        reuse that index.
    factory
        The spec: its stages, ``mode``, ``window``, ``period`` and ``segment_by``.
    last_ts
        The log's last timestamp; by default the largest ``ts`` in ``events``.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from cfnb.spec import Factory, Stage
    >>> t = lambda h: dt.datetime(2024, 1, 1, h, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({
    ...     "user_id": ["a", "a", "a", "b", "b"],
    ...     "event": ["visit", "signup", "visit", "visit", "pay"],
    ...     "ts": [t(0), t(2), t(3), t(1), t(4)],
    ...     "channel": ["ads", None, "seo", "seo", None],
    ... })
    >>> factory = Factory([Stage("Visit", "visit"), Stage("Signup", "signup")],
    ...                   segment_by=["channel"])
    >>> build_journeys(events, factory).table.sort("user_id")
    shape: (2, 4)
    ┌─────────┬─────────────────────────┬─────────────────────────┬─────────┐
    │ user_id ┆ reach_0                 ┆ reach_1                 ┆ channel │
    │ ---     ┆ ---                     ┆ ---                     ┆ ---     │
    │ str     ┆ datetime[μs, UTC]       ┆ datetime[μs, UTC]       ┆ str     │
    ╞═════════╪═════════════════════════╪═════════════════════════╪═════════╡
    │ a       ┆ 2024-01-01 00:00:00 UTC ┆ 2024-01-01 02:00:00 UTC ┆ ads     │
    │ b       ┆ 2024-01-01 01:00:00 UTC ┆ null                    ┆ seo     │
    └─────────┴─────────────────────────┴─────────────────────────┴─────────┘
    """
    events = _check_events(events if isinstance(events, pl.DataFrame) else events.events)
    _check_factory(events, factory)
    if last_ts is None:
        last_ts = events["ts"].max() if events.height else None  # type: ignore[assignment]
    stages = list(factory.stages)
    rows = _prepare(events, stages)
    state = _lifecycle(rows, stages) if factory.mode == "lifecycle" else _best_path(rows, stages)
    return _assemble(events, factory, state, last_ts)
