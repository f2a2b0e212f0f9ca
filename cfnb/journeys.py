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

Rows matching no stage never count; within their (user, ts) they sit after the rows that
do. Editing stage ``i`` only moves rows whose first matching stage is ``i`` or later,
so the rows that stages ``< i`` can use keep their places: an edit reuses their chains.

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
A log is indexed once (:mod:`cfnb.logindex`: rows in (user, ts) order, dense user
numbers, event-name codes), at load for an :class:`~cfnb.eventlog.EventLog`. A build
then finds each stage's rows (event-name conditions from the index alone, property
conditions evaluated by the event source, :mod:`cfnb.sources`), and walks the stages
with vectorised ``searchsorted`` passes over the matching positions: no Python loop over
users or events. The chains are kept as positions, so an edit of stage ``i`` walks only
stages ``i`` and later, and an edit of ``window``, ``within``, ``period`` or
``segment_by`` walks nothing. The table itself (user ids, reach times, segments) is
made when first read; the metrics read the reach arrays (:attr:`Journeys.reach`).
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from cfnb.errors import JourneyError
from cfnb.logindex import LogIndex, in_sorted, ranges
from cfnb.parallel import in_parallel, searchsorted
from cfnb.periods import UTC_US, check_period
from cfnb.sources import EventSource, FrameSource, encode
from cfnb.spec.errors import SpecError, choice_list, suggestion, unknown_choice
from cfnb.spec.predicates import And, AnyEvent, EventIn, Or

__all__ = ["JourneyError", "Journeys", "Reach", "build_journeys", "event_source"]

Mode: TypeAlias = Literal["lifecycle", "best_path"]
MODES: tuple[Mode, ...] = ("lifecycle", "best_path")

_I64: TypeAlias = npt.NDArray[np.int64]
_BOOL: TypeAlias = npt.NDArray[np.bool_]
_REQUIRED = ("user_id", "event", "ts")
_RUN, _KEY, _POS = "__cfnb_run", "__cfnb_key", "__cfnb_pos"
_EMPTY: _I64 = np.zeros(0, dtype=np.int64)
_T = TypeVar("_T")


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


def _micros(value: dt.timedelta | None) -> int | None:
    return None if value is None else value // dt.timedelta(microseconds=1)


# --------------------------------------------------------------------------- sources


def event_source(events: pl.DataFrame | HasEvents | EventSource) -> EventSource:
    """Where the engine reads ``events``: an EventLog's own source, or a checked frame's.

    An :class:`~cfnb.eventlog.EventLog` hands over its DuckDB table and the index built
    at load (``log.event_source()``); a frame is checked and read in memory; a source is
    itself.
    """
    if isinstance(events, pl.DataFrame):
        return FrameSource(_check_events(events))
    if hasattr(events, "index") and hasattr(events, "masks"):
        return events  # type: ignore[return-value]
    make = getattr(events, "event_source", None)
    if callable(make):
        source: EventSource = make()
        return source
    return FrameSource(_check_events(events.events))


# --------------------------------------------------------------------------- stage rows


def _mask(source: EventSource, index: LogIndex, match: MatchLike) -> _BOOL:
    """Per position: does the row match ``match``? (nulls do not)

    Event names are looked up in the index; ``and``/``or`` combine their parts' masks
    (filling nulls with false before or after combining gives the same answer for
    these two); anything else is evaluated by the source.
    """
    if type(match) is EventIn:
        return index.code_mask(match.names)
    if type(match) is AnyEvent:
        return np.ones(index.rows, dtype=bool)
    if type(match) in (And, Or):
        parts = [_mask(source, index, p) for p in match.parts]  # type: ignore[attr-defined]
        combine = np.logical_and if type(match) is And else np.logical_or
        combined: _BOOL = combine.reduce(parts) if len(parts) > 1 else parts[0]
        return combined
    in_rows = source.masks([match.to_polars()])[0]
    return in_rows if index.order is None else in_rows[index.order]


def stage_positions(source: EventSource, index: LogIndex, match: MatchLike) -> _I64:
    """Positions of the rows matching ``match``, ascending, in the index's own order."""
    if isinstance(match, EventIn) and len(match.names) == 1:
        code = index.code_of.get(match.names[0])
        if code is None:
            return np.zeros(0, dtype=index.position_dtype)
        return index.positions_of(code)
    # Predicates are frozen values: equal conditions share their positions.
    key: Hashable = match  # type: ignore[assignment]
    found: _I64 = index.memo(
        key, lambda: np.flatnonzero(_mask(source, index, match)).astype(index.position_dtype)
    )
    return found


@dataclass(frozen=True, eq=False)
class _Rows:
    """The rows each stage can use, as index positions, with ties in canonical order.

    Ordering ties moves rows only inside their (user, ts) run, so the index's user and
    time of every position stay right; ``tie_pos`` lists the positions that now hold
    another row, ``tie_src`` the position whose row they hold.
    """

    index: LogIndex
    base: tuple[_I64, ...]  # per stage: matching positions before ties are ordered
    positions: tuple[_I64, ...]  # per stage: matching positions, ties in canonical order
    overlaps: tuple[bool, ...]  # per stage: does some row match it and an earlier stage?
    feeds: tuple[bool, ...]  # per stage: does some row match it and a later stage?
    tie_pos: _I64
    tie_src: _I64

    def rows_at(self, positions: _I64) -> _I64:
        """The events-table rows at ``positions``."""
        if self.tie_pos.size and positions.size:
            at = np.minimum(np.searchsorted(self.tie_pos, positions), self.tie_pos.size - 1)
            moved = self.tie_pos[at] == positions
            positions = np.where(moved, self.tie_src[at], positions)
        return self.index.rows_at(positions)


#: Tie runs with at most this many rows have their content fetched while stage rows are
#: found (a lookup by row number; beyond, a scan that may not be needed).
_PREFETCH_TIES = 20_000


def _prepare(
    source: EventSource,
    stages: Sequence[StageLike],
    prior: _Rows | None = None,
    start: int = 0,
) -> _Rows:
    index = source.index()
    kept = start if prior is not None else 0
    calls: list[Callable[[], _I64]] = [
        functools.partial(stage_positions, source, index, s.match) for s in stages[kept:]
    ]
    if 0 < index.tied().size <= _PREFETCH_TIES:
        # Ordering ties usually needs their content: a small query, run meanwhile.
        def prefetch() -> _I64:
            _tie_content(source, index)
            return _EMPTY

        calls.append(prefetch)
    found = in_parallel(calls)[: len(stages) - kept]
    base = (*(prior.base[:kept] if prior is not None else ()), *found)
    tie_pos, tie_src = _order_ties(source, index, base)
    # Rows a stage before ``start`` can use keep their places (see the module docstring):
    # their positions are the prior ones.
    positions = tuple(
        prior.positions[k] if prior is not None and k < start else _patched(b, tie_pos, tie_src)
        for k, b in enumerate(base)
    )
    n = len(stages)
    pairs = [
        [
            j < i and _overlap(stages[i].match, stages[j].match, positions[i], positions[j])
            for j in range(n)
        ]
        for i in range(n)
    ]
    overlaps = tuple(any(pairs[i]) for i in range(n))
    feeds = tuple(any(pairs[j][i] for j in range(n)) for i in range(n))
    return _Rows(index, base, positions, overlaps, feeds, tie_pos, tie_src)


def _overlap(a: MatchLike, b: MatchLike, pos_a: _I64, pos_b: _I64) -> bool:
    """Whether some row matches both conditions (from the names alone when they say)."""
    if isinstance(a, EventIn) and isinstance(b, EventIn):
        return bool(set(a.names) & set(b.names))
    small, big = (pos_a, pos_b) if pos_a.size <= pos_b.size else (pos_b, pos_a)
    return bool(in_sorted(big, small).any())


def _order_ties(source: EventSource, index: LogIndex, base: Sequence[_I64]) -> tuple[_I64, _I64]:
    """Positions in tie runs that take another row, and the position each takes it from.

    A run's rows are ordered by the first stage they match (rows matching none last),
    then by content; only runs holding a matching row are looked at.
    """
    if not index.run_start.size or not base:
        return _EMPTY, _EMPTY
    tied = index.tied()
    n = len(base)
    first = np.full(tied.size, n, dtype=np.int64)
    for k in reversed(range(n)):
        first[in_sorted(base[k], tied)] = k
    lengths = index.run_end - index.run_start + 1
    run = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    keep = np.isin(run, np.unique(run[first < n]))
    if not keep.any():
        return _EMPTY, _EMPTY
    run, first, tied_kept = run[keep], first[keep], tied[keep]
    # Content only orders matching rows of one run that first match the same stage.
    key = run * (n + 1) + first
    ordered = np.sort(key)
    same = (first < n) & np.isin(key, ordered[1:][ordered[1:] == ordered[:-1]])
    if same.any():
        content = _tie_content(source, index).filter(pl.Series(keep))
        names = [f"__c{k}" for k in range(content.width)]
        content = content.rename(dict(zip(content.columns, names, strict=True)))
        # Rows that need no content compare equal on it (their position decides).
        content = content.select(pl.when(pl.Series(same)).then(pl.col(c)) for c in names)
    else:
        names, content = [], pl.DataFrame(height=run.size)
    src = (
        content.with_columns(
            pl.Series(_RUN, run), pl.Series(_KEY, first), pl.Series(_POS, tied_kept)
        )
        .sort(_RUN, _KEY, *names, _POS, nulls_last=True)[_POS]
        .to_numpy()
    )
    slots = tied_kept
    moved = src != slots
    return slots[moved], src[moved].astype(slots.dtype)


def _tie_content(source: EventSource, index: LogIndex) -> pl.DataFrame:
    """Every column but the user and the time, for every position in a tie run (cached)."""

    def fetch() -> pl.DataFrame:
        others = sorted(c for c in source.schema if c not in _REQUIRED)
        return source.take(["event", *others], index.rows_at(index.tied()))

    frame: pl.DataFrame = index.memo("tie content", fetch)
    return frame


def _patched(positions: _I64, tie_pos: _I64, tie_src: _I64) -> _I64:
    """``positions`` after ties are ordered: the moved slots that now hold a matching row."""
    if not tie_pos.size:
        return positions
    now = in_sorted(positions, tie_src)
    before = in_sorted(positions, tie_pos)
    if np.array_equal(now, before):
        return positions
    gone = np.searchsorted(positions, tie_pos[before & ~now])  # slots losing their row
    come = tie_pos[now & ~before]  # slots that now hold a matching row
    if gone.size + come.size > _FEW_MOVES:
        kept = np.ones(positions.size, dtype=bool)
        kept[gone] = False
        merged = positions[kept]
        return np.insert(merged, np.searchsorted(merged, come), come)
    # Few moves: copy the runs between them into the result, one pass over the array.
    out = np.empty(positions.size - gone.size + come.size, dtype=positions.dtype)
    cuts = sorted(
        [(int(i), 1, 0) for i in gone]
        + [(int(i), 0, int(v)) for i, v in zip(np.searchsorted(positions, come), come, strict=True)]
    )
    src = dst = 0
    for at, drop, value in cuts:  # an insertion sorts before a drop at the same index
        out[dst : dst + at - src] = positions[src:at]
        dst += at - src
        src = at + drop
        if not drop:
            out[dst] = value
            dst += 1
    out[dst:] = positions[src:]
    return out


#: Above this many slots changing hands, patching a stage's positions is vectorised.
_FEW_MOVES = 4_096


def _nth(
    positions: _I64,
    after: _I64,
    owner: npt.NDArray[np.integer],
    n: int,
    user: npt.NDArray[np.int32],
    used: _BOOL | None,
) -> _I64:
    """Per query, the ``n``-th unused position in ``positions`` at or after ``after``.

    Only positions of the query's user ``owner`` count; -1 where there is none. ``used``
    marks positions already taken (``None``: none are).
    """
    if used is not None:
        # The n-th unused one is the n-th among the unused ones.
        positions = positions[~used[positions]]
    if positions.size == 0:
        return np.full(after.size, -1, dtype=after.dtype)
    hit = searchsorted(positions, after) + (n - 1)
    candidate = positions[np.minimum(hit, positions.size - 1)]
    ok = (hit < positions.size) & (user[candidate] == owner)
    return np.where(ok, candidate, -1)


def _first_of_user(user: npt.NDArray[np.integer]) -> _BOOL:
    new_user = np.ones(user.size, dtype=bool)
    new_user[1:] = user[1:] != user[:-1]
    return new_user


# --------------------------------------------------------------------------- lifecycle


@dataclass(frozen=True, eq=False)
class _Lifecycle:
    raw_pos: _I64  # (users, stages): position that reached each stage, -1 if none
    raw_ts: _I64  # its time in microseconds (meaningless where raw_pos is -1)
    # What the metrics derive from the chains whatever the limits (see Journeys.cached).
    _memo: dict[Hashable, Any] = field(default_factory=dict, repr=False, compare=False)


def _used(rows: _Rows, stages: Sequence[StageLike], raw_pos: _I64, i: int) -> _I64:
    """The positions stage ``i`` used: its rows from the previous reach to its own.

    Only needed when a row can match two stages; recomputed from the chains then, so
    the common case (distinct event names) never pays for it.
    """
    user0 = rows.index.user
    if stages[i].times == 1:
        # The one row it counted: rows of it passed on the way were already used.
        counted: _I64 = raw_pos[raw_pos[:, i] >= 0, i]
        return counted
    if i == 0:
        p0 = rows.positions[0]
        first = np.flatnonzero(_first_of_user(user0[p0]))
        hit = first + stages[0].times - 1
        ok = hit < p0.size
        ok[ok] = user0[p0[hit[ok]]] == user0[p0[first[ok]]]
        return p0[ranges(first[ok], hit[ok])]
    got = np.flatnonzero(raw_pos[:, i] >= 0)
    positions = rows.positions[i]
    after = rows.index.tie_start(raw_pos[got, i - 1])
    lo = np.searchsorted(positions, after, side="left")
    hi = np.searchsorted(positions, raw_pos[got, i], side="left")
    return positions[ranges(lo, hi)]


def _lifecycle(
    rows: _Rows, stages: Sequence[StageLike], start: int = 0, prior: _Lifecycle | None = None
) -> _Lifecycle:
    """Raw lifecycle chains (no within/window), computed from stage ``start`` on."""
    n = len(stages)
    user, ts = rows.index.user, rows.index.ts
    if prior is None:
        p0 = rows.positions[0]
        first = np.flatnonzero(_first_of_user(user[p0]))
        hit = first + stages[0].times - 1
        if stages[0].times > 1:
            ok = hit < p0.size
            ok[ok] = user[p0[hit[ok]]] == user[p0[first[ok]]]
            first, hit = first[ok], hit[ok]
        raw_pos = np.full((first.size, n), -1, dtype=rows.index.position_dtype, order="F")
        raw_pos[:, 0] = p0[hit]
        raw_ts = np.zeros((first.size, n), dtype=np.int64, order="F")
        raw_ts[:, 0] = ts[raw_pos[:, 0]]
        start = 1
    else:
        raw_pos = np.full((prior.raw_pos.shape[0], n), -1, dtype=prior.raw_pos.dtype, order="F")
        raw_pos[:, :start] = prior.raw_pos[:, :start]
        raw_ts = np.zeros((prior.raw_pos.shape[0], n), dtype=np.int64, order="F")
        raw_ts[:, :start] = prior.raw_ts[:, :start]
    # Marking used rows only matters when a row can match two stages.
    used = np.zeros(rows.index.rows if any(rows.overlaps) else 0, dtype=bool)
    if used.size:
        # Only the rows of a stage that a later stage can also use need marking.
        for k in range(start):
            if rows.feeds[k]:
                used[_used(rows, stages, raw_pos, k)] = True
    for i in range(start, n):
        alive = np.flatnonzero(raw_pos[:, i - 1] >= 0)
        prev = raw_pos[alive, i - 1]
        positions = rows.positions[i]
        # Rows at the same time as the previous reach count as "at or after" it.
        after = rows.index.tie_start(prev)
        taken_here = used if rows.overlaps[i] else None
        hit = _nth(positions, after, user[prev], stages[i].times, user, taken_here)
        got = hit >= 0
        reached_at, found = alive[got], hit[got]
        raw_pos[reached_at, i] = found
        raw_ts[reached_at, i] = ts[found]
        if used.size and rows.feeds[i]:
            used[_used(rows, stages, raw_pos, i)] = True
    return _Lifecycle(raw_pos=raw_pos, raw_ts=raw_ts)


def _within_limits(
    ts: _I64, exists: _BOOL, stages: Sequence[StageLike], window: int | None
) -> _BOOL:
    """Per chain and step: the chain reaches it (every step so far exists and keeps its
    ``within`` and the ``window``). Column by column: each is one contiguous pass."""
    reached = np.empty(exists.shape, dtype=bool, order="F")
    if not reached.size:
        return reached
    reached[:, 0] = exists[:, 0]
    for i in range(1, ts.shape[1]):
        column = exists[:, i] & reached[:, i - 1]
        within = _micros(stages[i].within)
        if within is not None:
            column &= ts[:, i] - ts[:, i - 1] <= within
        if window is not None:
            column &= ts[:, i] - ts[:, 0] <= window
        reached[:, i] = column
    return reached


def _lifecycle_reach(
    state: _Lifecycle, stages: Sequence[StageLike], window: int | None
) -> tuple[_BOOL, _I64, _I64]:
    # The chains do not depend on the limits: what each limit admits is kept with them,
    # so a window edit is one comparison per stage.
    memo = state._memo
    key = ("within ok", tuple(s.within for s in stages))
    ok = memo.get(key)
    if ok is None:
        ok = memo[key] = _within_limits(state.raw_ts, state.raw_pos >= 0, stages, None)
    if window is None:
        return ok, state.raw_ts, state.raw_pos[:, 0]
    # The time since the start never decreases along a chain, so the window keeps ``ok``
    # cumulative. A column at a time, in reused buffers: a fresh array of the chains' size
    # costs more in page faults than the arithmetic, and keeping one costs memory.
    raw_ts = state.raw_ts
    reached = ok.copy(order="F")
    since = np.empty(raw_ts.shape[0], dtype=raw_ts.dtype)
    fits = np.empty(raw_ts.shape[0], dtype=bool)
    for k in range(1, raw_ts.shape[1]):
        np.subtract(raw_ts[:, k], raw_ts[:, 0], out=since)
        np.less_equal(since, window, out=fits)
        reached[:, k] &= fits
    return reached, raw_ts, state.raw_pos[:, 0]


# --------------------------------------------------------------------------- best path


@dataclass(frozen=True, eq=False)
class _BestPath:
    """Greedy chains of every start, stored once per continuation.

    Starts whose next stage-1 completion is the same row continue identically, so they
    form a *group* sharing one continuation (stages 1 and later): the starts
    ``group_first[g] … group_last[g]``, all of one user. Within a group a later start
    only loosens the limits, so its level is at least an earlier one's.
    """

    start_pos: _I64  # (starts,) position completing stage 0, in canonical order
    start_ts: _I64
    start_user: npt.NDArray[np.integer]  # dense user number, non-decreasing
    user_bounds: _I64  # the starts of user u are user_bounds[u] … user_bounds[u + 1] - 1
    group_first: _I64  # (groups,) ascending; groups never overlap
    group_last: _I64
    cont_pos: _I64  # (groups, stages - 1): position completing stage k + 1, -1 if none
    cont_ts: _I64
    _memo: dict[Hashable, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def start_group(self) -> _I64:
        """Per start, its group (-1: no stage-1 completion after it)."""
        group = np.full(self.start_pos.size, -1, dtype=np.int64)
        sizes = self.group_last - self.group_first + 1
        if sizes.size:
            offset = np.repeat(self.group_first - (np.cumsum(sizes) - sizes), sizes)
            group[offset + np.arange(int(sizes.sum()))] = np.repeat(np.arange(sizes.size), sizes)
        return group


def _user_bounds(start_user: npt.NDArray[np.integer]) -> _I64:
    users = int(start_user[-1]) + 1 if start_user.size else 0
    bounds = np.zeros(users + 1, dtype=np.int64)
    np.cumsum(np.bincount(start_user, minlength=users), out=bounds[1:])
    return bounds


def _groups_of(start_group: _I64) -> tuple[_I64, _I64]:
    """Each group's first and last start, from the group of every start."""
    in_group = np.flatnonzero(start_group >= 0)
    if in_group.size == 0:
        return in_group, in_group
    lead = _first_of_user(start_group[in_group])
    return in_group[lead], in_group[np.append(lead[1:], True)]


def _starts(p0: _I64, user: npt.NDArray[np.int32], times: int) -> _I64:
    """The positions completing stage 0: a user's ``times``-th stage-0 row and later ones."""
    if times == 1:
        return p0
    new_user = _first_of_user(user[p0])
    rank = np.arange(p0.size) - np.flatnonzero(new_user)[np.cumsum(new_user) - 1]
    found: _I64 = p0[rank >= times - 1]
    return found


def _groups(
    start_pos: _I64, bounds: _I64, p1: _I64, times: int, user: npt.NDArray[np.int32]
) -> tuple[_I64, _I64, _I64]:
    """The groups: per stage-1 completion, the starts it continues, and the completion.

    The ``times``-th stage-1 row strictly after start ``s`` is ``p1[j + times - 1]``
    where ``p1[j - 1] <= s < p1[j]``, if of ``s``'s user. So each completion
    ``p1[i]`` continues the starts of its user in ``[p1[j - 1], p1[j])``: a search per
    stage-1 row rather than one per start (starts are the most common rows).
    """
    m = p1.size - times + 1
    if m <= 0 or start_pos.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    before = searchsorted(start_pos, p1[:m])  # starts before p1[j]
    completion = p1[times - 1 :]
    lo = bounds[np.minimum(user[completion], bounds.size - 1)]
    lo[1:] = np.maximum(lo[1:], before[:-1])
    has = lo < before
    return lo[has], before[has] - 1, completion[has]


def _best_path(
    rows: _Rows, stages: Sequence[StageLike], start: int = 0, prior: _BestPath | None = None
) -> _BestPath:
    """Greedy chains (no within/window) of every start, computed from stage ``start`` on."""
    n = len(stages)
    user, ts = rows.index.user, rows.index.ts
    if prior is None:
        start_pos = _starts(rows.positions[0], user, stages[0].times)
        start_user: npt.NDArray[np.integer] = user[start_pos]
        start_ts, bounds = ts[start_pos], _user_bounds(start_user)
        start = 1
    else:
        start_pos, start_ts, start_user = prior.start_pos, prior.start_ts, prior.start_user
        bounds = prior.user_bounds
    if n == 1:
        first = last = np.zeros(0, dtype=np.int64)
        cont = np.zeros((0, 0), dtype=np.int64)
    elif prior is None or start == 1:
        first, last, f1 = _groups(start_pos, bounds, rows.positions[1], stages[1].times, user)
        cont = np.full((f1.size, n - 1), -1, dtype=rows.index.position_dtype, order="F")
        cont[:, 0] = f1
        start = 2
    else:
        first, last = prior.group_first, prior.group_last
        shape = (prior.cont_pos.shape[0], n - 1)
        cont = np.full(shape, -1, dtype=prior.cont_pos.dtype, order="F")
        cont[:, : start - 1] = prior.cont_pos[:, : start - 1]
    for k in range(start, n):
        alive = np.flatnonzero(cont[:, k - 2] >= 0)
        prev = cont[alive, k - 2]
        # Strictly after the previous row, so no row serves two stages of one chain.
        cont[alive, k - 1] = _nth(
            rows.positions[k], prev + 1, user[prev], stages[k].times, user, None
        )
    reached = cont >= 0
    return _BestPath(
        start_pos=start_pos,
        start_ts=start_ts,
        start_user=start_user,
        user_bounds=bounds,
        group_first=first,
        group_last=last,
        cont_pos=cont,
        cont_ts=np.where(reached, ts[cont], 0),
    )


def _first_at_least(values: _I64, lo: _I64, hi: _I64, bound: _I64) -> _I64:
    """Per query, the first index in ``[lo, hi)`` with ``values >= bound`` (sorted runs)."""
    lo, hi = lo.copy(), hi.copy()
    # Usually the first value already fits: search only the others.
    open_ = np.flatnonzero((lo < hi) & (values[np.minimum(lo, values.size - 1)] < bound))
    lo[open_] += 1
    while open_.size:
        open_ = open_[lo[open_] < hi[open_]]
        a, b = lo[open_], hi[open_]
        mid = (a + b) // 2
        low = values[mid] < bound[open_]
        lo[open_] = np.where(low, mid + 1, a)
        hi[open_] = np.where(low, b, mid)
    return lo


def _best_path_reach(
    state: _BestPath, stages: Sequence[StageLike], window: int | None
) -> tuple[_BOOL, _I64, _I64]:
    n = len(stages)
    acquired = state.user_bounds[1:] > state.user_bounds[:-1]
    first = state.user_bounds[:-1][acquired]
    level = np.ones(first.size, dtype=np.int64)
    chosen = first.copy()  # level 1: the user's first start
    ts = np.zeros((first.size, n), dtype=np.int64, order="F")
    if state.group_first.size:
        g_first, g_last = state.group_first, state.group_last
        g_user = (np.cumsum(acquired) - 1)[state.start_user[g_last]]
        # A group's best level is its latest start's.
        chain = np.empty((g_last.size, n), dtype=np.int64, order="F")
        chain[:, 0] = state.start_ts[g_last]
        chain[:, 1:] = state.cont_ts
        ok = np.ones((g_last.size, n), dtype=bool, order="F")
        ok[:, 1:] = state.cont_pos >= 0
        g_level = _within_limits(chain, ok, stages, window).sum(1)
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
        for k in range(1, n):  # a column at a time: contiguous in Fortran order
            ts[users, k] = state.cont_ts[best, k - 1]
    reached = np.empty((first.size, n), dtype=bool, order="F")
    for k in range(n):
        reached[:, k] = level > k
    ts[:, 0] = state.start_ts[chosen]
    return reached, ts, state.start_pos[chosen]


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True, eq=False)
class Reach:
    """The journeys as arrays: one row per acquired user, one column per stage.

    ``reached[u, i]`` says whether user ``u`` reached stage ``i`` (limits applied; once
    false, false for every later stage); ``ts[u, i]`` is when, in microseconds since the
    epoch (UTC), meaningful only where ``reached``. Rows are in the order of
    :attr:`Journeys.table`.
    """

    reached: _BOOL
    ts: _I64
    #: Once a stage is not reached no later one is (always so for built journeys).
    cumulative: bool = True
    # What the metrics derive from these arrays (counts, quantiles), kept for every
    # journeys sharing them: an edit that leaves the reach alone (period, segment,
    # target) reuses it all.
    _memo: dict[Hashable, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def users(self) -> int:
        """Number of acquired users."""
        return int(self.reached.shape[0])

    @cached_property
    def levels(self) -> npt.NDArray[np.int8]:
        """How many stages each user reached (0 … stages; a stage counts when reached,
        whether or not the ones before it were)."""
        level = np.zeros(self.reached.shape[0], dtype=np.int8)
        for i in range(self.reached.shape[1]):  # a contiguous pass per stage
            level += self.reached[:, i]
        return level


@dataclass(frozen=True, eq=False)
class Journeys:
    """One row per acquired user: when they reached each stage.

    Build it with :func:`build_journeys`; edit it with :meth:`update`.

    Attributes
    ----------
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
    reach
        The reach times as arrays (:class:`Reach`), what the metrics read.
    table
        ``user_id`` (String), ``reach_0 … reach_{n-1}`` (``Datetime("us", "UTC")``, null
        when not reached; ``reach_0`` never null), then one column per ``segment_by``
        property. Row order carries no meaning. Made when first read.
    """

    stages: tuple[str, ...]
    period: str
    last_ts: dt.datetime | None
    mode: str
    factory: FactoryLike = field(repr=False)
    reach: Reach = field(repr=False)
    _source: EventSource = field(repr=False)
    _state: _Lifecycle | _BestPath = field(repr=False)
    # None when positions are the events' rows (chains imported from Spark executors).
    _rows: _Rows | None = field(repr=False)
    _pos0: _I64 = field(repr=False)  # the position that set each user's reach_0
    # What depends only on each user's reach_0 row (columns gathered there, cohorts):
    # shared with the journeys of an edit that leaves those rows alone.
    _shared: dict[Hashable, Any] = field(repr=False, default_factory=dict)
    _origin: object = field(repr=False, default=None)
    _lock: threading.RLock = field(repr=False, default_factory=threading.RLock)

    @cached_property
    def table(self) -> pl.DataFrame:
        """``user_id``, ``reach_0 …``, then the segment columns (see the class docstring)."""
        names = ["user_id", *self.factory.segment_by]
        gathered = self.columns_at_reach0(names)
        n = len(self.stages)
        reached, ts = self.reach.reached, self.reach.ts
        raw = pl.DataFrame(
            {f"t{i}": ts[:, i] for i in range(n)} | {f"m{i}": reached[:, i] for i in range(n)}
        )
        reach = raw.select(
            pl.when(pl.col(f"m{i}")).then(pl.col(f"t{i}")).cast(UTC_US).alias(f"reach_{i}")
            for i in range(n)
        )
        return pl.concat(
            [
                gathered.select("user_id"),
                reach,
                gathered.select(list(self.factory.segment_by)),
            ],
            how="horizontal",
        )

    def columns_at_reach0(self, names: Sequence[str]) -> pl.DataFrame:
        """Event columns ``names`` on the row that set each user's ``reach_0`` (cached)."""
        with self._lock:
            missing = [c for c in names if ("column", c) not in self._shared]
            if missing:
                got = self._source.take(missing, self.rows_at(self._pos0))
                for c in missing:
                    self._shared["column", c] = got[c]
            return pl.DataFrame([self._shared["column", c] for c in names])

    def codes_at_reach0(self, column: str) -> tuple[_I64, pl.Series]:
        """Event column ``column`` on each user's ``reach_0`` row, as codes (-1 for null)
        and the distinct values they stand for (cached)."""
        if ("column", column) in self._shared:
            return encode(self._shared["column", column].to_arrow())

        def compute() -> tuple[_I64, pl.Series]:
            return self._source.codes_at(column, self.rows_at(self._pos0))

        return self.cached(("codes", column), compute, scope="reach0")

    def cached(self, key: Hashable, compute: Callable[[], _T], *, scope: str = "reach") -> _T:
        """``compute()``, kept with these journeys and the edits of them that share it.

        ``scope`` says what the value depends on, and so which edits reuse it:
        ``"reach"`` the reach arrays (a period, segment or target edit keeps them),
        ``"reach0"`` each user's ``reach_0`` row (a window or stage edit after the first
        keeps it too), ``"chains"`` the chains before ``within`` and ``window`` (see
        :meth:`unlimited`). The metrics keep what they derive from the arrays here.
        """
        stores = {"reach": self.reach._memo, "reach0": self._shared, "chains": self._state._memo}
        store = stores[scope]
        with self._lock:
            if key in store:
                found: _T = store[key]
                return found
        value = compute()
        with self._lock:
            store[key] = value
        return value

    def kept(self, key: Hashable, *, scope: str = "reach") -> Any:
        """The value :meth:`cached` keeps under ``key``, or ``None`` if none is kept yet."""
        stores = {"reach": self.reach._memo, "reach0": self._shared, "chains": self._state._memo}
        with self._lock:
            return stores[scope].get(key)

    def unlimited(self) -> Reach | None:
        """The chains before ``within`` and ``window`` apply, as reach arrays (lifecycle).

        Every user reaching a stage is among them, at the same times; a limit edit only
        removes users. ``None`` in best_path mode, where the window picks the chain.
        """
        state = self._state
        if not isinstance(state, _Lifecycle):
            return None

        def chains() -> Reach:
            return Reach(np.asfortranarray(state.raw_pos >= 0), state.raw_ts)

        return self.cached("unlimited", chains, scope="chains")

    def same_users(self, other: Journeys) -> bool:
        """Whether ``other`` holds the same users in the same rows, acquired at the same
        event rows (so the same ``user_id`` and ``reach_0`` columns)."""
        if self._shared is other._shared:
            return True
        if self._rows is not None and other._rows is not None and self._source is other._source:
            return bool(np.array_equal(self._pos0, other._pos0))
        columns = ["user_id", "reach_0"]
        return self.table.select(columns).equals(other.table.select(columns))

    def window_us(self) -> int | None:
        """The spec's ``window`` in microseconds (``None``: unbounded)."""
        return _micros(self.factory.window)

    def within_key(self) -> tuple[object, ...]:
        """The stages' ``within`` limits, as a key for what depends on them."""
        return tuple(s.within for s in self.factory.stages)

    def within_ok(self) -> _BOOL:
        """Per user and stage of the chains before limits (see :meth:`unlimited`): the
        chain reaches that stage and every step so far keeps its ``within``."""
        chains = self.unlimited()
        if chains is None:
            raise ValueError("only lifecycle journeys have chains before limits")
        stages = list(self.factory.stages)
        # The same entry _lifecycle_reach keeps.
        return self.cached(
            ("within ok", self.within_key()),
            lambda: _within_limits(chains.ts, chains.reached, stages, None),
            scope="chains",
        )

    def by_position(self) -> tuple[LogIndex, _I64] | None:
        """The log index and each user's ``reach_0`` position in it, in table order.

        ``None`` for journeys without an index (chains imported from Spark executors).
        """
        return None if self._rows is None else (self._rows.index, self._pos0)

    def rows_at(self, positions: _I64) -> _I64:
        """Events-table rows at engine positions."""
        return positions if self._rows is None else self._rows.rows_at(positions)

    def reads(self, events: object) -> bool:
        """Whether ``events`` (a frame or a log) is what these journeys were built from."""
        if events is self._origin:
            return True
        return isinstance(self._source, FrameSource) and events is self._source.events

    def update(self, factory: FactoryLike) -> Journeys:
        """The journeys of an edited factory, recomputing only what the edit touches.

        ``period``, ``window``, ``within`` and ``segment_by`` edits reuse the computed
        chains (no pass over the events). Editing, adding or removing stage ``i``
        recomputes stages ``i`` and later from the stored positions of stages before
        ``i``; changing the first stage or the mode rebuilds everything.

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
            return _build(self._source, factory, self.last_ts, self._origin)
        new, before = list(factory.stages), list(old.stages)
        changed = next(
            (
                i
                for i, (a, b) in enumerate(zip(new, before, strict=False))
                if a.match != b.match or a.times != b.times
            ),
            min(len(new), len(before)),
        )
        if changed == 0:
            return _build(self._source, factory, self.last_ts, self._origin)
        state, rows = self._state, self._rows
        if changed < len(new):
            if rows is None:  # pragma: no cover - imported chains are rebuilt by their backend
                return _build(self._source, factory, self.last_ts, self._origin)
            rows = _prepare(self._source, new, rows, changed)
            if isinstance(state, _Lifecycle):
                state = _lifecycle(rows, new, changed, state)
            else:
                state = _best_path(rows, new, changed, state)
        elif changed < len(before):
            state = _truncate(state, changed)
        return _assemble(self._source, factory, state, self.last_ts, rows, prior=self)

    def active_instants(self, active: MatchLike | None) -> pl.Series | None:
        """Per row of :attr:`table`: the distinct instants, in microseconds after ``reach_0``,
        of the user's events at or after ``reach_0`` matching ``active`` (any event when
        ``None``), ascending; ``None`` for journeys without an index (imported chains).

        Retention's activity, answered from the log's index (rows already grouped by user
        and sorted by time, see :mod:`cfnb.activity_index`) instead of a join of every
        event to its user.
        """
        from cfnb.activity_index import active_offsets

        if self._rows is None:
            return None
        index = self._rows.index
        hits = None  # any event is activity: every position
        if active is not None and type(active) is not AnyEvent:
            hits = stage_positions(self._source, index, active)
        bounds, values = active_offsets(index, hits, self._pos0)
        # Arrow wraps the NumPy buffers and Polars takes Arrow's: the values (one per
        # active instant of the log) are never copied.
        lists = pa.LargeListArray.from_arrays(pa.array(bounds), pa.array(values, pa.int64()))
        return pl.Series("offsets", lists)

    def _repr_html_(self) -> str:
        reached = " → ".join(
            f"{name} {int(self.reach.reached[:, i].sum()):,}" for i, name in enumerate(self.stages)
        )
        return (
            f"<p><b>Journeys</b> ({self.mode}, by {self.period}): {reached}</p>"
            + self.table.head(10)._repr_html_()
        )


def _truncate(state: _Lifecycle | _BestPath, n: int) -> _Lifecycle | _BestPath:
    if isinstance(state, _Lifecycle):
        return _Lifecycle(state.raw_pos[:, :n], state.raw_ts[:, :n])
    cont = max(n - 1, 0)
    none = np.zeros(0, dtype=np.int64)
    return _BestPath(
        state.start_pos,
        state.start_ts,
        state.start_user,
        state.user_bounds,
        state.group_first if n > 1 else none,
        state.group_last if n > 1 else none,
        state.cont_pos[:, :cont] if n > 1 else np.zeros((0, 0), dtype=np.int64),
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


def check_factory(columns: Sequence[str], factory: FactoryLike) -> None:
    """Raise a :class:`SpecError` naming the field if ``factory`` cannot run on ``columns``."""
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
        if name not in columns or name in _REQUIRED:
            props = [c for c in columns if c not in _REQUIRED]
            raise SpecError(
                "segment_by",
                f"no property column {name!r} in the events; choose from "
                f"{choice_list(props, first=name)}{suggestion(name, props)}",
            )


def _assemble(
    source: EventSource,
    factory: FactoryLike,
    state: _Lifecycle | _BestPath,
    last_ts: dt.datetime | None,
    rows: _Rows | None,
    prior: Journeys | None = None,
    origin: object = None,
) -> Journeys:
    check_factory(list(source.schema), factory)
    stages = list(factory.stages)
    window = _micros(factory.window)
    if (
        prior is not None
        and prior._state is state
        and _limits_of(prior.factory) == _limits_of(factory)
    ):
        # The same chains under the same limits (a period, segment, target or name
        # edit): the same reach, and everything the metrics derived from it.
        reach, pos0 = prior.reach, prior._pos0
    else:
        if isinstance(state, _Lifecycle):
            reached, ts, pos0 = _lifecycle_reach(state, stages, window)
        else:
            reached, ts, pos0 = _best_path_reach(state, stages, window)
        reach = Reach(reached, ts)
    # Lifecycle chains fix each user's acquisition row whatever the limits; in best_path
    # the window may pick another start.
    same_chains = prior is not None and prior._state is state and isinstance(state, _Lifecycle)
    shared = prior is not None and (
        same_chains or prior._pos0 is pos0 or np.array_equal(prior._pos0, pos0)
    )
    return Journeys(
        stages=tuple(s.name for s in stages),
        period=factory.period,
        last_ts=last_ts,
        mode=factory.mode,
        factory=factory,
        reach=reach,
        _source=source,
        _state=state,
        _rows=rows,
        _pos0=pos0,
        _shared=prior._shared if prior is not None and shared else {},
        _origin=prior._origin if prior is not None else origin,
        _lock=prior._lock if prior is not None and shared else threading.RLock(),
    )


def _limits_of(factory: FactoryLike) -> tuple[object, ...]:
    return (factory.window, tuple(s.within for s in factory.stages))


def _build(
    source: EventSource, factory: FactoryLike, last_ts: dt.datetime | None, origin: object
) -> Journeys:
    check_factory(list(source.schema), factory)
    stages = list(factory.stages)
    rows = _prepare(source, stages)
    state = _lifecycle(rows, stages) if factory.mode == "lifecycle" else _best_path(rows, stages)
    return _assemble(source, factory, state, last_ts, rows, origin=origin)


def build_journeys(
    events: pl.DataFrame | HasEvents | EventSource,
    factory: FactoryLike,
    *,
    last_ts: dt.datetime | None = None,
    origin: object = None,
) -> Journeys:
    """Build the journeys table: each acquired user's reach time of every stage.

    The semantics (lifecycle and best_path, ties, ``times``, ``within``, ``window``) are
    in this module's docstring.

    Parameters
    ----------
    events
        The events table (``user_id``, ``event``, ``ts`` and property columns), or an
        :class:`~cfnb.eventlog.EventLog`. Row order does not change the result. The
        first build on a frame indexes it by user and time (an EventLog is indexed at
        load); later builds and edits on the same table reuse that index.
    factory
        The spec: its stages, ``mode``, ``window``, ``period`` and ``segment_by``.
    last_ts
        The log's last timestamp; by default the largest ``ts`` in ``events``.
    origin
        What ``events`` stands for when it is an event source (the log or frame a run
        was given), so that :meth:`Journeys.reads` recognises it.

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
    source = event_source(events)
    check_factory(list(source.schema), factory)
    if last_ts is None:
        last_ts = source.last_ts
    return _build(source, factory, last_ts, events if origin is None else origin)
