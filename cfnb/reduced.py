"""The events a metric reads, reduced to the rows it needs: a log's table stays in DuckDB.

Revenue, referral and the activation candidates take an events frame. For an
:class:`~cfnb.eventlog.EventLog` the local backend hands them, instead of the whole
table, a frame on which the *unchanged* metric gives the result it gives on the whole
log:

* **payments**: the rows the ``paid`` condition keeps (the metric is then told
  ``paid=None``);
* **invites and referrers**: the rows the ``invite`` condition keeps, and the rows with
  a referrer;
* **early events**: per user and event name, ``min(n, max(counts))`` copies of one row
  at ``reach_0``, ``n`` being the user's events of that name in the first
  ``first_days`` days (the candidates only ask "at least c times" in that window), plus,
  for a ``retained`` condition, each user's first matching row in the outcome window
  (the metric only asks whether there is one). Counted from the log index, without
  reading the table.

A metric's own argument checks run first on an empty frame with the log's columns, so
a wrong column or condition raises the metric's own error.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from cfnb.journeys import Journeys, stage_positions
from cfnb.metrics import activation as _activation
from cfnb.metrics._inputs import filter_events, predicate_expr
from cfnb.needs import EarlyEvents, Invites, Need, Payments, Referrers
from cfnb.periods import UTC_US
from cfnb.sources import EventSource

__all__ = ["early_frame", "like_log", "reduced_inputs"]

DAY_US = 86_400_000_000


def reduced_inputs(
    source: EventSource, need: Need, journeys: Journeys
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The frame (and keyword overrides) the metric behind ``need`` reads on ``source``."""
    schema = dict(source.schema)
    empty = pl.DataFrame(schema=schema)
    if isinstance(need, Payments):
        amount = need.amount
        if amount not in schema or not schema[amount].is_numeric():
            return empty, {}  # the metric says what is wrong with the column
        if need.paid is None:
            return source.select(list(schema), pl.col(amount).is_not_null()), {}
        expr = predicate_expr(need.paid, "paid")
        filter_events(empty, expr, "paid")  # an unknown column raises here
        return source.select(list(schema), expr), {"paid": None}
    if isinstance(need, Invites | Referrers):
        parts = []
        if need.referrer in schema:
            parts.append(pl.col(need.referrer).is_not_null())
        if isinstance(need, Invites) and need.invite is not None:
            expr = predicate_expr(need.invite, "invite")
            filter_events(empty, expr, "invite")
            parts.append(expr.fill_null(False))
        if not parts:
            return empty, {}
        return source.select(list(schema), pl.any_horizontal(parts)), {}
    return _early(source, need, journeys, empty)


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


def early_frame(
    schema: dict[str, pl.DataType], early: pl.DataFrame, hits: list[pl.DataFrame]
) -> pl.DataFrame:
    """The candidates' frame from ``early`` (``user_id, event, ts, __n``) and ``hits``.

    Each early row stands for ``__n`` events of its name at ``ts`` (the user's
    ``reach_0``); ``hits`` are real rows matching the ``retained`` condition.
    """
    frames = []
    if early.height:
        index = pl.int_range(pl.len()).repeat_by(pl.col("__n")).explode()
        frames.append(early.select(pl.all().gather(early.select(index).to_series())).drop("__n"))
    return like_log(schema, [*frames, *hits])


def _early(
    source: EventSource, need: EarlyEvents, journeys: Journeys, empty: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, Any]]:
    options = dict(need.options)
    # The metric checks its own arguments: on the empty log it raises before any work.
    _activation.activation_candidates(empty, journeys, **options)
    view = journeys.by_position()
    if view is None:  # pragma: no cover - chains imported from Spark have their own inputs
        return source.frame(), {}
    index, pos0 = view
    defaults = inspect.signature(_activation.activation_candidates).parameters
    value = {k: options.get(k, p.default) for k, p in defaults.items()}
    first_days, cap = int(value["first_days"]), max(value["counts"])
    dense = index.user[pos0].astype(np.int64)
    reach0 = np.full(index.users, -1, dtype=np.int64)
    reach0[dense] = index.ts[pos0]
    row_of = np.full(index.users, -1, dtype=np.int64)
    row_of[dense] = np.arange(pos0.size)
    ids = journeys.columns_at_reach0(["user_id"]).to_series()

    pos = _after_reach0(index.user, index.ts, reach0, 0, first_days * DAY_US)
    width = len(index.names) + 1
    key = index.user[pos].astype(np.int64) * width + index.codes[pos]
    found, n = np.unique(key, return_counts=True)
    user, code = found // width, found % width
    names = pl.Series([*list(index.names), None], dtype=pl.String)
    early = pl.DataFrame(
        {
            "user_id": ids.gather(pl.Series(row_of[user])),
            "event": names.gather(pl.Series(code)),
            "ts": pl.Series(reach0[user]).cast(UTC_US),
            "__n": np.minimum(n, cap),
        }
    )
    hits = []
    retained = value["retained"]
    if retained is not None and not isinstance(retained, bool | int | str):
        condition = (
            retained
            if hasattr(retained, "to_polars")
            else _Expr(predicate_expr(retained, "retained"))
        )
        start = first_days * DAY_US
        end = (first_days + int(value["outcome_days"])) * DAY_US
        matching = stage_positions(source, index, condition)
        at = matching[_after_reach0(index.user[matching], index.ts[matching], reach0, start, end)]
        first = at[np.append(True, index.user[at][1:] != index.user[at][:-1])] if at.size else at
        hits.append(source.take(list(empty.columns), journeys.rows_at(first)))
    return early_frame(dict(empty.schema), early, hits), {}


def _after_reach0(
    user: npt.NDArray[np.int32],
    ts: npt.NDArray[np.int64],
    reach0: npt.NDArray[np.int64],
    lo: int,
    hi: int,
) -> npt.NDArray[np.int64]:
    """Indices of the rows of acquired users at ``reach_0 + [lo, hi)`` microseconds."""
    since = reach0[user]
    offset = ts - since
    return np.flatnonzero((since >= 0) & (offset >= lo) & (offset < hi))


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
