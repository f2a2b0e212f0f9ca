"""The Spark backend's split, without Spark: partitions of users computed in this process.

:class:`InProcess` is the real :class:`cfnb.spark.backend.SparkBackend` with one thing
replaced: a pass runs :func:`cfnb.spark.partition.compute` over a list of Polars
partitions instead of Spark's. So everything the executors and the driver do (the
journeys engine per partition, the exported chains, their import, the re-based activity,
the reduced frames the metrics read) is checked here against the local engine, fast and
with no JVM; ``tests/test_spark.py`` checks the same on Spark itself.
"""

from __future__ import annotations

import datetime as dt
import doctest
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import cfnb
import cfnb.backend
import cfnb.spark
import cfnb.spark.journeys
from cfnb import Factory, Stage, any_event, event, event_in, prop
from cfnb.analysis import FactoryRun
from cfnb.spark.backend import SparkBackend
from cfnb.spark.journeys import SparkJourneys, needs_events
from cfnb.spark.partition import Task, compute

MODES = ("lifecycle", "best_path")


class InProcess(SparkBackend):
    """A Spark backend whose passes run over in-memory partitions of users.

    Only the execution is replaced: which wants a pass carries, which columns it reads
    (pruned as on Spark) and what the driver makes of the tables are the real backend's.
    """

    def __init__(self, events: pl.DataFrame, parts: int = 3) -> None:
        bucket = events["user_id"].hash(11) % parts
        self.parts = [events.filter(bucket == i) for i in range(parts)]
        counts = {str(k): int(v) for k, v in events.group_by("event").len().iter_rows()}
        last: dt.datetime = events["ts"].max()  # type: ignore[assignment]
        super().__init__(None, dict(events.schema), counts, last, lambda: RuntimeError("on Spark"))  # type: ignore[arg-type]

    def _execute(self, task: Task, columns: list[str] | None) -> list[list[pl.DataFrame]]:
        out: list[list[pl.DataFrame]] = [[] for _ in task.wants]
        for part in self.parts:
            if part.height:
                events = part if columns is None else part.select(columns)
                for i, table in enumerate(compute(events, task)):
                    out[i].append(table)
        return out


def split_run(factory: Factory, events: pl.DataFrame, parts: int = 3) -> FactoryRun:
    backend = InProcess(events, parts)
    return FactoryRun(factory, backend, backend.journeys(factory))


def same(a: Any, b: Any) -> None:
    """Two metric results are equal: their tables exactly, and their JSON form."""
    for name in ("table", "by_age", "overall", "links"):
        if hasattr(a, name):
            assert_frame_equal(getattr(a, name), getattr(b, name))
    if hasattr(a, "to_dict"):
        assert a.to_dict() == b.to_dict()


def same_journeys(a: FactoryRun, b: FactoryRun) -> None:
    assert_frame_equal(a.journeys.table.sort("user_id"), b.journeys.table.sort("user_id"))


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return cfnb.load(cfnb.datasets.generate(users=1500, seed=1, weeks=12).events).events


@pytest.fixture(scope="module")
def tied() -> pl.DataFrame:
    """Times cut to 6 hours: many of a user's events tie, and exact duplicates abound."""
    raw = cfnb.datasets.generate(users=1000, seed=4, weeks=10).events
    return cfnb.load(raw.with_columns(pl.col("ts").dt.truncate("6h"))).events


@pytest.fixture(scope="module")
def spec() -> Factory:
    return Factory.from_toml(cfnb.datasets.sample_path("spec"))


RETENTIONS = (
    {},
    {"period": "month"},
    {"period": "day", "max_periods": 20},
    {"mode": "on_or_after"},
    {"cohort_by": "activation"},
    {"cohort_by": 2, "period": "month"},
)


@pytest.mark.parametrize("mode", MODES)
def test_every_metric_equals_the_local_engine(
    events: pl.DataFrame, spec: Factory, mode: str
) -> None:
    factory = spec.replace(mode=mode)
    local, split = factory.run(events), split_run(factory, events)
    same_journeys(local, split)
    for by in (None, "cohort", "channel"):
        same(local.funnel(by=by), split.funnel(by=by))
    for options in RETENTIONS:
        same(local.retention(**options), split.retention(**options))
    same(local.throughput(), split.throughput())
    same(local.constraint(), split.constraint())
    same(local.revenue(), split.revenue())
    same(local.referral(), split.referral())
    same(local.activation_effect(), split.activation_effect())
    same(local.activation_candidates(), split.activation_candidates())
    retained = {"retained": event("session"), "first_days": 3}
    same(local.activation_candidates(**retained), split.activation_candidates(**retained))


TIE_SPECS = (
    # one event name in three stages, times=2, any event, a property condition
    Factory(
        [
            Stage("Acquisition", "visit"),
            Stage("Two views", "page_view", times=2),
            Stage("View", "page_view"),
            Stage("Anything", any_event()),
            Stage("Revenue", event("purchase") & (prop("amount") > 10)),
        ],
        window="4w",
        segment_by=["channel", "plan"],
    ),
    Factory(
        [
            Stage("Acquisition", event_in("visit", "page_view"), times=2),
            Stage("Session", "session", within="3d"),
            Stage("Busy", event_in("session", "page_view"), times=3, within="7d"),
        ],
        period="day",
    ),
    Factory([Stage("Acquisition", "visit")], period="month"),
)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("factory", TIE_SPECS, ids=["overlapping", "times", "one-stage"])
def test_ties_and_duplicates_split_exactly(tied: pl.DataFrame, factory: Factory, mode: str) -> None:
    factory = factory.replace(mode=mode)
    local, split = factory.run(tied), split_run(factory, tied, parts=4)
    same_journeys(local, split)
    same(local.funnel(), split.funnel())
    for options in ({}, {"mode": "on_or_after"}, {"cohort_by": len(factory.stages) - 1}):
        same(local.retention(**options), split.retention(**options))
    same(local.revenue(), split.revenue())


def driver_edits(factory: Factory) -> list[Factory]:
    last = len(factory.stages) - 1
    return [
        factory.replace(window="2w"),
        factory.replace(window=None),
        factory.replace(period="month"),
        factory.replace(segment_by=["plan"]),
        factory.with_stage(last, within="1d"),
        factory.with_stage(1, target=0.6),
        factory.replace(stages=factory.stages[:-1]),
    ]


@pytest.mark.parametrize("mode", MODES)
def test_limit_period_segment_target_edits_need_no_pass(
    tied: pl.DataFrame, spec: Factory, mode: str
) -> None:
    factory = spec.replace(mode=mode)
    local, split = factory.run(tied), split_run(factory, tied)
    split.retention()
    before = split.backend.passes  # type: ignore[attr-defined]
    for edited in driver_edits(factory):
        assert not needs_events(factory, edited)
        a, b = local.with_factory(edited), split.with_factory(edited)
        assert isinstance(b.journeys, SparkJourneys)
        same_journeys(a, b)
        same(a.funnel(), b.funnel())
        same(a.constraint(), b.constraint())
        same(a.throughput(), b.throughput())
        for options in ({}, {"mode": "on_or_after"}, {"cohort_by": 1}):
            # best_path window edits move some reach_0: the activity is re-based here
            same(a.retention(**options), b.retention(**options))
    assert split.backend.passes == before  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", MODES)
def test_stage_edits_rebuild_in_one_pass(events: pl.DataFrame, spec: Factory, mode: str) -> None:
    factory = spec.replace(mode=mode)
    local, split = factory.run(events), split_run(factory, events)
    other = "best_path" if mode == "lifecycle" else "lifecycle"
    for edited in (
        factory.with_stage("Activation", match=event("signup")),
        factory.with_stage("Acquisition", match=event_in("visit", "page_view")),
        factory.with_stage("Retention", times=2),
        factory.add_stage(Stage("Settings", "settings_opened")),
        factory.replace(mode=other),
    ):
        assert needs_events(factory, edited)
        before = split.backend.passes  # type: ignore[attr-defined]
        a, b = local.with_factory(edited), split.with_factory(edited)
        assert split.backend.passes == before + 1  # type: ignore[attr-defined]
        same_journeys(a, b)
        same(a.funnel(), b.funnel())
        same(a.retention(), b.retention())


def test_per_user_inputs_are_cached_while_reach_0_stays(
    events: pl.DataFrame, spec: Factory
) -> None:
    split = split_run(spec, events)
    split.revenue()
    passes = split.backend.passes  # type: ignore[attr-defined]
    edited = split.with_factory(spec.replace(window="3w", period="month"))
    edited.revenue()
    assert split.backend.passes == passes  # type: ignore[attr-defined]


def test_the_events_never_reach_the_driver(events: pl.DataFrame, spec: Factory) -> None:
    split = split_run(spec, events)
    with pytest.raises(RuntimeError, match="on Spark"):
        _ = split.events


def test_docstring_examples_run() -> None:
    for module in (cfnb.backend, cfnb.spark, cfnb.spark.journeys):
        assert doctest.testmod(module).failed == 0
