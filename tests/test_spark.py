"""Spark backend equality: the same specs on the same logs give identical results on Spark.

Every test loads one generated log twice, locally (``cfnb.load(frame)``) and as a Spark
DataFrame on a local[2] session (``cfnb.load(spark_frame)``), and requires the same
load report and the same result, exactly, from every metric in both funnel modes, by
cohort and by segment; that edits of limits, period, segment and target never run a
Spark pass; and that notebook 02 runs unchanged once its load call is swapped.

Select them with ``pytest -m spark``; they skip (saying why) without pyspark or Java.
One SparkSession serves the whole test session (local[2], 4 shuffle partitions, no UI;
its session time zone is New York on purpose: it must not change any result).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import cfnb
from cfnb import Factory, Stage, event, event_in, prop
from cfnb.eventlog import EventLog
from cfnb.explorer import default_factory, explore

pyspark = pytest.importorskip(
    "pyspark", reason="pyspark is not installed: pip install -e '.[test]'"
)
if shutil.which("java") is None and "JAVA_HOME" not in os.environ:
    pytest.skip("no Java runtime for Spark: install openjdk-17-jre", allow_module_level=True)

from cfnb.spark import SparkEventLog  # noqa: E402  (after the skips above)

pytestmark = [
    pytest.mark.spark,
    # pyspark notes that it does not fully support pandas 3; cfnb moves data as Arrow.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

MODES = ("lifecycle", "best_path")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    # The executors' Python must be this one: it is where cfnb is installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("cfnb-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.session.timeZone", "America/New_York")
        # Tiny jobs: the JVM's quick compiler and no adaptive re-planning start faster.
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1")
        .config("spark.sql.adaptive.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def on_spark(spark: Any, frame: pl.DataFrame, **options: Any) -> SparkEventLog:
    log = cfnb.load(spark.createDataFrame(frame.to_arrow()), **options)
    assert isinstance(log, SparkEventLog)
    return log


def same(a: Any, b: Any) -> None:
    """Two metric results are equal: their tables exactly, and their JSON form."""
    for name in ("table", "by_age", "overall", "links"):
        if hasattr(a, name):
            assert_frame_equal(getattr(a, name), getattr(b, name))
    if hasattr(a, "to_dict"):
        assert a.to_dict() == b.to_dict()


def same_report(local: EventLog, remote: EventLog) -> None:
    a, b = local.report.to_dict(), remote.report.to_dict()
    assert b["format"] == "spark"
    assert {**a, "source": None, "format": None} == {**b, "source": None, "format": None}


@pytest.fixture(scope="module")
def generated() -> pl.DataFrame:
    return cfnb.datasets.generate(users=2000, seed=1, weeks=12).events


@pytest.fixture(scope="module")
def logs(spark: Any, generated: pl.DataFrame) -> tuple[EventLog, SparkEventLog]:
    return cfnb.load(generated), on_spark(spark, generated)


@pytest.fixture(scope="module")
def spec() -> Factory:
    return Factory.from_toml(cfnb.datasets.sample_path("spec"))


# ---------------------------------------------------------------------------- loading


def test_load_report_schema_and_event_names_match(logs: tuple[EventLog, SparkEventLog]) -> None:
    local, remote = logs
    same_report(local, remote)
    assert remote.schema == local.schema
    assert_frame_equal(remote.event_names(), local.event_names())
    assert remote.report.source == "Spark DataFrame"


def test_the_events_stay_on_spark(logs: tuple[EventLog, SparkEventLog]) -> None:
    _, remote = logs
    with pytest.raises(cfnb.spark.EventsOnSparkError, match="never collected to the driver"):
        _ = remote.events
    assert remote.sample(3).columns == list(remote.schema)


def test_file_options_and_empty_frames_are_refused(spark: Any, generated: pl.DataFrame) -> None:
    frame = spark.createDataFrame(generated.head(5).to_arrow())
    with pytest.raises(cfnb.errors.UnsupportedSourceError, match="delimiter cannot apply"):
        cfnb.load(frame, delimiter=";")
    with pytest.raises(cfnb.errors.EmptyFileError, match="no rows"):
        cfnb.load(frame.limit(0))


def messy() -> pl.DataFrame:
    """Rows for every rejection reason, blank ids, float ids, and every time shape."""
    return pl.DataFrame(
        {
            "uid": ["a", "a", " ", None, "b", "b", "c", "c", "d", "d", "d", "e"],
            "name": [
                "visit",
                "buy",
                "visit",
                "visit",
                "",
                "visit",
                "visit",
                "buy",
                "visit",
                "visit",
                "visit",
                "visit",
            ],
            "when": [
                "2026-01-05T09:00:00Z",
                "2026-01-05 10:00:00+02:00",
                "2026-01-05",
                "2026-01-05",
                "2026-01-06",
                "2026-03-08 02:30:00",  # a New York spring-forward gap
                "2026-11-01 01:30:00",  # a New York fall-back overlap
                "not a time",
                "  ",
                "2026-01-07T10:00:00.123456",
                "2026-01-07T10:00:00.123456",  # an exact duplicate
                "2026-01-08T10:00:00 America/Chicago",
            ],
            "amount": [None, 12.5, None, None, None, 3.0, None, None, None, None, None, 1.0],
            "n": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 12],
        }
    )


@pytest.mark.parametrize(
    ("shape", "options"),
    [
        ("iso text", {"tz": "America/New_York"}),
        ("iso text, drop duplicates", {"duplicates": "drop"}),
        ("epoch ms", {}),
        ("float user ids and epoch seconds", {}),
        ("yyyymmdd", {}),
        ("naive datetimes", {"tz": "America/New_York"}),
        ("dates", {"tz": "Asia/Kolkata"}),
        ("format", {"ts_format": "%d/%m/%Y %H:%M"}),
    ],
)
def test_loader_rules_match_the_local_loader(
    spark: Any, shape: str, options: dict[str, Any]
) -> None:
    from pyspark.sql import functions as F

    frame = messy()
    cast: Any = None
    if shape == "epoch ms":
        frame = frame.with_columns(when=pl.col("n") * 86_400_000 + 1_767_225_600_000)
    elif shape.startswith("float user ids"):
        frame = frame.with_columns(
            uid=pl.Series([1.0, 1.0, None, float("nan"), 2.5, 2.5, 3.0, 3.0, 4.0, 4.0, 4.0, 5.0]),
            when=pl.col("n").cast(pl.Float64) * 86_400.5 + 1_767_225_600,
        )
    elif shape == "yyyymmdd":
        frame = frame.with_columns(when=pl.col("n") + 20260100)
    elif shape == "naive datetimes":
        cast = "timestamp_ntz"
    elif shape == "dates":
        cast = "date"
    elif shape == "format":
        frame = frame.with_columns(
            when=pl.Series(["05/01/2026 09:30", "x", *["06/01/2026 10:00"] * 10])
        )
    source = spark.createDataFrame(frame.to_arrow())
    if cast is not None:
        source = source.withColumn("when", F.col("when").try_cast(cast))
        frame = pl.from_arrow(source.toArrow())  # the same typed values, locally
        assert isinstance(frame, pl.DataFrame)
    mapping = {"user": "uid", "event": "name", "ts": "when"}
    local = cfnb.load(frame, **mapping, **options)
    remote = cfnb.load(source, **mapping, **options)
    same_report(local, remote)
    assert remote.schema == local.schema
    from_spark = pl.from_arrow(remote.spark.toArrow())  # a test may look at the rows
    assert isinstance(from_spark, pl.DataFrame)
    assert_frame_equal(
        from_spark.with_columns(pl.col("ts").dt.convert_time_zone("UTC")).sort(pl.all()),
        local.events.sort(pl.all()),
    )


# ---------------------------------------------------------------------------- metrics


RETENTIONS = (
    {},
    {"period": "month"},
    {"mode": "on_or_after"},
    {"cohort_by": "activation"},
)


@pytest.mark.parametrize("mode", MODES)
def test_every_metric_is_identical_on_spark(
    logs: tuple[EventLog, SparkEventLog], spec: Factory, mode: str
) -> None:
    factory = spec.replace(mode=mode)
    local, remote = (factory.run(log) for log in logs)
    assert_frame_equal(local.journeys.table.sort("user_id"), remote.journeys.table.sort("user_id"))
    for by in (None, "cohort", "channel"):
        same(local.funnel(by=by), remote.funnel(by=by))
    same(local.funnel_trend(), remote.funnel_trend())
    same(local.time_to_convert("Activation"), remote.time_to_convert("Activation"))
    for options in RETENTIONS:
        same(local.retention(**options), remote.retention(**options))
    same(local.retention_curve(), remote.retention_curve())
    same(local.throughput(), remote.throughput())
    same(local.business_stage(), remote.business_stage())
    same(local.constraint(), remote.constraint())
    same(local.constraint_by_segment("channel"), remote.constraint_by_segment("channel"))
    same(local.revenue(), remote.revenue())
    same(local.referral(), remote.referral())
    same(local.activation_effect(), remote.activation_effect())
    same(local.activation_candidates(), remote.activation_candidates())
    retained = {"retained": event("session"), "first_days": 3}
    same(local.activation_candidates(**retained), remote.activation_candidates(**retained))
    assert local.to_dict() == remote.to_dict()


@pytest.fixture(scope="module")
def tied_logs(spark: Any) -> tuple[EventLog, SparkEventLog]:
    """Times cut to 6 hours: many of a user's events tie, and exact duplicates abound."""
    raw = cfnb.datasets.generate(users=1000, seed=4, weeks=10).events
    frame = raw.with_columns(pl.col("ts").dt.truncate("6h"))
    return cfnb.load(frame), on_spark(spark, frame)


OVERLAPPING = Factory(
    [
        Stage("Acquisition", event_in("visit", "page_view"), times=2),
        Stage("Two views", "page_view", times=2, within="3d"),
        Stage("View", "page_view"),
        Stage("Revenue", event("purchase") & (prop("amount") > 10)),
    ],
    window="4w",
    segment_by=["channel", "plan"],
)


@pytest.mark.parametrize("mode", MODES)
def test_ties_and_duplicates_give_identical_journeys(
    tied_logs: tuple[EventLog, SparkEventLog], mode: str
) -> None:
    factory = OVERLAPPING.replace(mode=mode)
    local, remote = (factory.run(log) for log in tied_logs)
    assert_frame_equal(local.journeys.table.sort("user_id"), remote.journeys.table.sort("user_id"))
    same(local.funnel(by="plan"), remote.funnel(by="plan"))
    same(local.retention(cohort_by=2), remote.retention(cohort_by=2))
    same(local.throughput(), remote.throughput())
    same(local.constraint(), remote.constraint())


# ---------------------------------------------------------------------------- edits


@pytest.mark.parametrize("mode", MODES)
def test_journeys_only_edits_never_go_back_to_spark(
    logs: tuple[EventLog, SparkEventLog], spec: Factory, mode: str
) -> None:
    local_log, remote_log = logs
    factory = spec.replace(mode=mode)
    local, remote = factory.run(local_log), factory.run(remote_log)
    remote.retention()
    backend = remote_log.backend()
    before = backend.passes
    for edited in (
        factory.replace(window="3w"),
        factory.replace(period="month"),
        factory.replace(segment_by=["plan"]),
        factory.with_stage("Activation", target=0.6, within="3d"),
    ):
        a, b = local.with_factory(edited), remote.with_factory(edited)
        for metric in ("funnel", "constraint", "throughput", "retention"):
            same(getattr(a, metric)(), getattr(b, metric)())
    assert backend.passes == before
    # A stage's condition moves the chains: one pass rebuilds them on Spark.
    edited = factory.with_stage("Revenue", match=event("invite_sent"))
    a, b = local.with_factory(edited), remote.with_factory(edited)
    assert backend.passes == before + 1
    same(a.funnel(), b.funnel())
    same(a.constraint(), b.constraint())


def test_the_explorer_opens_and_edits_a_spark_log(
    logs: tuple[EventLog, SparkEventLog], spec: Factory
) -> None:
    local_log, remote_log = logs
    assert default_factory(remote_log) == default_factory(local_log)
    local, remote = explore(local_log, spec, debounce=0), explore(remote_log, spec, debounce=0)
    try:
        assert remote.summary.value == local.summary.value
        before = remote_log.backend().passes
        for ex in (local, remote):
            ex.factory = spec.replace(window="3w")
        assert remote_log.backend().passes == before
        assert remote.summary.value == local.summary.value
        for name in ("chain", "funnel", "throughput", "retention"):
            spec_of = {ex: ex.charts[name].spec for ex in (local, remote)}
            assert spec_of[local] == spec_of[remote]
    finally:
        local.close()
        remote.close()


# ---------------------------------------------------------------------------- notebook


def notebook_code(name: str) -> list[str]:
    path = cfnb.datasets.data_dir().parent / "notebooks" / name
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def run_cells(cells: list[str], namespace: dict[str, Any]) -> dict[str, Any]:
    for source in cells:
        exec(compile(source, "<notebook cell>", "exec"), namespace)
    return namespace


def test_notebook_02_runs_unchanged_on_spark(spark: Any) -> None:
    import altair as alt

    cells = notebook_code("02-customer-factory.ipynb")
    load = "log = cfnb.datasets.load_sample()"
    assert load in cells[0]
    swapped = cells[0].replace(
        load, "log = cfnb.load(spark.read.parquet(str(cfnb.datasets.sample_path('parquet'))))"
    )
    renderer = alt.renderers.active
    try:
        local = run_cells(cells, {})
        remote = run_cells([swapped, *cells[1:]], {"spark": spark})
    finally:
        alt.renderers.enable(renderer)
    assert isinstance(remote["log"], SparkEventLog)
    for name in ("effect", "candidates", "revenue", "referral", "throughput", "stage"):
        same(local[name], remote[name])
    for chart in (cfnb.funnel_chart, cfnb.chain_chart):
        drawn = [
            chart(ns["result"].constraint() if chart is cfnb.chain_chart else ns["result"].funnel())
            for ns in (local, remote)
        ]
        assert drawn[0].to_dict() == drawn[1].to_dict()


def test_cfnb_works_without_importing_pyspark() -> None:
    code = (
        "import sys, polars as pl, cfnb\n"
        "log = cfnb.load(pl.DataFrame({'user_id': ['a'], 'event': ['visit'], "
        "'ts': ['2026-01-05T00:00:00Z']}))\n"
        "cfnb.Factory([cfnb.Stage('Visit', 'visit')]).run(log).funnel()\n"
        "assert 'pyspark' not in sys.modules, 'pyspark was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
