"""Column mapping (which column is the user, the event, the time) and property typing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

import cfnb
from cfnb.errors import AmbiguousColumnError, ColumnNotFoundError, LoadError

UTC = dt.UTC


def frame(**columns: list[object]) -> pl.DataFrame:
    return pl.DataFrame(columns, strict=False)


# --------------------------------------------------------------------- auto-detection


@pytest.mark.parametrize(
    ("user", "event", "ts"),
    [
        ("user_id", "event", "timestamp"),
        ("distinct_id", "event_name", "ts"),
        ("userId", "event_type", "time"),
        ("customer_id", "Event", "event_time"),
        ("USER_ID", "EVENT_NAME", "date"),
    ],
)
def test_common_column_names_are_recognised(user: str, event: str, ts: str) -> None:
    log = cfnb.load(frame(**{user: ["u1"], event: ["visit"], ts: ["2026-01-05"], "plan": ["pro"]}))

    assert log.events.rows() == [("u1", "visit", dt.datetime(2026, 1, 5, tzinfo=UTC), "pro")]
    assert dict(log.report.columns) == {"user": user, "event": event, "ts": ts}


def test_explicit_names_map_any_columns() -> None:
    source = frame(note=["hi"], who=["u1"], when=["2026-01-05"], what=["visit"])

    log = cfnb.load(source, user="who", event="what", ts="when")

    assert log.events.rows() == [("u1", "visit", dt.datetime(2026, 1, 5, tzinfo=UTC), "hi")]
    assert log.events.columns == ["user_id", "event", "ts", "note"]


def test_explicit_names_match_case_insensitively_when_unambiguous() -> None:
    log = cfnb.load(
        frame(Who=["u1"], What=["visit"], When=["2026-01-05"]), user="who", event="WHAT", ts="when"
    )

    assert dict(log.report.columns) == {"user": "Who", "event": "What", "ts": "When"}


def test_an_explicit_name_beats_auto_detection_of_the_same_role() -> None:
    source = frame(distinct_id=["d1"], customer_id=["c1"], event=["visit"], ts=["2026-01-05"])

    log = cfnb.load(source, user="customer_id")

    assert log.events["user_id"].to_list() == ["c1"]
    assert log.events["distinct_id"].to_list() == ["d1"]  # the other candidate is a property


def test_event_name_gives_every_row_one_event_for_logs_without_an_event_column() -> None:
    log = cfnb.load(
        frame(customer_id=["c1", "c2"], date=["2026-01-05", "2026-01-06"]), event_name="purchase"
    )

    assert log.events["event"].to_list() == ["purchase", "purchase"]
    assert log.report.columns["event"] == "(constant 'purchase')"


def test_event_and_event_name_together_are_refused() -> None:
    with pytest.raises(ValueError, match=r"either event= .* or event_name="):
        cfnb.load(
            frame(user_id=["u1"], event=["x"], ts=["2026-01-05"]), event="event", event_name="x"
        )


# ------------------------------------------------------------------ missing, ambiguous


def test_a_missing_role_names_the_columns_found_and_the_names_recognised() -> None:
    with pytest.raises(ColumnNotFoundError) as err:
        cfnb.load(frame(person=["u1"], event=["visit"], ts=["2026-01-05"]))

    message = str(err.value)
    assert "No user column found in Polars DataFrame" in message
    assert "Columns found: 'person', 'event', 'ts'" in message
    assert "user_id, distinct_id, userid, customer_id" in message
    assert "Pass user='<column>'" in message


def test_a_missing_time_column_names_the_time_candidates() -> None:
    with pytest.raises(ColumnNotFoundError) as err:
        cfnb.load(frame(user_id=["u1"], event=["visit"], when=["2026-01-05"]))

    assert "No time column found" in str(err.value)
    assert "timestamp, ts, time, event_time, date" in str(err.value)
    assert "Pass ts='<column>'" in str(err.value)


def test_a_misspelt_explicit_name_suggests_the_close_one() -> None:
    with pytest.raises(ColumnNotFoundError) as err:
        cfnb.load(frame(user_id=["u1"], event=["visit"], ts=["2026-01-05"]), user="userid_")

    message = str(err.value)
    assert "user column 'userid_' is not in Polars DataFrame" in message
    assert "Did you mean 'user_id'?" in message
    assert "Columns found: 'user_id', 'event', 'ts'" in message


def test_two_candidates_for_one_role_are_ambiguous_and_both_are_named() -> None:
    with pytest.raises(AmbiguousColumnError) as err:
        cfnb.load(frame(user_id=["u1"], distinct_id=["d1"], event=["visit"], ts=["2026-01-05"]))

    message = str(err.value)
    assert (
        "Several columns of Polars DataFrame could be the user column: 'user_id', 'distinct_id'"
        in message
    )
    assert "Pass user='<column>'" in message
    assert "Columns found: 'user_id', 'distinct_id', 'event', 'ts'" in message


def test_ambiguity_in_a_file_names_the_file(write_file: Callable[..., Path]) -> None:
    path = write_file("events.csv", "user_id,event,time,timestamp\nu1,visit,09:00,2026-01-05\n")

    with pytest.raises(
        AmbiguousColumnError, match=r"events\.csv could be the time column: 'time', 'timestamp'"
    ):
        cfnb.load(path)


def test_a_property_named_like_a_cfnb_column_is_refused_with_the_fix() -> None:
    source = frame(customer_id=["c1"], user_id=["legacy"], event=["visit"], ts=["2026-01-05"])

    with pytest.raises(LoadError) as err:
        cfnb.load(source, user="customer_id")

    message = str(err.value)
    assert (
        "Column 'user_id' of Polars DataFrame would clash with cfnb's own 'user_id' column"
        in message
    )
    assert "the mapped user column is 'customer_id'" in message
    assert "Rename it before loading" in message


# --------------------------------------------------------------------- user ids


def test_numeric_user_ids_become_their_decimal_text() -> None:
    log = cfnb.load(frame(user_id=[7, 1234567890123], event=["x", "x"], ts=["2026-01-05"] * 2))

    assert sorted(log.events["user_id"]) == ["1234567890123", "7"]


def test_integer_ids_in_a_float_column_read_as_integers_and_nan_is_a_missing_id() -> None:
    # pandas turns an integer column with a gap into floats: 42 becomes 42.0.
    source = pd.DataFrame(
        {"user_id": [42.0, None, 1.5], "event": ["x"] * 3, "ts": ["2026-01-05"] * 3}
    )

    log = cfnb.load(source)

    assert sorted(log.events["user_id"]) == ["1.5", "42"]
    assert dict(log.report.rejected) == {"null user": 1}


def test_polars_nan_and_infinite_user_ids_are_missing_ids() -> None:
    source = frame(
        user_id=[1.0, float("nan"), float("inf")], event=["x"] * 3, ts=["2026-01-05"] * 3
    )

    log = cfnb.load(source)

    assert log.events["user_id"].to_list() == ["1"]
    assert log.rejected.select("row", "reason").rows() == [(2, "null user"), (3, "null user")]


# ----------------------------------------------------------------- property typing


def test_text_properties_get_the_narrowest_type_all_their_values_fit(
    write_file: Callable[..., Path],
) -> None:
    path = write_file(
        "events.csv",
        "user_id,event,ts,count,price,paid,plan,zip,big_id,mixed,empty\n"
        "u1,visit,2026-01-05,1,1.5,true,free,00123,12345678901234567890,1,\n"
        "u2,visit,2026-01-05,-2,2,FALSE,pro,01234,2,x,\n"
        "u3,visit,2026-01-05,,1e3,,pro,,3,2.5,\n",
    )

    log = cfnb.load(path)

    assert log.schema == {
        "user_id": pl.String,
        "event": pl.String,
        "ts": pl.Datetime("us", "UTC"),
        "count": pl.Int64,
        "price": pl.Float64,
        "paid": pl.Boolean,
        "plan": pl.String,
        "zip": pl.String,  # leading zeros are a code, not a number
        "big_id": pl.String,  # too big for Int64: a Float64 would round it
        "mixed": pl.String,
        "empty": pl.String,
    }
    events = log.events.sort("user_id")
    assert events["count"].to_list() == [1, -2, None]
    assert events["price"].to_list() == [1.5, 2.0, 1000.0]
    assert events["paid"].to_list() == [True, False, None]
    assert events["zip"].to_list() == ["00123", "01234", None]
    assert events["big_id"].to_list() == ["12345678901234567890", "2", "3"]


def test_blank_and_padded_cells_of_numeric_properties_read_as_missing_and_trimmed(
    write_file: Callable[..., Path],
) -> None:
    path = write_file(
        "events.jsonl",
        '{"user_id": "u1", "event": "x", "ts": "2026-01-05", "amount": " 12 "}\n'
        '{"user_id": "u2", "event": "x", "ts": "2026-01-05", "amount": ""}\n'
        '{"user_id": "u3", "event": "x", "ts": "2026-01-05", "amount": 7}\n',
    )

    events = cfnb.load(path).events.sort("user_id")

    assert events.schema["amount"] == pl.Int64
    assert events["amount"].to_list() == [12, None, 7]


def test_json_lines_keep_their_key_order_and_nested_values_as_json_text(
    write_file: Callable[..., Path],
) -> None:
    path = write_file(
        "events.jsonl",
        '{"ts": "2026-01-05", "user_id": "u1", "event": "x", "zeta": 1, "alpha": {"a": [1, 2]}}\n'
        '{"user_id": "u2", "event": "x", "ts": "2026-01-06", "beta": true}\n',
    )

    log = cfnb.load(path)

    assert log.events.columns == ["user_id", "event", "ts", "zeta", "alpha", "beta"]
    assert log.events.sort("user_id")["alpha"].to_list() == ['{"a":[1,2]}', None]


def test_a_headerless_csv_takes_its_column_names_from_columns(
    write_file: Callable[..., Path],
) -> None:
    path = write_file("events.csv", "u1,visit,2026-01-05\nu2,visit,2026-01-06\n")

    log = cfnb.load(path, columns=["user_id", "event", "ts"])

    assert sorted(log.events["user_id"]) == ["u1", "u2"]
    assert log.report.rows_read == 2


def test_whitespace_separated_text_maps_like_any_other(write_file: Callable[..., Path]) -> None:
    path = write_file(
        "purchases.txt",
        " customer_id  date  amount\n 00001 19970101  11.77\n\t00002\t19970112 12.00\n",
    )

    log = cfnb.load(path, delimiter="whitespace", event_name="purchase")

    assert log.events.sort("user_id").rows() == [
        ("00001", "purchase", dt.datetime(1997, 1, 1, tzinfo=UTC), 11.77),
        ("00002", "purchase", dt.datetime(1997, 1, 12, tzinfo=UTC), 12.0),
    ]


def test_event_name_over_a_log_that_has_an_event_column_is_refused() -> None:
    source = frame(user_id=["u1"], event=["visit"], ts=["2026-01-05"])

    with pytest.raises(LoadError, match="the mapped event column is the constant 'purchase'"):
        cfnb.load(source, event_name="purchase")
