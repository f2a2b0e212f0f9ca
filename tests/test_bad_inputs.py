"""The bad-input corpus: every odd export either loads with exact counts or fails clearly.

Each case names one input of ``tests/data/bad`` (the table in its README says what each
is), the options it is loaded with, and the outcome: :class:`Loads` with the exact row
accounting (and, where it matters, the exact events), or :class:`Fails` with the error
type and the words that name the file, row or column and say what to do.
``rows_read == rows_loaded + rejected`` is asserted for every case that loads.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import polars as pl
import pytest

import cfnb
from cfnb import errors
from cfnb.spec import Factory, Stage

BAD = Path(__file__).parent / "data" / "bad"


def _corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bad_corpus", BAD / "make.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


corpus = _corpus()
LONG_EVENT: str = corpus.LONG_EVENT

# visit → signup → buy: enough to show a degenerate log still makes a funnel.
FACTORY = Factory([Stage("Visit", "visit"), Stage("Signup", "signup"), Stage("Buy", "buy")])


@dataclass(frozen=True)
class Loads:
    """The source loads, with exactly these counts."""

    rows_read: int
    rows_loaded: int
    rejected: Mapping[str, int] = field(default_factory=dict)
    users: int | None = None
    # (user_id, event, ts in UTC as ISO text without the offset), in load order
    events: Sequence[tuple[str, str, str]] | None = None
    rejected_rows: Sequence[tuple[int, str]] | None = None  # (row, reason)
    properties: Mapping[str, str] | None = None  # every property column → Polars dtype
    duplicates: int = 0
    funnel: tuple[int, ...] | None = None  # users per stage of FACTORY


@dataclass(frozen=True)
class Fails:
    """Loading raises ``error``, and the message holds each of ``says``.

    ``{path}`` in ``says`` stands for the path of the source.
    """

    error: type[Exception]
    says: tuple[str, ...]


Source = str | Callable[[Path], Any]


@dataclass(frozen=True)
class Case:
    id: str
    source: Source  # a name in tests/data/bad, a name in corpus.BUILT, or a frame builder
    expect: Loads | Fails
    options: Mapping[str, Any] = field(default_factory=dict)


def day(text: str) -> str:
    return text + "T00:00:00"


D5 = day("2026-01-05")


def pandas_mixed_ids(_: Path) -> pd.DataFrame:
    return pd.DataFrame({"user_id": [1, "u1", 2], "event": ["visit"] * 3, "ts": ["2026-01-05"] * 3})


def pandas_float_ids(_: Path) -> pd.DataFrame:
    # pandas turns integer ids into floats as soon as one is missing
    return pd.DataFrame({"user_id": [1, 2, None], "event": ["visit"] * 3, "ts": ["2026-01-05"] * 3})


def polars_private_column(_: Path) -> pl.DataFrame:
    return pl.DataFrame(
        {"user_id": ["u1"], "event": ["visit"], "ts": ["2026-01-05"], "__p_user": ["mallory"]}
    )


def polars_case_duplicates(_: Path) -> pl.DataFrame:
    return pl.DataFrame(
        {"user_id": ["u1"], "event": ["visit"], "ts": ["2026-01-05"], "Plan": ["a"], "plan": ["b"]}
    )


CASES = [
    # ------------------------------------------------------------ shape of the file
    Case("semicolons are detected", "semicolon_delimited.csv", Loads(2, 2, users=2)),
    Case(
        "semicolons read with a comma",
        "semicolon_delimited.csv",
        Fails(
            errors.WrongDelimiterError,
            (
                "'{path}' was read as a single column named 'user_id;event;ts'",
                "its rows look ';'-separated, not ','-separated",
                "Pass delimiter=';' to cfnb.load",
            ),
        ),
        {"delimiter": ","},
    ),
    Case("pipes are detected", "pipe_delimited.csv", Loads(2, 2, users=2)),
    Case(
        "pipes read with a semicolon",
        "pipe_delimited.csv",
        Fails(errors.WrongDelimiterError, ("Pass delimiter='|' to cfnb.load",)),
        {"delimiter": ";"},
    ),
    Case(
        "space separated",
        "space_separated.txt",
        Fails(
            errors.WrongDelimiterError,
            (
                "'{path}' was read as a single column named 'user_id  event  ts'",
                "Pass delimiter='whitespace' to cfnb.load",
            ),
        ),
    ),
    Case(
        "space separated, whitespace delimiter",
        "space_separated.txt",
        Loads(2, 2),
        {"delimiter": "whitespace"},
    ),
    Case(
        "quoted newlines",
        "quoted_newlines.csv",
        Loads(
            3,
            3,
            events=[("u1", "multi\nline", D5), ("u2", "visit", D5), ("u3", "two\n\nblank", D5)],
        ),
    ),
    Case(
        "ragged rows",
        "ragged_rows.csv",
        Loads(
            4,
            2,
            {"malformed line": 2},
            rejected_rows=[(2, "malformed line"), (3, "malformed line")],
        ),
    ),
    Case(
        "header only",
        "header_only.csv",
        Fails(
            errors.EmptyFileError,
            (
                "'{path}' has a header row (user_id, event, ts) but no data rows",
                "Check that the export finished",
            ),
        ),
    ),
    Case(
        "empty file",
        "empty.csv",
        Fails(errors.EmptyFileError, ("'{path}' is empty (0 bytes): there are no events",)),
    ),
    Case(
        "blank lines only",
        "blank_lines_only.csv",
        Fails(errors.EmptyFileError, ("'{path}' holds only blank lines",)),
    ),
    Case("blank lines between rows", "blank_lines_between.csv", Loads(2, 2)),
    Case(
        "no header row",
        "no_header.csv",
        Fails(
            errors.ColumnNotFoundError,
            (
                "No user column found in {path}",
                "Columns found: 'u1', 'visit', '2026-01-05'",
                "if the file has no header row, pass columns=[...]",
            ),
        ),
    ),
    Case(
        "no header row, columns given",
        "no_header.csv",
        Loads(2, 2, users=2),
        {"columns": ["user_id", "event", "ts"]},
    ),
    Case(
        "a single column",
        "single_column.csv",
        Fails(
            errors.ColumnNotFoundError,
            ("No event column found in {path}", "Columns found: 'user_id'", "Pass event="),
        ),
    ),
    Case(
        "CRLF line endings",
        "crlf.csv",
        Loads(2, 2, events=[("u1", "visit", D5), ("u2", "signup", day("2026-01-06"))]),
    ),
    Case("trailing delimiter on rows", "trailing_delimiter.csv", Loads(2, 2, properties={})),
    Case(
        "trailing delimiter on every line",
        "trailing_delimiter_header.csv",
        Loads(2, 2, properties={"column3": "String"}),
    ),
    Case(
        "TSV",
        "events.tsv",
        Loads(2, 2, events=[("u1", "visit", D5), ("u2", "sign up", day("2026-01-06"))]),
    ),
    Case(
        # The sniffer reads a file with an unclosed quote without quoting: nothing is lost,
        # and the quote stays in the value.
        "unterminated quote",
        "unterminated_quote.csv",
        Loads(3, 3, events=[("u1", "visit", D5), ("u2", '"visit', D5), ("u3", "visit", D5)]),
    ),
    Case(
        "stray quote inside a value",
        "stray_quote.csv",
        Loads(2, 2, events=[("u1", 'vi"sit', D5), ("u2", "a,b", D5)]),
    ),
    Case(
        "duplicate header names",
        "duplicate_header.csv",
        Loads(1, 1, properties={"plan": "String", "plan_1": "String"}),
    ),
    Case(
        "the user column twice",
        "duplicate_user_header.csv",
        Loads(1, 1, events=[("u1", "visit", D5)], properties={"user_id_1": "String"}),
    ),
    Case(
        # DuckDB names are case-insensitive: like a repeated name, the second gets '_1'.
        "header names that differ only in case",
        "case_duplicate_header.csv",
        Loads(1, 1, properties={"Plan": "String", "plan_1": "String"}),
    ),
    Case(
        "a frame with columns that differ only in case",
        polars_case_duplicates,
        Fails(
            errors.LoadError,
            (
                "Columns 'Plan' and 'plan' of the Polars DataFrame differ only in case",
                "rename one of them before loading",
            ),
        ),
    ),
    Case("header names padded with spaces", "header_with_spaces.csv", Loads(1, 1)),
    Case(
        "unrecognised column names",
        "unrecognised_columns.csv",
        Fails(
            errors.ColumnNotFoundError,
            (
                "No event column found in {path}",
                "'user id', 'event.name', 'time stamp'",
                "Pass event='<column>' to cfnb.load",
            ),
        ),
    ),
    Case(
        "unrecognised column names, mapped",
        "unrecognised_columns.csv",
        Loads(1, 1, events=[("u1", "visit", D5)], properties={}),
        {"event": "event.name", "ts": "time stamp"},
    ),
    Case(
        "two user columns",
        "ambiguous_columns.csv",
        Fails(
            errors.AmbiguousColumnError,
            (
                "Several columns of {path} could be the user column: 'user_id', 'distinct_id'",
                "Pass user='<column>' to cfnb.load to choose one",
            ),
        ),
    ),
    Case(
        "a property named user_id",
        "clashing_column.csv",
        Fails(
            errors.LoadError,
            (
                "Column 'user_id' of {path} would clash with cfnb's own 'user_id' column",
                "Rename it before loading",
            ),
        ),
        {"user": "customer"},
    ),
    Case(
        "a column named __reason",
        "reserved_column.csv",
        Fails(
            errors.LoadError,
            ("Column '__reason' of {path} is reserved by cfnb", "rename it before loading"),
        ),
    ),
    Case(
        "a column named __file",
        "reserved_file_column.csv",
        Fails(
            errors.LoadError,
            ("Column '__file' of {path} is reserved by cfnb", "rename it before loading"),
        ),
    ),
    Case(
        "JSON Lines with broken lines",
        "broken_lines.jsonl",
        Loads(
            4,
            2,
            {"malformed line": 2},
            rejected_rows=[(2, "malformed line"), (3, "malformed line")],
        ),
    ),
    Case(
        "JSON Lines with nested values",
        "nested_values.jsonl",
        Loads(
            2,
            2,
            events=[("u1", "visit", D5), ("2", "buy", day("2026-01-06"))],
            properties={"ctx": "String", "tags": "String"},
        ),
    ),
    Case(
        "a Parquet file that is not one",
        "corrupt.parquet",
        Fails(
            errors.LoadError, ("'{path}' is not a readable Parquet file", "Remove or replace it")
        ),
    ),
    Case(
        "a .gz file that is not gzip",
        "not_gzip.csv.gz",
        Fails(
            errors.LoadError,
            ("'{path}' is not a complete gzip file", "Download or export it again"),
        ),
    ),
    Case("gzip", "events.csv.gz", Loads(2, 2)),
    Case(
        "gzip cut short",
        "truncated.csv.gz",
        Fails(
            errors.LoadError,
            ("'{path}' is not a complete gzip file", "Download or export it again"),
        ),
    ),
    Case(
        "a Parquet file named .csv",
        "parquet_named.csv",
        Fails(
            errors.UnsupportedSourceError,
            ("'{path}' is a Parquet file, not text", "pass format='parquet'"),
        ),
    ),
    Case("Parquet read as Parquet", "parquet_named.csv", Loads(1, 1), {"format": "parquet"}),
    # ------------------------------------------------------------ encodings
    Case("byte order mark", "bom.csv", Loads(1, 1, events=[("u1", "visit", D5)])),
    Case(
        "Latin-1 bytes",
        "latin1.csv",
        Fails(
            errors.NotUtf8Error,
            ("'{path}' is not UTF-8: line 2 holds bytes", "Pass encoding='latin-1'"),
        ),
    ),
    Case(
        "Latin-1 bytes, encoding given",
        "latin1.csv",
        Loads(1, 1, events=[("u1", "café", D5)]),
        {"encoding": "latin-1"},
    ),
    Case(
        "UTF-16",
        "utf16.csv",
        Fails(errors.NotUtf8Error, ("'{path}' is UTF-16 text", "Pass encoding='utf-16'")),
    ),
    Case("UTF-16, encoding given", "utf16.csv", Loads(1, 1), {"encoding": "utf-16"}),
    Case(
        "binary garbage",
        "binary_garbage.csv",
        Fails(errors.NotUtf8Error, ("'{path}' is not UTF-8: line 1 holds bytes",)),
    ),
    # ------------------------------------------------------------ user ids, event names
    Case(
        # Empty, space-only and quoted-empty ids are missing. The words NULL and null are
        # ids, and so is a lone tab: only spaces make a blank (cfnb/loading.py docs).
        "null and empty user ids",
        "null_user_ids.csv",
        Loads(
            7,
            4,
            {"null user": 3},
            users=4,
            rejected_rows=[(2, "null user"), (3, "null user"), (5, "null user")],
        ),
    ),
    Case("null and blank events", "null_events.csv", Loads(3, 1, {"null event": 2})),
    Case(
        # Ids are text as written: '1', '001' and '1.0' are three users.
        "numeric and text user ids mixed",
        "mixed_user_ids.csv",
        Loads(
            5,
            5,
            users=4,
            events=[
                ("1", "visit", D5),
                ("001", "visit", D5),
                ("u1", "visit", D5),
                ("1.0", "visit", D5),
                ("1", "signup", day("2026-01-06")),
            ],
        ),
    ),
    Case(
        "a 30-digit user id",
        "huge_user_id.csv",
        Loads(1, 1, events=[("123456789012345678901234567890", "visit", D5)]),
    ),
    Case(
        # Ids and names are kept as written (a padded id is another user); times are trimmed.
        "values padded with spaces",
        "padded_values.csv",
        Loads(2, 2, users=2, events=[("  u1  ", "  visit  ", D5), ("u1", "visit", D5)]),
    ),
    Case(
        "numbers as event names",
        "numeric_event_names.csv",
        Loads(3, 3, events=[("u1", "1", D5), ("u2", "2", D5), ("u3", "2.50", D5)]),
    ),
    Case(
        "event names with quotes, semicolons, newlines, emoji, SQL and 10 KB",
        "odd_event_names.csv",
        Loads(
            7,
            7,
            events=[
                ("u1", 'say "hi"', D5),
                ("u1", "a;b;c", D5),
                ("u1", "line\nbreak", D5),
                ("u1", "🚀 launch ✨", D5),
                ("u1", "'; DROP TABLE events; --", D5),
                ("u1", "C:\\path\\to", D5),
                ("u1", LONG_EVENT, D5),
            ],
        ),
    ),
    Case(
        "pandas ids mixing numbers and text",
        pandas_mixed_ids,
        Fails(
            errors.LoadError,
            (
                "Column 'user_id' of the pandas DataFrame mixes values of types int, str",
                "df['user_id'] = df['user_id'].astype(str)",
            ),
        ),
    ),
    Case(
        "pandas integer ids with a gap",
        pandas_float_ids,
        Loads(3, 2, {"null user": 1}, events=[("1", "visit", D5), ("2", "visit", D5)]),
    ),
    # ------------------------------------------------------------ timestamps
    Case(
        "naive times in New York",
        "timestamps_naive.csv",
        Loads(
            3,
            3,
            events=[
                ("u1", "visit", "2026-01-05T14:00:00"),
                ("u1", "visit", "2026-01-05T14:30:00"),
                ("u1", "visit", "2026-07-05T13:00:00.250000"),
            ],
        ),
        {"tz": "America/New_York"},
    ),
    Case(
        # The naive time is read in UTC, so rows 3 and 5 are one instant: exact duplicates.
        "mixed offsets",
        "timestamps_mixed_offsets.csv",
        Loads(
            5,
            5,
            duplicates=1,
            events=[
                ("u1", "visit", "2026-01-05T07:00:00"),
                ("u1", "visit", "2026-01-05T14:00:00"),
                ("u1", "visit", "2026-01-05T09:00:00"),
                ("u1", "visit", "2026-01-05T03:30:00"),
                ("u1", "visit", "2026-01-05T09:00:00"),
            ],
        ),
    ),
    Case(
        # 02:30 does not exist on 8 March 2026 in New York: read with the offset before
        # the gap (-05:00), so it lands after 03:00 EDT.
        "a daylight-saving gap",
        "timestamps_dst_gap.csv",
        Loads(
            3,
            3,
            events=[
                ("u1", "visit", "2026-03-08T06:59:59"),
                ("u1", "visit", "2026-03-08T07:30:00"),
                ("u1", "visit", "2026-03-08T07:00:00"),
            ],
        ),
        {"tz": "America/New_York"},
    ),
    Case(
        # 01:30 happens twice on 1 November 2026 in New York: the later one (EST) is taken.
        "a daylight-saving overlap",
        "timestamps_dst_overlap.csv",
        Loads(
            3,
            3,
            events=[
                ("u1", "visit", "2026-11-01T04:59:59"),
                ("u1", "visit", "2026-11-01T06:30:00"),
                ("u1", "visit", "2026-11-01T07:00:00"),
            ],
        ),
        {"tz": "America/New_York"},
    ),
    Case(
        "naive Parquet times in New York, integer ids",
        "naive_datetimes.parquet",
        Loads(
            3,
            3,
            events=[
                ("1", "visit", "2026-03-08T07:30:00"),
                ("2", "visit", "2026-11-01T06:30:00"),
                ("3", "visit", "2026-01-05T14:00:00"),
            ],
        ),
        {"tz": "America/New_York"},
    ),
    Case(
        "dates only",
        "timestamps_dates_only.csv",
        Loads(
            3,
            3,
            events=[
                ("u1", "visit", D5),
                ("u1", "visit", day("2026-01-06")),
                ("u1", "visit", day("2026-01-07")),
            ],
        ),
    ),
    Case(
        "YYYYMMDD numbers",
        "timestamps_yyyymmdd.csv",
        Loads(
            3,
            2,
            {"unparseable timestamp": 1},
            rejected_rows=[(3, "unparseable timestamp")],
        ),
    ),
    *(
        Case(
            f"epoch {unit}",
            f"timestamps_epoch_{unit}.csv",
            Loads(
                2,
                2,
                events=[
                    ("u1", "visit", "2026-01-05T09:00:00"),
                    ("u1", "visit", "2026-01-05T09:00:00.250000"),
                ],
            ),
        )
        for unit in ("s", "ms", "us")
    ),
    Case(
        "epoch numbers of two units",
        "timestamps_epoch_mixed_units.csv",
        Fails(
            errors.TimestampError,
            (
                "Column 'ts' holds epoch numbers whose units disagree",
                "Pass ts_unit='s', 'ms', 'us' or 'ns'",
            ),
        ),
    ),
    Case(
        # DuckDB's range ends with year 9999: year 10000 is rejected, not wrapped.
        "far past and future",
        "timestamps_far_past_future.csv",
        Loads(
            5,
            4,
            {"unparseable timestamp": 1},
            events=[
                ("u1", "visit", "0001-01-01T00:00:00"),
                ("u1", "visit", "1900-01-01T00:00:00"),
                ("u1", "visit", "2200-01-01T00:00:00"),
                ("u1", "visit", "9999-12-31T23:59:59"),
            ],
            rejected_rows=[(5, "unparseable timestamp")],
        ),
    ),
    Case(
        "unparseable times",
        "timestamps_unparseable.csv",
        Loads(
            6,
            1,
            {"unparseable timestamp": 5},
            rejected_rows=[(row, "unparseable timestamp") for row in range(1, 6)],
        ),
    ),
    Case(
        "every time empty",
        "timestamps_all_empty.csv",
        Fails(
            errors.NoUsableRowsError,
            (
                "No usable rows in {path}: all 2 rows were rejected (null timestamp: 2)",
                "See err.rejected for the rows",
            ),
        ),
    ),
    # ------------------------------------------------------------ rows and values
    Case(
        # Row 4 is the same instant written another way: an exact duplicate too.
        "duplicate rows, kept",
        "duplicate_rows.csv",
        Loads(4, 4, duplicates=2, users=2),
    ),
    Case(
        "duplicate rows, dropped",
        "duplicate_rows.csv",
        Loads(
            4,
            2,
            {"duplicate": 2},
            duplicates=2,
            rejected_rows=[(2, "duplicate"), (4, "duplicate")],
        ),
        {"duplicates": "drop"},
    ),
    Case("all events at one instant", "one_instant.csv", Loads(4, 4, users=3, funnel=(2, 1, 0))),
    Case("one user", "one_user.csv", Loads(3, 3, users=1, funnel=(1, 1, 1))),
    Case("one day", "one_day.csv", Loads(4, 4, users=2, funnel=(2, 1, 1))),
    Case(
        "columns named select, from, order, group",
        "sql_keyword_columns.csv",
        Loads(
            2,
            2,
            properties={"select": "Int64", "from": "String", "order": "String", "group": "String"},
        ),
    ),
    Case(
        "SQL keywords as the user, event and time columns",
        "sql_keyword_mapping.csv",
        Loads(1, 1, events=[("u1", "visit", D5)], properties={"group": "String"}),
        {"user": "select", "event": "from", "ts": "order"},
    ),
    Case(
        "a property of mixed types",
        "mixed_type_property.csv",
        Loads(5, 5, properties={"value": "String"}),
    ),
    Case(
        "NaN and inf in a property",
        "nan_and_inf_property.csv",
        Loads(3, 3, properties={"amount": "String"}),
    ),
    Case(
        "Parquet with struct, list and map columns",
        "nested_columns.parquet",
        Loads(
            3,
            2,
            {"null user": 1},
            properties={
                "ctx": "Struct({'a': Int64, 'b': String})",
                "tags": "List(String)",
                "attrs": "Map(String, Int64)",
            },
        ),
    ),
    Case(
        "a frame with a column named __p_user",
        polars_private_column,
        Fails(errors.LoadError, ("Column '__p_user' of Polars DataFrame is reserved by cfnb",)),
    ),
    # ------------------------------------------------------------ directories
    Case(
        "a directory with a ragged file",
        "dir_with_ragged_file",
        Loads(3, 2, {"malformed line": 1}, rejected_rows=[(1, "malformed line")]),
    ),
    Case(
        "a directory with a Latin-1 file",
        "dir_with_latin1_file",
        Fails(errors.NotUtf8Error, ("'{path}/b.csv' is not UTF-8", "Pass encoding='latin-1'")),
    ),
    Case(
        # An empty part holds no record; exporters write them for empty partitions.
        "a directory with an empty file",
        "dir_with_empty_file",
        Loads(1, 1),
    ),
    Case("a directory with a header-only file", "dir_with_header_only_file", Loads(1, 1)),
    Case(
        "a directory with a file with an extra column",
        "dir_with_extra_column",
        Fails(
            errors.LoadError,
            (
                "'plan' is not in the first file ('{path}/a.csv'), so its values would be lost",
                "Give every file the same header row",
            ),
        ),
    ),
    Case(
        "a directory with a file missing a column",
        "dir_with_missing_column",
        Fails(
            errors.LoadError,
            ("do not all have the same columns", '"plan"', "Give every file the same header row"),
        ),
    ),
    Case(
        "a directory with columns in another order",
        "dir_with_reordered_columns",
        Loads(2, 2, events=[("u1", "visit", D5), ("u2", "signup", day("2026-01-06"))]),
    ),
    Case(
        "a directory with a broken JSON Lines file",
        "dir_with_broken_jsonl",
        Loads(3, 1, {"malformed line": 2}),
    ),
    Case(
        "a directory with a corrupt Parquet file",
        "dir_with_corrupt_parquet",
        Fails(
            errors.LoadError,
            (
                "'{path}/b.parquet' is not a readable Parquet file",
                "Remove or replace it (the other files are fine)",
            ),
        ),
    ),
    Case(
        "a directory with a gzip file cut short",
        "dir_with_truncated_gz",
        Fails(
            errors.LoadError,
            ("'{path}/b.csv.gz' is not a complete gzip file", "move it out of the way"),
        ),
    ),
]


def _source(source: Source, tmp_path: Path) -> Any:
    if callable(source):
        return source(tmp_path)
    if source in corpus.BUILT:
        return corpus.BUILT[source](tmp_path)
    return BAD / source


def _events(log: cfnb.EventLog) -> list[tuple[str, str, str]]:
    return [
        (user, event, ts.astimezone(dt.UTC).replace(tzinfo=None).isoformat())
        for user, event, ts in log.events.select("user_id", "event", "ts").iter_rows()
    ]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_bad_input_loads_exactly_or_fails_clearly(case: Case, tmp_path: Path) -> None:
    source = _source(case.source, tmp_path)
    expect = case.expect

    if isinstance(expect, Fails):
        with pytest.raises(expect.error) as err:
            cfnb.load(source, **case.options)
        message = str(err.value)
        for words in expect.says:
            assert words.replace("{path}", str(source)) in message
        assert isinstance(err.value, errors.CfnbError)  # one except catches them all
        return

    log = cfnb.load(source, **case.options)

    report = log.report
    assert report.rows_read == report.rows_loaded + report.rows_rejected
    assert len(log.rejected) == report.rows_rejected
    assert len(log.events) == report.rows_loaded
    assert (report.rows_read, report.rows_loaded, dict(report.rejected)) == (
        expect.rows_read,
        expect.rows_loaded,
        dict(expect.rejected),
    )
    assert report.duplicates == expect.duplicates
    if expect.users is not None:
        assert report.users == expect.users
    if expect.events is not None:
        assert _events(log) == list(expect.events)
    if expect.rejected_rows is not None:
        assert log.rejected.select("row", "reason").rows() == list(expect.rejected_rows)
    if expect.properties is not None:
        props = {k: str(v) for k, v in log.schema.items() if k not in ("user_id", "event", "ts")}
        assert props == dict(expect.properties)
    if expect.funnel is not None:
        funnel = FACTORY.run(log).funnel().table
        assert tuple(funnel["users"]) == expect.funnel


def test_the_corpus_has_at_least_40_cases_and_uses_every_input() -> None:
    inputs = {case.source for case in CASES if isinstance(case.source, str)}
    committed = {name.split("/")[0] for name in corpus.FILES}
    assert len(CASES) >= 40
    assert committed | set(corpus.BUILT) == inputs


def test_the_committed_files_are_what_make_py_writes() -> None:
    # Edit make.py and run it, never the files: the corpus stays reproducible.
    on_disk = {
        path.relative_to(BAD).as_posix()
        for path in BAD.rglob("*")
        if path.is_file()
        and path.name not in ("make.py", "README.md")
        and "__pycache__" not in path.parts
    }
    assert on_disk == set(corpus.FILES)
    for name, content in corpus.FILES.items():
        expected = content.encode("utf-8") if isinstance(content, str) else content
        assert (BAD / name).read_bytes() == expected, name


def test_the_readme_lists_every_input() -> None:
    readme = (BAD / "README.md").read_text(encoding="utf-8")
    names = {case.source for case in CASES if isinstance(case.source, str)}
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert not missing
