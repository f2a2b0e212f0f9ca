"""Retention's activity read from the log index, without a copy as long as the log.

Per journeys row, the distinct instants (microseconds after ``reach_0``) of the user's
active events at or after ``reach_0``, as the buffers of a ``List[Int64]`` column. The
index holds each user's rows as one run of positions in time order, so a user's
activity is the tail of their run, with equal instants next to each other.

Why two passes. The answer is the biggest thing retention keeps (one int64 per active
instant of the whole log): it is written once, straight into its final buffers in the
journeys' row order, which Arrow and Polars then wrap without a copy. To know where each
user's instants go, a first pass counts them. Both passes walk the positions in runs of
whole users, about :data:`_RUN` positions each, so no temporary grows with the log (a
whole-log version made several arrays as long as the log, then a gather copied the
answer again).

Examples
--------
>>> import numpy as np
>>> from cfnb.logindex import CoreColumns, build_index
>>> index = build_index(CoreColumns(
...     hash=np.array([1, 1, 1, 2, 2], dtype=np.uint64) << 62, check=np.zeros(5, np.uint64),
...     ts=np.array([5, 7, 7, 1, 4]), codes=np.zeros(5, dtype=np.uint8),
...     names=("e",), ids=lambda: None))
>>> index.user.tolist(), index.ts.tolist()
([0, 0, 0, 1, 1], [5, 7, 7, 1, 4])
>>> bounds, values = active_offsets(index, None, np.array([4, 0]))  # users 1, then 0
>>> bounds.tolist(), values.tolist()
([0, 1, 3], [0, 0, 2])
"""

from __future__ import annotations

import functools
import itertools
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from cfnb.logindex import LogIndex
from cfnb.parallel import in_parallel

__all__ = ["active_offsets"]

I64: TypeAlias = npt.NDArray[np.int64]
Positions: TypeAlias = npt.NDArray[np.integer]
Bool: TypeAlias = npt.NDArray[np.bool_]

#: Positions per run: a run's temporaries (its users and times, their reach_0, the mask)
#: stay some tens of MB, however long the log.
_RUN = 1 << 20


def active_offsets(
    index: LogIndex, positions: Positions | None, pos0: Positions
) -> tuple[I64, I64]:
    """Per ``pos0`` entry (a journeys row): the distinct instants, in microseconds after
    the time at ``pos0``, of that user's positions at or after it, ascending; as the
    buffers of a list column: row ``i`` is ``values[bounds[i]:bounds[i + 1]]``.

    ``positions`` are the active positions, ascending (``None``: every position);
    ``pos0`` is each row's ``reach_0`` position, one row per user at most.
    """
    rows = int(pos0.size)
    row_user = index.user[pos0]
    # Per dense user: their reach_0 time, -1 for users in no row (so nothing is kept).
    reach0 = np.full(index.users, -1, dtype=np.int64)
    reach0[row_user] = index.ts[pos0]
    runs = _runs(index, positions)
    per_user = np.zeros(index.users, dtype=np.int64)
    _each(runs, functools.partial(_count, index, positions, reach0, per_user))
    bounds = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(per_user[row_user], out=bounds[1:])
    # Where each user's instants start in the final values (users in no row write none).
    start = np.zeros(index.users, dtype=np.int64)
    start[row_user] = bounds[:-1]
    values = np.empty(int(bounds[-1]), dtype=np.int64)
    _each(runs, functools.partial(_write, index, positions, reach0, per_user, start, values))
    return bounds, values


def _runs(index: LogIndex, positions: Positions | None) -> list[tuple[int, int]]:
    """``[a, b)`` slices of ``positions`` (or of all positions) of about :data:`_RUN`
    entries, each cut where a user starts: every user's rows lie in one run."""
    n = index.rows if positions is None else int(positions.size)
    if n == 0:
        return []
    at = np.arange(0, n, _RUN)
    first = index.user_start[index.user[at if positions is None else positions[at]]]
    cuts = first if positions is None else np.searchsorted(positions, first)
    edges = np.unique(np.r_[0, cuts, n])
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def _each(runs: list[tuple[int, int]], work: functools.partial[None]) -> None:
    """``work(a, b)`` for every run, in two threads taking contiguous parts of the runs
    (runs write disjoint slices, so they need no lock).

    The passes wait on memory more than on the CPU: two threads gain most of what more
    would, and each more would hold another run's temporaries.
    """
    parts = max(1, min(len(runs), 2))
    split = np.array_split(np.arange(len(runs)), parts)

    def part(chosen: npt.NDArray[np.intp]) -> None:
        for i in chosen.tolist():
            work(*runs[i])

    in_parallel([functools.partial(part, chosen) for chosen in split])


def _kept(
    index: LogIndex, positions: Positions | None, reach0: I64, a: int, b: int
) -> tuple[npt.NDArray[np.int32], I64, I64, Bool]:
    """A run's users, times and reach_0 times, and which of its positions are active
    instants: at or after reach_0, and not at the same instant as the one before."""
    if positions is None:
        user, ts = index.user[a:b], index.ts[a:b]
    else:
        at = positions[a:b]
        user, ts = index.user[at], index.ts[at]
    since = reach0[user]
    keep = since >= 0
    keep &= ts >= since
    # The run starts with a new user, and within a user equal instants are neighbours.
    keep[1:] &= (user[1:] != user[:-1]) | (ts[1:] != ts[:-1])
    return user, ts, since, keep


def _count(
    index: LogIndex,
    positions: Positions | None,
    reach0: I64,
    per_user: I64,
    a: int,
    b: int,
) -> None:
    user, _, _, keep = _kept(index, positions, reach0, a, b)
    u0, u1 = int(user[0]), int(user[-1]) + 1
    per_user[u0:u1] = np.bincount(user.compress(keep) - u0, minlength=u1 - u0)


def _write(
    index: LogIndex,
    positions: Positions | None,
    reach0: I64,
    per_user: I64,
    start: I64,
    values: I64,
    a: int,
    b: int,
) -> None:
    user, ts, since, keep = _kept(index, positions, reach0, a, b)
    offsets = ts.compress(keep)
    if not offsets.size:
        return
    offsets -= since.compress(keep)
    u0, u1 = int(user[0]), int(user[-1]) + 1
    counts = per_user[u0:u1]
    # The run's instants are its users' instants one user after another: user u's go to
    # start[u] on, i.e. the run's i-th instant to i + shift[u]. With rows in user order
    # (as journeys make them) the shift is one number and the run is one slice.
    shift = start[u0:u1] - (np.cumsum(counts) - counts)
    live = shift[counts > 0]
    if np.all(live == live[0]):
        values[int(live[0]) : int(live[0]) + offsets.size] = offsets
    else:
        values[np.repeat(shift, counts) + np.arange(offsets.size)] = offsets
