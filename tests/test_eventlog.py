"""EventLog and LoadReport: what a loaded log hands to the rest of cfnb and to the analyst."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import cfnb

UTC = dt.UTC


@pytest.fixture
def log(write_file: Callable[..., Path]) -> cfnb.EventLog:
    path = write_file(
        "events.csv",
        "timestamp,plan,user_id,amount,event\n"
        "2026-01-05T09:00:00Z,free,u1,,visit\n"
        "2026-01-05T09:05:00Z,free,u1,,signup\n"
        "2026-01-06T10:00:00Z,pro,u2,,visit\n"
        "2026-01-07T11:00:00Z,pro,u2,49.5,purchase\n"
        "2026-01-07T11:00:00Z,pro,u3,,visit\n"
        "2026-01-08T00:00:00Z,pro,,,visit\n"
        "soon,pro,u4,,visit\n",
    )
    return cfnb.load(path)


def test_events_start_with_user_event_ts_then_the_properties_in_source_order(
    log: cfnb.EventLog,
) -> None:
    assert log.events.columns == ["user_id", "event", "ts", "plan", "amount"]
    assert log.schema == {
        "user_id": pl.String,
        "event": pl.String,
        "ts": pl.Datetime("us", "UTC"),
        "plan": pl.String,
        "amount": pl.Float64,
    }
    assert log.events.filter(pl.col("event") == "purchase").row(0) == (
        "u2",
        "purchase",
        dt.datetime(2026, 1, 7, 11, tzinfo=UTC),
        "pro",
        49.5,
    )


def test_event_names_count_events_and_users_most_frequent_first(log: cfnb.EventLog) -> None:
    expected = pl.DataFrame(
        {"event": ["visit", "purchase", "signup"], "events": [3, 1, 1], "users": [3, 1, 1]}
    )

    assert_frame_equal(log.event_names(), expected, check_dtypes=False)
    assert log.event_names().schema["event"] == pl.String  # not the stored ENUM
    assert log.event_names().schema["events"] == pl.Int64


def test_time_range_is_the_first_and_last_loaded_instant(log: cfnb.EventLog) -> None:
    assert log.time_range == (
        dt.datetime(2026, 1, 5, 9, tzinfo=UTC),
        dt.datetime(2026, 1, 7, 11, tzinfo=UTC),
    )


def test_rejected_lists_each_set_aside_row_with_its_reason(log: cfnb.EventLog) -> None:
    rejected = log.rejected

    assert rejected.schema == {
        "file": pl.String,
        "row": pl.Int64,
        "line": pl.Int64,
        "reason": pl.String,
        "detail": pl.String,
        "raw": pl.String,
    }
    assert rejected.select("row", "reason").rows() == [
        (6, "null user"),
        (7, "unparseable timestamp"),
    ]
    assert json.loads(rejected["raw"][1])["timestamp"] == "soon"


def test_a_log_with_nothing_rejected_has_an_empty_rejected_frame() -> None:
    log = cfnb.load(pl.DataFrame({"user_id": ["a"], "event": ["x"], "ts": ["2026-01-05"]}))

    assert log.rejected.height == 0
    assert log.rejected.columns == ["file", "row", "line", "reason", "detail", "raw"]


def test_the_report_as_data_has_the_public_keys(log: cfnb.EventLog) -> None:
    data = log.report.to_dict()

    assert data["rows_read"] == 7
    assert data["rows_loaded"] == 5
    assert data["rows_rejected"] == 2
    assert data["rejected"] == {"null user": 1, "unparseable timestamp": 1}
    assert data["users"] == 3
    assert data["events"] == [
        {"event": "visit", "count": 3},
        {"event": "purchase", "count": 1},
        {"event": "signup", "count": 1},
    ]
    assert data["first_ts"] == "2026-01-05T09:00:00.000000Z"
    assert data["last_ts"] == "2026-01-07T11:00:00.000000Z"
    assert data["columns"] == {"user": "user_id", "event": "event", "ts": "timestamp"}
    assert data["duplicates"] == {"count": 0, "policy": "keep", "dropped": 0}
    assert data["format"] == "csv"
    assert data["tz"] == "UTC"
    assert data["timestamps"] == "ISO-8601 text; values without an offset in UTC"
    assert data["warnings"] == []
    assert json.loads(log.report.to_json()) == data


def test_the_report_as_text_reads_like_a_receipt(log: cfnb.EventLog) -> None:
    lines = str(log.report).splitlines()

    assert "rows read     7" in lines
    assert "rows loaded   5" in lines
    assert "rows rejected 2" in lines
    assert "  null user              1" in lines
    assert "  unparseable timestamp  1" in lines
    assert "users         3" in lines
    assert "time range    2026-01-05T09:00:00.000000Z … 2026-01-07T11:00:00.000000Z (UTC)" in lines
    assert "columns       user='user_id' event='event' ts='timestamp'" in lines


def test_the_report_renders_escaped_in_a_notebook() -> None:
    log = cfnb.load(pl.DataFrame({"user_id": ["a"], "event": ["<script>"], "ts": ["2026-01-05"]}))

    html = log._repr_html_()

    assert html.startswith("<pre>")
    assert "&lt;script&gt;" in html
    assert "<script>" not in html


def test_len_and_repr_summarise_the_log(log: cfnb.EventLog) -> None:
    assert len(log) == 5
    assert repr(log) == (
        f"<EventLog {log.report.source}: 5 events, 3 users, 3 event names, 2 rejected>"
    )
