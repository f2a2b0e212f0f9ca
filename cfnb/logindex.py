"""The log index: every event's user, time and event code, grouped by user in time order.

Built once per log (at load for an :class:`~cfnb.eventlog.EventLog`, at the first build
for an events frame) from four columns the event source hands over: two independent
64-bit hashes of the user id, the time in microseconds and a code per event name. The
journeys engine never reads the events again for what these say: a stage matching
event names finds its rows in the index alone, and the rows of one user are one
contiguous, time-ordered run of *positions*.

Rows are grouped by the hash, not by the id text: sorting plain integers is many times
faster than sorting strings. Two ids sharing the 64-bit hash are told apart by the
second hash; should both ever collide, the ids themselves are sorted (exact, slower).
Within one user, rows with the same time form a *tie run*; their order inside the run
is the source's and carries no meaning (the engine orders ties itself, by content).

Examples
--------
>>> import numpy as np
>>> core = CoreColumns(
...     hash=np.array([7, 3, 7], dtype=np.uint64), check=np.array([1, 2, 1], dtype=np.uint64),
...     ts=np.array([10, 20, 30]), codes=np.array([0, 0, 1], dtype=np.uint8),
...     names=("signup", "visit"), ids=lambda: None)
>>> index = build_index(core)
>>> index.users, index.rows_at(np.arange(3)).tolist(), index.user.tolist()
(2, [1, 0, 2], [0, 1, 1])
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from cfnb.parallel import in_parallel

__all__ = [
    "CoreColumns",
    "CoreScans",
    "LogIndex",
    "build_index",
    "code_dtype",
    "in_sorted",
    "ranges",
]

_T = TypeVar("_T")
# Results an index keeps per condition (positions, tie contents): enough for a spec and
# a few edits of it, never a growing pile.
_MEMO_SIZE = 24

I64: TypeAlias = npt.NDArray[np.int64]
I32: TypeAlias = npt.NDArray[np.int32]
U64: TypeAlias = npt.NDArray[np.uint64]
Codes: TypeAlias = npt.NDArray[np.unsignedinteger]
Bool: TypeAlias = npt.NDArray[np.bool_]


def code_dtype(names: int) -> type[np.unsignedinteger]:
    """The smallest unsigned type holding codes 0..names (``names`` stands for a null name)."""
    if names < 255:
        return np.uint8
    return np.uint16 if names < 65_535 else np.uint32


@dataclass(frozen=True, eq=False)
class CoreColumns:
    """What an event source hands the index builder, one value per events-table row.

    ``hash`` and ``check`` are independent 64-bit hashes of the user id; ``ts`` is the
    time in microseconds since the epoch (UTC); ``codes`` number the sorted ``names``
    (``len(names)`` for a row without an event name); ``ids`` returns the user ids
    themselves, asked for only if two ids share both hashes.
    """

    hash: U64
    check: U64
    ts: I64
    codes: Codes
    names: tuple[str, ...]
    ids: Callable[[], pl.Series | None]

    def scans(self) -> CoreScans:
        """These columns as the scans the builder reads (one batch each)."""
        return CoreScans(
            rows=int(self.ts.size),
            names=self.names,
            hashes=lambda: [(self.hash, self.check, self.ts)],
            events=lambda: [(self.ts, self.codes)],
            hash_at=lambda rows: self.hash[rows],
            ids=self.ids,
        )


@dataclass(frozen=True, eq=False)
class CoreScans:
    """The index builder's input as scans of an event source, batch by batch in row order.

    The builder reads the hashes, groups the rows and lets the hashes go before it reads
    the times and codes: holding all four columns, raw and gathered, at once would take
    several times the finished index (a 50M-row log loads in little more memory than
    its index this way).

    ``hashes()`` yields ``(hash, check, ts)`` batches and ``events()`` ``(ts, codes)``
    batches (codes as in :class:`CoreColumns`, numbering ``names``). ``hash_at(rows)``
    gives the first hash at some rows (in the order given), for the few users whose
    grouping keys clash; ``ids`` is as in :class:`CoreColumns`.
    """

    rows: int
    names: tuple[str, ...]
    hashes: Callable[[], Iterable[tuple[U64, U64, I64]]]
    events: Callable[[], Iterable[tuple[I64, Codes]]]
    hash_at: Callable[[I64], U64]
    ids: Callable[[], pl.Series | None]


@dataclass(frozen=True, eq=False)
class LogIndex:
    """The events in (user, time) order, by *position* (0 … rows - 1).

    Attributes
    ----------
    order
        The events-table row at each position, or ``None`` when the table is already in
        (user, time) order.
    user
        Dense user number of each position (0 … users - 1), non-decreasing.
    ts
        Time of each position, in microseconds; non-decreasing within a user.
    codes
        Event-name code of each position (see ``names``).
    names
        The event names, sorted; ``len(names)`` codes a row without a name.
    user_start
        Where each user's positions begin, plus the number of rows at the end.
    run_start, run_end
        The first and last position of every tie run (rows of one user at one instant)
        holding more than one row, ascending.
    """

    order: I64 | I32 | None
    user: I32
    ts: I64
    codes: Codes
    names: tuple[str, ...]
    user_start: I64
    run_start: I64
    run_end: I64
    _positions: dict[int, I64] = field(default_factory=dict, repr=False)
    _memo: OrderedDict[Hashable, Any] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def rows(self) -> int:
        """Number of rows (positions)."""
        return int(self.ts.size)

    @property
    def users(self) -> int:
        """Number of distinct users."""
        return int(self.user_start.size - 1)

    @functools.cached_property
    def code_of(self) -> dict[str, int]:
        """Event name → code."""
        return {name: code for code, name in enumerate(self.names)}

    @functools.cached_property
    def event_counts(self) -> dict[str, int]:
        """Event name → number of rows (names with rows only)."""
        counts = np.bincount(self.codes, minlength=len(self.names) + 1)
        return {name: int(counts[c]) for c, name in enumerate(self.names) if counts[c]}

    def rows_at(self, positions: npt.NDArray[np.integer]) -> I64:
        """The events-table rows at ``positions``."""
        found = positions if self.order is None else self.order[positions]
        out: I64 = found.astype(np.int64, copy=False)
        return out

    @property
    def position_dtype(self) -> type[np.signedinteger[Any]]:
        """The dtype of positions: int32 while the rows fit, half the memory of int64."""
        return np.int32 if self.rows < 2**31 else np.int64

    def positions_of(self, code: int) -> I64:
        """Positions of the rows with event code ``code``, ascending (computed once)."""
        found = self._positions.get(code)
        if found is None:
            found = np.flatnonzero(self.codes == code).astype(self.position_dtype)
            with self._lock:
                self._positions[code] = found
        return found

    def memo(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """``compute()``, kept for the next call with an equal ``key`` (a few are kept)."""
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                value: _T = self._memo[key]
                return value
        value = compute()
        with self._lock:
            self._memo[key] = value
            while len(self._memo) > _MEMO_SIZE:
                self._memo.popitem(last=False)
        return value

    def code_mask(self, names: frozenset[str] | tuple[str, ...]) -> Bool:
        """Per position: is the row's event one of ``names``?"""
        lookup = np.zeros(len(self.names) + 1, dtype=bool)
        lookup[[self.code_of[n] for n in names if n in self.code_of]] = True
        return lookup[self.codes]

    @functools.cached_property
    def _inner(self) -> tuple[I64, I64]:
        """The positions inside a tie run after its first, and their run's first position."""
        lengths = self.run_end - self.run_start
        inner = ranges(self.run_start + 1, self.run_end).astype(self.position_dtype)
        return inner, np.repeat(self.run_start, lengths).astype(self.position_dtype)

    def tie_start(self, positions: I64) -> I64:
        """The first position of each position's tie run (itself when it has none).

        When ``positions`` are strictly ascending (as a stage's chain positions are, user
        after user), only the few positions inside runs are looked up.
        """
        if not self.run_start.size or not positions.size:
            return positions
        inner, start = self._inner
        if not np.all(positions[1:] > positions[:-1]):
            run = np.searchsorted(self.run_start, positions, side="right") - 1
            hit = (run >= 0) & (positions <= self.run_end[np.maximum(run, 0)])
            start = self.run_start[np.maximum(run, 0)]
            return np.where(hit, start, positions).astype(positions.dtype, copy=False)
        at = np.minimum(np.searchsorted(positions, inner), positions.size - 1)
        hit = positions[at] == inner
        if not hit.any():
            return positions
        out = positions.copy()
        out[at[hit]] = start[hit]
        return out

    def tied(self) -> I64:
        """Every position inside a tie run, ascending."""
        return ranges(self.run_start, self.run_end).astype(self.position_dtype)


def in_sorted(haystack: I64, needles: I64) -> Bool:
    """Per needle: is it in ``haystack`` (ascending)?"""
    if not haystack.size:
        return np.zeros(needles.size, dtype=bool)
    at = np.minimum(np.searchsorted(haystack, needles), haystack.size - 1)
    found: Bool = haystack[at] == needles
    return found


def ranges(lo: I64, hi: I64) -> I64:
    """Concatenated ``arange(lo[g], hi[g] + 1)`` for every g, without a Python loop."""
    lengths = hi - lo + 1
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if ends.size else 0
    return np.repeat(lo - (ends - lengths), lengths) + np.arange(total, dtype=np.int64)


#: Rows per piece of a chunked pass: the pass's temporaries (an index converted to intp,
#: a gathered slice) stay a few MB, however long the log.
_CHUNK = 1 << 20

Order: TypeAlias = I32 | I64


def build_index(core: CoreColumns | CoreScans) -> LogIndex:
    """Group the rows of ``core`` by user, each user's rows in time order."""
    scans = core.scans() if isinstance(core, CoreColumns) else core
    n = scans.rows
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        codes = np.zeros(0, dtype=code_dtype(len(scans.names)))
        return LogIndex(None, np.zeros(0, np.int32), empty, codes, scans.names, empty, empty, empty)
    order, new_user = _user_order(scans)
    ts, codes = _events_in_order(scans, order)
    user = np.cumsum(new_user, dtype=np.int32)
    user -= 1
    user_start = np.append(np.flatnonzero(new_user), n).astype(np.int64)
    run_start, run_end = _tie_runs(ts, new_user)
    return LogIndex(
        order=order,
        user=user,
        ts=ts,
        codes=codes,
        names=scans.names,
        user_start=user_start,
        run_start=run_start,
        run_end=run_end,
    )


def _tie_runs(ts: I64, new_user: Bool) -> tuple[I64, I64]:
    """First and last position of every run of rows sharing (user, time), ascending."""
    # Positions that share (user, time) with the previous one; ties are rare, so the
    # runs are found from these few positions alone.
    same = np.flatnonzero((ts[1:] == ts[:-1]) & ~new_user[1:]) + 1
    if not same.size:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    breaks = np.ones(same.size, dtype=bool)
    breaks[1:] = same[1:] != same[:-1] + 1
    run_start = same[breaks] - 1
    last = np.append(np.flatnonzero(breaks)[1:] - 1, same.size - 1)
    return run_start.astype(np.int64), same[last].astype(np.int64)


def _user_order(scans: CoreScans) -> tuple[Order | None, Bool]:
    """Row order grouping each user's rows in time order (``None``: the rows' own); where
    users start.

    Rows are grouped by the first hash's high bits, with the row number (or time rank) in
    the low bits, so one plain integer sort does it. The hashes live only here: the keys
    and checks are gone before the times and codes are read.
    """
    n = scans.rows
    bits = max(int(n - 1).bit_length(), 1)
    keys, check, time_ordered = _read_hashes(scans, bits)
    by_time = None
    if not time_ordered:
        # Time order first (Polars sorts in parallel), then group by hash keeping it.
        by_time = _time_order(scans)
        keys = _rank_keys(keys, by_time, bits)
    keys.sort()
    order = _low_bits(keys, bits, by_time)
    del by_time
    keys >>= np.uint64(bits)
    new_user = np.empty(n, dtype=bool)
    new_user[0] = True
    np.not_equal(keys[1:], keys[:-1], out=new_user[1:])
    identity = _is_identity(order)
    clash = _clashes(new_user, check, order)
    if clash.size:
        if not _regroup(scans, keys, clash, order, new_user, check):
            return _exact_user_order(scans)
        identity = False
    if identity:  # a table already stored in (user, time) order needs no order
        return None, new_user
    return order, new_user


def _read_hashes(scans: CoreScans, bits: int) -> tuple[U64, U64, bool]:
    """Each row's grouping key (the hash's high bits over the row number), its check
    hash, and whether the rows are in time order."""
    n = scans.rows
    high = ~np.uint64((1 << bits) - 1)
    keys = np.empty(n, dtype=np.uint64)
    check: U64 | None = None
    lo, last, ordered = 0, None, True
    for h, c, ts in scans.hashes():
        hi = lo + h.size
        np.bitwise_and(h, high, out=keys[lo:hi])
        keys[lo:hi] |= np.arange(lo, hi, dtype=np.uint64)
        if check is None:  # a single batch is kept as it is, not copied
            check = c if c.size == n else np.empty(n, dtype=np.uint64)
        if check is not c:
            check[lo:hi] = c
        if ordered and ts.size:
            ordered = (last is None or ts[0] >= last) and bool(np.all(ts[1:] >= ts[:-1]))
            last = ts[-1]
        lo = hi
    if lo != n or check is None:
        raise RuntimeError(f"the events changed while indexed: {lo} rows read, {n} expected")
    return keys, check, ordered


def _time_order(scans: CoreScans) -> npt.NDArray[np.unsignedinteger]:
    ts = _read_events(scans, codes=False)[0]
    by_time: npt.NDArray[np.unsignedinteger] = pl.Series(ts).arg_sort().to_numpy()
    return by_time


def _rank_keys(keys: U64, by_time: npt.NDArray[np.unsignedinteger], bits: int) -> U64:
    """The keys of rows taken in time order, the time rank in place of the row number."""
    ranked = np.empty_like(keys)
    _take_into(keys, by_time, ranked)
    ranked &= ~np.uint64((1 << bits) - 1)
    ranked |= np.arange(keys.size, dtype=np.uint64)
    return ranked


def _low_bits(keys: U64, bits: int, by_time: npt.NDArray[np.unsignedinteger] | None) -> Order:
    """The rows the sorted ``keys`` stand for (their low bits, or the rows of those time
    ranks), as int32 when that holds them, built piece by piece (no int64 copy)."""
    n = keys.size
    low = np.uint64((1 << bits) - 1)
    order: Order = np.empty(n, dtype=np.int32) if n < 2**31 else np.empty(n, dtype=np.int64)
    for a in range(0, n, _CHUNK):
        rows = (keys[a : a + _CHUNK] & low).view(np.int64)
        order[a : a + _CHUNK] = rows if by_time is None else by_time[rows]
    return order


def _parts(lo: int, hi: int) -> list[tuple[int, int]]:
    """``lo``..``hi`` split into one contiguous part per thread of a parallel pass."""
    workers = max(1, min(os.cpu_count() or 1, (hi - lo) // _CHUNK))
    bounds = np.linspace(lo, hi, workers + 1).astype(np.int64).tolist()
    return list(itertools.pairwise(bounds))


def _take_into(
    source: npt.NDArray[Any], order: npt.NDArray[np.integer], out: npt.NDArray[Any]
) -> None:
    """``out[:] = source[order]``, piece by piece in threads.

    A random gather waits on memory, not on the CPU, so threads help even on two
    cores. Pieces keep NumPy's intp copy of the indices small, and ``mode="clip"``
    spares the copy of the output that the default mode makes.
    """

    def part(lo: int, hi: int) -> None:
        for a in range(lo, hi, _CHUNK):
            b = min(a + _CHUNK, hi)
            np.take(source, order[a:b], out=out[a:b], mode="clip")

    in_parallel([functools.partial(part, lo, hi) for lo, hi in _parts(0, order.size)])


def _is_identity(order: Order) -> bool:
    n = order.size
    step = max(n // 64, 1)
    # A sample says "no" at once for the usual, time-ordered export.
    if not np.array_equal(order[::step], np.arange(0, n, step)):
        return False
    return all(
        np.array_equal(order[a : a + _CHUNK], np.arange(a, min(a + _CHUNK, n)))
        for a in range(0, n, _CHUNK)
    )


def _clashes(new_user: Bool, check: U64, order: Order) -> I64:
    """Positions grouped with the previous row whose check hash differs from it."""

    def part(lo: int, hi: int) -> I64:
        found = [np.zeros(0, dtype=np.int64)]
        for a in range(lo, hi, _CHUNK):
            b = min(a + _CHUNK, hi)
            c = np.take(check, order[a - 1 : b], mode="clip")
            found.append(np.flatnonzero(~new_user[a:b] & (c[1:] != c[:-1])) + a)
        return np.concatenate(found)

    n = order.size
    return np.concatenate(in_parallel([functools.partial(part, lo, hi) for lo, hi in _parts(1, n)]))


def _regroup(
    scans: CoreScans, keys: U64, clash: I64, order: Order, new_user: Bool, check: U64
) -> bool:
    """Regroup, in place, the rows of clashing keys by the whole hash, keeping time order;
    whether that told every user apart.

    Hashes agreeing in the high bits the sort kept interleave. A key's rows form one
    contiguous block (``keys`` is sorted), so reordering within blocks moves no other row.
    """
    clashing = np.unique(keys[clash])
    lo = np.searchsorted(keys, clashing, side="left")
    hi = np.searchsorted(keys, clashing, side="right")
    pos = ranges(lo.astype(np.int64), hi.astype(np.int64) - 1)
    sub = order[pos].astype(np.int64)
    whole = scans.hash_at(sub)
    # A block's rows are in time order already: a stable sort by the hash keeps it.
    by = np.argsort(whole, kind="stable")
    sub, whole = sub[by], whole[by]
    order[pos] = sub
    new_user[pos[1:]] |= whole[1:] != whole[:-1]
    # Only these blocks changed; the first row of each is a new user either way.
    c = check[sub]
    return not bool(np.any(~new_user[pos[1:]] & (c[1:] != c[:-1])))


def _exact_user_order(scans: CoreScans) -> tuple[Order, Bool]:
    ids = scans.ids()
    if ids is None:  # pragma: no cover - every source can give its ids
        raise RuntimeError("two user ids share both hashes and the source cannot list its ids")
    keys = pl.DataFrame({"u": ids, "t": _read_events(scans, codes=False)[0]})
    order = keys.select(pl.arg_sort_by("u", "t")).to_series().to_numpy().astype(np.int64)
    grouped = ids.gather(order)
    new_user = (grouped != grouped.shift()).fill_null(True).to_numpy()
    return (order.astype(np.int32) if order.size < 2**31 else order), new_user


def _events_in_order(scans: CoreScans, order: Order | None) -> tuple[I64, Codes]:
    """Times and codes by position: read whole, then gathered one column at a time."""
    ts, codes = _read_events(scans)
    if order is None:
        return ts, codes
    sorted_codes = np.empty_like(codes)
    _take_into(codes, order, sorted_codes)
    del codes
    sorted_ts = np.empty_like(ts)
    _take_into(ts, order, sorted_ts)
    return sorted_ts, sorted_codes


def _read_events(scans: CoreScans, *, codes: bool = True) -> tuple[I64, Codes]:
    """The times and (unless ``codes`` is false: an empty array) codes of every row."""
    n = scans.rows
    ts_out: I64 | None = None
    codes_out: Codes = np.zeros(0, dtype=code_dtype(len(scans.names)))
    lo = 0
    for ts, c in scans.events():
        hi = lo + ts.size
        if ts_out is None:  # a single batch is kept as it is, not copied
            whole = ts.size == n
            ts_out = ts if whole else np.empty(n, dtype=np.int64)
            if codes:
                codes_out = c if whole else np.empty(n, dtype=c.dtype)
        if ts_out is not ts:
            ts_out[lo:hi] = ts
            if codes:
                codes_out[lo:hi] = c
        lo = hi
    if lo != n or ts_out is None:
        raise RuntimeError(f"the events changed while indexed: {lo} rows read, {n} expected")
    return ts_out, codes_out
