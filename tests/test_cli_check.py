"""`cfnb check`: the load report on the command line, as text and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cfnb.cli import main


@pytest.fixture
def events_csv(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,event,timestamp,plan\n"
        "u1,visit,2026-01-05T09:00:00Z,free\n"
        "u1,signup,2026-01-05T09:05:00Z,free\n"
        ",visit,2026-01-05T10:00:00Z,free\n"
        "u2,visit,not a time,pro\n"
        "u3,visit\n"
    )
    return path


def test_check_prints_the_report_as_text(
    events_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(events_csv)]) == 0
    out = capsys.readouterr().out
    assert "rows read     5" in out
    assert "rows loaded   2" in out
    assert "null user" in out
    assert "unparseable timestamp" in out
    assert "malformed line" in out


def test_check_json_has_the_public_keys(
    events_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(events_csv), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows_read"] == 5
    assert report["rows_loaded"] == 2
    assert report["rejected"] == {"null user": 1, "unparseable timestamp": 1, "malformed line": 1}
    assert report["rows_read"] == report["rows_loaded"] + sum(report["rejected"].values())
    assert report["users"] == 1
    assert report["events"] == [{"event": "signup", "count": 1}, {"event": "visit", "count": 1}]
    assert report["first_ts"] == "2026-01-05T09:00:00.000000Z"
    assert report["columns"] == {"user": "user_id", "event": "event", "ts": "timestamp"}


def test_check_exits_1_and_still_reports_when_no_row_is_usable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("user_id,event,timestamp\n,visit,2026-01-05\nu1,,2026-01-05\n")
    assert main(["check", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["rows_read"] == 2
    assert report["rows_loaded"] == 0
    assert report["rejected"] == {"null event": 1, "null user": 1}
    assert "No usable rows" in report["error"]


def test_check_exits_2_with_a_clear_message_for_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert "File not found" in err
    assert "nope.csv" in err


def test_check_maps_foreign_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "purchases.txt"
    path.write_text(" customer_id  date amount\n 00001 19970101  11.77\n 00002 19970112  12.00\n")
    code = main(
        [
            "check",
            str(path),
            "--delimiter",
            "whitespace",
            "--user",
            "customer_id",
            "--ts",
            "date",
            "--event-name",
            "purchase",
            "--json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows_loaded"] == 2
    assert report["first_ts"] == "1997-01-01T00:00:00.000000Z"
    assert report["events"] == [{"event": "purchase", "count": 2}]
