"""The Spark backend: journeys and per-user inputs computed on executors, metrics on the driver.

:class:`SparkBackend` implements :class:`cfnb.backend.Backend` for a log loaded from a
Spark DataFrame. Every question goes to Spark as one pass
(:func:`cfnb.spark.passes.run_pass`) that runs the journeys engine per partition of
users; what comes back is per-user tables only, cached here by what they depend on, so
the explorer's edits reuse them:

* the journeys' raw chains: rebuilt when a stage's condition moves;
* retention's activity relative to each user's first start: depends on the ``active``
  condition and the first stage only, and is re-based on the driver to the journeys'
  ``reach_0`` (which a best_path window edit may move);
* payments, invites, referrers, early events: depend on ``reach_0``, so they are
  reused while every user's ``reach_0`` stays (always, in lifecycle, for limit edits).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Mapping
from functools import partial
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import polars as pl

from cfnb.backend import Need
from cfnb.journeys import Journeys, build_journeys
from cfnb.metrics import retention as _retention
from cfnb.periods import UTC_US
from cfnb.spark import inputs as _inputs
from cfnb.spark._state import export_state, import_state
from cfnb.spark.journeys import SparkJourneys, wrap
from cfnb.spark.partition import (
    ActivityWant,
    ChainsWant,
    Task,
    Want,
    compute,
    needed_columns,
)
from cfnb.spark.passes import run_pass
from cfnb.spec import Factory

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame

__all__ = ["SparkBackend"]


class SparkBackend:
    """Answers a run's questions with passes over ``events``, a user-partitioned Spark frame.

    Made by :meth:`cfnb.spark.SparkEventLog.backend`; one per log, so its caches serve
    every run and edit of that log.
    """

    def __init__(
        self,
        events: SparkDataFrame,
        schema: Mapping[str, pl.DataType],
        event_counts: Mapping[str, int],
        last_ts: dt.datetime | None,
        on_events: Any,
    ) -> None:
        self.spark_events = events
        self._schema = dict(schema)
        self._counts = dict(event_counts)
        self.last_ts = last_ts
        self._on_events = on_events  # raises: the events stay on Spark
        self._activity: dict[Hashable, pl.DataFrame] = {}
        self._inputs: dict[Hashable, tuple[pl.DataFrame, pl.DataFrame]] = {}
        self.passes = 0  # Spark passes run so far (tests and the benchmark read it)
        self.collected_bytes = 0  # in-memory size of every table the passes sent back

    # ------------------------------------------------------------------ Backend

    @property
    def schema(self) -> Mapping[str, pl.DataType]:
        return self._schema

    @property
    def events(self) -> pl.DataFrame:
        raise self._on_events()

    def event_counts(self) -> dict[str, int]:
        return dict(self._counts)

    def empty(self) -> pl.DataFrame:
        """A frame with the events' columns and no row: the driver checks specs on it."""
        return pl.DataFrame(schema=self._schema)

    def journeys(self, factory: Factory) -> SparkJourneys:
        # Spec errors (an unknown segment column, …) are raised here, before any pass.
        build_journeys(self.empty(), factory, last_ts=self.last_ts)
        key = _activity_key(factory, factory.active)
        wants: list[Want] = [ChainsWant()]
        if key is not None and key not in self._activity:
            # Nearly every run asks for retention: its activity rides on the same pass.
            _retention.activity(self.empty(), _no_users(), factory.active)  # checks columns
            wants.append(ActivityWant(factory.active))
        tables = self.run(factory, wants)
        parts = tables[0] or [export_state(build_journeys(self.empty(), factory))]
        _, journeys = import_state(parts, factory, self.last_ts)
        if len(wants) > 1:
            self._activity[key] = _concat(tables[1])
        return wrap(journeys, self)

    def activity(self, journeys: Journeys, active: Any) -> _retention.Activity:
        condition = _retention.activity(self.empty(), _no_users(), active).condition
        factory: Factory = journeys.factory  # type: ignore[assignment]
        key = _activity_key(factory, active)
        base = self._activity.get(key) if key is not None else None
        if base is None:
            base = _concat(self.run(factory, [ActivityWant(active)])[0])
            if key is not None:
                self._activity[key] = base
        return _retention.Activity(table=_rebase(journeys, base), condition=condition)

    def inputs(self, need: Need, journeys: Journeys) -> tuple[pl.DataFrame, dict[str, Any]]:
        return _inputs.inputs(self, need, journeys)

    # ------------------------------------------------------------------ passes

    def run(self, factory: Factory, wants: list[Want]) -> list[list[pl.DataFrame]]:
        """One Spark pass computing ``wants`` for the journeys of ``factory``."""
        self.passes += 1
        task = Task(factory, self.last_ts, tuple(wants))
        tables = self._execute(task, needed_columns(self._schema, task))
        self.collected_bytes += int(sum(t.estimated_size() for parts in tables for t in parts))
        return tables

    def _execute(self, task: Task, columns: list[str] | None) -> list[list[pl.DataFrame]]:
        events = self.spark_events if columns is None else self.spark_events.select(*columns)
        return run_pass(events, partial(compute, task=task), len(task.wants))

    def fetch(self, journeys: Journeys, wants: list[tuple[Hashable, Want]]) -> list[pl.DataFrame]:
        """The tables of ``wants`` for ``journeys``, in one pass for those not cached.

        A table is cached under its key while every user's ``reach_0`` stays; a key that
        cannot be hashed (it holds a Polars expression) is computed every time.
        """
        users = journeys.table.select("user_id", "reach_0")
        out: list[pl.DataFrame | None] = []
        for key, _ in wants:
            cached = self._inputs.get(key) if _hashable(key) else None
            out.append(cached[1] if cached is not None and cached[0].equals(users) else None)
        missing = [i for i, table in enumerate(out) if table is None]
        if missing:
            factory: Factory = journeys.factory  # type: ignore[assignment]
            tables = self.run(factory, [wants[i][1] for i in missing])
            for i, parts in zip(missing, tables, strict=True):
                out[i] = table = _concat(parts)
                if _hashable(wants[i][0]):
                    self._inputs[wants[i][0]] = (users, table)
        return [table for table in out if table is not None]


def _concat(parts: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(parts, how="vertical") if parts else pl.DataFrame()


def _hashable(key: object) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True


def _no_users() -> SimpleNamespace:
    return SimpleNamespace(table=pl.DataFrame(schema={"user_id": pl.String, "reach_0": UTC_US}))


def _activity_key(factory: Factory, active: Any) -> Hashable | None:
    # The first start of a user depends on the first stage only (not on the mode).
    first = factory.stages[0]
    key = ("activity", active, first.match, first.times)
    return key if _hashable(key) else None  # a Polars expression as condition: not cached


def _rebase(journeys: Journeys, base: pl.DataFrame) -> pl.DataFrame:
    """Activity offsets measured from each user's first start, moved to their ``reach_0``."""
    users = journeys.table.select("user_id", pl.col("reach_0").cast(UTC_US))
    empty = pl.lit([], dtype=pl.List(pl.Int64))
    if base.height == 0:
        return users.with_columns(offsets=empty)
    table = users.join(base, on="user_id", how="left", maintain_order="left").with_columns(
        __delta=(pl.col("reach_0") - pl.col("__base")).dt.total_microseconds()
    )
    if table["__delta"].fill_null(0).eq(0).all():  # lifecycle: reach_0 is the first start
        moved = pl.col("offsets")
    else:
        shifted = pl.col("offsets") - pl.col("__delta")
        moved = shifted.list.eval(pl.element().filter(pl.element() >= 0))
    return table.select("user_id", "reach_0", offsets=moved.fill_null(empty))
