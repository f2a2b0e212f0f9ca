"""The funnel metric: counts, rates, step times, cohorts, segments, trend, time to convert."""

from __future__ import annotations

import datetime as dt
import doctest
import math
import random

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from reference import funnel_reference, random_factory, random_log

import cfnb.metrics.funnel
from cfnb.journeys import build_journeys
from cfnb.metrics.funnel import TIME_BINS, funnel, funnel_trend, time_to_convert
from cfnb.spec import Factory, SpecError, Stage

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)  # a Monday
STAGES = [Stage("Visit", "visit"), Stage("Signup", "signup"), Stage("Pay", "pay")]
FUNNEL_COLUMNS = [
    "stage",
    "step",
    "users",
    "rate",
    "overall_rate",
    "dropped",
    "median_seconds",
    "p25_seconds",
    "p75_seconds",
]


def log(
    *rows: tuple[str, str, dt.timedelta], channel: list[str | None] | None = None
) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "event": [r[1] for r in rows],
            "ts": [T0 + r[2] for r in rows],
        },
        schema={"user_id": pl.String, "event": pl.String, "ts": pl.Datetime("us", "UTC")},
    )
    if channel is not None:
        frame = frame.with_columns(pl.Series("channel", channel, dtype=pl.String))
    return frame


def h(hours: float) -> dt.timedelta:
    return dt.timedelta(hours=hours)


def d(days: float) -> dt.timedelta:
    return dt.timedelta(days=days)


EVENTS = log(
    ("a", "visit", h(0)),
    ("a", "signup", h(1)),
    ("a", "pay", h(5)),
    ("b", "visit", h(0)),
    ("b", "signup", h(3)),
    ("c", "visit", d(8)),  # second week
    ("c", "signup", d(8) + h(2)),
    ("c", "pay", d(8) + h(3)),
    ("e", "visit", d(9)),
    channel=["ads", None, None, "seo", None, "ads", None, None, None],
)


def test_docstrings_run() -> None:
    assert doctest.testmod(cfnb.metrics.funnel).failed == 0


def test_funnel_counts_rates_and_step_times() -> None:
    result = funnel(build_journeys(EVENTS, Factory(STAGES)))
    assert result.table.columns == FUNNEL_COLUMNS
    assert result.by is None
    assert result.stages == ("Visit", "Signup", "Pay")
    rows = result.to_dicts()
    assert [r["users"] for r in rows] == [4, 3, 2]
    assert rows[0]["rate"] is None
    assert rows[0]["dropped"] is None
    assert rows[0]["overall_rate"] == 1.0
    assert rows[1]["rate"] == pytest.approx(3 / 4)
    assert rows[2]["rate"] == pytest.approx(2 / 3)
    assert rows[2]["overall_rate"] == pytest.approx(2 / 4)
    assert [r["dropped"] for r in rows] == [None, 1, 1]
    # Signup delays: 1 h, 3 h, 2 h -> median 2 h; quartiles 1.5 h and 2.5 h.
    assert rows[1]["median_seconds"] == 7200
    assert rows[1]["p25_seconds"] == 5400
    assert rows[1]["p75_seconds"] == 9000
    # Pay delays: 4 h and 1 h -> median is the mean of the two.
    assert rows[2]["median_seconds"] == 2.5 * 3600
    assert rows[0]["median_seconds"] is None


def test_funnel_by_cohort_splits_by_week_of_acquisition() -> None:
    table = funnel(build_journeys(EVENTS, Factory(STAGES)), by="cohort").table
    assert table.columns == ["cohort", *FUNNEL_COLUMNS]
    assert table.schema["cohort"] == pl.Date
    got = table.select("cohort", "step", "users").rows()
    assert got == [
        (dt.date(2024, 1, 1), 0, 2),
        (dt.date(2024, 1, 1), 1, 2),
        (dt.date(2024, 1, 1), 2, 1),
        (dt.date(2024, 1, 8), 0, 2),
        (dt.date(2024, 1, 8), 1, 1),
        (dt.date(2024, 1, 8), 2, 1),
    ]
    assert table["rate"].to_list()[:3] == [None, 1.0, 0.5]


def test_funnel_by_segment_keeps_nulls_as_a_group_last() -> None:
    journeys = build_journeys(EVENTS, Factory(STAGES, segment_by=["channel"]))
    table = funnel(journeys, by="channel").table
    assert table.select("channel", "users").rows() == [
        ("ads", 2),
        ("ads", 2),
        ("ads", 2),
        ("seo", 1),
        ("seo", 1),
        ("seo", 0),
        (None, 1),
        (None, 0),
        (None, 0),
    ]
    assert table.filter(pl.col("channel") == "seo")["rate"].to_list() == [None, 1.0, 0.0]
    assert table.filter(pl.col("channel").is_null())["rate"].to_list() == [None, 0.0, None]


def test_funnel_by_unknown_column_lists_the_choices() -> None:
    journeys = build_journeys(EVENTS, Factory(STAGES, segment_by=["channel"]))
    with pytest.raises(SpecError, match=r"by: cannot split .* 'chanel'.*'channel'"):
        funnel(journeys, by="chanel")
    with pytest.raises(SpecError, match="add segment_by"):
        funnel(build_journeys(EVENTS, Factory(STAGES)), by="channel")


@pytest.mark.parametrize("mode", ["lifecycle", "best_path"])
def test_funnel_equals_reference_loops(mode: str) -> None:
    rng = random.Random(f"funnel-{mode}")
    for _ in range(80):
        events, factory = random_log(rng), random_factory(rng, mode=mode)
        journeys = build_journeys(events, factory)
        got = funnel(journeys).to_dicts()
        want = funnel_reference(journeys.table, len(factory.stages))
        for g, w in zip(got, want, strict=True):
            for key, value in w.items():
                if value is None or g[key] is None:
                    assert g[key] is value, (key, g, w)
                else:
                    assert math.isclose(g[key], value), (key, g, w)


def test_empty_journeys_give_a_zero_user_funnel() -> None:
    empty = build_journeys(log(), Factory(STAGES, segment_by=()))
    table = funnel(empty).table
    assert table["users"].to_list() == [0, 0, 0]
    assert table["rate"].null_count() == 3
    assert table["overall_rate"].null_count() == 3
    assert table["median_seconds"].null_count() == 3
    assert table["dropped"].to_list() == [None, 0, 0]
    assert funnel(empty, by="cohort").table.height == 0
    assert funnel_trend(empty).table.height == 0
    ttc = time_to_convert(empty, "Signup")
    assert ttc.users == 0
    assert ttc.table["users"].sum() == 0
    assert ttc.table["share"].null_count() == len(TIME_BINS)


def test_funnel_trend_fills_every_period_and_flags_complete_cohorts() -> None:
    events = pl.concat([EVENTS.drop("channel"), log(("f", "visit", d(22)), ("g", "noise", d(24)))])
    journeys = build_journeys(events, Factory(STAGES, window="3d"))
    result = funnel_trend(journeys)
    table = result.table
    assert table.columns == ["cohort", *FUNNEL_COLUMNS, "complete"]
    weeks = table.filter(pl.col("step") == 0).select("cohort", "users", "complete").rows()
    # last_ts is day 24 (Thursday of week 4); the 3-day window after week 3 ends on day 24.
    assert weeks == [
        (dt.date(2024, 1, 1), 2, True),
        (dt.date(2024, 1, 8), 2, True),
        (dt.date(2024, 1, 15), 0, True),
        (dt.date(2024, 1, 22), 1, False),
    ]
    empty_week = table.filter(pl.col("cohort") == dt.date(2024, 1, 15))
    assert empty_week["rate"].null_count() == 3
    assert result.period == "week"
    assert "Funnel by week" in result._repr_html_()


def test_time_to_convert_bins_are_fixed_and_half_open() -> None:
    events = log(
        ("a", "visit", h(0)),
        ("a", "signup", dt.timedelta(seconds=59)),
        ("b", "visit", h(0)),
        ("b", "signup", dt.timedelta(seconds=60)),  # exactly 1 min: the 1-5 min bin
        ("c", "visit", h(0)),
        ("c", "signup", d(100)),
        ("c", "pay", d(100) + h(1)),
    )
    journeys = build_journeys(events, Factory(STAGES))
    result = time_to_convert(journeys, 1)
    table = result.table
    assert table.columns == ["bin", "lower_seconds", "upper_seconds", "users", "share"]
    assert table["bin"].to_list() == [b[0] for b in TIME_BINS]
    counts = dict(table.select("bin", "users").rows())
    assert counts["< 1 min"] == 1
    assert counts["1-5 min"] == 1
    assert counts[">= 90 d"] == 1
    assert result.users == 3
    assert table["share"].sum() == pytest.approx(1.0)
    assert table["upper_seconds"][-1] is None
    since_start = dict(
        time_to_convert(journeys, "Pay", since="start").table.select("bin", "users").rows()
    )
    assert since_start[">= 90 d"] == 1
    assert dict(time_to_convert(journeys, "Pay").table.select("bin", "users").rows())["1-3 h"] == 1
    assert "Time to Signup" in result._repr_html_()


def test_time_to_convert_rejects_the_first_stage_and_unknown_names() -> None:
    journeys = build_journeys(EVENTS, Factory(STAGES))
    with pytest.raises(SpecError, match="stage after the first"):
        time_to_convert(journeys, 0)
    with pytest.raises(SpecError, match=r"no stage named 'Sigup'.*did you mean 'Signup'"):
        time_to_convert(journeys, "Sigup")


def test_results_are_frozen_and_export_rows() -> None:
    result = funnel(build_journeys(EVENTS, Factory(STAGES)))
    with pytest.raises(AttributeError):
        result.by = "x"  # type: ignore[misc]
    assert result.to_dicts()[0]["stage"] == "Visit"
    assert "<b>Funnel</b>" in result._repr_html_()
    assert_frame_equal(pl.DataFrame(result.to_dicts()), result.table)
