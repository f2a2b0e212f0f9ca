"""Write the bad-input corpus: small event logs that are wrong in one way each.

Run ``python tests/data/bad/make.py`` to rewrite the committed files beside this script
from :data:`FILES` (``tests/test_bad_inputs.py`` checks they match). Binary sources whose
bytes depend on library versions (Parquet, gzip) are not committed: :data:`BUILT` makes
them into a test's temporary directory. What cfnb does with each input is stated in
``README.md`` and asserted in ``tests/test_bad_inputs.py``.
"""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Callable
from pathlib import Path

HEADER = "user_id,event,ts\n"
ROW = "u1,visit,2026-01-05T09:00:00Z\n"
LONG_EVENT = "long_" + "x" * 10_235  # a 10 KB event name

FILES: dict[str, str | bytes] = {
    # ---------------------------------------------------------------- shape of the file
    "semicolon_delimited.csv": "user_id;event;ts\nu1;visit;2026-01-05\nu2;signup;2026-01-06\n",
    "pipe_delimited.csv": "user_id|event|ts\nu1|visit|2026-01-05\nu2|signup|2026-01-06\n",
    "space_separated.txt": "user_id  event  ts\nu1  visit  2026-01-05\nu2  signup  2026-01-06\n",
    "quoted_newlines.csv": HEADER
    + 'u1,"multi\nline",2026-01-05\n'
    + "u2,visit,2026-01-05\n"
    + 'u3,"two\n\nblank",2026-01-05\n',
    "ragged_rows.csv": HEADER
    + "u1,visit,2026-01-05\n"
    + "u2,visit\n"
    + "u3,visit,2026-01-05,extra\n"
    + "u4,visit,2026-01-05\n",
    "header_only.csv": HEADER,
    "empty.csv": "",
    "blank_lines_only.csv": "\n  \n\n",
    "blank_lines_between.csv": HEADER + "u1,visit,2026-01-05\n\n   \nu2,visit,2026-01-05\n\n",
    "no_header.csv": "u1,visit,2026-01-05\nu2,signup,2026-01-06\n",
    "single_column.csv": "user_id\nu1\nu2\n",
    "crlf.csv": "user_id,event,ts\r\nu1,visit,2026-01-05\r\nu2,signup,2026-01-06\r\n",
    "trailing_delimiter.csv": HEADER + "u1,visit,2026-01-05,\nu2,signup,2026-01-06,\n",
    "trailing_delimiter_header.csv": "user_id,event,ts,\nu1,visit,2026-01-05,\nu2,signup,2026-01-06,\n",
    "events.tsv": "user_id\tevent\tts\nu1\tvisit\t2026-01-05\nu2\tsign up\t2026-01-06\n",
    "unterminated_quote.csv": HEADER
    + "u1,visit,2026-01-05\n"
    + 'u2,"visit,2026-01-05\n'
    + "u3,visit,2026-01-05\n",
    "stray_quote.csv": HEADER + 'u1,vi"sit,2026-01-05\nu2,"a,b",2026-01-05\n',
    "duplicate_header.csv": "user_id,event,ts,plan,plan\nu1,visit,2026-01-05,free,pro\n",
    "duplicate_user_header.csv": "user_id,event,ts,user_id\nu1,visit,2026-01-05,u9\n",
    "case_duplicate_header.csv": "user_id,event,ts,Plan,plan\nu1,visit,2026-01-05,a,b\n",
    "header_with_spaces.csv": " user_id , event , ts \nu1,visit,2026-01-05\n",
    "unrecognised_columns.csv": "user id,event.name,time stamp\nu1,visit,2026-01-05\n",
    "ambiguous_columns.csv": "user_id,distinct_id,event,ts\nu1,d1,visit,2026-01-05\n",
    "clashing_column.csv": "customer,user_id,event,ts\nc1,u1,visit,2026-01-05\n",
    "reserved_column.csv": "user_id,event,ts,__reason\nu1,visit,2026-01-05,looks like a reason\n",
    "reserved_file_column.csv": "user_id,event,ts,__file\nu1,visit,2026-01-05,x.csv\n",
    "broken_lines.jsonl": '{"user_id": "u1", "event": "visit", "ts": "2026-01-05"}\n'
    + '{"user_id": "u2", "event":\n'
    + "[1, 2]\n"
    + '{"user_id": "u3", "event": "visit", "ts": "2026-01-05"}\n',
    "nested_values.jsonl": '{"user_id": "u1", "event": "visit", "ts": "2026-01-05", '
    + '"ctx": {"a": [1, 2]}, "tags": ["x"]}\n'
    + '{"ts": "2026-01-06", "event": "buy", "user_id": 2}\n',
    "corrupt.parquet": b"PAR1 this is not a Parquet file",
    "not_gzip.csv.gz": HEADER + ROW,
    # ---------------------------------------------------------------- encodings
    "bom.csv": "\ufeff" + HEADER + "u1,visit,2026-01-05\n",
    "latin1.csv": (HEADER + "u1,café,2026-01-05\n").encode("latin-1"),
    "utf16.csv": (HEADER + "u1,visit,2026-01-05\n").encode("utf-16"),
    "binary_garbage.csv": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
    # ---------------------------------------------------------------- user ids, event names
    "null_user_ids.csv": HEADER
    + "u1,visit,2026-01-05\n"
    + ",visit,2026-01-05\n"
    + "   ,visit,2026-01-05\n"
    + "\t,visit,2026-01-05\n"
    + '"",visit,2026-01-05\n'
    + "NULL,visit,2026-01-05\n"
    + "null,visit,2026-01-05\n",
    "null_events.csv": HEADER + "u1,visit,2026-01-05\nu2,,2026-01-05\nu3,  ,2026-01-05\n",
    "mixed_user_ids.csv": HEADER
    + "1,visit,2026-01-05\n"
    + "001,visit,2026-01-05\n"
    + "u1,visit,2026-01-05\n"
    + "1.0,visit,2026-01-05\n"
    + "1,signup,2026-01-06\n",
    "huge_user_id.csv": HEADER + "123456789012345678901234567890,visit,2026-01-05\n",
    "padded_values.csv": HEADER + "  u1  ,  visit  ,  2026-01-05  \nu1,visit,2026-01-05\n",
    "numeric_event_names.csv": HEADER + "u1,1,2026-01-05\nu2,2,2026-01-05\nu3,2.50,2026-01-05\n",
    "odd_event_names.csv": HEADER
    + 'u1,"say ""hi""",2026-01-05\n'
    + "u1,a;b;c,2026-01-05\n"
    + 'u1,"line\nbreak",2026-01-05\n'
    + "u1,🚀 launch ✨,2026-01-05\n"
    + "u1,'; DROP TABLE events; --,2026-01-05\n"
    + "u1,C:\\path\\to,2026-01-05\n"
    + f"u1,{LONG_EVENT},2026-01-05\n",
    # ---------------------------------------------------------------- timestamps
    "timestamps_naive.csv": HEADER
    + "u1,visit,2026-01-05 09:00:00\n"
    + "u1,visit,2026-01-05T09:30\n"
    + "u1,visit,2026-07-05 09:00:00.250\n",
    "timestamps_mixed_offsets.csv": HEADER
    + "u1,visit,2026-01-05T09:00:00+02:00\n"
    + "u1,visit,2026-01-05T09:00:00-05:00\n"
    + "u1,visit,2026-01-05T09:00:00Z\n"
    + "u1,visit,2026-01-05 09:00:00 +0530\n"
    + "u1,visit,2026-01-05 09:00:00\n",
    "timestamps_dst_gap.csv": HEADER
    + "u1,visit,2026-03-08 01:59:59\n"
    + "u1,visit,2026-03-08 02:30:00\n"
    + "u1,visit,2026-03-08 03:00:00\n",
    "timestamps_dst_overlap.csv": HEADER
    + "u1,visit,2026-11-01 00:59:59\n"
    + "u1,visit,2026-11-01 01:30:00\n"
    + "u1,visit,2026-11-01 02:00:00\n",
    "timestamps_dates_only.csv": HEADER
    + "u1,visit,2026-01-05\n"
    + "u1,visit,2026-1-6\n"
    + "u1,visit,2026/01/07\n",
    "timestamps_yyyymmdd.csv": HEADER + "u1,visit,20260105\nu1,visit,20260106\nu1,visit,20261399\n",
    "timestamps_epoch_s.csv": HEADER + "u1,visit,1767603600\nu1,visit,1767603600.25\n",
    "timestamps_epoch_ms.csv": HEADER + "u1,visit,1767603600000\nu1,visit,1767603600250\n",
    "timestamps_epoch_us.csv": HEADER + "u1,visit,1767603600000000\nu1,visit,1767603600250000\n",
    "timestamps_epoch_mixed_units.csv": HEADER + "u1,visit,1767603600\nu1,visit,1767603600000\n",
    "timestamps_far_past_future.csv": HEADER
    + "u1,visit,0001-01-01\n"
    + "u1,visit,1900-01-01T00:00:00Z\n"
    + "u1,visit,2200-01-01\n"
    + "u1,visit,9999-12-31T23:59:59Z\n"
    + "u1,visit,10000-01-01\n",
    "timestamps_unparseable.csv": HEADER
    + "u1,visit,yesterday\n"
    + "u1,visit,05/01/2026\n"
    + "u1,visit,2026-13-45\n"
    + "u1,visit,infinity\n"
    + "u1,visit,2026-01-05 09:00 Mars/Olympus\n"
    + "u1,visit,2026-01-05\n",
    "timestamps_all_empty.csv": HEADER + "u1,visit,\nu2,visit,   \n",
    # ---------------------------------------------------------------- rows and values
    "duplicate_rows.csv": HEADER
    + "u1,visit,2026-01-05\n"
    + "u1,visit,2026-01-05\n"
    + "u2,visit,2026-01-05\n"
    + "u1,visit,2026-01-05T00:00:00Z\n",
    "one_instant.csv": HEADER
    + "u1,visit,2026-01-05T12:00:00Z\n"
    + "u1,signup,2026-01-05T12:00:00Z\n"
    + "u2,visit,2026-01-05T12:00:00Z\n"
    + "u3,buy,2026-01-05T12:00:00Z\n",
    "one_user.csv": HEADER
    + "u1,visit,2026-01-05T09:00:00Z\n"
    + "u1,signup,2026-01-07T09:00:00Z\n"
    + "u1,buy,2026-02-10T09:00:00Z\n",
    "one_day.csv": HEADER
    + "u1,visit,2026-01-05T00:00:00Z\n"
    + "u2,visit,2026-01-05T08:00:00Z\n"
    + "u1,signup,2026-01-05T12:00:00Z\n"
    + "u1,buy,2026-01-05T23:59:59Z\n",
    "sql_keyword_columns.csv": "user_id,event,ts,select,from,order,group\n"
    + "u1,visit,2026-01-05,1,a,x,g\nu2,visit,2026-01-05,2,b,y,h\n",
    "sql_keyword_mapping.csv": "select,from,order,group\nu1,visit,2026-01-05,g\n",
    "mixed_type_property.csv": "user_id,event,ts,value\n"
    + "u1,visit,2026-01-05,1\n"
    + "u1,visit,2026-01-05,two\n"
    + "u1,visit,2026-01-05,3.5\n"
    + "u1,visit,2026-01-05,true\n"
    + "u1,visit,2026-01-05,\n",
    "nan_and_inf_property.csv": "user_id,event,ts,amount\n"
    + "u1,visit,2026-01-05,NaN\n"
    + "u1,visit,2026-01-05,inf\n"
    + "u1,visit,2026-01-05,1.5\n",
    # ---------------------------------------------------------------- directories
    "dir_with_ragged_file/a.csv": HEADER + "u1,visit,2026-01-05\n",
    "dir_with_ragged_file/b.csv": HEADER + "u2,visit\nu3,visit,2026-01-05\n",
    "dir_with_latin1_file/a.csv": HEADER + "u1,visit,2026-01-05\n",
    "dir_with_latin1_file/b.csv": (HEADER + "u2,café,2026-01-05\n").encode("latin-1"),
    "dir_with_empty_file/a.csv": HEADER + "u1,visit,2026-01-05\n",
    "dir_with_empty_file/b.csv": "",
    "dir_with_header_only_file/a.csv": HEADER + "u1,visit,2026-01-05\n",
    "dir_with_header_only_file/b.csv": HEADER,
    "dir_with_extra_column/a.csv": HEADER + "u1,visit,2026-01-05\n",
    "dir_with_extra_column/b.csv": "user_id,event,ts,plan\nu2,visit,2026-01-05,pro\n",
    "dir_with_missing_column/a.csv": "user_id,event,ts,plan\nu1,visit,2026-01-05,pro\n",
    "dir_with_missing_column/b.csv": HEADER + "u2,visit,2026-01-05\n",
    "dir_with_reordered_columns/a.csv": HEADER + "u1,visit,2026-01-05\n",
    "dir_with_reordered_columns/b.csv": "ts,event,user_id\n2026-01-06,signup,u2\n",
    "dir_with_broken_jsonl/a.jsonl": '{"user_id": "u1", "event": "visit", "ts": "2026-01-05"}\n',
    "dir_with_broken_jsonl/b.jsonl": 'not json\n{"user_id": "u2"\n',
}


def _events_table() -> object:
    import pyarrow as pa

    return pa.table({"user_id": ["u1"], "event": ["visit"], "ts": ["2026-01-05"]})


def _nested_parquet(root: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    utc = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    table = pa.table(
        {
            "user_id": ["u1", "u2", None],
            "event": ["visit", "visit", "visit"],
            "ts": pa.array([utc, utc, utc]),
            "ctx": pa.array([{"a": 1, "b": "x"}, {"a": None, "b": "y"}, None]),
            "tags": pa.array([["x", "y"], [], None]),
            "attrs": pa.array([[("k", 1)], [], None], type=pa.map_(pa.string(), pa.int64())),
        }
    )
    pq.write_table(table, root / "nested_columns.parquet")
    return root / "nested_columns.parquet"


def _naive_parquet(root: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "user_id": [1, 2, 3],  # integer ids
            "event": ["visit", "visit", "visit"],
            "ts": pa.array(
                [
                    dt.datetime(2026, 3, 8, 2, 30),  # in New York's spring gap
                    dt.datetime(2026, 11, 1, 1, 30),  # in its autumn overlap
                    dt.datetime(2026, 1, 5, 9, 0),
                ]
            ),
        }
    )
    pq.write_table(table, root / "naive_datetimes.parquet")
    return root / "naive_datetimes.parquet"


def _parquet_named_csv(root: Path) -> Path:
    import pyarrow.parquet as pq

    pq.write_table(_events_table(), root / "parquet_named.csv")  # type: ignore[arg-type]
    return root / "parquet_named.csv"


def _dir_with_corrupt_parquet(root: Path) -> Path:
    import pyarrow.parquet as pq

    folder = root / "dir_with_corrupt_parquet"
    folder.mkdir()
    pq.write_table(_events_table(), folder / "a.parquet")  # type: ignore[arg-type]
    (folder / "b.parquet").write_bytes(b"PAR1 cut short")
    return folder


def _gz(root: Path) -> Path:
    path = root / "events.csv.gz"
    path.write_bytes(gzip.compress((HEADER + ROW + "u2,signup,2026-01-06\n").encode(), mtime=0))
    return path


def _truncated_gz(root: Path) -> Path:
    data = gzip.compress((HEADER + ROW * 200).encode(), mtime=0)
    path = root / "truncated.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


def _dir_with_truncated_gz(root: Path) -> Path:
    folder = root / "dir_with_truncated_gz"
    folder.mkdir()
    (folder / "a.csv.gz").write_bytes(gzip.compress((HEADER + ROW).encode(), mtime=0))
    data = gzip.compress((HEADER + ROW * 200).encode(), mtime=0)
    (folder / "b.csv.gz").write_bytes(data[: len(data) // 2])
    return folder


BUILT: dict[str, Callable[[Path], Path]] = {
    "nested_columns.parquet": _nested_parquet,
    "naive_datetimes.parquet": _naive_parquet,
    "parquet_named.csv": _parquet_named_csv,
    "dir_with_corrupt_parquet": _dir_with_corrupt_parquet,
    "events.csv.gz": _gz,
    "truncated.csv.gz": _truncated_gz,
    "dir_with_truncated_gz": _dir_with_truncated_gz,
}
"""Binary inputs, built into a test's temporary directory (name → builder)."""


def write(root: Path) -> None:
    """Write :data:`FILES` under ``root``."""
    for name, content in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)


if __name__ == "__main__":
    write(Path(__file__).parent)
