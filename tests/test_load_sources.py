"""Every kind of source gives the same events for the same data."""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import cfnb

UTC = dt.UTC

# One small log, with the awkward cases every source must carry through: an id with a
# leading zero, a missing property, an instant written with an offset, a bare date.
RAW = pl.DataFrame(
    {
        "user_id": ["u1", "u2", "u1", "007"],
        "event": ["visit", "visit", "signup", "visit"],
        "ts": [
            "2026-01-05T09:00:00Z",
            "2026-01-05 10:00:00",
            "2026-01-06T00:30:00+02:00",
            "2026-01-07",
        ],
        "plan": ["free", "pro", None, "free"],
        "amount": [1, 2, 3, 4],
        "price": [1.5, None, 2.0, 3.0],
        "flag": [True, False, None, True],
        "zip": ["00123", "01234", "12345", None],
    }
)

EXPECTED = pl.DataFrame(
    {
        "user_id": ["007", "u1", "u1", "u2"],
        "event": ["visit", "visit", "signup", "visit"],
        "ts": [
            dt.datetime(2026, 1, 7, tzinfo=UTC),
            dt.datetime(2026, 1, 5, 9, tzinfo=UTC),
            dt.datetime(2026, 1, 5, 22, 30, tzinfo=UTC),
            dt.datetime(2026, 1, 5, 10, tzinfo=UTC),
        ],
        "plan": ["free", "free", None, "pro"],
        "amount": [4, 1, 3, 2],
        "price": [3.0, 1.5, 2.0, None],
        "flag": [True, True, None, False],
        "zip": [None, "00123", "12345", "01234"],
    },
    schema_overrides={"ts": pl.Datetime("us", "UTC")},
)


def _csv(tmp: Path) -> Any:
    RAW.write_csv(tmp / "events.csv")
    return tmp / "events.csv"


def _csv_gz(tmp: Path) -> Any:
    (tmp / "events.csv.gz").write_bytes(gzip.compress(RAW.write_csv().encode()))
    return tmp / "events.csv.gz"


def _tsv(tmp: Path) -> Any:
    RAW.write_csv(tmp / "events.tsv", separator="\t")
    return tmp / "events.tsv"


def _tsv_gz(tmp: Path) -> Any:
    (tmp / "events.tsv.gz").write_bytes(gzip.compress(RAW.write_csv(separator="\t").encode()))
    return tmp / "events.tsv.gz"


def _semicolon_csv(tmp: Path) -> Any:
    RAW.write_csv(tmp / "events.csv", separator=";")
    return str(tmp / "events.csv")


def _parquet(tmp: Path) -> Any:
    RAW.write_parquet(tmp / "events.parquet")
    return tmp / "events.parquet"


def _parquet_dir(tmp: Path) -> Any:
    (tmp / "events").mkdir()
    RAW.slice(0, 2).write_parquet(tmp / "events" / "part-0.parquet")
    RAW.slice(2, 2).write_parquet(tmp / "events" / "part-1.parquet")
    return tmp / "events"


def _parquet_glob(tmp: Path) -> Any:
    RAW.slice(0, 3).write_parquet(tmp / "events-2026-01.parquet")
    RAW.slice(3, 1).write_parquet(tmp / "events-2026-02.parquet")
    (tmp / "other.parquet").write_bytes(b"not matched by the glob, not read")
    return str(tmp / "events-*.parquet")


def _jsonl(tmp: Path) -> Any:
    RAW.write_ndjson(tmp / "events.jsonl")
    return tmp / "events.jsonl"


def _polars(tmp: Path) -> Any:
    return RAW


def _polars_lazy(tmp: Path) -> Any:
    return RAW.lazy()


def _pandas(tmp: Path) -> Any:
    return RAW.to_pandas()


def _pyarrow(tmp: Path) -> Any:
    return RAW.to_arrow()


def _duckdb_relation(tmp: Path) -> Any:
    con = duckdb.connect()
    con.register("raw", RAW.to_arrow())
    return con.sql("SELECT * FROM raw")


SOURCES: dict[str, Callable[[Path], Any]] = {
    "csv": _csv,
    "csv.gz": _csv_gz,
    "tsv": _tsv,
    "tsv.gz": _tsv_gz,
    "csv with ;": _semicolon_csv,
    "parquet file": _parquet,
    "parquet directory": _parquet_dir,
    "parquet glob": _parquet_glob,
    "json lines": _jsonl,
    "polars": _polars,
    "polars lazy": _polars_lazy,
    "pandas": _pandas,
    "pyarrow": _pyarrow,
    "duckdb relation": _duckdb_relation,
}


@pytest.mark.parametrize("make_source", SOURCES.values(), ids=SOURCES.keys())
def test_every_source_gives_the_same_events(
    make_source: Callable[[Path], Any], tmp_path: Path
) -> None:
    log = cfnb.load(make_source(tmp_path))

    assert_frame_equal(log.events.sort("user_id", "ts"), EXPECTED)
    assert log.report.rows_read == log.report.rows_loaded == 4


def test_a_directory_loads_its_files_recursively_and_skips_hidden_ones(tmp_path: Path) -> None:
    (tmp_path / "2026" / "01").mkdir(parents=True)
    RAW.slice(0, 2).write_parquet(tmp_path / "2026" / "01" / "a.parquet")
    RAW.slice(2, 2).write_parquet(tmp_path / "2026" / "b.parquet")
    (tmp_path / ".hidden.parquet").write_bytes(b"editor backup, not data")
    (tmp_path / "README.md").write_text("not data")

    log = cfnb.load(tmp_path)

    assert_frame_equal(log.events.sort("user_id", "ts"), EXPECTED)
    assert log.report.source.startswith("2 files")


def test_parquet_parts_with_different_columns_are_united_by_name(tmp_path: Path) -> None:
    pl.DataFrame({"user_id": ["a"], "event": ["x"], "ts": ["2026-01-05"]}).write_parquet(
        tmp_path / "part-0.parquet"
    )
    pl.DataFrame(
        {"user_id": ["b"], "event": ["x"], "ts": ["2026-01-06"], "plan": ["pro"]}
    ).write_parquet(tmp_path / "part-1.parquet")

    events = cfnb.load(tmp_path).events.sort("user_id")

    assert events["plan"].to_list() == [None, "pro"]


def test_a_csv_glob_reads_every_file_and_numbers_rows_within_each(tmp_path: Path) -> None:
    (tmp_path / "day1.csv").write_text("user_id,event,ts\nu1,visit,2026-01-05\n,visit,2026-01-05\n")
    (tmp_path / "day2.csv").write_text("user_id,event,ts\nu2,visit,2026-01-06\nu3,,2026-01-06\n")

    log = cfnb.load(str(tmp_path / "day*.csv"))

    assert sorted(log.events["user_id"]) == ["u1", "u2"]
    rejected = log.rejected.select(pl.col("file").str.extract(r"(day\d)\.csv$"), "row", "reason")
    assert rejected.rows() == [("day1", 2, "null user"), ("day2", 2, "null event")]


def test_typed_sources_keep_their_native_types(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "user_id": [1, 2],
            "event": ["visit", "buy"],
            "ts": [dt.datetime(2026, 1, 5, 9, tzinfo=UTC), dt.datetime(2026, 1, 6, tzinfo=UTC)],
            "code": ["123", "456"],  # text that looks numeric stays text in a typed source
            "qty": pl.Series([1, 2], dtype=pl.Int32),
            "day": [dt.date(2026, 1, 5), dt.date(2026, 1, 6)],
            "tags": [["a"], ["b", "c"]],
            "plan": pl.Series(["free", "pro"], dtype=pl.Categorical),
        }
    )
    frame.write_parquet(tmp_path / "typed.parquet")

    for source in (frame, tmp_path / "typed.parquet"):
        log = cfnb.load(source)
        assert log.schema == {
            "user_id": pl.String,
            "event": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "code": pl.String,
            "qty": pl.Int32,
            "day": pl.Date,
            "tags": pl.List(pl.String),
            "plan": pl.String,
        }
        assert log.events.sort("user_id")["user_id"].to_list() == ["1", "2"]


def _cdnow_path() -> Path | None:
    here = Path(__file__).resolve().parents[1]
    for candidate in (
        here / "data" / "cdnow_master.txt.gz",
        here.parent / "shared" / "data" / "cdnow_master.txt.gz",
    ):
        if candidate.exists():
            return candidate
    return None


@pytest.mark.skipif(_cdnow_path() is None, reason="the CDNOW file is not beside this checkout")
def test_the_cdnow_purchase_log_loads_whole() -> None:
    log = cfnb.load(
        _cdnow_path(),
        delimiter="whitespace",
        user="customer_id",
        ts="date",
        event_name="purchase",
    )

    assert log.report.rows_read == log.report.rows_loaded == 69_659
    assert log.report.users == 23_570
    assert log.time_range == (
        dt.datetime(1997, 1, 1, tzinfo=UTC),
        dt.datetime(1998, 6, 30, tzinfo=UTC),
    )
    assert log.schema["dollar_value"] == pl.Float64
    assert log.schema["number_of_cds"] == pl.Int64
    assert log.events.filter(pl.col("user_id") == "00001")["dollar_value"].to_list() == [11.77]
    assert log.report.timestamps == "YYYYMMDD dates in UTC"
