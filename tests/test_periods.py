"""Periods: calendar labels (day, ISO week, month, all UTC) and user-relative arithmetic."""

from __future__ import annotations

import calendar
import datetime as dt
import doctest
import zoneinfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cfnb.periods
from cfnb.periods import (
    add_periods,
    check_period,
    complete_periods,
    period_end,
    period_label,
    period_noun,
    period_range,
    period_start,
    whole_periods,
)
from cfnb.spec.errors import SpecError

UTC = dt.UTC


def t(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_weeks_start_on_monday_midnight_utc() -> None:
    stamps = pl.Series(
        [t(2024, 1, 7, 23, 59), t(2024, 1, 8), t(2024, 1, 14, 12)],  # Sun, Mon, Sun
        dtype=pl.Datetime("us", "UTC"),
    )
    assert period_start(stamps, "week").to_list() == [
        dt.date(2024, 1, 1),
        dt.date(2024, 1, 8),
        dt.date(2024, 1, 8),
    ]
    assert period_start(stamps, "day").to_list() == [
        dt.date(2024, 1, 7),
        dt.date(2024, 1, 8),
        dt.date(2024, 1, 14),
    ]
    assert period_start(stamps, "month").to_list() == [dt.date(2024, 1, 1)] * 3


def test_period_start_works_on_expressions_and_python_values() -> None:
    df = pl.DataFrame({"ts": [t(2024, 2, 29, 18)]})
    assert df.select(period_start(pl.col("ts"), "month")).item() == dt.date(2024, 2, 1)
    assert period_start(t(2024, 2, 29, 18), "week") == dt.date(2024, 2, 26)
    assert period_start(dt.date(2024, 2, 29), "day") == dt.date(2024, 2, 29)


def test_other_time_zones_are_read_in_utc() -> None:
    # 1 Jan 2024 01:00 in Karachi (+05:00) is 31 Dec 2023 20:00 UTC: still 2023.
    karachi = dt.datetime(2024, 1, 1, 1, tzinfo=zoneinfo.ZoneInfo("Asia/Karachi"))
    assert period_start(karachi, "month") == dt.date(2023, 12, 1)
    series = pl.Series([karachi]).dt.convert_time_zone("Asia/Karachi")
    assert period_start(series, "day").to_list() == [dt.date(2023, 12, 31)]
    # naive times are taken to be UTC already
    assert period_start(dt.datetime(2024, 1, 1, 1), "day") == dt.date(2024, 1, 1)


def test_iso_week_labels_across_new_year() -> None:
    assert period_label(dt.date(2024, 1, 1), "week") == "2024-W01"
    assert period_label(period_start(t(2021, 1, 3), "week"), "week") == "2020-W53"
    assert period_label(period_start(t(2024, 12, 31), "week"), "week") == "2025-W01"
    assert period_label(dt.date(2024, 3, 1), "month") == "2024-03"
    assert period_label(dt.date(2024, 3, 5), "day") == "2024-03-05"
    assert period_noun("week", 1) == "week"
    assert period_noun("day", 2) == "days"


def test_months_are_added_from_the_start_and_clamped() -> None:
    start = t(2024, 1, 31, 9, 30)
    got = [add_periods(start, k, "month") for k in range(4)]
    assert got == [
        t(2024, 1, 31, 9, 30),
        t(2024, 2, 29, 9, 30),
        t(2024, 3, 31, 9, 30),
        t(2024, 4, 30, 9, 30),
    ]
    assert add_periods(t(2024, 2, 29), 12, "month") == t(2025, 2, 28)
    assert add_periods(t(2024, 3, 31), -1, "month") == t(2024, 2, 29)


def test_days_and_weeks_have_fixed_length() -> None:
    assert add_periods(t(2024, 1, 31, 9), 2, "week") == t(2024, 2, 14, 9)
    assert add_periods(t(2024, 2, 28, 9), 2, "day") == t(2024, 3, 1, 9)


def test_add_periods_takes_a_column_of_k() -> None:
    df = pl.DataFrame({"reach": [t(2024, 1, 31)] * 3, "k": [0, 1, 2]})
    out = df.select(add_periods(pl.col("reach"), pl.col("k"), "month")).to_series().to_list()
    assert out == [t(2024, 1, 31), t(2024, 2, 29), t(2024, 3, 31)]
    series = add_periods(pl.Series([t(2024, 1, 31)]), 1, "week")
    assert series.to_list() == [t(2024, 2, 7)]


def test_whole_periods_counts_elapsed_user_relative_periods() -> None:
    df = pl.DataFrame(
        {
            "reach": [t(2024, 1, 3, 10)] * 4,
            "ts": [t(2024, 1, 3, 10), t(2024, 1, 10, 9), t(2024, 1, 10, 10), t(2023, 12, 31)],
        }
    )
    got = df.select(whole_periods(pl.col("reach"), pl.col("ts"), "week")).to_series().to_list()
    assert got == [0, 0, 1, -1]


def py_add(ts: dt.datetime, k: int, period: str) -> dt.datetime:
    if period == "day":
        return ts + dt.timedelta(days=k)
    if period == "week":
        return ts + dt.timedelta(weeks=k)
    m = ts.month - 1 + k
    year, month = ts.year + m // 12, m % 12 + 1
    return ts.replace(year=year, month=month, day=min(ts.day, calendar.monthrange(year, month)[1]))


instants = st.datetimes(min_value=dt.datetime(1950, 1, 1), max_value=dt.datetime(2040, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@settings(max_examples=150, deadline=None)
@given(start=instants, end=instants, period=st.sampled_from(["day", "week", "month"]))
def test_whole_periods_inverts_add_periods(
    start: dt.datetime, end: dt.datetime, period: str
) -> None:
    df = pl.DataFrame(
        {"start": [start], "end": [end]},
        schema={"start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC")},
    )
    k = df.select(whole_periods(pl.col("start"), pl.col("end"), period)).item()
    assert py_add(start, k, period) <= end < py_add(start, k + 1, period)
    assert add_periods(start, k, period) == py_add(start, k, period)


@settings(max_examples=150, deadline=None)
@given(
    start=instants,
    k=st.integers(-40, 40),
    nudge=st.sampled_from([-1, 0, 1]),
    period=st.sampled_from(["day", "week", "month"]),
)
def test_whole_periods_at_the_boundaries(
    start: dt.datetime, k: int, nudge: int, period: str
) -> None:
    # the first instant of period k is in period k; the microsecond before it is not
    end = py_add(start, k, period) + dt.timedelta(microseconds=nudge)
    df = pl.DataFrame(
        {"start": [start], "end": [end]},
        schema={"start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC")},
    )
    got = df.select(whole_periods(pl.col("start"), pl.col("end"), period)).item()
    assert got == (k - 1 if nudge < 0 else k)


def test_complete_periods_stop_before_the_running_one() -> None:
    # The log runs from Wed 3 Jan to Wed 17 Jan 12:00: weeks of 1 and 8 Jan are complete.
    weeks = complete_periods(t(2024, 1, 3), t(2024, 1, 17, 12), "week")
    assert weeks.to_list() == [dt.date(2024, 1, 1), dt.date(2024, 1, 8)]
    assert weeks.dtype == pl.Date
    assert weeks.name == "period"
    # A log ending at the very first instant of a period has not completed that period.
    assert complete_periods(t(2024, 1, 3), t(2024, 3, 1), "month").to_list() == [
        dt.date(2024, 1, 1),
        dt.date(2024, 2, 1),
    ]
    assert complete_periods(t(2024, 1, 3), t(2024, 1, 3, 23), "day").to_list() == []


def test_period_range_and_end() -> None:
    assert period_range(t(2024, 1, 31), t(2024, 3, 1), "month").to_list() == [
        dt.date(2024, 1, 1),
        dt.date(2024, 2, 1),
        dt.date(2024, 3, 1),
    ]
    assert period_range(t(2024, 3, 1), t(2024, 1, 1), "day").len() == 0
    assert period_end(dt.date(2024, 2, 1), "month") == t(2024, 3, 1)
    assert period_end(dt.date(2024, 1, 1), "week") == t(2024, 1, 8)
    ends = pl.DataFrame({"p": [dt.date(2024, 12, 1)]}).select(period_end(pl.col("p"), "month"))
    assert ends.item() == t(2025, 1, 1)


def test_unknown_period_names_the_choices() -> None:
    assert check_period("month") == "month"
    with pytest.raises(
        SpecError, match=r"choose one of 'day', 'week', 'month'; did you mean 'week'"
    ):
        check_period("weekly")
    with pytest.raises(SpecError) as err:
        period_start(t(2024, 1, 1), "quarter")
    assert err.value.path == "period"


def test_docstring_examples_run() -> None:
    result = doctest.testmod(cfnb.periods)
    assert result.attempted > 0
    assert result.failed == 0
