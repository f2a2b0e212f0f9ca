"""An EventLog's DuckDB table as the engine's event source (see :mod:`cfnb.sources`).

The engine reads the table a few columns at a time, in Arrow batches, so a log larger
than memory (DuckDB spills its table to the log's temporary directory under
``memory_limit``) is never copied into Polars whole:

* the **index** comes from two scans: the user id's hashes, then the time and an
  event-name code (the names from the ENUM type);
* **masks** of a property condition scan only the columns the condition names, batch by
  batch, and evaluate the condition with Polars;
* **columns at given rows** come from a join on DuckDB's ``rowid``.

Row ``k`` is the k-th row of a plain scan of the table (DuckDB keeps insertion order);
when the loader deleted rows, the rowids have gaps and are looked up.

Every statement runs on its own cursor, so the explorer's worker thread and the
notebook can read one log at the same time. Column names are quoted with
:func:`cfnb._duck.ident`; values are bound as parameters.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property

import duckdb
import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from cfnb._duck import ident
from cfnb.logindex import Codes, CoreScans, LogIndex, build_index, code_dtype
from cfnb.periods import UTC_US
from cfnb.sources import encode

__all__ = ["DuckSource"]

Bool = npt.NDArray[np.bool_]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

#: Rows per Arrow batch of a scan: large enough to keep DuckDB's threads busy, small
#: enough that a scan of a huge log holds little at a time.
BATCH_ROWS = 1 << 20
#: Up to this many rows, a lookup by rowid binds them as a list; above, as a table.
_FEW_ROWS = 20_000
#: Hidden columns the loader adds for the index (dropped once it is built): two
#: independent hashes of the user id (grouping, and the check that tells apart two ids
#: sharing the first).
HASH_COLUMNS = "hash(__p_user) AS __uh, hash(reverse(__p_user)) AS __uc"
_HIDDEN = ("__file", "__row", "__uh", "__uc")
_HASH, _CHECK = "hash(user_id)", "hash(reverse(user_id))"


class DuckSource:
    """The ``events`` table of a log's DuckDB connection, read by the engine.

    Parameters
    ----------
    con
        The log's connection (statements run on cursors of it).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._lock = threading.Lock()
        self._index: LogIndex | None = None

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = self._con.cursor()
        # Session settings are per connection: times come back in "UTC", as from the log.
        cur.execute("SET TimeZone = 'UTC'")
        return cur

    # ------------------------------------------------------------------ shape

    @property
    def _all_columns(self) -> list[str]:
        return list(self._cursor().sql("SELECT * FROM events LIMIT 0").columns)

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The public columns: ``user_id``, ``event``, ``ts``, then the properties."""
        return tuple(c for c in self._all_columns if c not in _HIDDEN)

    @cached_property
    def schema(self) -> Mapping[str, pl.DataType]:
        empty = self._cursor().sql(f"SELECT {self._list(self.columns)} FROM events LIMIT 0").pl()
        return dict(empty.schema)

    @cached_property
    def height(self) -> int:
        (n,) = self._one("SELECT count(*) FROM events")
        assert isinstance(n, int)
        return n

    @cached_property
    def last_ts(self) -> dt.datetime | None:
        (last,) = self._one("SELECT epoch_us(max(ts)) FROM events")
        if last is None:
            return None
        # As Polars gives it for the events frame (time zone "UTC", not DuckDB's "Etc/UTC").
        value: dt.datetime = pl.Series([last]).cast(UTC_US).item()
        return value

    @cached_property
    def _rowids(self) -> I64 | None:
        """The rowid of each row, or ``None`` when row k has rowid k (no deleted rows)."""
        n, top = self._one("SELECT count(*), coalesce(max(rowid) + 1, 0) FROM events")
        if n == top:
            return None
        table = self._cursor().sql("SELECT rowid FROM events").to_arrow_table()
        rowids: I64 = table.column(0).to_numpy().astype(np.int64)
        return rowids

    # ------------------------------------------------------------------ the index

    def index(self) -> LogIndex:
        with self._lock:
            if self._index is None:
                self._index = build_index(self._core())
            return self._index

    def _core(self) -> CoreScans:
        # Scans of the user hashes (see HASH_COLUMNS; made here when the loader did not),
        # the time and the event names' codes (the loader stores them as an ENUM). The
        # builder reads them in two scans, so batches are filled in, never piled up.
        first, check = ("__uh", "__uc") if "__uh" in self._all_columns else (_HASH, _CHECK)
        names = self._event_names() if self.height else ()
        return CoreScans(
            rows=self.height,
            names=names,
            hashes=lambda: self._hash_batches(f"SELECT {first}, {check}, epoch_us(ts) FROM events"),
            events=lambda: self._event_batches(names),
            hash_at=lambda rows: self._hash_at(first, rows),
            ids=lambda: self.select(["user_id"]).to_series(),
        )

    def _event_names(self) -> tuple[str, ...]:
        """The sorted event names: an ENUM's values (its Arrow dictionary), else the names
        in the table."""
        sample = self._cursor().sql("SELECT event FROM events LIMIT 1").to_arrow_table()
        column = sample.column(0)
        if pa.types.is_dictionary(column.type) and column.num_chunks:
            values = column.chunk(0).dictionary.to_pylist()
        else:
            values = self._cursor().sql("SELECT DISTINCT event FROM events").fetchall()
            values = [v for (v,) in values]
        return tuple(sorted({str(v) for v in values if v is not None}))

    def _hash_batches(self, sql: str) -> Iterator[tuple[U64, U64, I64]]:
        for batch in self._batches(sql, []):
            h, c, ts = (batch.column(k).to_numpy() for k in range(3))
            yield h.astype(np.uint64, copy=False), c.astype(np.uint64, copy=False), ts

    def _event_batches(self, names: tuple[str, ...]) -> Iterator[tuple[I64, Codes]]:
        code_of = {name: k for k, name in enumerate(names)}
        for batch in self._batches("SELECT epoch_us(ts), event FROM events", []):
            codes = _event_codes(batch.column(1), code_of)
            yield batch.column(0).to_numpy().astype(np.int64, copy=False), codes

    def _hash_at(self, column: str, rows: I64) -> U64:
        """The user hash ``column`` at ``rows`` (in that order), from one scan."""
        by = np.argsort(rows)
        wanted = rows[by]
        found = np.empty(rows.size, dtype=np.uint64)
        start = 0
        for batch in self._batches(f"SELECT {column} FROM events", []):
            lo, hi = np.searchsorted(wanted, [start, start + batch.num_rows])
            if hi > lo:
                found[by[lo:hi]] = batch.column(0).to_numpy()[wanted[lo:hi] - start]
            start += batch.num_rows
        return found

    # ------------------------------------------------------------------ reads

    def masks(self, exprs: Sequence[pl.Expr]) -> list[Bool]:
        if not exprs:
            return []
        roots = _roots(exprs)
        named = [e.fill_null(False).alias(f"m{k}") for k, e in enumerate(exprs)]
        parts: list[list[Bool]] = [[] for _ in exprs]
        if not roots:  # constant conditions: one value per row
            values = pl.DataFrame({"__n": np.zeros(self.height)}).select(named)
            return [values.to_series(k).to_numpy().astype(bool) for k in range(len(exprs))]
        for frame in self._frames(roots):
            values = frame.select(named)
            for k in range(len(exprs)):
                parts[k].append(values.to_series(k).to_numpy().astype(bool, copy=False))
        return [np.concatenate(p) if len(p) != 1 else p[0] for p in parts]

    def take(self, columns: Sequence[str], rows: I64) -> pl.DataFrame:
        if not rows.size:
            return self.select(columns).head(0)
        order = np.argsort(rows)
        wanted = rows[order]
        if wanted.size <= _FEW_ROWS:
            found = self._lookup(columns, wanted)
        else:
            found = self._scan_take(columns, wanted)
        # ``found`` holds the rows in ascending order: put them back in the order asked.
        back = np.empty(order.size, dtype=np.int64)
        back[order] = np.arange(order.size)
        return found.select(pl.all().gather(pl.Series(back)))

    def codes_at(self, column: str, rows: I64) -> tuple[I64, pl.Series]:
        if not rows.size:
            return np.zeros(0, dtype=np.int64), self.select([column]).to_series().head(0)
        order = np.argsort(rows)
        wanted = rows[order]
        if wanted.size <= _FEW_ROWS:
            values = self._lookup([column], wanted).to_series().to_arrow()
        else:
            values = self._scan_arrow([column], wanted).column(0)
        codes, distinct = encode(values)
        back = np.empty(order.size, dtype=np.int64)
        back[order] = codes
        return back, distinct

    def _lookup(self, columns: Sequence[str], wanted: I64) -> pl.DataFrame:
        """``columns`` at a few ``wanted`` rows (ascending), found by rowid."""
        distinct = np.unique(wanted)
        ids = distinct if self._rowids is None else self._rowids[distinct]
        found: pl.DataFrame = (
            self._cursor()
            .sql(
                f"SELECT rowid AS __rid, {self._list(columns)} FROM events "
                "WHERE rowid IN (SELECT unnest(?::BIGINT[])) ORDER BY __rid",
                params=[ids.tolist()],
            )
            .pl()
        )
        return found.drop("__rid").select(
            pl.all().gather(pl.Series(np.searchsorted(distinct, wanted)))
        )

    def _scan_take(self, columns: Sequence[str], wanted: I64) -> pl.DataFrame:
        """``columns`` at many ``wanted`` rows (ascending): one scan, a take per batch."""
        frame = pl.from_arrow(self._scan_arrow(columns, wanted))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def _scan_arrow(self, columns: Sequence[str], wanted: I64) -> pa.Table:
        parts, start = [], 0
        self._check_columns(columns)
        # Arrow takes the rows of each batch; only those become Polars values.
        for batch in self._batches(f"SELECT {self._list(columns)} FROM events", []):
            lo, hi = np.searchsorted(wanted, [start, start + batch.num_rows])
            if hi > lo:
                parts.append(batch.take(pa.array(wanted[lo:hi] - start)))
            start += batch.num_rows
        return pa.Table.from_batches(parts)

    def select(self, columns: Sequence[str], where: pl.Expr | None = None) -> pl.DataFrame:
        needed = list(dict.fromkeys([*columns, *(_roots([where]) if where is not None else [])]))
        keep = where.fill_null(False) if where is not None else None
        parts = []
        for frame in self._frames(needed):
            part = frame if keep is None else frame.filter(keep)
            parts.append(part.select(list(columns)))
        if not parts:
            return pl.DataFrame(schema={c: self.schema[c] for c in columns})
        return pl.concat(parts, how="vertical", rechunk=True)

    def frame(self) -> pl.DataFrame:
        frame: pl.DataFrame = (
            self._cursor().sql(f"SELECT {self._list(self.columns)} FROM events").pl()
        )
        return frame

    # ------------------------------------------------------------------ helpers

    def _check_columns(self, columns: Sequence[str]) -> None:
        unknown = [c for c in columns if c not in self.schema]
        if unknown:
            raise pl.exceptions.ColumnNotFoundError(
                f"unable to find column {unknown[0]!r}; valid columns: {list(self.schema)}"
            )

    def _frames(self, columns: Sequence[str]) -> Iterator[pl.DataFrame]:
        self._check_columns(columns)
        for batch in self._batches(f"SELECT {self._list(columns)} FROM events", []):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            yield frame

    def _batches(self, sql: str, params: list[object]) -> Iterator[pa.RecordBatch]:
        reader = self._cursor().sql(sql, params=params or None).to_arrow_reader(BATCH_ROWS)
        yield from reader

    def _one(self, sql: str) -> tuple[object, ...]:
        row = self._cursor().execute(sql).fetchone()
        assert row is not None
        return tuple(row)

    @staticmethod
    def _list(columns: Sequence[str], table: str | None = None) -> str:
        prefix = f"{table}." if table else ""
        # Event names are stored as an ENUM; they are read as text, as the log shows them.
        return ", ".join(
            f"{prefix}{ident(c)}::VARCHAR AS {ident(c)}" if c == "event" else prefix + ident(c)
            for c in columns
        )


def _event_codes(events: pa.Array, code_of: Mapping[str, int]) -> Codes:
    """Each row's code among the sorted names ``code_of`` numbers, from a batch's
    ``event`` column.

    The loader stores event names as an ENUM, which Arrow sees as dictionary arrays:
    their indices are the codes. Plain text (a table made otherwise) is encoded here.
    """
    if not pa.types.is_dictionary(events.type):
        events = pc.dictionary_encode(events)
    missing = len(code_of)
    # The batch's dictionary, mapped to the sorted names (null: len(names)).
    values = events.dictionary.to_pylist()
    remap = np.array(
        [code_of[str(v)] if v is not None else missing for v in values] + [missing],
        dtype=code_dtype(missing),
    )
    indices = pc.fill_null(events.indices, len(values)).to_numpy(zero_copy_only=False)
    codes: Codes = remap[indices]
    return codes


def _roots(exprs: Sequence[pl.Expr]) -> list[str]:
    names: dict[str, None] = {}
    for e in exprs:
        for name in e.meta.root_names():
            names[name] = None
    return list(names)
