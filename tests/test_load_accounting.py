"""Row accounting: every record is loaded or rejected with its reason and its row number."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cfnb
from cfnb.errors import NoUsableRowsError

HEADER = "user_id,event,ts,plan\n"


def rejected_rows(log: cfnb.EventLog) -> list[tuple[int, str]]:
    return log.rejected.select("row", "reason").rows()


def test_each_reason_is_counted_and_points_at_its_row(write_file: Callable[..., Path]) -> None:
    path = write_file(
        "events.csv",
        HEADER
        + "u1,visit,2026-01-05T09:00:00Z,free\n"  # row 1: loaded
        + ",visit,2026-01-05T09:00:00Z,free\n"  # row 2: null user
        + "   ,visit,2026-01-05T09:00:00Z,free\n"  # row 3: a blank user is a null user
        + "u2,,2026-01-05T09:00:00Z,free\n"  # row 4: null event
        + "u3,visit,,free\n"  # row 5: null timestamp
        + "u4,visit,last tuesday,free\n"  # row 6: unparseable timestamp
        + "u5,visit,2026-01-05T09:00:00Z,free,extra\n"  # row 7: malformed (too many)
        + "u6,visit\n"  # row 8: malformed (too few)
        + ",,,\n"  # row 9: null user comes first when everything is missing
        + "u7,signup,2026-01-06T09:00:00Z,pro\n",  # row 10: loaded
    )

    log = cfnb.load(path)

    report = log.report
    assert report.rows_read == 10
    assert report.rows_loaded == 2
    assert dict(report.rejected) == {
        "null user": 3,
        "malformed line": 2,
        "null event": 1,
        "null timestamp": 1,
        "unparseable timestamp": 1,
    }
    assert report.rows_read == report.rows_loaded + report.rows_rejected
    assert rejected_rows(log) == [
        (2, "null user"),
        (3, "null user"),
        (4, "null event"),
        (5, "null timestamp"),
        (6, "unparseable timestamp"),
        (7, "malformed line"),
        (8, "malformed line"),
        (9, "null user"),
    ]


def test_rejected_rows_carry_their_file_line_detail_and_raw_values(
    write_file: Callable[..., Path],
) -> None:
    path = write_file("events.csv", HEADER + "u1,visit\n,visit,2026-01-05,pro\n")

    with pytest.raises(NoUsableRowsError) as err:
        cfnb.load(path)

    malformed, null_user = err.value.rejected.to_dicts()
    assert malformed == {
        "file": str(path),
        "row": 1,
        "line": 2,
        "reason": "malformed line",
        "detail": "too few columns (expected 4)",
        "raw": "u1,visit",
    }
    assert null_user["row"] == 2
    assert null_user["reason"] == "null user"
    assert json.loads(null_user["raw"]) == {
        "user_id": None,
        "event": "visit",
        "ts": "2026-01-05",
        "plan": "pro",
    }


def test_a_malformed_line_before_a_null_user_row_shifts_nothing(
    write_file: Callable[..., Path],
) -> None:
    # DuckDB numbers only the rows it parsed; the malformed row 2 must still count.
    path = write_file(
        "events.csv",
        HEADER
        + "u1,visit,2026-01-05,free\nu2,visit,2026-01-05,free,extra\n,visit,2026-01-05,free\n",
    )

    log = cfnb.load(path)

    assert rejected_rows(log) == [(2, "malformed line"), (3, "null user")]


def test_blank_lines_hold_no_record_and_are_not_counted(write_file: Callable[..., Path]) -> None:
    path = write_file(
        "events.csv",
        HEADER
        + "u1,visit,2026-01-05,free\n"
        + "\n"
        + "   \n"
        + "u2,visit,2026-01-05,free,extra\n"  # physical line 5, record 2
        + "\n"
        + ",visit,2026-01-05,free\n",  # record 3
    )

    log = cfnb.load(path)

    assert log.report.rows_read == 3
    assert log.rejected.select("row", "line", "reason").rows() == [
        (2, 5, "malformed line"),
        (3, None, "null user"),
    ]


def test_rows_after_malformed_ones_keep_their_own_numbers(write_file: Callable[..., Path]) -> None:
    # A duplicate names the row it repeats: that row's number must be right too.
    path = write_file(
        "events.csv",
        HEADER
        + "u1,visit,2026-01-05,free,extra\n"
        + "u1,visit,2026-01-05,free\n"
        + "u2,visit\n"
        + "u1,visit,2026-01-05,free\n",
    )

    log = cfnb.load(path, duplicates="drop")

    assert log.rejected.select("row", "reason", "detail").rows() == [
        (1, "malformed line", "too many columns (expected 4)"),
        (3, "malformed line", "too few columns (expected 4)"),
        (4, "duplicate", "same values as row 2"),
    ]


def test_json_lines_report_records_and_physical_lines(write_file: Callable[..., Path]) -> None:
    path = write_file(
        "events.jsonl",
        "\n"
        '{"user_id": "u1", "event": "visit", "ts": "2026-01-05"}\n'
        "not json\n"
        "\n"
        "[1, 2]\n"
        '{"user_id": null, "event": "visit", "ts": "2026-01-05"}\n'
        '{"user_id": "u2", "event": "visit", "ts": "soon"}\n',
    )

    log = cfnb.load(path)

    assert log.report.rows_read == 5
    assert log.rejected.select("row", "line", "reason", "detail").rows() == [
        (2, 3, "malformed line", "not a JSON object"),
        (3, 5, "malformed line", "not a JSON object"),
        (4, 6, "null user", None),
        (5, 7, "unparseable timestamp", None),
    ]
    assert log.report.warnings == ("2 blank lines skipped (they hold no record)",)


def test_whitespace_separated_files_report_records_and_physical_lines(
    write_file: Callable[..., Path],
) -> None:
    path = write_file(
        "events.txt",
        "\nuser_id event ts\nu1 visit 2026-01-05\n\nu2 visit\nu3 visit bad-time\n",
    )

    log = cfnb.load(path, delimiter="whitespace")

    assert log.report.rows_read == 3
    assert log.rejected.select("row", "line", "reason", "detail").rows() == [
        (2, 5, "malformed line", "too few columns (expected 3)"),
        (3, 6, "unparseable timestamp", None),
    ]


def test_frames_number_their_rows_from_one() -> None:
    source = pl.DataFrame(
        {"user_id": ["a", None, "c"], "event": ["x", "x", None], "ts": ["2026-01-05"] * 3}
    )

    log = cfnb.load(source)

    assert log.rejected.select("file", "row", "reason").rows() == [
        ("Polars DataFrame", 2, "null user"),
        ("Polars DataFrame", 3, "null event"),
    ]


# --------------------------------------------------------------------- duplicates

DUPLICATED = (
    HEADER
    + "u1,visit,2026-01-05T09:00:00Z,free\n"
    + "u1,visit,2026-01-05T09:00:00Z,free\n"
    + "u1,visit,2026-01-05T09:00:00Z,pro\n"  # differs in a property: not a duplicate
    + "u1,visit,2026-01-05 09:00:00,free\n"  # the same instant written otherwise: a duplicate
    + "u2,visit,2026-01-05T09:00:00Z,free\n"
)


def test_exact_duplicates_are_kept_by_default_and_counted(write_file: Callable[..., Path]) -> None:
    log = cfnb.load(write_file("events.csv", DUPLICATED))

    assert log.report.rows_loaded == 5
    assert log.report.duplicates == 2
    assert log.report.duplicates_dropped == 0
    assert dict(log.report.rejected) == {}
    assert log.report.warnings == (
        "2 exact duplicate rows kept (pass duplicates='drop' to drop them)",
    )
    assert log.report.to_dict()["duplicates"] == {"count": 2, "policy": "keep", "dropped": 0}


def test_dropped_duplicates_are_rejected_rows_naming_the_row_they_repeat(
    write_file: Callable[..., Path],
) -> None:
    log = cfnb.load(write_file("events.csv", DUPLICATED), duplicates="drop")

    assert log.report.rows_read == 5
    assert log.report.rows_loaded == 3
    assert log.report.duplicates == 2
    assert log.report.duplicates_dropped == 2
    assert dict(log.report.rejected) == {"duplicate": 2}
    assert log.rejected.select("row", "reason", "detail").rows() == [
        (2, "duplicate", "same values as row 1"),
        (4, "duplicate", "same values as row 1"),
    ]
    assert log.report.warnings == ()


def test_a_duplicate_of_a_row_in_another_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "day1.csv").write_text(HEADER + "u1,visit,2026-01-05,free\n")
    (tmp_path / "day2.csv").write_text(
        HEADER + "u2,visit,2026-01-05,free\nu1,visit,2026-01-05,free\n"
    )

    log = cfnb.load(tmp_path, duplicates="drop")

    assert log.rejected.select("row", "detail").rows() == [
        (2, f"same values as row 1 of {tmp_path / 'day1.csv'}")
    ]


def test_the_duplicates_policy_is_checked() -> None:
    with pytest.raises(ValueError, match="duplicates must be 'keep' or 'drop', got 'first'"):
        cfnb.load(
            pl.DataFrame({"user_id": ["a"], "event": ["x"], "ts": ["2026-01-05"]}),
            duplicates="first",
        )  # type: ignore[arg-type]


# ------------------------------------------------------------------ the property

GOOD = "{user},{event},2026-01-0{day}T09:00:00Z,{plan}"
KINDS: dict[str, tuple[str, str | None]] = {
    # kind: (line template, reason or None when loaded)
    "good": (GOOD, None),
    "null user": (",{event},2026-01-0{day}T09:00:00Z,{plan}", "null user"),
    "null event": ("{user},,2026-01-0{day}T09:00:00Z,{plan}", "null event"),
    "null timestamp": ("{user},{event},,{plan}", "null timestamp"),
    "unparseable timestamp": ("{user},{event},not a time,{plan}", "unparseable timestamp"),
    "too many": (GOOD + ",extra", "malformed line"),
    "too few": ("{user},{event}", "malformed line"),
}

record = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(list(KINDS)),
        "user": st.sampled_from(["u1", "u2", "007"]),
        "event": st.sampled_from(["visit", "signup"]),
        "day": st.integers(1, 9),
        "plan": st.sampled_from(["free", "pro", ""]),
        "blank_lines_before": st.sampled_from(["", "", "", "\n", "  \n"]),
    }
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    records=st.lists(record, min_size=1, max_size=12).filter(
        # Mostly good lines, as in any real export: DuckDB's sniffer takes the shape of
        # the file from its lines, so a file of mostly broken lines is another file.
        lambda rs: sum(r["kind"] in ("too many", "too few") for r in rs) * 3 <= len(rs)
    ),
    crlf=st.booleans(),
)
def test_every_record_written_is_read_once_and_ends_loaded_or_rejected(
    records: list[dict[str, object]], crlf: bool, tmp_path: Path
) -> None:
    lines = [HEADER.rstrip("\n")]
    expected: list[tuple[int, str]] = []
    for number, r in enumerate(records, start=1):
        template, reason = KINDS[str(r["kind"])]
        lines.extend(str(r["blank_lines_before"]).splitlines() if r["blank_lines_before"] else [])
        lines.append(template.format(**r))
        if reason is not None:
            expected.append((number, reason))
    newline = "\r\n" if crlf else "\n"
    path = tmp_path / "events.csv"
    path.write_bytes((newline.join(lines) + newline).encode())

    try:
        log = cfnb.load(path)
        report, rejected = log.report, log.rejected
    except NoUsableRowsError as err:
        report, rejected = err.report, err.rejected

    assert report.rows_read == len(records)
    assert report.rows_read == report.rows_loaded + report.rows_rejected
    assert report.rows_loaded == len(records) - len(expected)
    assert dict(report.rejected) == dict(Counter(reason for _, reason in expected))
    assert rejected.select("row", "reason").rows() == expected
