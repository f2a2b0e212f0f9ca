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
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from cfnb.parallel import in_parallel

__all__ = ["CoreColumns", "LogIndex", "build_index", "code_dtype", "in_sorted", "ranges"]

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

    def positions_of(self, code: int) -> I64:
        """Positions of the rows with event code ``code``, ascending (computed once)."""
        found = self._positions.get(code)
        if found is None:
            found = np.flatnonzero(self.codes == code)
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
    def _in_run(self) -> Bool:
        """Per position: inside a tie run, after its first position."""
        flag = np.zeros(self.rows, dtype=bool)
        flag[self.tied()] = True
        flag[self.run_start] = False
        return flag

    def tie_start(self, positions: I64) -> I64:
        """The first position of each position's tie run (itself when it has none)."""
        if not self.run_start.size:
            return positions
        # Ties are rare: look up only the positions inside a run.
        inside = np.flatnonzero(self._in_run[positions])
        if not inside.size:
            return positions
        out = positions.copy()
        run = np.searchsorted(self.run_start, positions[inside], side="right") - 1
        out[inside] = self.run_start[run]
        return out

    def tied(self) -> I64:
        """Every position inside a tie run, ascending."""
        return ranges(self.run_start, self.run_end)


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


def build_index(core: CoreColumns) -> LogIndex:
    """Group the rows of ``core`` by user, each user's rows in time order."""
    n = core.ts.size
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return LogIndex(
            None, np.zeros(0, np.int32), empty, core.codes, core.names, empty, empty, empty
        )
    order, new_user, ts, codes = _user_order(core)
    user = np.cumsum(new_user, dtype=np.int32)
    user -= 1
    starts = np.flatnonzero(new_user)
    user_start = np.append(starts, n).astype(np.int64)
    # Positions that share (user, time) with the previous one; ties are rare, so the
    # runs are found from these few positions alone.
    same = np.flatnonzero((ts[1:] == ts[:-1]) & ~new_user[1:]) + 1
    if same.size:
        breaks = np.ones(same.size, dtype=bool)
        breaks[1:] = same[1:] != same[:-1] + 1
        run_start = same[breaks] - 1
        last = np.append(np.flatnonzero(breaks)[1:] - 1, same.size - 1)
        run_end = same[last]
    else:
        run_start = run_end = np.zeros(0, dtype=np.int64)
    if order is not None and n < 2**31:
        order = order.astype(np.int32)
    return LogIndex(
        order=order,
        user=user,
        ts=ts,
        codes=codes,
        names=core.names,
        user_start=user_start,
        run_start=run_start.astype(np.int64),
        run_end=run_end.astype(np.int64),
    )


def _user_order(core: CoreColumns) -> tuple[I64 | None, Bool, I64, Codes]:
    """Row order grouping each user's rows in time order; where users start; ts; codes."""
    h, check, ts = core.hash, core.check, core.ts
    n = ts.size
    time_ordered = bool(np.all(ts[1:] >= ts[:-1]))
    if time_ordered:
        order, key = _time_ordered_groups(h)
    else:
        # Time order first (Polars sorts in parallel), then group by hash keeping it.
        by_time = pl.Series(ts).arg_sort().to_numpy().astype(np.int64)
        order, key = _time_ordered_groups(h[by_time])
        order = by_time[order]
    identity = _is_identity(order)
    if identity:
        sorted_check, sorted_ts, sorted_codes = check.copy(), ts, core.codes
    else:
        sorted_check, sorted_ts, sorted_codes = _take_all((check, ts, core.codes), order)
    new_user = np.ones(n, dtype=bool)
    new_user[1:] = key[1:] != key[:-1]
    clash = _clashes(new_user, sorted_check)
    if clash.size:
        # Hashes agreeing in the high bits the sort kept interleave: regroup the rows of
        # those keys by the whole hash, keeping time order. A key's rows form one
        # contiguous block, so reordering within blocks moves no other row.
        pos = np.flatnonzero(np.isin(key, np.unique(key[clash])))
        sub = order[pos]
        sub = sub[np.lexsort((ts[sub], h[sub]))]
        order = order.copy() if identity else order
        order[pos] = sub
        sorted_check[pos] = check[sub]
        sorted_ts, sorted_codes = sorted_ts.copy(), sorted_codes.copy()
        sorted_ts[pos], sorted_codes[pos] = ts[sub], core.codes[sub]
        whole = h[sub]
        new_user[pos[1:]] |= whole[1:] != whole[:-1]
        clash = _clashes(new_user, sorted_check)
        identity = False
    if clash.size:
        return _exact_user_order(core)
    if identity:  # a table already stored in (user, time) order needs no order
        return None, new_user, sorted_ts, sorted_codes
    return order, new_user, sorted_ts, sorted_codes


def _take_all(
    columns: tuple[npt.NDArray[np.generic], ...], order: I64
) -> tuple[npt.NDArray[Any], ...]:
    """Each column gathered by ``order``, in parallel threads.

    A random gather waits on memory, not on the CPU: two at once take little more than
    one.
    """
    return tuple(in_parallel([functools.partial(np.take, c, order) for c in columns]))


def _is_identity(order: I64) -> bool:
    n = order.size
    step = max(n // 64, 1)
    # A sample says "no" at once for the usual, time-ordered export.
    if not np.array_equal(order[::step], np.arange(0, n, step)):
        return False
    return bool(np.all(order == np.arange(n)))


def _clashes(new_user: Bool, check: U64) -> I64:
    """Positions grouped with the previous row whose check hash differs from it."""
    return np.flatnonzero(~new_user[1:] & (check[1:] != check[:-1])) + 1


def _exact_user_order(core: CoreColumns) -> tuple[I64, Bool, I64, Codes]:
    ids = core.ids()
    if ids is None:  # pragma: no cover - every source can give its ids
        raise RuntimeError("two user ids share both hashes and the source cannot list its ids")
    keys = pl.DataFrame({"u": ids, "t": core.ts})
    order = keys.select(pl.arg_sort_by("u", "t")).to_series().to_numpy().astype(np.int64)
    grouped = ids.gather(order)
    new_user = (grouped != grouped.shift()).fill_null(True).to_numpy()
    return order, new_user, core.ts[order], core.codes[order]


def _time_ordered_groups(h: U64) -> tuple[I64, U64]:
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
