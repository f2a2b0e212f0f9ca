"""Durations in a spec: "45s", "30m", "36h", "14d", "2w", timedeltas and seconds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cfnb.spec import SpecError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("36h", timedelta(hours=36)),
        ("14d", timedelta(days=14)),
        ("2w", timedelta(weeks=2)),
        ("3 days", timedelta(days=3)),
        (" 1 Week ", timedelta(weeks=1)),
        ("90min", timedelta(minutes=90)),
    ],
)
def test_text_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_timedelta_and_whole_seconds_are_accepted() -> None:
    assert parse_duration(timedelta(hours=2)) == timedelta(hours=2)
    assert parse_duration(3600) == timedelta(hours=1)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(weeks=2), "2w"),
        (timedelta(days=14), "2w"),
        (timedelta(days=30), "30d"),
        (timedelta(hours=36), "36h"),
        (timedelta(minutes=90), "90m"),
        (timedelta(seconds=61), "61s"),
    ],
)
def test_format_uses_the_largest_exact_unit(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value


def test_negative_number_names_the_path_and_the_expected_form() -> None:
    with pytest.raises(SpecError) as err:
        parse_duration(-3, "stages[2].within")
    assert str(err.value) == "stages[2].within: expected a duration like '14d', got -3"
    assert err.value.path == "stages[2].within"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (0, "got 0"),
        ("-3d", "must be positive"),
        ("0h", "must be positive"),
        (timedelta(seconds=-1), "must be positive"),
        (timedelta(milliseconds=1500), "whole seconds"),
        ("14x", "unknown unit 'x'"),
        ("14", "write a whole number and a unit"),
        ("1.5h", "write a whole number and a unit"),
        ("fortnight", "write a whole number and a unit"),
        (1.5, "got 1.5 (float)"),
        (True, "got True (bool)"),
        (None, "got None"),
        ("99999999999w", "too long"),
    ],
)
def test_bad_durations_say_what_is_wrong(value: object, says: str) -> None:
    with pytest.raises(SpecError, match=r"^window: expected a duration like '14d'") as err:
        parse_duration(value, "window")
    assert says in str(err.value)
