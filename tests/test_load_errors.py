"""Load errors: each names the file, the row or column, and what to do."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

import cfnb
from cfnb import errors

GOOD = "user_id,event,ts\nu1,visit,2026-01-05\n"


# ----------------------------------------------------------------------- finding


def test_a_missing_file_is_named_with_a_close_match(write_file: Callable[..., Path]) -> None:
    missing = write_file("events.csv", GOOD).with_name("event.csv")  # a typo

    with pytest.raises(errors.SourceNotFoundError) as err:
        cfnb.load(missing)

    message = str(err.value)
    assert f"File not found: '{missing}'." in message
    assert "Did you mean 'events.csv'?" in message
    assert "Check the path (relative to" in message
    assert isinstance(err.value, FileNotFoundError)


def test_a_glob_matching_nothing_names_the_pattern(tmp_path: Path) -> None:
    pattern = str(tmp_path / "events-*.parquet")

    with pytest.raises(errors.SourceNotFoundError, match="No file matches the pattern") as err:
        cfnb.load(pattern)

    assert repr(pattern) in str(err.value)


def test_a_directory_without_data_files_says_which_names_it_looked_for(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("no data here")

    with pytest.raises(errors.SourceNotFoundError) as err:
        cfnb.load(tmp_path)

    message = str(err.value)
    assert f"The directory '{tmp_path}' holds no CSV, Parquet or JSON Lines files" in message
    assert ".csv, .tsv" in message
    assert ".parquet" in message
    assert ".jsonl" in message


# ------------------------------------------------------------------------ format


def test_an_unknown_file_type_names_the_file_and_the_format_option(
    write_file: Callable[..., Path],
) -> None:
    path = write_file("events.xlsx", b"PK\x03\x04")

    with pytest.raises(errors.UnsupportedSourceError) as err:
        cfnb.load(path)

    message = str(err.value)
    assert f"Cannot tell the format of '{path}' from its name" in message
    assert "Pass format='csv', 'parquet' or 'jsonl'" in message


def test_format_names_the_format_of_a_file_whose_name_does_not(
    write_file: Callable[..., Path],
) -> None:
    path = write_file("events.log", GOOD)

    assert cfnb.load(path, format="csv").report.rows_loaded == 1


def test_an_unknown_format_lists_the_known_ones(write_file: Callable[..., Path]) -> None:
    with pytest.raises(
        errors.UnsupportedSourceError, match="format must be 'csv', 'parquet' or 'jsonl', got 'xml'"
    ):
        cfnb.load(write_file("events.csv", GOOD), format="xml")  # type: ignore[arg-type]


def test_a_directory_mixing_formats_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(GOOD)
    pl.DataFrame({"user_id": ["u"], "event": ["x"], "ts": ["2026-01-05"]}).write_parquet(
        tmp_path / "b.parquet"
    )

    with pytest.raises(
        errors.UnsupportedSourceError,
        match=r"mixes formats \(csv, parquet\); load one format at a time",
    ):
        cfnb.load(tmp_path)


def test_an_unsupported_object_names_its_type_and_the_supported_ones() -> None:
    with pytest.raises(errors.UnsupportedSourceError) as err:
        cfnb.load({"user_id": ["u1"]})

    message = str(err.value)
    assert "cfnb.load cannot read a builtins.dict" in message
    assert "a Polars or pandas DataFrame, a pyarrow Table or a DuckDB relation" in message
    assert isinstance(err.value, TypeError)


def test_a_file_that_is_not_json_lines_says_so_and_suggests_csv(
    write_file: Callable[..., Path],
) -> None:
    path = write_file("events.jsonl", GOOD)

    with pytest.raises(errors.LoadError) as err:
        cfnb.load(path)

    message = str(err.value)
    assert f"'{path}' is not JSON Lines: none of its 2 lines is a JSON object" in message
    assert "reads 'user_id,event,ts'" in message
    assert "pass format='csv'" in message


def test_an_unreadable_parquet_file_is_named(write_file: Callable[..., Path]) -> None:
    path = write_file("events.parquet", b"not parquet at all")

    with pytest.raises(errors.LoadError) as err:
        cfnb.load(path)

    assert f"'{path}' is not a readable Parquet file" in str(err.value)
    assert "Remove or replace it" in str(err.value)


# ------------------------------------------------------------------------- empty


def test_an_empty_file_is_named(write_file: Callable[..., Path]) -> None:
    path = write_file("events.csv", "")

    with pytest.raises(
        errors.EmptyFileError, match="is empty \\(0 bytes\\): there are no events to load"
    ) as err:
        cfnb.load(path)

    assert repr(str(path)) in str(err.value)


@pytest.mark.parametrize(
    ("name", "options"),
    [("events.csv", {}), ("events.jsonl", {}), ("events.txt", {"delimiter": "whitespace"})],
)
def test_a_file_of_blank_lines_is_empty(
    name: str, options: dict[str, str], write_file: Callable[..., Path]
) -> None:
    path = write_file(name, "\n  \n\n")

    with pytest.raises(
        errors.EmptyFileError, match="holds only blank lines: there are no events to load"
    ) as err:
        cfnb.load(path, **options)  # type: ignore[arg-type]

    assert repr(str(path)) in str(err.value)


@pytest.mark.parametrize(
    ("content", "options"),
    [
        ("user_id,event,ts\n", {}),
        ("user_id,event,ts", {}),
        ("user_id event ts\n\n", {"delimiter": "whitespace"}),
    ],
)
def test_a_header_without_rows_is_empty_and_names_the_header(
    content: str, options: dict[str, str], write_file: Callable[..., Path]
) -> None:
    path = write_file("events.csv", content)

    with pytest.raises(errors.EmptyFileError) as err:
        cfnb.load(path, **options)  # type: ignore[arg-type]

    message = str(err.value)
    assert f"'{path}' has a header row (user_id, event, ts) but no data rows" in message
    assert "Check that the export finished" in message


def test_an_empty_frame_and_an_empty_parquet_file_are_empty(tmp_path: Path) -> None:
    empty = pl.DataFrame(schema={"user_id": pl.String, "event": pl.String, "ts": pl.String})
    empty.write_parquet(tmp_path / "events.parquet")

    with pytest.raises(errors.EmptyFileError, match="The Polars DataFrame has no rows"):
        cfnb.load(empty)
    with pytest.raises(errors.EmptyFileError, match=r"events\.parquet' holds no rows"):
        cfnb.load(tmp_path / "events.parquet")


# --------------------------------------------------------------------- delimiter


def test_a_wrong_delimiter_names_the_right_one(write_file: Callable[..., Path]) -> None:
    path = write_file("events.csv", "user_id;event;ts\nu1;visit;2026-01-05\n")

    with pytest.raises(errors.WrongDelimiterError) as err:
        cfnb.load(path, delimiter=",")

    message = str(err.value)
    assert f"'{path}' was read as a single column named 'user_id;event;ts'" in message
    assert "its rows look ';'-separated, not ','-separated" in message
    assert "Pass delimiter=';' to cfnb.load" in message


def test_space_separated_columns_suggest_the_whitespace_delimiter(
    write_file: Callable[..., Path],
) -> None:
    path = write_file("events.txt", "user_id  event  ts\nu1  visit  2026-01-05\n")

    with pytest.raises(
        errors.WrongDelimiterError, match=r"Pass delimiter='whitespace' to cfnb\.load"
    ):
        cfnb.load(path)

    assert cfnb.load(path, delimiter="whitespace").report.rows_loaded == 1


# ---------------------------------------------------------------------- encoding

LATIN_1 = "user_id,event,ts,city\nu1,visit,2026-01-05,Montréal\n".encode("latin-1")


@pytest.mark.parametrize("name", ["events.csv", "events.csv.gz"])
def test_a_file_that_is_not_utf8_suggests_latin_1_and_latin_1_works(
    name: str, write_file: Callable[..., Path]
) -> None:
    path = write_file(name, gzip.compress(LATIN_1) if name.endswith(".gz") else LATIN_1)

    with pytest.raises(errors.NotUtf8Error) as err:
        cfnb.load(path)

    message = str(err.value)
    assert f"'{path}' is not UTF-8: line 2 holds bytes that are not valid UTF-8" in message
    assert "Pass encoding='latin-1'" in message
    assert isinstance(err.value, UnicodeError)

    log = cfnb.load(path, encoding="latin-1")
    assert log.events["city"].to_list() == ["Montréal"]


def test_a_header_that_is_not_utf8_is_caught_too(write_file: Callable[..., Path]) -> None:
    # DuckDB's sniffer would drop such a header and take the first row for it.
    path = write_file("events.csv", "user_id,événement,ts\nu1,visit,2026-01-05\n".encode("latin-1"))

    with pytest.raises(errors.NotUtf8Error, match="line 1 holds bytes that are not valid UTF-8"):
        cfnb.load(path)

    assert cfnb.load(path, encoding="latin-1", event="événement").report.rows_loaded == 1


def test_a_bad_byte_beyond_the_first_megabyte_is_still_caught(
    write_file: Callable[..., Path],
) -> None:
    rows = b"".join(b"u%d,visit,2026-01-05,x\n" % i for i in range(60_000))  # about 1.4 MB
    path = write_file(
        "events.csv",
        b"user_id,event,ts,city\n" + rows + "u,visit,2026-01-05,Montréal\n".encode("latin-1"),
    )

    with pytest.raises(errors.NotUtf8Error) as err:
        cfnb.load(path)

    assert f"'{path}' is not UTF-8: line 60002" in str(err.value)
    assert "Pass encoding='latin-1'" in str(err.value)


def test_utf16_text_suggests_utf16(write_file: Callable[..., Path]) -> None:
    path = write_file("events.csv", GOOD.encode("utf-16"))

    with pytest.raises(errors.NotUtf8Error, match=r"Pass encoding='utf-16' to cfnb\.load"):
        cfnb.load(path)

    assert cfnb.load(path, encoding="utf-16").report.rows_loaded == 1


def test_json_lines_that_are_not_utf8_suggest_latin_1(write_file: Callable[..., Path]) -> None:
    path = write_file(
        "events.jsonl", '{"user_id": "é", "event": "x", "ts": "2026-01-05"}\n'.encode("latin-1")
    )

    with pytest.raises(errors.NotUtf8Error, match="line 1 holds bytes"):
        cfnb.load(path)

    assert cfnb.load(path, encoding="latin-1").events["user_id"].to_list() == ["é"]


# ------------------------------------------------------------------- no usable rows


def test_no_usable_rows_carries_the_report_and_the_rejected_rows(
    write_file: Callable[..., Path],
) -> None:
    path = write_file("events.csv", "user_id,event,ts\n,visit,2026-01-05\nu1,visit,someday\n")

    with pytest.raises(errors.NoUsableRowsError) as err:
        cfnb.load(path)

    message = str(err.value)
    assert (
        f"No usable rows in {path}: all 2 rows were rejected (null user: 1, unparseable timestamp: 1)"
        in message
    )
    assert "See err.rejected for the rows" in message
    assert (
        "check the column mapping (user='user_id', event='event', ts='ts') and the timestamp format"
        in message
    )
    assert err.value.report.rows_read == 2
    assert err.value.report.rows_loaded == 0
    assert err.value.rejected.select("row", "reason").rows() == [
        (1, "null user"),
        (2, "unparseable timestamp"),
    ]


# ---------------------------------------------------------------------- options


def test_an_unknown_time_zone_suggests_the_close_name() -> None:
    frame = pl.DataFrame({"user_id": ["u"], "event": ["x"], "ts": ["2026-01-05"]})

    with pytest.raises(errors.TimestampError) as err:
        cfnb.load(frame, tz="Europe/Pariss")

    message = str(err.value)
    assert "Unknown time zone 'Europe/Pariss'. Did you mean 'Europe/Paris'" in message
    assert "Use an IANA name such as 'UTC'" in message


def test_an_unknown_ts_unit_lists_the_units() -> None:
    frame = pl.DataFrame({"user_id": ["u"], "event": ["x"], "ts": [1]})

    with pytest.raises(
        ValueError, match=r"ts_unit must be one of \['ms', 'ns', 's', 'us'\], got 'h'"
    ):
        cfnb.load(frame, ts_unit="h")  # type: ignore[arg-type]


def test_every_load_error_can_be_caught_as_one_cfnb_error(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    for bad in (tmp_path / "missing.csv", tmp_path / "empty.csv", {"not": "a frame"}):
        with pytest.raises(errors.CfnbError):
            cfnb.load(bad)
