"""Timestamps: every accepted form, read to the UTC instant it means."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest

import cfnb
from cfnb.errors import TimestampError

UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def load_times(values: list[Any], **options: Any) -> cfnb.EventLog:
    """Load one event per value, for users u0, u1, … in order."""
    frame = pl.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(len(values))],
            "event": ["visit"] * len(values),
            "ts": values,
        },
        strict=False,
    )
    return cfnb.load(frame, **options)


def instants(log: cfnb.EventLog) -> dict[str, dt.datetime]:
    return dict(log.events.select("user_id", "ts").iter_rows())


# ----------------------------------------------------------------------------- text


# One column holds every form: each row is read on its own, by its own shape.
WITH_OFFSET = {
    "2026-01-05T09:00:00Z": utc(2026, 1, 5, 9),
    "2026-01-05T09:00:00.123456Z": dt.datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC),
    "2026-01-05T09:00:00+02:00": utc(2026, 1, 5, 7),
    "2026-01-05T09:00:00-05:00": utc(2026, 1, 5, 14),
    "2026-01-05T09:00+0530": utc(2026, 1, 5, 3, 30),
    "2026-01-05 09:00:00 +0100": utc(2026, 1, 5, 8),
    "2026-01-05T09:00:00+01": utc(2026, 1, 5, 8),
    "2026-01-05 09:00:00 UTC": utc(2026, 1, 5, 9),
    "2026-01-05T09:00:00 GMT+01:00": utc(2026, 1, 5, 8),
    "2026-01-05 09:00:00 America/New_York": utc(2026, 1, 5, 14),
    "  2026-01-04T09:00:00Z  ": utc(2026, 1, 4, 9),
}


@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo"])
def test_text_with_an_offset_or_zone_is_that_instant_whatever_tz_says(tz: str) -> None:
    log = load_times(list(WITH_OFFSET), tz=tz)

    assert instants(log) == {f"u{i}": instant for i, instant in enumerate(WITH_OFFSET.values())}


# text: (instant with tz="UTC", instant with tz="America/New_York")
WITHOUT_OFFSET = {
    "2026-01-05 09:00:00": (utc(2026, 1, 5, 9), utc(2026, 1, 5, 14)),
    "2026-01-06T09:00": (utc(2026, 1, 6, 9), utc(2026, 1, 6, 14)),
    "2026-07-05T09:00:00.5": (
        dt.datetime(2026, 7, 5, 9, 0, 0, 500000, tzinfo=UTC),
        dt.datetime(2026, 7, 5, 13, 0, 0, 500000, tzinfo=UTC),  # summer time, -04:00
    ),
    "2026-01-05": (utc(2026, 1, 5), utc(2026, 1, 5, 5)),
    "2026/01/07": (utc(2026, 1, 7), utc(2026, 1, 7, 5)),
}


def test_text_without_an_offset_is_local_time_in_tz() -> None:
    in_utc = load_times(list(WITHOUT_OFFSET))
    in_new_york = load_times(list(WITHOUT_OFFSET), tz="America/New_York")

    expected = list(WITHOUT_OFFSET.values())
    assert instants(in_utc) == {f"u{i}": utc_ for i, (utc_, _) in enumerate(expected)}
    assert instants(in_new_york) == {f"u{i}": ny for i, (_, ny) in enumerate(expected)}


def test_text_times_of_several_forms_mix_in_one_column() -> None:
    log = load_times(
        ["2026-01-05T09:00:00Z", "2026-01-05 09:00:00", "2026-01-05"], tz="Europe/Paris"
    )

    assert instants(log) == {
        "u0": utc(2026, 1, 5, 9),
        "u1": utc(2026, 1, 5, 8),
        "u2": utc(2026, 1, 4, 23),
    }
    assert log.report.timestamps == "ISO-8601 text; values without an offset in Europe/Paris"


def test_other_text_is_rejected_not_guessed() -> None:
    log = load_times(
        [
            "2026-01-05T09:00:00Z",
            "05/01/2026",  # day or month first? never guessed
            "yesterday",
            "2026-02-30",
            "2026-01-05 09:00:00 Mars/Olympus",  # an unknown zone is not silently dropped
            "2026-01-05 09:00:00 foo",
            "infinity",
            "epoch",
            "2026-01-05 (BC)",
        ]
    )

    assert instants(log) == {"u0": utc(2026, 1, 5, 9)}
    assert log.rejected.select("row", "reason").rows() == [
        (row, "unparseable timestamp") for row in range(2, 10)
    ]


# ------------------------------------------------------------------- daylight saving


def test_a_local_time_in_the_spring_gap_uses_the_offset_before_the_gap() -> None:
    # 2026-03-08 02:00 EST, New York clocks jump to 03:00 EDT: 02:30 never happens.
    log = load_times(
        ["2026-03-08 01:59:59", "2026-03-08 02:30:00", "2026-03-08 03:00:00"],
        tz="America/New_York",
    )

    assert instants(log) == {
        "u0": utc(2026, 3, 8, 6, 59, 59),  # EST, -05:00
        "u1": utc(2026, 3, 8, 7, 30),  # read with EST, the offset before the gap
        "u2": utc(2026, 3, 8, 7),  # EDT, -04:00
    }


def test_a_local_time_in_the_autumn_overlap_is_the_later_instant() -> None:
    # 2026-11-01 02:00 EDT, New York clocks fall back to 01:00 EST: 01:30 happens twice.
    log = load_times(
        ["2026-11-01 00:59:59", "2026-11-01 01:30:00", "2026-11-01 02:00:00"],
        tz="America/New_York",
    )

    assert instants(log) == {
        "u0": utc(2026, 11, 1, 4, 59, 59),  # EDT, -04:00
        "u1": utc(2026, 11, 1, 6, 30),  # the second 01:30, in EST (the first was 05:30 UTC)
        "u2": utc(2026, 11, 1, 7),  # EST, -05:00
    }


def test_naive_datetime_columns_follow_the_same_daylight_saving_rules() -> None:
    log = load_times(
        [dt.datetime(2026, 3, 8, 2, 30), dt.datetime(2026, 11, 1, 1, 30)], tz="America/New_York"
    )

    assert instants(log) == {"u0": utc(2026, 3, 8, 7, 30), "u1": utc(2026, 11, 1, 6, 30)}


# -------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("values", "unit"),
    [
        ([1767603600, 1767603601], "s"),
        ([1767603600000, 1767603601000], "ms"),
        ([1767603600000000, 1767603601000000], "us"),
        ([1767603600000000000, 1767603601000000000], "ns"),
        (["1767603600", "1767603601"], "s"),
        (["1767603600000", "1767603601000"], "ms"),
        (["1767603600000000000", "1767603601000000000"], "ns"),
    ],
)
def test_epoch_numbers_are_utc_in_the_unit_their_size_tells(values: list[Any], unit: str) -> None:
    log = load_times(values, tz="America/New_York")  # epochs are UTC whatever tz says

    assert instants(log) == {"u0": utc(2026, 1, 5, 9), "u1": utc(2026, 1, 5, 9, 0, 1)}
    assert log.report.timestamps == f"epoch {unit} (UTC)"


def test_fractional_epoch_seconds_keep_their_microseconds() -> None:
    log = load_times([1767603600.5, 1767603600.000001])

    assert instants(log) == {
        "u0": dt.datetime(2026, 1, 5, 9, 0, 0, 500000, tzinfo=UTC),
        "u1": dt.datetime(2026, 1, 5, 9, 0, 0, 1, tzinfo=UTC),
    }


def test_nanoseconds_are_divided_exactly_not_through_a_float() -> None:
    log = load_times(["1767603600123456789"])

    assert instants(log) == {"u0": dt.datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)}


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_a_declared_unit_is_used_as_is(unit: str) -> None:
    seconds = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]

    log = load_times([86_400 * seconds], ts_unit=unit)  # one day after the epoch

    assert instants(log) == {"u0": utc(1970, 1, 2)}
    assert log.report.timestamps == f"epoch {unit} (UTC)"


def test_epochs_whose_smallest_and_largest_disagree_on_the_unit_are_an_error() -> None:
    with pytest.raises(TimestampError) as err:
        load_times([1767603600, 1767603600000])

    message = str(err.value)
    assert "'ts'" in message
    assert "smallest (1.7676e+09) reads as s" in message
    assert "largest (1.7676e+12) as ms" in message
    assert "ts_unit=" in message


def test_a_declared_unit_settles_a_mixed_column() -> None:
    log = load_times([1767603600000, 1767603600], ts_unit="ms")

    assert instants(log) == {
        "u0": utc(2026, 1, 5, 9),
        "u1": dt.datetime(1970, 1, 21, 11, 0, 3, 600000, tzinfo=UTC),  # a small ms value, as told
    }


def test_the_epoch_zero_does_not_make_a_column_look_mixed() -> None:
    log = load_times([0, 1767603600])

    assert instants(log) == {"u0": utc(1970, 1, 1), "u1": utc(2026, 1, 5, 9)}


@pytest.mark.parametrize("values", [[19970101, 19980630], ["19970101", "19980630"]])
def test_yyyymmdd_numbers_are_local_dates(values: list[Any]) -> None:
    log = load_times(values, tz="America/New_York")

    assert instants(log) == {"u0": utc(1997, 1, 1, 5), "u1": utc(1998, 6, 30, 4)}
    assert log.report.timestamps == "YYYYMMDD dates in America/New_York"


def test_a_yyyymmdd_number_that_is_no_date_is_rejected_not_read_as_1970() -> None:
    log = load_times([20260105, 20261399])

    assert instants(log) == {"u0": utc(2026, 1, 5)}
    assert log.rejected.select("row", "reason").rows() == [(2, "unparseable timestamp")]


def test_ts_unit_reads_yyyymmdd_sized_numbers_as_seconds() -> None:
    log = load_times([20260105], ts_unit="s")

    assert instants(log) == {"u0": utc(1970, 8, 23, 11, 48, 25)}


def test_a_text_column_of_mostly_numbers_rejects_its_few_other_cells() -> None:
    log = load_times(["1767603600", "1767603601", "1767603602", "n/a", "2026-01-05"])

    assert instants(log) == {
        "u0": utc(2026, 1, 5, 9),
        "u1": utc(2026, 1, 5, 9, 0, 1),
        "u2": utc(2026, 1, 5, 9, 0, 2),
    }
    assert log.report.timestamps == "epoch s (UTC)"
    assert log.rejected.select("row", "reason").rows() == [
        (4, "unparseable timestamp"),
        (5, "unparseable timestamp"),
    ]


# ------------------------------------------------------------------------ ts_format


def test_ts_format_reads_day_first_dates_in_tz() -> None:
    log = load_times(
        ["05/01/2026 09:00", "31/12/2026 23:59", "2026-01-05"],
        ts_format="%d/%m/%Y %H:%M",
        tz="Europe/Paris",
    )

    assert instants(log) == {"u0": utc(2026, 1, 5, 8), "u1": utc(2026, 12, 31, 22, 59)}
    assert log.rejected.select("row", "reason").rows() == [(3, "unparseable timestamp")]
    assert log.report.timestamps == "format '%d/%m/%Y %H:%M', local times in Europe/Paris"


def test_ts_format_with_an_offset_directive_reads_each_value_s_own_offset() -> None:
    log = load_times(
        ["05/01/2026 09:00 +0100", "05/01/2026 09:00 -0500"],
        ts_format="%d/%m/%Y %H:%M %z",
        tz="Asia/Tokyo",
    )

    assert instants(log) == {"u0": utc(2026, 1, 5, 8), "u1": utc(2026, 1, 5, 14)}


def test_ts_format_also_reads_a_numeric_column() -> None:
    log = load_times([20260105], ts_format="%Y%m%d")

    assert instants(log) == {"u0": utc(2026, 1, 5)}


# --------------------------------------------------------------------- typed columns


def test_zoned_datetime_columns_keep_their_instant_whatever_tz_says() -> None:
    wall = [dt.datetime(2026, 1, 5, 9), dt.datetime(2026, 7, 5, 9)]
    sources = [
        pl.DataFrame({"user_id": ["a", "b"], "event": ["x", "x"], "ts": wall}).with_columns(
            pl.col("ts").dt.cast_time_unit("ns").dt.replace_time_zone("America/New_York")
        ),
        pl.DataFrame({"user_id": ["a", "b"], "event": ["x", "x"], "ts": wall}).with_columns(
            pl.col("ts").dt.cast_time_unit("ms").dt.replace_time_zone("America/New_York")
        ),
        pd.DataFrame(
            {
                "user_id": ["a", "b"],
                "event": ["x", "x"],
                "ts": pd.DatetimeIndex(wall).tz_localize("America/New_York"),
            }
        ),
    ]
    for source in sources:
        log = cfnb.load(source, tz="Asia/Tokyo")
        assert instants(log) == {"a": utc(2026, 1, 5, 14), "b": utc(2026, 7, 5, 13)}
        assert log.report.timestamps == "timestamps with time zone"


def test_naive_datetime_and_date_columns_are_local_times_in_tz() -> None:
    frame = pl.DataFrame(
        {
            "user_id": ["a", "b"],
            "event": ["x", "x"],
            "ts": [dt.datetime(2026, 1, 5, 9), dt.datetime(2026, 7, 5, 9)],
            "day": [dt.date(2026, 1, 5), dt.date(2026, 7, 5)],
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("ns"))

    assert instants(cfnb.load(frame, tz="Europe/Paris")) == {
        "a": utc(2026, 1, 5, 8),
        "b": utc(2026, 7, 5, 7),
    }
    by_day = cfnb.load(frame.drop("ts"), ts="day", tz="Europe/Paris")
    assert instants(by_day) == {"a": utc(2026, 1, 4, 23), "b": utc(2026, 7, 4, 22)}


def test_a_column_of_another_type_is_an_error_naming_it() -> None:
    with pytest.raises(TimestampError, match=r"Column 'ts' has type BOOLEAN.*ts_format="):
        load_times([True, False])


def test_timestamps_from_a_csv_file_follow_the_same_rules(write_file: Callable[..., Path]) -> None:
    path = write_file(
        "events.csv",
        "user_id,event,ts\n"
        "u0,visit,2026-03-08 02:30:00\n"
        "u1,visit,2026-03-08T02:30:00-05:00\n"
        "u2,visit,2026-03-08\n",
    )

    log = cfnb.load(path, tz="America/New_York")

    assert instants(log) == {
        "u0": utc(2026, 3, 8, 7, 30),
        "u1": utc(2026, 3, 8, 7, 30),
        "u2": utc(2026, 3, 8, 5),
    }
