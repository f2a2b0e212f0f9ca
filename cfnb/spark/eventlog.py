"""An event log whose events stay on Spark: the same face as a local log, minus the rows.

:class:`SparkEventLog` is what :func:`cfnb.load` returns for a PySpark DataFrame. It is an
:class:`~cfnb.eventlog.EventLog`, so ``factory.run(log)``, ``cfnb.explore(log)`` and
the charts take it as they take a local one. What it holds on the driver is small: the
load report, the schema, event counts. The events themselves are a Spark DataFrame
partitioned by user (:attr:`SparkEventLog.spark`); :meth:`SparkEventLog.backend` runs
every journeys computation there (see :mod:`cfnb.spark.backend`).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, cast

import polars as pl

from cfnb.errors import CfnbError
from cfnb.eventlog import EventLog, LoadReport
from cfnb.spark.backend import SparkBackend

if TYPE_CHECKING:
    import duckdb
    from pyspark.sql import DataFrame as SparkDataFrame

__all__ = ["EventsOnSparkError", "SparkEventLog"]


class EventsOnSparkError(CfnbError, RuntimeError):
    """The events of a Spark log were asked for on the driver, where they never go."""


def _on_spark(what: str = "log.events") -> EventsOnSparkError:
    return EventsOnSparkError(
        f"{what}: this log's events live on Spark and are never collected to the driver. "
        "Measure them with factory.run(log) (every metric and chart works from its "
        "result); use log.spark for the Spark DataFrame, or log.sample(n) for a few "
        "rows as Polars."
    )


class SparkEventLog(EventLog):
    """An event log loaded from a Spark DataFrame; made by :func:`cfnb.load`."""

    def __init__(
        self,
        events: SparkDataFrame,
        rejected: SparkDataFrame,
        report: LoadReport,
        schema: dict[str, pl.DataType],
        event_names: pl.DataFrame,
        first_events: pl.DataFrame,
    ) -> None:
        # No DuckDB database: connection and SQL are overridden below to say so.
        super().__init__(cast("duckdb.DuckDBPyConnection", None), report)
        self._spark = events
        self._spark_rejected = rejected
        self._schema = schema
        self._event_names = event_names
        self._first_events = first_events
        self._backend: SparkBackend | None = None

    @property
    def spark(self) -> SparkDataFrame:
        """The loaded events as a Spark DataFrame, hash-partitioned by ``user_id``.

        Columns ``user_id``, ``event``, ``ts`` (UTC instants), then the properties.
        """
        return self._spark

    @property
    def spark_rejected(self) -> SparkDataFrame:
        """Every row rejected while parsing, as a Spark DataFrame (``reason``, ``raw``)."""
        return self._spark_rejected

    def backend(self) -> SparkBackend:
        """The backend every run of this log uses (one per log: its caches are shared)."""
        if self._backend is None:
            self._backend = SparkBackend(
                self._spark,
                self._schema,
                dict(self.report.event_counts),
                self.report.last_ts,
                lambda: _on_spark("the run's events"),
            )
        return self._backend

    @cached_property
    def events(self) -> pl.DataFrame:
        """Not available: the events stay on Spark (raises :class:`EventsOnSparkError`)."""
        raise _on_spark()

    @cached_property
    def rejected(self) -> pl.DataFrame:
        """The first 1,000 rejected rows (``file, row, line, reason, detail, raw``).

        All of them are in :attr:`spark_rejected`; the report counts every one.
        """
        from cfnb.spark.passes import quiet

        with quiet():
            table = self._spark_rejected.limit(1000).toArrow()
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    @cached_property
    def schema(self) -> dict[str, pl.DataType]:
        """Column name → Polars dtype of the events as a run reads them."""
        return dict(self._schema)

    def event_names(self) -> pl.DataFrame:
        """Event names with their number of events and of distinct users, most frequent first."""
        return self._event_names.clone()

    def sample(self, n: int = 10) -> pl.DataFrame:
        """``n`` events as Polars (whichever Spark reads first), to look at the columns."""
        from cfnb.spark.passes import quiet

        with quiet():
            frame = pl.from_arrow(self._spark.limit(n).toArrow())
        assert isinstance(frame, pl.DataFrame)
        return frame.with_columns(pl.col("ts").dt.convert_time_zone("UTC"))

    def first_events(self) -> pl.DataFrame:
        """``event, len``: how many users have each event as their first, most first.

        A user's first event is their earliest; among events at that same instant, the
        one from the earliest source row (counted at load time, with the report).
        """
        return self._first_events.clone()

    def unpersist(self) -> None:
        """Release the executors' cached copy of the partitioned events."""
        self._spark.unpersist()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """Not available: a Spark log has no DuckDB database."""
        raise _on_spark("log.connection")

    def _frame(self, sql: str) -> pl.DataFrame:
        raise _on_spark("SQL on the log")

    def __repr__(self) -> str:
        r = self.report
        return (
            f"<SparkEventLog {r.source}: {r.rows_loaded:,} events, {r.users:,} users, "
            f"{len(r.event_counts)} event names, {r.rows_rejected:,} rejected>"
        )
