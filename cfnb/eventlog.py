"""The loaded event log: one DuckDB table of events, and the account of how it was loaded.

An :class:`EventLog` owns a private in-memory DuckDB connection holding the ``events``
table (columns ``user_id``, ``event``, ``ts`` in UTC, then every other source column,
typed) and the ``rejected`` rows, and the log index the engine reads (built at load,
:mod:`cfnb.logindex`). The engine reads the table through :meth:`EventLog.event_source`,
a few columns at a time (:mod:`cfnb.duck_events`); :attr:`EventLog.events` copies the
whole table into Polars only when asked for.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import duckdb
import polars as pl

from cfnb.duck_events import DuckSource

__all__ = ["EventLog", "LoadReport"]


@dataclass(frozen=True)
class LoadReport:
    """What happened to every row of a source: loaded, or rejected and why.

    ``rows_read == rows_loaded + sum(rejected.values())`` always holds. Exact duplicate
    rows are counted in ``duplicates`` whatever the policy; with ``duplicates="drop"``
    all but the first copy are rejected with reason ``duplicate``.
    """

    source: str
    format: str
    rows_read: int
    rows_loaded: int
    rejected: Mapping[str, int]
    duplicates: int
    duplicate_policy: str
    duplicates_dropped: int
    users: int
    event_counts: tuple[tuple[str, int], ...]
    first_ts: dt.datetime | None
    last_ts: dt.datetime | None
    columns: Mapping[str, str]
    timestamps: str
    tz: str
    warnings: tuple[str, ...] = field(default=())

    @property
    def rows_rejected(self) -> int:
        """Rows set aside, all reasons together."""
        return sum(self.rejected.values())

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (the shape ``cfnb check --json`` prints)."""
        out = asdict(self)
        out["rejected"] = dict(self.rejected)
        out["rows_rejected"] = self.rows_rejected
        out["columns"] = dict(self.columns)
        out["events"] = [{"event": e, "count": n} for e, n in self.event_counts]
        del out["event_counts"]
        out["duplicates"] = {
            "count": self.duplicates,
            "policy": self.duplicate_policy,
            "dropped": self.duplicates_dropped,
        }
        del out["duplicate_policy"], out["duplicates_dropped"]
        out["first_ts"] = _iso(self.first_ts)
        out["last_ts"] = _iso(self.last_ts)
        out["warnings"] = list(self.warnings)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def lines(self) -> list[str]:
        """The report as short lines of text, for terminals and notebooks."""
        out = [
            f"source        {self.source} ({self.format})",
            f"columns       user={self.columns['user']!r} event={self.columns['event']!r} ts={self.columns['ts']!r}",
            f"timestamps    {self.timestamps}",
            f"rows read     {self.rows_read:,}",
            f"rows loaded   {self.rows_loaded:,}",
            f"rows rejected {self.rows_rejected:,}",
        ]
        out += [f"  {reason:<22} {n:,}" for reason, n in self.rejected.items()]
        out.append(
            f"duplicates    {self.duplicates:,} exact duplicate rows ({self.duplicate_policy})"
        )
        out.append(f"users         {self.users:,}")
        out.append(f"time range    {_iso(self.first_ts)} … {_iso(self.last_ts)} (UTC)")
        out.append(f"event names   {len(self.event_counts):,}")
        out += [f"  {name:<22} {n:,}" for name, n in self.event_counts[:20]]
        if len(self.event_counts) > 20:
            out.append(f"  … and {len(self.event_counts) - 20} more")
        out += [f"warning       {w}" for w in self.warnings]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(str(self)) + "</pre>"


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class EventLog:
    """An event log loaded into an embedded DuckDB database.

    Made by :func:`cfnb.load`; not built directly. The log never changes after loading,
    so the frames it hands out are computed once and shared.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        report: LoadReport | Callable[[], LoadReport],
        *,
        source: str | None = None,
    ) -> None:
        self._con = con
        self._report = report
        self._source = source
        self._events = DuckSource(con)

    @property
    def report(self) -> LoadReport:
        """The load report: rows read, loaded, rejected by reason, duplicates, users, time range.

        Its exact duplicate and distinct-user counts each take a pass over every row, so
        the loader leaves the report to be made here, the first time it is asked for.
        """
        if not isinstance(self._report, LoadReport):
            self._report = self._report()
        return self._report

    @property
    def source(self) -> str:
        """Where the events came from: the file, files or kind of frame (as in the report)."""
        return self._source if self._source is not None else self.report.source

    @cached_property
    def events(self) -> pl.DataFrame:
        """The loaded events: ``user_id``, ``event``, ``ts`` (UTC), then the properties.

        The whole table as one Polars frame, made when first asked for (cfnb's own
        metrics read the table through :meth:`event_source` instead).
        """
        return self._events.frame()

    def event_source(self) -> DuckSource:
        """The table as the engine reads it: the log index, and columns on demand."""
        return self._events

    @cached_property
    def rejected(self) -> pl.DataFrame:
        """Every rejected row, ordered as in the source.

        Columns: ``file``; ``row``, the 1-based record number within the file (header and
        blank lines excluded); ``line``, the physical line where known (JSON Lines and
        whitespace-separated files, malformed CSV lines), else null; ``reason``;
        ``detail``; ``raw``, the row's original values as JSON, or the raw text of a
        malformed line. :mod:`cfnb.loading` defines records and reasons.
        """
        return self._frame("SELECT * FROM __rejected ORDER BY file, row, reason")

    @property
    def schema(self) -> dict[str, pl.DataType]:
        """Column name → Polars dtype of :attr:`events` (without reading the rows)."""
        return dict(self._events.schema)

    def event_names(self) -> pl.DataFrame:
        """Event names with their number of events and of distinct users, most frequent first."""
        return self._frame(
            # Names are stored as an ENUM: they are shown, and sorted, as text.
            "SELECT event::VARCHAR AS event, count(*) AS events, count(DISTINCT user_id) AS users "
            "FROM events GROUP BY ALL ORDER BY events DESC, event"
        )

    def _frame(self, sql: str) -> pl.DataFrame:
        # DuckDB's stubs type ``.pl()`` loosely; the annotation is the contract.
        frame: pl.DataFrame = self._con.sql(sql).pl()
        return frame

    @property
    def time_range(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """First and last event time (UTC)."""
        return self.report.first_ts, self.report.last_ts

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The log's own DuckDB connection (read it; do not change its tables)."""
        return self._con

    def __len__(self) -> int:
        return self.report.rows_loaded

    def __repr__(self) -> str:
        r = self.report
        return (
            f"<EventLog {r.source}: {r.rows_loaded:,} events, {r.users:,} users, "
            f"{len(r.event_counts)} event names, {r.rows_rejected:,} rejected>"
        )

    def _repr_html_(self) -> str:
        return self.report._repr_html_()
