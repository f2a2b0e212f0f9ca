"""The events a metric reads, reduced to the rows it needs: a log's table stays in DuckDB.

Revenue, referral and the activation candidates take an events frame. For an
:class:`~cfnb.eventlog.EventLog` the local backend hands them, instead of the whole
table, a frame on which the *unchanged* metric gives the result it gives on the whole
log, found with the log index (rows by dense user number and position) and holding only
the columns the metric reads (the others are null):

* **payments**: the rows the ``paid`` condition keeps (the metric is then told
  ``paid=None``), of acquired users at or after their ``reach_0``, with ``user_id``,
  ``ts``, ``event`` and the amount;
* **invites and referrers**: the rows the ``invite`` condition keeps, of acquired users
  at or after their ``reach_0``, and the rows with a referrer at a user's ``reach_0``
  instant (the only ones the metrics read the referrer on), with the columns the
  condition names and the referrer;
* **early events**: no frame but their counts (:class:`~cfnb.metrics.activation.EarlyCounts`):
  per journeys row and event name, ``min(n, max(counts))``, ``n`` being the user's events
  of that name in the first ``first_days`` days (the candidates only ask "at least c
  times" in that window), plus, for a ``retained`` condition, whether the user has a
  matching event in the outcome window. Counted from the log index, without reading the
  table.

User ids come from the journeys (each user's, gathered once at ``reach_0``) and times
and event names from the index, so the table is read only for the other columns, at
the rows kept. A metric's own argument checks run first on an empty frame with the
log's columns, so a wrong column or condition raises the metric's own error.
"""

from __future__ import annotations

import inspect
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from cfnb.journeys import Journeys, stage_positions
from cfnb.logindex import LogIndex, in_sorted, ranges
from cfnb.metrics import activation as _activation
from cfnb.metrics._inputs import filter_events, predicate_expr
from cfnb.needs import EarlyEvents, Invites, Need, Payments, Referrers
from cfnb.periods import UTC_US
from cfnb.sources import EventSource
from cfnb.spec.errors import SpecError
from cfnb.spec.predicates import EventIn

__all__ = ["early_counts", "like_log", "reduced_inputs"]

DAY_US = 86_400_000_000
#: Positions per pass when counting early events: the pass's arrays stay small.
_CHUNK = 1 << 20

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]


def reduced_inputs(
    source: EventSource, need: Need, journeys: Journeys
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The frame (and keyword overrides) the metric behind ``need`` reads on ``source``."""
    schema = dict(source.schema)
    empty = pl.DataFrame(schema=schema)
    if isinstance(need, EarlyEvents):
        return _early(source, need, journeys, empty)
    users = _users(journeys)
    if users is None:  # pragma: no cover - chains imported from Spark have their own inputs
        return source.frame(), {}
    if isinstance(need, Payments):
        return _payments(source, need, users, empty)
    return _invites(source, need, users, journeys, empty)


def like_log(
    schema: dict[str, pl.DataType],
    frames: list[pl.DataFrame],
    types: dict[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """``frames`` with exactly the log's columns (missing ones null), in its types or ``types``."""
    schema = {**schema, **(types or {})}
    full = [
        frame.select(
            (pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c)
            for c, t in schema.items()
        )
        for frame in frames
        if frame.height
    ]
    return pl.concat([pl.DataFrame(schema=schema), *full], how="vertical")


# --------------------------------------------------------------------------- users


@dataclass(frozen=True, eq=False)
class _Users:
    """The acquired users by dense user number (per user; nothing per event).

    ``pos0`` is each journeys row's ``reach_0`` position; ``reach0`` and ``row`` give each
    dense user's ``reach_0`` (microseconds) and journeys row, -1 for users never acquired;
    ``ids`` the ``user_id`` of each journeys row.
    """

    index: LogIndex
    pos0: I64
    reach0: I64
    row: I64
    ids: pl.Series


def _users(journeys: Journeys) -> _Users | None:
    view = journeys.by_position()
    if view is None:
        return None
    index, pos0 = view
    dense = index.user[pos0].astype(np.int64)
    reach0 = np.full(index.users, -1, dtype=np.int64)
    reach0[dense] = index.ts[pos0]
    row = np.full(index.users, -1, dtype=np.int64)
    row[dense] = np.arange(pos0.size)
    ids = journeys.columns_at_reach0(["user_id"]).to_series()
    return _Users(index, pos0, reach0, row, ids)


def _after_reach0(
    users: _Users, positions: I64, lo: int = 0, hi: int | None = None
) -> npt.NDArray[np.int64]:
    """Indices of the ``positions`` of acquired users at ``reach_0 + [lo, hi)`` microseconds."""
    since = users.reach0[users.index.user[positions]]
    offset = users.index.ts[positions] - since
    keep = (since >= 0) & (offset >= lo)
    if hi is not None:
        keep &= offset < hi
    return np.flatnonzero(keep)


def _frame_at(
    source: EventSource,
    users: _Users,
    positions: I64,
    columns: list[str],
    known: dict[str, pl.Series] | None = None,
) -> pl.DataFrame:
    """``user_id``, ``ts``, ``event``, ``known`` and ``columns`` at acquired users' ``positions``.

    The first three come from the journeys and the index; only ``columns`` are read from
    the table, at the rows kept.
    """
    index = users.index
    names = pl.Series([*index.names, None], dtype=pl.String)
    frame = pl.DataFrame(
        {
            "user_id": users.ids.gather(pl.Series(users.row[index.user[positions]])),
            "ts": pl.Series(index.ts[positions]).cast(UTC_US),
            "event": names.gather(pl.Series(index.codes[positions].astype(np.int64))),
            **(known or {}),
        }
    )
    other = [c for c in columns if c not in frame.columns]
    if not other:
        return frame
    return pl.concat([frame, source.take(other, index.rows_at(positions))], how="horizontal")


def _condition(pred: Any, what: str) -> Any:
    """``pred`` as a condition the engine finds rows of (from the index where it can)."""
    if isinstance(pred, str):
        try:
            return EventIn((pred,))  # the index knows the names: no read of the table
        except SpecError:
            pass
    if hasattr(pred, "to_polars") and hasattr(pred, "event_names"):
        return pred
    return _Expr(predicate_expr(pred, what))


# --------------------------------------------------------------------------- payments


def _payments(
    source: EventSource, need: Payments, users: _Users, empty: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, Any]]:
    schema, amount = dict(empty.schema), need.amount
    if amount not in schema or not schema[amount].is_numeric():
        return empty, {}  # the metric says what is wrong with the column
    if need.paid is None:
        condition = _Expr(pl.col(amount).is_not_null())
    else:
        filter_events(
            empty, predicate_expr(need.paid, "paid"), "paid"
        )  # an unknown column raises here
        condition = _condition(need.paid, "paid")
    index = users.index
    found = stage_positions(source, index, condition)
    found = found[_after_reach0(users, found)]
    # In the table's row order, as a scan gives them: sums add up in the same order.
    found = found[np.argsort(index.rows_at(found), kind="stable")]
    frame = _frame_at(source, users, found, [amount]).filter(pl.col(amount).is_not_null())
    return like_log(schema, [frame]), {"paid": None}


# --------------------------------------------------------------------------- referral


def _invites(
    source: EventSource,
    need: Invites | Referrers,
    users: _Users,
    journeys: Journeys,
    empty: pl.DataFrame,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    schema = dict(empty.schema)
    invite = need.invite if isinstance(need, Invites) else None
    roots: list[str] = []
    if invite is not None:
        expr = predicate_expr(invite, "invite")
        filter_events(empty, expr, "invite")  # an unknown column raises here
        roots = [c for c in dict.fromkeys(expr.meta.root_names()) if c in schema]
    referrer = need.referrer
    frames = []
    held = np.zeros(0, dtype=np.int64)
    # A journeys column holds the referrer itself: the metrics read it there.
    if referrer in schema and referrer not in journeys.table.columns:
        # Kept with the journeys (one entry per user with a referrer): referral and the
        # activation effect both read it.
        held, values = journeys.cached(
            ("referrers at reach_0", referrer),
            lambda: _referrers_at_reach0(source, users, referrer),
            scope="reach0",
        )
        frames.append(_frame_at(source, users, held, roots, {referrer: values}))
    if invite is not None:
        found = stage_positions(source, users.index, _condition(invite, "invite"))
        found = found[_after_reach0(users, found)]
        # A referrer row that is an invite too is already there, with its columns.
        found = found[~in_sorted(held, found)]
        frames.append(_frame_at(source, users, found, roots))
    return like_log(schema, frames), {}


def _referrers_at_reach0(
    source: EventSource, users: _Users, referrer: str
) -> tuple[I64, pl.Series]:
    """Positions (ascending) of the rows at a user's ``reach_0`` instant with a referrer,
    and their referrer: all the metrics read of the column."""
    index = users.index
    pos0 = np.sort(users.pos0)
    # The rows at a user's reach_0 instant: its tie run, or the reach_0 row alone.
    run = np.searchsorted(index.run_start, pos0, side="right") - 1
    at = np.maximum(run, 0)
    inside = (run >= 0) & (pos0 <= index.run_end[at]) if index.run_start.size else run >= 0
    lo = np.where(inside, index.run_start[at], pos0) if index.run_start.size else pos0
    hi = np.where(inside, index.run_end[at], pos0) if index.run_start.size else pos0
    positions = ranges(lo, hi)
    values = source.take([referrer], index.rows_at(positions)).to_series()
    has = values.is_not_null().to_numpy()
    return positions[has], values.filter(pl.Series(has))


# --------------------------------------------------------------------------- early events


def _early(
    source: EventSource, need: EarlyEvents, journeys: Journeys, empty: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, Any]]:
    options = dict(need.options)
    # The metric checks its own arguments: on the empty log it raises before any work.
    _activation.activation_candidates(empty, journeys, **options)
    users = _users(journeys)
    if users is None:  # pragma: no cover - chains imported from Spark have their own inputs
        return source.frame(), {}
    defaults = inspect.signature(_activation.activation_candidates).parameters
    value = {k: options.get(k, p.default) for k, p in defaults.items()}
    first_days, outcome_days = int(value["first_days"]), int(value["outcome_days"])
    retained = value["retained"]
    hits = None
    if retained is not None and not isinstance(retained, bool | int | str):
        start, end = first_days * DAY_US, (first_days + outcome_days) * DAY_US
        hits = _hits(source, users, _condition(retained, "retained"), start, end)
    cap = max(value["counts"])
    row, code, n = early_counts(users.index, users.reach0, users.row, first_days, cap)
    names = (*users.index.names, None)
    counts = _activation.EarlyCounts(first_days, outcome_days, cap, row, code, n, names, hits)
    return empty, {"early": counts}


def _hits(
    source: EventSource, users: _Users, condition: Any, start: int, end: int
) -> npt.NDArray[np.bool_]:
    """Per journeys row: a row matching ``condition`` at ``reach_0 + [start, end)``?"""
    found = stage_positions(source, users.index, condition)
    found = found[_after_reach0(users, found, start, end)]
    hit = np.zeros(users.pos0.size, dtype=bool)
    hit[users.row[users.index.user[found]]] = True
    return hit


def early_counts(
    index: LogIndex, reach0: I64, row_of: I64, first_days: int, cap: int
) -> tuple[I32, I32, I32]:
    """Journeys rows, event codes and counts: per user and event name with events in the
    first ``first_days`` days after ``reach_0``, how many (at most ``cap``).

    ``reach0`` and ``row_of`` give each dense user's ``reach_0`` and journeys row (-1 for
    users never acquired). One pass over the positions, a run of whole users at a time,
    each run counted with one histogram of (user, code): no sort, and no array as long
    as the log.
    """
    width = len(index.names) + 1
    span = first_days * DAY_US
    starts = np.searchsorted(index.user_start, np.arange(0, index.rows, _CHUNK), side="right")
    edges = np.unique(np.r_[0, starts - 1, index.users])
    parts: list[tuple[I32, I32, I32]] = []
    for u0, u1 in itertools.pairwise(edges.tolist()):
        p0, p1 = int(index.user_start[u0]), int(index.user_start[u1])
        user = index.user[p0:p1]
        since = reach0[user]
        offset = index.ts[p0:p1] - since
        keep = (since >= 0) & (offset >= 0) & (offset < span)
        key = (user[keep] - u0).astype(np.int64) * width + index.codes[p0:p1][keep]
        counted = np.bincount(key, minlength=(u1 - u0) * width)
        found = np.flatnonzero(counted)
        parts.append(
            (
                row_of[found // width + u0].astype(np.int32),
                (found % width).astype(np.int32),
                np.minimum(counted[found], cap).astype(np.int32),
            )
        )
    if not parts:
        none = np.zeros(0, dtype=np.int32)
        return none, none, none
    row, code, n = (np.concatenate(p, dtype=np.int32) for p in zip(*parts, strict=True))
    return row, code, n


class _Expr:
    """A Polars expression as a condition the engine evaluates with the event source."""

    def __init__(self, expr: pl.Expr) -> None:
        self._expr = expr

    def to_polars(self) -> pl.Expr:
        return self._expr

    def event_names(self) -> frozenset[str] | None:
        return None

    def _key(self) -> bytes:
        return self._expr.meta.serialize()

    def __hash__(self) -> int:
        return hash(self._key())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Expr) and other._key() == self._key()
