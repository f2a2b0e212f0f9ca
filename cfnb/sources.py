"""Where the engine reads events: an events frame in memory, or an EventLog's DuckDB table.

The journeys engine and the metrics that read events never need the whole events
table at once. They ask an :class:`EventSource` for

* the **log index** (:mod:`cfnb.logindex`): each row's user, time and event code,
  grouped by user in time order;
* **masks**: whether each row matches some Polars expressions (a stage's property
  condition, the retention condition);
* **columns at some rows**: a segment's value on each user's acquisition row, the user
  ids of the journeys;
* **a selection**: the rows matching a condition with a few columns (payments for
  revenue, invites for referral).

:class:`FrameSource` answers from a Polars frame. An :class:`~cfnb.eventlog.EventLog`
answers from its DuckDB table (:mod:`cfnb.duck_events`), column by column and in
batches, so a log larger than memory is never copied into Polars whole.

Rows are numbered 0 … height - 1 in the source's own order; every answer uses those
numbers.

Examples
--------
>>> import datetime as dt, polars as pl
>>> frame = pl.DataFrame({"user_id": ["a", "b", "a"], "event": ["visit", "visit", "pay"],
...                       "ts": [dt.datetime(2024, 1, d, tzinfo=dt.UTC) for d in (1, 2, 3)],
...                       "amount": [None, None, 9.5]})
>>> source = FrameSource(frame)
>>> source.index().event_counts
{'pay': 1, 'visit': 2}
>>> source.masks([pl.col("amount") > 5])[0].tolist()
[False, False, True]
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from cfnb.logindex import CoreColumns, LogIndex, build_index, code_dtype

__all__ = ["EventSource", "FrameSource", "core_from_frame", "encode", "frame_source"]

Bool = npt.NDArray[np.bool_]
I64 = npt.NDArray[np.int64]

# Fixed, so the (only) use of the hashes, grouping rows by user, is reproducible.
_HASH_SEED = 0x5EED
_CHECK_SEED = 0xC4EC


def _user_hash(user_id: pl.Expr, seed: int) -> pl.Expr:
    """A 64-bit key that groups rows by user far faster than sorting the id strings."""
    return user_id.hash(seed)


class EventSource(Protocol):
    """What the engine reads from the events (see the module docstring)."""

    @property
    def height(self) -> int:
        """Number of rows."""
        ...

    @property
    def schema(self) -> Mapping[str, pl.DataType]:
        """Column name → Polars dtype (``user_id``, ``event``, ``ts``, then properties)."""
        ...

    @property
    def last_ts(self) -> dt.datetime | None:
        """The latest ``ts`` (``None`` when there are no rows)."""
        ...

    def index(self) -> LogIndex:
        """The log index (built once, then shared)."""
        ...

    def masks(self, exprs: Sequence[pl.Expr]) -> list[Bool]:
        """Per expression, whether each row matches it (nulls do not), in row order."""
        ...

    def take(self, columns: Sequence[str], rows: I64) -> pl.DataFrame:
        """``columns`` at ``rows`` (in that order)."""
        ...

    def select(self, columns: Sequence[str], where: pl.Expr | None = None) -> pl.DataFrame:
        """The rows matching ``where`` (all rows when ``None``), with ``columns``, in row order."""
        ...

    def frame(self) -> pl.DataFrame:
        """The whole events table as a Polars frame."""
        ...

    def codes_at(self, column: str, rows: I64) -> tuple[I64, pl.Series]:
        """Column ``column`` at ``rows`` as codes (-1 for null) and the values they stand for."""
        ...


def core_from_frame(frame: pl.DataFrame) -> CoreColumns:
    """The index's input columns from a frame holding ``user_id``, ``event`` and ``ts``."""
    user = pl.col("user_id")
    hashes = frame.select(
        _user_hash(user, _HASH_SEED).alias("h"), _user_hash(user, _CHECK_SEED).alias("c")
    )
    names = tuple(sorted(frame["event"].unique().drop_nulls().to_list()))
    # Code len(names) (never looked up as a name) stands for a missing event name.
    codes = (
        frame["event"]
        .cast(pl.Enum(list(names)))
        .to_physical()
        .fill_null(len(names))
        .to_numpy()
        .astype(code_dtype(len(names)))
    )
    return CoreColumns(
        hash=hashes.to_series(0).to_numpy(),
        check=hashes.to_series(1).to_numpy(),
        ts=frame["ts"].to_physical().to_numpy().astype(np.int64),
        codes=codes,
        names=names,
        ids=lambda: frame["user_id"],
    )


@dataclass(frozen=True, eq=False)
class FrameSource:
    """The events of a Polars frame (``user_id`` and ``event`` String, ``ts`` UTC µs)."""

    events: pl.DataFrame

    @property
    def height(self) -> int:
        return self.events.height

    @property
    def schema(self) -> Mapping[str, pl.DataType]:
        return dict(self.events.schema)

    @property
    def last_ts(self) -> dt.datetime | None:
        value = self.events["ts"].max() if self.events.height else None
        return value  # type: ignore[return-value]

    def index(self) -> LogIndex:
        return _frame_index(self.events)

    def masks(self, exprs: Sequence[pl.Expr]) -> list[Bool]:
        if not exprs:
            return []
        named = [e.fill_null(False).alias(f"m{k}") for k, e in enumerate(exprs)]
        values = self.events.select(named)
        return [values.to_series(k).to_numpy().astype(bool, copy=False) for k in range(len(exprs))]

    def take(self, columns: Sequence[str], rows: I64) -> pl.DataFrame:
        return self.events.select(pl.col(list(columns)).gather(pl.Series(rows, dtype=pl.Int64)))

    def select(self, columns: Sequence[str], where: pl.Expr | None = None) -> pl.DataFrame:
        rows = self.events if where is None else self.events.filter(where.fill_null(False))
        return rows.select(list(columns))

    def frame(self) -> pl.DataFrame:
        return self.events

    def codes_at(self, column: str, rows: I64) -> tuple[I64, pl.Series]:
        return encode(self.take([column], rows).to_series().to_arrow())


_INDEXES: dict[int, tuple[weakref.ref[pl.DataFrame], LogIndex]] = {}


def _frame_index(events: pl.DataFrame) -> LogIndex:
    """The index of ``events``, from the cache while that very frame is alive."""
    key = id(events)
    cached = _INDEXES.get(key)
    if cached is not None and cached[0]() is events:
        return cached[1]
    index = build_index(core_from_frame(events))
    # The entry dies with the frame, so an id reused by a later frame never hits it.
    _INDEXES[key] = (weakref.ref(events, lambda _: _INDEXES.pop(key, None)), index)
    return index


def encode(values: pa.Array | pa.ChunkedArray) -> tuple[I64, pl.Series]:
    """``values`` as codes (-1 for null) and the distinct values by code.

    Arrow's dictionary encoding: one hash per value, and Polars sees only the few
    distinct ones.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    distinct = pl.Series(encoded.dictionary)
    return codes, distinct


def frame_source(events: pl.DataFrame) -> FrameSource:
    """The source of an events frame already checked by the engine."""
    return FrameSource(events)
