"""Load an event log from a file or a frame into DuckDB, counting every row.

:func:`load` is the front door. It reads the source into DuckDB without a pandas round
trip, maps the user, event and time columns, parses timestamps to UTC, types the other
columns, and splits the rows into *loaded* and *rejected* (each with its reason), so that
``rows_read == rows_loaded + rejected`` always holds and nothing is dropped silently.

Time zones and timestamps
-------------------------
All times are stored in UTC (``TIMESTAMPTZ`` in DuckDB, ``Datetime("us", "UTC")`` in
Polars). How a value is read:

* a string with an offset or a zone name (``2026-01-05T09:00:00+02:00``, ``...Z``,
  ``... +0530``, ``... UTC``, ``... America/New_York``) is that instant;
* a string without one (``2026-01-05 09:00:00``, ``2026-01-05T09:00``, fractions of a
  second allowed), a date (``2026-01-05``, read as midnight) and a naive datetime or date
  column are local times in ``tz`` (default UTC). A local time that does not exist (in a
  daylight-saving gap) is read with the offset in force before the gap, so ``02:30`` on a
  spring-forward night in New York is 07:30 UTC; a local time that happens twice (in the
  autumn overlap) is read as the *later* instant (``01:30`` on a fall-back night in New
  York is 06:30 UTC);
* any other text (``05/01/2026``, ``yesterday``, a zone name DuckDB does not know) is
  rejected as ``unparseable timestamp``, never guessed: pass ``ts_format`` for such
  columns;
* numbers are epoch times, always UTC: the unit (``s``, ``ms``, ``us``, ``ns``) comes from
  ``ts_unit`` or is detected from their magnitude (below 1e11 seconds, below 1e14
  milliseconds, below 1e17 microseconds, else nanoseconds). A column whose smallest and
  largest values point to different units is an error that asks for ``ts_unit``;
* integers that all lie between ``19000101`` and ``21001231`` are ``YYYYMMDD`` dates
  (``19970101``), local midnights in ``tz``; one that is not a real date (``20261399``) is
  rejected as unparseable. (As epoch seconds they would all fall in August 1970; pass
  ``ts_unit="s"`` if that is really meant.);
* a text column (CSV, JSON Lines) is read as numbers when most of its non-empty values
  are numbers; its other values are then rejected as unparseable;
* ``ts_format`` (strftime codes, e.g. ``"%d/%m/%Y %H:%M"``) overrides detection; with
  ``%z`` or ``%Z`` in it the values carry their own offset, otherwise they are in ``tz``.

Periods built on these times (days, ISO weeks from Monday, months) are UTC periods.

Rows and their numbers
----------------------
A *record* is one data row of the source: a line of a CSV or JSON Lines file (a quoted
CSV value may span lines), a row of a Parquet file or of a frame. Blank lines (empty or
only spaces) hold no record and are not counted; the header is not a record. Every record
is counted in ``rows_read`` and ends up loaded or rejected. A rejected row's ``row`` is its
1-based record number within its file (header and blank lines excluded, malformed records
included), and ``line`` is its physical line in the file where cfnb knows it (every row of
JSON Lines and whitespace-separated files; the malformed lines of CSV files). A row with
several problems is rejected for the first of: ``null user``, ``null event``, ``null
timestamp``, ``unparseable timestamp``. Blank text (only spaces) in the user or event
column is a null, and so is NaN in a float user column.

Exact duplicates are rows whose loaded values (user, event, instant, every property) are
all equal; they are counted either way, and ``duplicates="drop"`` keeps only the first.

Several files (a directory or a glob) load as one log. CSV files must share their columns
(in any order): a column only some files have is an error naming it, never dropped. A
0-byte file among several holds no record and is skipped; a corrupt one (a Parquet file
that does not read, a gzip file cut short) is an error naming it. Column names ``__file``,
``__row``, ``__line``, ``__reason``, ``__uh``, ``__uc`` and ``__p_…`` are cfnb's own and are refused, and so
are two columns of a frame that differ only in case (DuckDB names are case-insensitive; a
CSV header's second ``plan`` or ``Plan`` becomes ``plan_1``). The inputs of
``tests/data/bad`` and their outcomes show these rules at work.
"""

from __future__ import annotations

import glob as globmod
import gzip
import os
import re
import sys
import time
import zlib
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import duckdb
import pyarrow as pa

from cfnb import errors
from cfnb._duck import connect, ident, interruptible, string_literal
from cfnb.duck_events import HASH_COLUMNS
from cfnb.eventlog import EventLog, LoadReport

__all__ = ["EVENT_CANDIDATES", "TS_CANDIDATES", "USER_CANDIDATES", "load"]

USER_CANDIDATES = ("user_id", "distinct_id", "userid", "customer_id", "user", "uid")
EVENT_CANDIDATES = ("event", "event_name", "event_type", "eventname", "action")
TS_CANDIDATES = ("timestamp", "ts", "time", "event_time", "date", "datetime", "event_timestamp")

_CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".dat")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
_COMPRESSIONS = (".gz", ".zst")

# Timestamp text, matched in full after trimming. DuckDB's casts are lenient (a cast to
# TIMESTAMP silently drops an offset or a zone name, and accepts 'infinity' or 'epoch'), so
# a value is cast only after these patterns say which cast gives the right instant.
_DATE_RE = r"\d{4}[-/]\d{1,2}[-/]\d{1,2}"
_TIME_RE = r"[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?"
_NAIVE_RE = _DATE_RE + "(" + _TIME_RE + ")?"
_OFFSET_RE = (
    r"\s*((UTC|GMT)\s*)?([+-]\d{1,2}(:?\d{2})?)$"  # DuckDB wants '+01:00' right after the time
)
_ZONE_RE = (
    _DATE_RE + _TIME_RE + r"\s*(Z|((UTC|GMT)\s*)?[+-]\d{1,2}(:?\d{2})?|[A-Za-z][\w+-]*(/[\w+-]+)*)"
)
_NUMBER_RE = r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*"

Format = Literal["csv", "parquet", "jsonl"]
_TS_UNITS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}


@dataclass(frozen=True)
class _Staged:
    """A source read into DuckDB: a relation ``__src`` and the rows it could not parse.

    ``__src`` has columns ``__file``, ``__row`` (1-based record number within its file, as
    the module docs define it) and ``__line`` (physical line, or NULL where unknown),
    followed by the source's own columns; ``__malformed`` holds the records that did not
    parse at all (file, row, line, detail, raw). Every record is in exactly one of them.
    """

    description: str
    format: str
    columns: tuple[tuple[str, str], ...]  # (name, duckdb type) of the data columns
    untyped: bool  # every data column is text that still needs typing (CSV, JSON lines)
    files: tuple[str, ...]  # every value __file takes
    blank_lines: int = 0
    # A record's number is its position in the source plus one (one Parquet file, a
    # frame): the events table then needs no __row column, its rowid says it.
    row_is_position: bool = False


def load(
    source: Any,
    *,
    user: str | None = None,
    event: str | None = None,
    ts: str | None = None,
    tz: str = "UTC",
    ts_format: str | None = None,
    ts_unit: Literal["s", "ms", "us", "ns"] | None = None,
    event_name: str | None = None,
    format: Format | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    columns: Sequence[str] | None = None,
    duplicates: Literal["keep", "drop"] = "keep",
    memory_limit: str | None = None,
    progress: bool | Callable[[float], None] = False,
) -> EventLog:
    """Load an event log and account for every row.

    Parameters
    ----------
    source
        A path (CSV/TSV, optionally ``.gz``; Parquet; JSON Lines), a glob or a directory of
        such files, a Polars or pandas DataFrame, a pyarrow Table, or a DuckDB relation.
    user, event, ts
        The columns holding the user id, the event name and the time. When omitted, the
        usual names are recognised (``user_id``/``distinct_id``/``userId``/``customer_id``;
        ``event``/``event_name``/``event_type``; ``timestamp``/``ts``/``time``/
        ``event_time``/``date``), case-insensitively.
    tz
        The time zone of timestamps written without an offset (see the module docs).
    ts_format, ts_unit
        Force how timestamps are read: a strftime format, or the unit of epoch numbers.
    event_name
        A constant event name for sources without an event column (e.g. a purchase log).
    format
        ``"csv"``, ``"parquet"`` or ``"jsonl"`` when the file name does not say.
    delimiter
        The CSV delimiter (detected when omitted); ``"whitespace"`` splits on runs of
        spaces and tabs.
    encoding
        The text encoding of CSV files when not UTF-8 (``"latin-1"``, ``"utf-16"``).
    columns
        Column names for a CSV file that has no header row.
    duplicates
        ``"keep"`` (default) or ``"drop"`` exact duplicate rows; counted either way, and
        dropped ones are listed among the rejected rows with reason ``duplicate``.
    memory_limit
        DuckDB's memory limit for this log (e.g. ``"4GB"``); larger loads spill to disk.
    progress
        ``True`` prints how far the running step is on standard error every half
        second; a function is called with that percentage instead. Whatever this says,
        Ctrl-C (or interrupting the kernel) stops a load within moments and frees its
        memory and temporary files.

    Returns
    -------
    EventLog

    Examples
    --------
    >>> import polars as pl, datetime as dt
    >>> frame = pl.DataFrame({"user_id": ["a", "b", None], "event": ["visit"] * 3,
    ...                       "ts": ["2026-01-05T09:00:00Z"] * 3})
    >>> log = load(frame)
    >>> log.report.rows_read, log.report.rows_loaded, dict(log.report.rejected)
    (3, 2, {'null user': 1})
    """
    if duplicates not in ("keep", "drop"):
        raise ValueError(f"duplicates must be 'keep' or 'drop', got {duplicates!r}")
    if ts_unit is not None and ts_unit not in _TS_UNITS:
        raise ValueError(f"ts_unit must be one of {sorted(_TS_UNITS)}, got {ts_unit!r}")
    _check_tz(tz)
    if _is_spark(source):
        return _load_spark(
            source,
            dict(format=format, delimiter=delimiter, encoding=encoding, columns=columns),
            user=user,
            event=event,
            ts=ts,
            tz=tz,
            ts_format=ts_format,
            ts_unit=ts_unit,
            event_name=event_name,
            duplicates=duplicates,
            memory_limit=memory_limit,
        )
    try:
        con = connect(memory_limit=memory_limit)
    except duckdb.Error as exc:
        raise errors.LoadError(
            f"memory_limit must be a size such as '4GB' or '500MB', got {memory_limit!r} "
            f"(DuckDB said: {str(exc).splitlines()[0]})."
        ) from None

    def work() -> EventLog:
        staged = _stage(
            con, source, format=format, delimiter=delimiter, encoding=encoding, columns=columns
        )
        _check_internal_names(staged)
        return _finish(
            con,
            staged,
            user=user,
            event=event,
            ts=ts,
            tz=tz,
            ts_format=ts_format,
            ts_unit=ts_unit,
            event_name=event_name,
            duplicates=duplicates,
        )

    try:
        return interruptible(con, work, progress=_progress_printer(source, progress))
    except BaseException:
        con.close()
        raise


def _progress_printer(
    source: Any, progress: bool | Callable[[float], None]
) -> Callable[[float], None] | None:
    if progress is False:
        return None
    if progress is not True:
        return progress
    name = os.path.basename(str(source)) if isinstance(source, str | os.PathLike) else "frame"
    start = time.monotonic()

    def show(percent: float) -> None:
        elapsed = time.monotonic() - start
        print(
            f"\rcfnb.load {name}: current step {percent:3.0f}% ({elapsed:.0f} s)",
            end="",
            file=sys.stderr,
            flush=True,
        )

    return show


def _is_spark(source: Any) -> bool:
    # By class name, so pyspark is imported only for a Spark DataFrame (see cfnb.spark).
    from cfnb.spark import is_spark_dataframe

    return is_spark_dataframe(source)


def _load_spark(source: Any, file_options: dict[str, Any], **options: Any) -> EventLog:
    """A PySpark DataFrame: loaded, counted and partitioned on Spark (cfnb.spark)."""
    given = [
        k
        for k, v in {**file_options, "memory_limit": options.pop("memory_limit")}.items()
        if v is not None
    ]
    if given:
        raise errors.UnsupportedSourceError(
            f"{', '.join(given)} cannot apply to a Spark DataFrame: Spark has read and parsed "
            "it already, and it stays on Spark. Drop the option (or read the file with "
            "Spark's own reader options)."
        )
    from cfnb.spark import load

    return load(source, **options)


# --------------------------------------------------------------------------- sources


def _stage(
    con: duckdb.DuckDBPyConnection,
    source: Any,
    *,
    format: Format | None,
    delimiter: str | None,
    encoding: str | None,
    columns: Sequence[str] | None,
) -> _Staged:
    if isinstance(source, str | os.PathLike):
        paths, fmt = _resolve_paths(source, format)
        if fmt == "parquet":
            return _stage_parquet(con, paths)
        if fmt == "jsonl":
            return _stage_lines(con, paths, kind="jsonl", encoding=encoding, columns=columns)
        if delimiter == "whitespace":
            return _stage_lines(con, paths, kind="whitespace", encoding=encoding, columns=columns)
        return _stage_csv(con, paths, delimiter=delimiter, encoding=encoding, columns=columns)
    return _stage_frame(con, source)


def _resolve_paths(
    source: str | os.PathLike[str], format: Format | None
) -> tuple[list[str], Format]:
    text = os.fspath(source)
    if any(ch in text for ch in "*?["):
        paths = sorted(p for p in globmod.glob(text, recursive=True) if os.path.isfile(p))
        if not paths:
            raise errors.SourceNotFoundError(
                f"No file matches the pattern {text!r}. Check the path and the pattern."
            )
    elif os.path.isdir(text):
        paths = sorted(
            os.path.join(root, name)
            for root, _dirs, names in os.walk(text)
            for name in names
            if _format_of(name) is not None and not name.startswith(".")
        )
        if not paths:
            raise errors.SourceNotFoundError(
                f"The directory {text!r} holds no CSV, Parquet or JSON Lines files "
                f"(looked for {', '.join(_CSV_SUFFIXES + _PARQUET_SUFFIXES + _JSON_SUFFIXES)})."
            )
    elif os.path.isfile(text):
        paths = [text]
    else:
        parent = os.path.dirname(os.path.abspath(text))
        hint = ""
        if os.path.isdir(parent):
            hint = errors.did_you_mean(os.path.basename(text), os.listdir(parent))
        raise errors.SourceNotFoundError(
            f"File not found: {text!r}.{hint} Check the path (relative to {os.getcwd()!r})."
        )
    fmt = format
    if fmt is None:
        found = {_format_of(p) for p in paths}
        if None in found:
            bad = next(p for p in paths if _format_of(p) is None)
            raise errors.UnsupportedSourceError(
                f"Cannot tell the format of {bad!r} from its name. Supported: CSV/TSV "
                f"({', '.join(_CSV_SUFFIXES)}, also compressed .gz), Parquet (.parquet) and JSON Lines "
                f"(.jsonl, .ndjson). Pass format='csv', 'parquet' or 'jsonl'."
            )
        if len(found) > 1:
            raise errors.UnsupportedSourceError(
                f"{text!r} mixes formats ({', '.join(sorted(str(f) for f in found))}); load one format at a time."
            )
        fmt = found.pop()
    elif fmt not in ("csv", "parquet", "jsonl"):
        raise errors.UnsupportedSourceError(
            f"format must be 'csv', 'parquet' or 'jsonl', got {fmt!r}."
        )
    # A 0-byte part among several holds no record (exporters write them for empty
    # partitions): it is skipped. Alone, or when every part is empty, it is an error.
    full = [p for p in paths if os.path.getsize(p) > 0]
    if not full:
        what = repr(paths[0]) if len(paths) == 1 else f"Every file of {text!r}"
        raise errors.EmptyFileError(f"{what} is empty (0 bytes): there are no events to load.")
    paths = full
    assert fmt is not None
    return paths, fmt


def _format_of(name: str) -> Format | None:
    lower = name.lower()
    for comp in _COMPRESSIONS:
        if lower.endswith(comp):
            lower = lower[: -len(comp)]
    if lower.endswith(_CSV_SUFFIXES):
        return "csv"
    if lower.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if lower.endswith(_JSON_SUFFIXES):
        return "jsonl"
    return None


def _describe(paths: list[str]) -> str:
    return paths[0] if len(paths) == 1 else f"{len(paths)} files ({paths[0]} …)"


def _create_malformed(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE OR REPLACE TABLE __malformed (file VARCHAR, row BIGINT, line BIGINT, detail VARCHAR, raw VARCHAR)"
    )


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
    """The single row of a query, read to the end.

    DuckDB 2 refuses ``con.sql(...)`` while the connection's last ``execute()`` result is
    only half read (``fetchone``), so every result is fetched in full.
    """
    rows = con.execute(sql, list(params)).fetchall()
    assert len(rows) == 1, sql
    return tuple(rows[0])


def _stage_csv(
    con: duckdb.DuckDBPyConnection,
    paths: list[str],
    *,
    delimiter: str | None,
    encoding: str | None,
    columns: Sequence[str] | None,
) -> _Staged:
    options = [
        "all_varchar = true",
        "store_rejects = true",
        "rejects_table = '__rej'",
        "rejects_scan = '__rej_scan'",
        "filename = '__file'",
    ]
    if delimiter is None and all(p.lower().removesuffix(".gz").endswith(".tsv") for p in paths):
        delimiter = "\t"
    if delimiter is not None:
        options.append(f"delim = {string_literal(delimiter)}")
    if encoding is not None:
        options.append(f"encoding = {string_literal(_duck_encoding(encoding))}")
    if columns is not None:
        options.append("header = false")
        names = ", ".join(f"{string_literal(c)}: 'VARCHAR'" for c in columns)
        options.append(f"columns = {{{names}}}")
    else:
        options.append("header = true")
    if encoding is None:
        _check_utf8(paths)
    sql = f"CREATE TABLE __stage AS SELECT * FROM read_csv(?, {', '.join(options)})"
    try:
        con.execute(sql, [paths])
    except duckdb.Error as exc:
        raise _csv_error(paths, exc, encoding) from exc
    if len(paths) > 1:
        _check_same_columns(con, paths, options)

    # One row per rejected physical line (DuckDB may report a line once per error in it).
    con.execute(
        """
        CREATE TABLE __bad AS
        SELECT s.file_path AS file, r.line::BIGINT AS line, any_value(r.error_type::VARCHAR) AS etype,
               any_value(r.csv_line) AS raw, any_value(r.error_message) AS msg
        FROM __rej r JOIN __rej_scan s USING (scan_id, file_id)
        GROUP BY s.file_path, r.line
        """
    )
    if encoding is None:
        enc = con.execute(
            "SELECT file, line FROM __bad WHERE etype IN ('INVALID ENCODING', 'INVALID UNICODE') "
            "ORDER BY file, line LIMIT 1"
        ).fetchall()
        if enc:
            file_path, line = enc[0]
            raise errors.NotUtf8Error(
                f"{file_path!r} is not UTF-8: line {line} holds bytes that are not valid UTF-8. "
                f"Pass encoding='latin-1' (or the file's real encoding, e.g. 'utf-16') to cfnb.load."
            )
    data_cols = [
        (name, typ)
        for name, typ in con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '__stage'"
        ).fetchall()
        if name != "__file"
    ]
    if any("\x00" in name for name, _ in data_cols):
        # UTF-16 text read as UTF-8 shows a NUL byte beside every ASCII character.
        raise errors.NotUtf8Error(
            f"{_describe(paths)!r} is not UTF-8: its header holds NUL bytes, as UTF-16 text does. "
            f"Pass encoding='utf-16' (or the file's real encoding) to cfnb.load."
        )
    # A line of spaces is as blank as an empty line (which DuckDB skips): it holds no record.
    con.execute("DELETE FROM __bad WHERE raw IS NOT NULL AND regexp_full_match(raw, '\\s*')")
    if len(data_cols) == 1:
        # With one column DuckDB reads a blank line as a NULL value, not as nothing.
        con.execute(f"DELETE FROM __stage WHERE {ident(data_cols[0][0])} IS NULL")
    (n_rows,) = _one(con, "SELECT count(*) FROM __stage")
    (n_bad,) = _one(con, "SELECT count(*) FROM __bad")
    if n_rows == 0 and n_bad == 0:
        raise _no_data_error(con, paths, encoding, [n for n, _ in data_cols], columns is None)

    _create_malformed(con)
    if n_bad:
        # DuckDB reports the physical line of a malformed record; its record number counts
        # the non-blank lines up to it (exact unless a quoted value spans lines before it).
        bad_files = [f for (f,) in con.execute("SELECT DISTINCT file FROM __bad").fetchall()]
        _read_lines(con, bad_files, encoding)
        con.execute(
            f"""
            INSERT INTO __malformed
            SELECT b.file, coalesce(n.records, b.line) - ?, b.line, {_REJECT_DETAIL_SQL},
                   trim(b.raw, chr(10) || chr(13))
            FROM __bad b LEFT JOIN (
              SELECT __file, __line,
                     count(*) FILTER (WHERE NOT __blank) OVER (PARTITION BY __file ORDER BY __line) AS records
              FROM __lines
            ) n ON n.__file = b.file AND n.__line = b.line
            """,
            [1 if columns is None else 0, len(data_cols), len(data_cols)],
        )
        con.execute("DROP TABLE __lines")
    con.execute("DROP TABLE __bad")
    con.execute(
        "CREATE TABLE __firsts AS SELECT __file, min(rowid) AS r0 FROM __stage GROUP BY __file"
    )
    # A parsed row's record number is its rank among parsed rows plus the malformed records
    # before it; ``before`` is how many parsed rows precede each malformed record.
    con.execute(
        "CREATE TABLE __skips AS SELECT file, row - row_number() OVER (PARTITION BY file ORDER BY row) AS before "
        "FROM __malformed"
    )
    rank = "(s.rowid - f.r0 + 1)"
    row_expr = rank
    if n_bad:
        row_expr = f"{rank} + (SELECT count(*) FROM __skips m WHERE m.file = s.__file AND m.before < {rank})"
    con.execute(
        f"CREATE VIEW __src AS SELECT s.__file, {row_expr} AS __row, NULL::BIGINT AS __line, "
        "s.* EXCLUDE (__file) FROM __stage s JOIN __firsts f ON f.__file = s.__file"
    )
    staged = _Staged(_describe(paths), "csv", tuple(data_cols), untyped=True, files=tuple(paths))
    _check_single_column(con, staged, paths, delimiter)
    return staged


_REJECT_DETAIL_SQL = """CASE b.etype
    WHEN 'MISSING COLUMNS' THEN 'too few columns (expected ' || ? || ')'
    WHEN 'TOO MANY COLUMNS' THEN 'too many columns (expected ' || ? || ')'
    WHEN 'UNQUOTED VALUE' THEN 'a quote is not closed or a value is not quoted properly'
    WHEN 'INVALID ENCODING' THEN 'bytes that are not valid text in the file''s encoding'
    WHEN 'INVALID UNICODE' THEN 'bytes that are not valid text in the file''s encoding'
    ELSE lower(b.etype) || ': ' || coalesce(split_part(b.msg, chr(10), 1), '') END"""


def _read_lines(con: duckdb.DuckDBPyConnection, paths: list[str], encoding: str | None) -> None:
    """Read files as physical lines into ``__lines(__file, __line, line, __blank)``.

    No quoting and no dialect sniffing (which would skip leading blank lines and so shift
    every line number).
    """
    options = (
        "columns = {'line': 'VARCHAR'}, delim = '\x1e\x1f', quote = '', escape = '', "
        "header = false, auto_detect = false, skip = 0, filename = '__file'"
    )
    if encoding is not None:
        options += f", encoding = {string_literal(_duck_encoding(encoding))}"
    try:
        con.execute(
            f"CREATE TABLE __raw_lines AS SELECT __file, line FROM read_csv(?, {options})", [paths]
        )
    except duckdb.Error as exc:
        raise _csv_error(paths, exc, encoding) from exc
    con.execute(
        "CREATE TABLE __lines AS SELECT __file, row_number() OVER (PARTITION BY __file ORDER BY rowid) AS __line, "
        "line, line IS NULL OR regexp_full_match(line, '\\s*') AS __blank FROM __raw_lines"
    )
    con.execute("DROP TABLE __raw_lines")


def _no_data_error(
    con: duckdb.DuckDBPyConnection,
    paths: list[str],
    encoding: str | None,
    names: list[str],
    header: bool,
) -> errors.EmptyFileError:
    where = _describe(paths)
    _read_lines(con, paths, encoding)
    (nonblank,) = _one(con, "SELECT count(*) FILTER (WHERE NOT __blank) FROM __lines")
    con.execute("DROP TABLE __lines")
    if nonblank == 0:
        return errors.EmptyFileError(
            f"{where!r} holds only blank lines: there are no events to load."
        )
    if header:
        return errors.EmptyFileError(
            f"{where!r} has a header row ({', '.join(names)}) but no data rows: there are no events "
            f"to load. Check that the export finished, or that this is the file you meant."
        )
    return errors.EmptyFileError(f"{where!r} holds no data rows: there are no events to load.")


def _check_utf8(paths: list[str]) -> None:
    """Raise :class:`~cfnb.errors.NotUtf8Error` when a file's first megabyte is not UTF-8.

    DuckDB's CSV sniffer may drop a header line it cannot decode and carry on with the
    next line as the header, so the bytes are checked before DuckDB sees them.
    """
    for path in paths:
        if path.lower().endswith(".zst"):
            continue  # no zstd reader in the standard library: DuckDB's own check applies
        opener = gzip.open if path.lower().endswith(".gz") else open
        try:
            with opener(path, "rb") as fh:
                head: bytes = fh.read(1 << 20)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise _gzip_error(path, str(exc), len(paths)) from None
        for magic, kind, fix in _MAGIC:
            if head.startswith(magic):
                raise errors.UnsupportedSourceError(
                    f"{path!r} is a {kind} file, not text (it starts with {magic!r}). {fix}"
                )
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise errors.NotUtf8Error(
                f"{path!r} is UTF-16 text (it starts with a UTF-16 byte order mark), not UTF-8. "
                f"Pass encoding='utf-16' to cfnb.load."
            )
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
                continue  # a character cut in two by the 1 MB limit
            line = head[: exc.start].count(b"\n") + 1
            raise errors.NotUtf8Error(
                f"{path!r} is not UTF-8: line {line} holds bytes that are not valid UTF-8 "
                f"({head[exc.start : exc.start + 4]!r}). Pass encoding='latin-1' (or the file's real "
                f"encoding, e.g. 'cp1252' or 'utf-16') to cfnb.load."
            ) from None


# Files that are not text at all, whatever their name says: their first bytes tell.
_MAGIC = (
    (b"PAR1", "Parquet", "Rename it to .parquet, or pass format='parquet' to cfnb.load."),
    (b"\x1f\x8b", "gzip-compressed", "Rename it to end in .gz (e.g. events.csv.gz)."),
    (b"PK\x03\x04", "zip (or Excel)", "Unzip it, or export the sheet as CSV."),
)


def _duck_encoding(encoding: str) -> str:
    norm = encoding.lower().replace("_", "-")
    aliases = {"latin1": "latin-1", "iso-8859-1": "latin-1", "utf8": "utf-8", "utf16": "utf-16"}
    return aliases.get(norm, norm)


def _csv_error(paths: list[str], exc: duckdb.Error, encoding: str | None) -> errors.LoadError:
    text = str(exc)
    low = text.lower()
    where = _describe(paths)
    # Checked first: DuckDB's sniffing errors also mention the encoding it tried.
    if encoding is None and ("invalid unicode" in low or "invalid encoding" in low):
        return errors.NotUtf8Error(
            f"{where!r} is not UTF-8 text. Pass encoding='latin-1' (or the file's real encoding) to cfnb.load."
        )
    if "sniff" in low or "dialect" in low:
        return errors.WrongDelimiterError(
            f"Could not work out how {where!r} is split into columns. Pass delimiter=',' (or ';', '\\t', '|', "
            f"'whitespace') and, for a file without a header row, columns=[...]. DuckDB said: {text.splitlines()[0]}"
        )
    if "No files found" in text or "does not exist" in text:
        return errors.SourceNotFoundError(f"File not found: {where!r}.")
    if "gzip" in low:  # a .gz file cut short beyond the first megabyte _check_utf8 reads
        bad = next((p for p in paths if p in text), where)
        return _gzip_error(bad, text.splitlines()[0], len(paths))
    if "filename adds column" in low:
        return errors.LoadError(
            f"Column '__file' of {where} is reserved by cfnb (names "
            f"{', '.join(map(repr, (*_RESERVED, '__reason', *_HASHES)))} and '__p_…' are its own); "
            f"rename it before loading."
        )
    if "schema mismatch" in low:
        return errors.LoadError(
            f"The files of {where!r} do not all have the same columns: {text.splitlines()[0]} "
            f"Give every file the same header row (the order of the columns may differ), or load "
            f"the files with different columns separately."
        )
    return errors.LoadError(f"Could not read {where!r} as CSV: {text.splitlines()[0]}")


def _gzip_error(path: str, detail: str, n_paths: int) -> errors.LoadError:
    others = " (or move it out of the way to load the other files)" if n_paths > 1 else ""
    return errors.LoadError(
        f"{path!r} is not a complete gzip file ({detail}): it was probably cut short while "
        f"downloading or exporting. Download or export it again{others}."
    )


def _check_same_columns(
    con: duckdb.DuckDBPyConnection, paths: list[str], options: list[str]
) -> None:
    """Refuse files whose columns differ: DuckDB would silently drop the extra ones.

    Several CSV files are read with the columns of the first one (matched by name);
    a column only later files have would be lost without a word.
    """
    (first,) = [o for o in options if o.startswith("header")]
    if first != "header = true":
        return  # columns=[...] names the columns of every file
    keep = [o for o in options if not o.startswith(("store_rejects", "rejects_", "filename"))]
    # ignore_errors sniffs as store_rejects does: a malformed line must not change the header.
    keep += ["ignore_errors = true", "union_by_name = true"]
    try:
        union = con.execute(
            f"DESCRIBE SELECT * FROM read_csv(?, {', '.join(keep)})",
            [paths],
        ).fetchall()
    except duckdb.Error:
        return  # the files were read once already; the rows tell the rest
    staged = {name for (name, *_rest) in con.execute("DESCRIBE __stage").fetchall()}
    extra = [name for (name, *_rest) in union if name not in staged]
    if extra:
        raise errors.LoadError(
            f"The files of {_describe(paths)!r} do not all have the same columns: "
            f"{', '.join(map(repr, extra))} {'is' if len(extra) == 1 else 'are'} not in the first "
            f"file ({paths[0]!r}), so {'its' if len(extra) == 1 else 'their'} values would be lost. "
            f"Give every file the same header row (the order of the columns may differ), or load "
            f"the files with different columns separately."
        )


def _check_single_column(
    con: duckdb.DuckDBPyConnection, staged: _Staged, paths: list[str], delimiter: str | None
) -> None:
    """A CSV that parsed into one column was almost always split with the wrong delimiter."""
    if len(staged.columns) != 1:
        return
    header = staged.columns[0][0]
    for cand, label in ((";", "';'"), ("\t", "'\\t'"), ("|", "'|'"), (",", "','")):
        if cand != delimiter and cand in header:
            raise errors.WrongDelimiterError(
                f"{staged.description!r} was read as a single column named {header!r}: its rows look "
                f"{label}-separated{'' if delimiter is None else f', not {delimiter!r}-separated'}. "
                f"Pass delimiter={label} to cfnb.load."
            )
    if " " in header.strip() and delimiter is None:
        raise errors.WrongDelimiterError(
            f"{staged.description!r} was read as a single column named {header!r}: its columns look "
            f"separated by spaces. Pass delimiter='whitespace' to cfnb.load."
        )


def _stage_lines(
    con: duckdb.DuckDBPyConnection,
    paths: list[str],
    *,
    kind: Literal["jsonl", "whitespace"],
    encoding: str | None,
    columns: Sequence[str] | None,
) -> _Staged:
    """Read a line-oriented file (JSON Lines, whitespace-separated text) one line a record."""
    where = _describe(paths)
    if encoding is None:
        _check_utf8(paths)
    _read_lines(con, paths, encoding)
    (blank,) = _one(con, "SELECT count(*) FILTER (WHERE __blank) FROM __lines")
    header = kind == "whitespace" and columns is None
    con.execute(
        "CREATE TABLE __records AS SELECT __file, __line, line, "
        "row_number() OVER (PARTITION BY __file ORDER BY __line) - ? AS __rec "
        "FROM __lines WHERE NOT __blank",
        [1 if header else 0],
    )
    con.execute("DROP TABLE __lines")
    (n_records,) = _one(con, "SELECT count(*) FROM __records")
    if n_records == 0:
        raise errors.EmptyFileError(
            f"{where!r} holds only blank lines: there are no events to load."
        )
    _create_malformed(con)
    if kind == "jsonl":
        con.execute(
            "ALTER TABLE __records ADD COLUMN ok BOOLEAN DEFAULT false; "
            "UPDATE __records SET ok = coalesce(json_type(try_cast(line AS JSON)) = 'OBJECT', false)"
        )
        (n_ok,) = _one(con, "SELECT count(*) FILTER (WHERE ok) FROM __records")
        if n_ok == 0:
            first = con.execute(
                "SELECT __file, __line, line FROM __records ORDER BY __file, __line LIMIT 1"
            ).fetchall()[0]
            raise errors.LoadError(
                f"{where!r} is not JSON Lines: none of its {n_records} lines is a JSON object (line "
                f"{first[1]} of {first[0]!r} reads {first[2][:60]!r}). For a CSV file pass format='csv'."
            )
        # Columns come in the order their keys first appear in the file.
        keys = [
            k
            for (k,) in con.execute(
                "SELECT k FROM (SELECT __file, __line, unnest(json_keys(line::JSON)) AS k, "
                "generate_subscripts(json_keys(line::JSON), 1) AS i FROM __records WHERE ok) "
                "GROUP BY k ORDER BY min(struct_pack(f := __file, l := __line, i := i))"
            ).fetchall()
        ]
        con.execute(
            "INSERT INTO __malformed SELECT __file, __rec, __line, 'not a JSON object', line "
            "FROM __records WHERE NOT ok"
        )
        select = ", ".join(
            f"json_extract_string(line, {string_literal(_json_path(k))}) AS {ident(k)}"
            for k in keys
        )
        con.execute(
            f"CREATE VIEW __src AS SELECT __file, __rec AS __row, __line, {select} FROM __records WHERE ok"
        )
        data_cols = tuple((k, "VARCHAR") for k in keys)
    else:
        con.execute(
            "ALTER TABLE __records ADD COLUMN parts VARCHAR[]; "
            "UPDATE __records SET parts = string_split_regex(trim(line, ' ' || chr(9) || chr(13)), '\\s+')"
        )
        if header:
            header_row = con.execute(
                "SELECT parts FROM __records ORDER BY __file, __line LIMIT 1"
            ).fetchall()
            names = list(header_row[0][0])
            # Each file's first non-blank line is its header, not a record.
            con.execute("DELETE FROM __records WHERE __rec = 0")
            (n_data,) = _one(con, "SELECT count(*) FROM __records")
            if n_data == 0:
                raise errors.EmptyFileError(
                    f"{where!r} has a header row ({', '.join(names)}) but no data rows: there are "
                    f"no events to load. Check that the export finished, or that this is the file you meant."
                )
        else:
            names = list(columns or ())
        n = len(names)
        con.execute(
            "INSERT INTO __malformed SELECT __file, __rec, __line, "
            "CASE WHEN len(parts) < ? THEN 'too few columns (expected ' || ? || ')' "
            "ELSE 'too many columns (expected ' || ? || ')' END, line FROM __records WHERE len(parts) <> ?",
            [n, n, n, n],
        )
        select = ", ".join(f"parts[{i + 1}] AS {ident(name)}" for i, name in enumerate(names))
        con.execute(
            f"CREATE VIEW __src AS SELECT __file, __rec AS __row, __line, {select} FROM __records "
            f"WHERE len(parts) = {n}"
        )
        data_cols = tuple((name, "VARCHAR") for name in names)
    return _Staged(where, kind, data_cols, untyped=True, files=tuple(paths), blank_lines=int(blank))


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _stage_parquet(con: duckdb.DuckDBPyConnection, paths: list[str]) -> _Staged:
    total = 0
    for p in paths:
        try:
            (n,) = _one(con, "SELECT count(*) FROM read_parquet(?)", [p])
        except duckdb.Error as exc:
            raise errors.LoadError(
                f"{p!r} is not a readable Parquet file ({str(exc).splitlines()[0]}). "
                f"Remove or replace it{' (the other files are fine)' if len(paths) > 1 else ''}, then load again."
            ) from exc
        total += int(n)
    if total == 0:
        raise errors.EmptyFileError(
            f"{_describe(paths)!r} holds no rows (the Parquet data is empty): there are no events to load."
        )
    files = "[" + ", ".join(string_literal(p) for p in paths) + "]"
    if len(paths) == 1:
        # A per-row file name column is costly at 10M rows; one file needs none.
        con.execute(
            f"CREATE VIEW __src AS SELECT {string_literal(paths[0])} AS __file, file_row_number + 1 AS __row, "
            "NULL::BIGINT AS __line, * EXCLUDE (file_row_number) "
            f"FROM read_parquet({files}, file_row_number = true)"
        )
    else:
        con.execute(
            "CREATE VIEW __src AS SELECT filename AS __file, file_row_number + 1 AS __row, NULL::BIGINT AS __line, "
            "* EXCLUDE (filename, file_row_number) "
            f"FROM read_parquet({files}, filename = true, file_row_number = true, union_by_name = true)"
        )
    _create_malformed(con)
    cols = _view_columns(con, "__src")
    return _Staged(
        _describe(paths),
        "parquet",
        cols,
        untyped=False,
        files=tuple(paths),
        row_is_position=len(paths) == 1,
    )


_RESERVED = ("__file", "__row", "__line")
_HASHES = ("__uh", "__uc")


def _is_internal(name: str) -> bool:
    """Whether cfnb's own queries use ``name`` beside the source's columns.

    The bookkeeping columns, the rejection ``__reason``, the index's hashes and the parsed
    values (``__p_user``, ``__p_ts``, ``__p0``, …; new private names in :func:`_finish`
    must keep this shape).
    """
    return (
        name in (*_RESERVED, *_HASHES, "__reason")
        or name.startswith("__p_")
        or (name.startswith("__p") and name[3:].isdigit())
    )


def _check_internal_names(staged: _Staged) -> None:
    """Refuse a source column named like one of cfnb's private columns.

    SQL would read the source's column in place of cfnb's (a column ``__reason`` made
    every row rejected with its value as the reason; ``__p_user`` replaced the user ids),
    so a column name could change what cfnb computes: it must stay data.
    """
    for name, _type in staged.columns:
        if _is_internal(name):
            raise errors.LoadError(
                f"Column {name!r} of {staged.description} is reserved by cfnb (names "
                f"{', '.join(map(repr, (*_RESERVED, '__reason', *_HASHES)))} and '__p_…' are its own); "
                f"rename it before loading."
            )


def _view_columns(con: duckdb.DuckDBPyConnection, name: str) -> tuple[tuple[str, str], ...]:
    rel = con.table(name)
    return tuple(
        (c, str(t)) for c, t in zip(rel.columns, rel.types, strict=True) if c not in _RESERVED
    )


def _stage_frame(con: duckdb.DuckDBPyConnection, source: Any) -> _Staged:
    table, kind = _to_arrow(source)
    if table.num_rows == 0:
        raise errors.EmptyFileError(f"The {kind} has no rows: there are no events to load.")
    for name in table.column_names:
        if name in _RESERVED:
            raise errors.LoadError(
                f"Column {name!r} of the {kind} is reserved by cfnb; rename it before loading."
            )
    # DuckDB names are case-insensitive: it would silently rename the second to 'plan_1'.
    seen: dict[str, str] = {}
    for name in table.column_names:
        if (first := seen.setdefault(name.lower(), name)) != name:
            raise errors.LoadError(
                f"Columns {first!r} and {name!r} of the {kind} differ only in case, which cfnb's "
                f"database (DuckDB) cannot tell apart; rename one of them before loading."
            )
    table = table.append_column("__row", pa.array(range(1, table.num_rows + 1), type=pa.int64()))
    con.register("__arrow", table)
    con.execute(
        f"CREATE VIEW __src AS SELECT {string_literal(kind)} AS __file, __row, NULL::BIGINT AS __line, "
        "* EXCLUDE (__row) FROM __arrow"
    )
    _create_malformed(con)
    return _Staged(
        kind,
        "frame",
        _view_columns(con, "__src"),
        untyped=False,
        files=(kind,),
        row_is_position=True,
    )


def _to_arrow(source: Any) -> tuple[pa.Table, str]:
    module = type(source).__module__.split(".")[0]
    if isinstance(source, pa.Table):
        return source, "pyarrow Table"
    if isinstance(source, pa.RecordBatchReader):
        return source.read_all(), "pyarrow RecordBatchReader"
    if module == "polars":
        import polars as pl

        if isinstance(source, pl.LazyFrame):
            source = source.collect()
        if isinstance(source, pl.DataFrame):
            return source.to_arrow(), "Polars DataFrame"
    if module == "pandas" and hasattr(source, "columns"):
        return _pandas_to_arrow(source), "pandas DataFrame"
    if isinstance(source, duckdb.DuckDBPyRelation):
        return source.to_arrow_table(), "DuckDB relation"
    raise errors.UnsupportedSourceError(
        f"cfnb.load cannot read a {type(source).__module__}.{type(source).__qualname__}. Pass a file path "
        f"(CSV, Parquet, JSON Lines), a directory or glob of them, a Polars or pandas DataFrame, a pyarrow "
        f"Table or a DuckDB relation."
    )


def _pandas_to_arrow(frame: Any) -> pa.Table:
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        # An object column of ints and strings (user ids 1 and 'u1') has no Arrow type:
        # name the column and the fix rather than pyarrow's conversion message.
        for name in frame.columns:
            try:
                pa.array(frame[name], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                kinds = sorted({type(v).__name__ for v in frame[name] if v is not None and v == v})
                raise errors.LoadError(
                    f"Column {name!r} of the pandas DataFrame mixes values of types "
                    f"{', '.join(kinds)}, which cannot make one typed column. Convert it to one type "
                    f"before loading, e.g. df[{name!r}] = df[{name!r}].astype(str)."
                ) from exc
        raise


# --------------------------------------------------------------------------- mapping


# A header cell that reads as a date or a number is a data row taken for the header.
_VALUE_RE = f"({_DATE_RE}.*|{_NUMBER_RE})"


def _pick(
    role: str, given: str | None, candidates: Sequence[str], names: Sequence[str], where: str
) -> str:
    if given is not None:
        if given in names:
            return given
        ci = [n for n in names if n.lower() == given.lower()]
        if len(ci) == 1:
            return ci[0]
        raise errors.ColumnNotFoundError(
            f"{role} column {given!r} is not in {where}.{errors.did_you_mean(given, names)} "
            f"Columns found: {', '.join(map(repr, names))}."
        )
    norm = {n: n.lower().replace("-", "_").replace(" ", "_") for n in names}
    found = [n for n in names if norm[n] in candidates]
    if len(found) == 1:
        return found[0]
    arg = {"user": "user", "event": "event", "time": "ts"}[role]
    if not found:
        headerless = ""
        if any(re.fullmatch(_VALUE_RE, n.strip()) for n in names):
            headerless = (
                " The first row looks like data, not a header: if the file has no header row, "
                "pass columns=[...] naming its columns."
            )
        raise errors.ColumnNotFoundError(
            f"No {role} column found in {where}. Columns found: {', '.join(map(repr, names))}; "
            f"names recognised: {', '.join(candidates)}. Pass {arg}='<column>' to cfnb.load."
            + headerless
        )
    raise errors.AmbiguousColumnError(
        f"Several columns of {where} could be the {role} column: {', '.join(map(repr, found))}. "
        f"Pass {arg}='<column>' to cfnb.load to choose one. Columns found: {', '.join(map(repr, names))}."
    )


# --------------------------------------------------------------------------- typing


def _check_tz(tz: str) -> None:
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        hint = errors.did_you_mean(tz, zoneinfo.available_timezones())
        raise errors.TimestampError(
            f"Unknown time zone {tz!r}.{hint} Use an IANA name such as 'UTC', 'Europe/Paris' or 'America/New_York'."
        ) from exc


_INT_RE = r"\s*[-+]?\d+\s*"
_LEADING_ZERO_RE = r"\s*[-+]?0\d.*"  # a code such as '00123' or a zip code: kept as text


def _infer_text_types(con: duckdb.DuckDBPyConnection, cols: list[str]) -> dict[str, str]:
    """Choose the narrowest type every non-blank value of each text column casts to.

    BIGINT, then DOUBLE, then BOOLEAN (``true``/``false``), else VARCHAR. Values with a
    leading zero keep the column text, and so do integers too large for BIGINT (long ids),
    which DOUBLE would silently round. Blank values are missing values.
    """
    if not cols:
        return {}
    parts = []
    for c in cols:
        q = ident(c)
        v = f"nullif(trim({q}), '')"
        parts += [
            f"count({v})",
            f"count({v}) FILTER (WHERE try_cast({v} AS BIGINT) IS NULL "
            f"OR regexp_full_match({v}, {string_literal(_LEADING_ZERO_RE)}) "
            f"OR NOT regexp_full_match({v}, {string_literal(_INT_RE)}))",
            f"count({v}) FILTER (WHERE try_cast({v} AS DOUBLE) IS NULL "
            f"OR regexp_full_match({v}, {string_literal(_LEADING_ZERO_RE)}) "
            f"OR NOT regexp_full_match({v}, {string_literal(_NUMBER_RE)}) "
            f"OR (regexp_full_match({v}, {string_literal(_INT_RE)}) AND try_cast({v} AS BIGINT) IS NULL))",
            f"count({v}) FILTER (WHERE lower({v}) NOT IN ('true', 'false'))",
        ]
    row = _one(con, f"SELECT {', '.join(parts)} FROM __src")
    types: dict[str, str] = {}
    for i, c in enumerate(cols):
        total, not_int, not_float, not_bool = row[4 * i : 4 * i + 4]
        if total == 0:
            types[c] = "VARCHAR"
        elif not_int == 0:
            types[c] = "BIGINT"
        elif not_float == 0:
            types[c] = "DOUBLE"
        elif not_bool == 0:
            types[c] = "BOOLEAN"
        else:
            types[c] = "VARCHAR"
    return types


@dataclass(frozen=True)
class _TsRule:
    sql: str  # an expression over the raw column, giving TIMESTAMPTZ or NULL
    params: tuple[Any, ...]
    text: str  # how the values were read, for the report
    # A cheaper expression that reads the common shapes the same way and is NULL for the
    # rest; ``sql`` then runs only on the rows it could not read.
    fast: str | None = None


def _ts_rule(
    con: duckdb.DuckDBPyConnection,
    col: str,
    typ: str,
    *,
    tz: str,
    ts_format: str | None,
    ts_unit: str | None,
) -> _TsRule:
    """Decide how the time column is read (the rules are in the module docs)."""
    q = ident(col)
    upper = typ.upper()
    local = f"in {tz}"
    if ts_format is not None:
        text = f"trim(CAST({q} AS VARCHAR))"
        if "%z" in ts_format or "%Z" in ts_format:
            return _TsRule(
                f"try_strptime({text}, ?)::TIMESTAMPTZ", (ts_format,), f"format {ts_format!r}"
            )
        return _TsRule(
            f"timezone(?, try_strptime({text}, ?)::TIMESTAMP)",
            (tz, ts_format),
            f"format {ts_format!r}, local times {local}",
        )
    # DuckDB names zoned types 'TIMESTAMP WITH TIME ZONE' and 'TIMESTAMPTZ_NS' alike.
    if "TIME ZONE" in upper or upper.startswith("TIMESTAMPTZ"):
        return _TsRule(f"{q}::TIMESTAMPTZ", (), "timestamps with time zone")
    if upper.startswith("TIMESTAMP") or upper == "DATE":
        return _TsRule(
            f"timezone(?, {q}::TIMESTAMP)", (tz,), f"naive {upper.lower()} values {local}"
        )
    numeric = upper in _NUMERIC_TYPES or upper.startswith("DECIMAL")
    value = q
    if upper == "VARCHAR":
        value = f"nullif(trim({q}), '')"
        n_text, n_num = _one(
            con,
            f"SELECT count({value}), count({value}) FILTER (WHERE regexp_full_match({value}, ?)) FROM __src",
            [_NUMBER_RE],
        )
        # Mostly numbers: epoch times (or YYYYMMDD) with a few bad cells, not text times.
        numeric = n_num > 0 and 2 * n_num > n_text
        if not numeric:
            return _TsRule(
                f"CASE WHEN regexp_full_match({value}, ?) THEN timezone(?, try_cast({value} AS TIMESTAMP)) "
                f"WHEN regexp_full_match({value}, ?) "
                f"THEN try_cast(regexp_replace({value}, ?, '\\3') AS TIMESTAMPTZ) END",
                (_NAIVE_RE, tz, _ZONE_RE, _OFFSET_RE),
                f"ISO-8601 text; values without an offset {local}",
                fast=_iso_fast(value, tz),
            )
    if not numeric:
        raise errors.TimestampError(
            f"Column {col!r} has type {typ}, which cfnb cannot read as times. Convert it to timestamps, "
            f"ISO-8601 text or epoch numbers, or pass ts_format='...'."
        )
    if upper == "VARCHAR":
        num = f"CASE WHEN regexp_full_match({value}, {string_literal(_NUMBER_RE)}) THEN try_cast({value} AS DOUBLE) END"
    else:
        num = f"CASE WHEN isfinite(CAST({q} AS DOUBLE)) THEN CAST({q} AS DOUBLE) END"
    lo, hi, not_yyyymmdd, n = _one(
        con,
        f"SELECT min(abs({num})), max(abs({num})), "
        f"count({num}) FILTER (WHERE {num} <> floor({num}) OR {num} < 19000101 OR {num} > 21001231), "
        f"count({num}) FROM __src",
    )
    if ts_unit is None and n and not_yyyymmdd == 0:
        return _TsRule(
            f"timezone(?, try_strptime(CAST(CAST({num} AS BIGINT) AS VARCHAR), '%Y%m%d')::TIMESTAMP)",
            (tz,),
            f"YYYYMMDD dates {local}",
        )
    unit = ts_unit
    if unit is None:
        if not n:
            unit = "s"
        else:
            unit = _unit_of(float(hi))
            if _unit_of(float(lo)) != unit and float(lo) >= 1:
                raise errors.TimestampError(
                    f"Column {col!r} holds epoch numbers whose units disagree: the smallest ({lo:g}) reads as "
                    f"{_unit_of(float(lo))}, the largest ({hi:g}) as {unit}. Pass ts_unit='s', 'ms', 'us' or 'ns' "
                    f"to cfnb.load (and check the column for bad values)."
                )
    factor = _TS_UNITS[unit]
    if factor is None:
        # Integer nanoseconds exceed a double's precision: divide them exactly when they are integers.
        micros = f"coalesce(try_cast({value} AS HUGEINT) // 1000, round({num} / 1000))"
    else:
        micros = f"round({num} * {factor})"
    return _TsRule(
        f"CASE WHEN abs({micros}) < 9.2e18 THEN make_timestamp(CAST({micros} AS BIGINT))::TIMESTAMPTZ END",
        (),
        f"epoch {unit} (UTC)",
    )


_NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
)


# strptime matches a format in full and is far cheaper than the patterns above; a value
# that fits one of these formats means the same instant under both readings.
_Z_FORMATS = (
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%d %H:%M:%S.%fZ",
    "%Y-%m-%d %H:%M:%SZ",
)
_OFFSET_FORMATS = (
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S.%f%z",
    "%Y-%m-%d %H:%M:%S%z",
)
_NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)


def _formats(formats: tuple[str, ...]) -> str:
    return "[" + ", ".join(string_literal(f) for f in formats) + "]"


def _iso_fast(value: str, tz: str) -> str:
    # strptime also reads the words 'infinity' and 'epoch': only text starting with a digit goes here.
    return (
        f"CASE WHEN NOT ({value}[1] BETWEEN '0' AND '9') THEN NULL "
        f"WHEN suffix({value}, 'Z') THEN try_strptime({value}, {_formats(_Z_FORMATS)})::TIMESTAMPTZ "
        f"ELSE coalesce(try_strptime({value}, {_formats(_OFFSET_FORMATS)}), "
        f"timezone({string_literal(tz)}, try_strptime({value}, {_formats(_NAIVE_FORMATS)}))) END"
    )


def _unit_of(value: float) -> str:
    if value < 1e11:
        return "s"
    if value < 1e14:
        return "ms"
    if value < 1e17:
        return "us"
    return "ns"


# --------------------------------------------------------------------------- finish


def map_columns(
    names: list[str],
    *,
    user: str | None,
    event: str | None,
    ts: str | None,
    event_name: str | None,
    where: str,
) -> tuple[str, str | None, str, list[str]]:
    """The user, event (``None`` with ``event_name``) and time columns, and the properties.

    Each is the column given, or else the one recognised by name among ``names``; any
    backend's loader maps columns with this one function, so the rules and the errors are
    the same everywhere.
    """
    user_col = _pick("user", user, USER_CANDIDATES, names, where)
    if event_name is not None:
        if event is not None:
            raise ValueError(
                "Pass either event= (a column) or event_name= (a constant name), not both."
            )
        event_col = None
    else:
        event_col = _pick("event", event, EVENT_CANDIDATES, names, where)
    ts_col = _pick(
        "time", ts, TS_CANDIDATES, [n for n in names if n not in (user_col, event_col)], where
    )
    props = [n for n in names if n not in (user_col, event_col, ts_col)]
    mapped = {
        "user_id": ("user", repr(user_col)),
        "event": ("event", repr(event_col) if event_col else f"the constant {event_name!r}"),
        "ts": ("time", repr(ts_col)),
    }
    for p in props:
        if p in mapped:
            role, source = mapped[p]
            raise errors.LoadError(
                f"Column {p!r} of {where} would clash with cfnb's own {p!r} column (the mapped "
                f"{role} column is {source}). Rename it before loading, or map it explicitly."
            )
    return user_col, event_col, ts_col, props


def _finish(
    con: duckdb.DuckDBPyConnection,
    staged: _Staged,
    *,
    user: str | None,
    event: str | None,
    ts: str | None,
    tz: str,
    ts_format: str | None,
    ts_unit: str | None,
    event_name: str | None,
    duplicates: str,
) -> EventLog:
    names = [c for c, _ in staged.columns]
    types = dict(staged.columns)
    where = staged.description
    user_col, event_col, ts_col, props = map_columns(
        names, user=user, event=event, ts=ts, event_name=event_name, where=where
    )

    prop_types = _infer_text_types(con, props) if staged.untyped else {p: types[p] for p in props}
    rule = _ts_rule(con, ts_col, types[ts_col], tz=tz, ts_format=ts_format, ts_unit=ts_unit)

    qu, qt = ident(user_col), ident(ts_col)
    user_type = types[user_col].upper()
    if user_type == "VARCHAR":
        user_expr = f"CASE WHEN {_blank(qu)} THEN NULL ELSE {qu} END"
    elif user_type in ("FLOAT", "DOUBLE"):
        # Integer ids in a float column (pandas makes them so when one is missing) read as
        # integers: 42.0 is user '42'. NaN is a missing id, as in pandas.
        user_expr = (
            f"CASE WHEN NOT isfinite({qu}) THEN NULL "
            f"WHEN {qu} = floor({qu}) AND abs({qu}) < 9e15 THEN CAST(CAST({qu} AS BIGINT) AS VARCHAR) "
            f"ELSE CAST({qu} AS VARCHAR) END"
        )
    else:
        user_expr = (
            f"CASE WHEN trim(CAST({qu} AS VARCHAR)) = '' THEN NULL ELSE CAST({qu} AS VARCHAR) END"
        )
    if event_col is None:
        event_expr, event_params = "?::VARCHAR", [event_name]
    else:
        qe = ident(event_col)
        event_text = qe if types[event_col].upper() == "VARCHAR" else f"CAST({qe} AS VARCHAR)"
        event_expr, event_params = (
            f"CASE WHEN {_blank(event_text)} THEN NULL ELSE {event_text} END",
            [],
        )
    # The source's own time value (of the joined source row s) was missing or blank.
    # Casting a typed time column to text just to look for blanks costs too much.
    src_ts = f"s.{qt}"
    raw_ts_null = (
        f"({src_ts} IS NULL OR trim({src_ts}) = '')"
        if types[ts_col].upper() == "VARCHAR"
        else f"({src_ts} IS NULL)"
    )
    prop_exprs = [
        f"CAST(nullif(trim({ident(p)}), '') AS {prop_types[p]})"
        if staged.untyped and prop_types[p] != "VARCHAR"
        else ident(p)
        for p in props
    ]
    raw_json = (
        "to_json(struct_pack("
        + ", ".join(f"{ident(n)} := s.{ident(n)}" for n in names)
        + "))::VARCHAR"
    )
    parsed = f"""
        SELECT * EXCLUDE (__p_ts_fast),
               CASE WHEN __p_ts_fast IS NOT NULL THEN __p_ts_fast ELSE {rule.sql} END AS __p_ts
        FROM (
            SELECT *,
                   {user_expr} AS __p_user,
                   {event_expr} AS __p_event,
                   {rule.fast or "NULL::TIMESTAMPTZ"} AS __p_ts_fast
                   {"".join(f", {e} AS __p{i}" for i, e in enumerate(prop_exprs))}
            FROM __src
        )
    """
    # Placeholders in text order: the slow time rule sits before the inner select.
    params = [*rule.params, *event_params]
    public = ["user_id", "event", "ts", *[ident(p) for p in props]]
    selected = ["__p_user AS user_id", "__p_event AS event", "__p_ts AS ts"] + [
        f"__p{i} AS {ident(p)}" for i, p in enumerate(props)
    ]
    # One pass over the source: every row is parsed once, with its reason for rejection
    # (if any) kept beside it; the few rejected rows then move to __rejected.
    # File names are an ENUM: a name per row (a long path, copied 10M times) costs more
    # than the rest of the row. So are event names (they are few): a byte per row, and
    # the codes the log index needs come with them. The hashes of the user id feed the
    # log index (cfnb.duck_events), cheaper here, in the one pass, than in a second.
    files = ", ".join(string_literal(f) for f in dict.fromkeys(staged.files))
    con.execute(f"CREATE TYPE __files AS ENUM ({files})")
    con.execute(
        f"CREATE TYPE __events AS ENUM (SELECT DISTINCT __e FROM (SELECT {event_expr} AS __e "
        "FROM __src) WHERE __e IS NOT NULL ORDER BY __e)",
        event_params,
    )
    selected[1] = "__p_event::__events AS event"
    # Rows keep their source order, so a record's number can be its rowid plus one.
    row = "(rowid + 1)" if staged.row_is_position else "__row"
    row_of_e = "(e.rowid + 1)" if staged.row_is_position else "e.__row"
    stored_row = "" if staged.row_is_position else "__row, "
    con.execute(
        f"CREATE TABLE events AS SELECT __file::__files AS __file, {stored_row}"
        f"{', '.join(selected)}, {HASH_COLUMNS} FROM ({parsed}) AS __parsed",
        params,
    )
    rejected_rows = "e.user_id IS NULL OR e.event IS NULL OR e.ts IS NULL"
    (n_bad,) = _one(con, f"SELECT count(*) FROM events e WHERE {rejected_rows}")
    # A row is rejected for the first reason that applies; a time is "null" when the
    # source's own value was missing or blank, else "unparseable".
    reason = (
        "CASE WHEN e.user_id IS NULL THEN 'null user' WHEN e.event IS NULL THEN 'null event' "
        f"WHEN {raw_ts_null} THEN 'null timestamp' "
        "ELSE 'unparseable timestamp' END"
    )
    # The raw values of a rejected row are the source's own, found again by (file, row).
    bad = (
        f" UNION ALL SELECT s.__file, s.__row, s.__line, {reason}, NULL::VARCHAR, {raw_json} "
        f"FROM events e JOIN __src s ON s.__file = e.__file::VARCHAR AND s.__row = {row_of_e} "
        f"WHERE {rejected_rows}"
    )
    con.execute(
        "CREATE TABLE __rejected AS "
        "SELECT file, row, line, 'malformed line' AS reason, detail, raw FROM __malformed"
        + (bad if n_bad else "")
    )
    if n_bad:
        con.execute(f"DELETE FROM events e WHERE {rejected_rows}")
    # Counted from the staged source itself, so the invariant below is a check, not a sum.
    (rows_read,) = _one(
        con, "SELECT (SELECT count(*) FROM __src) + (SELECT count(*) FROM __malformed)"
    )
    # Dropping duplicates changes the table, so it happens now; merely counting them (a
    # group-by over every row, as costly as the load itself) waits for the report.
    dropped = _drop_duplicates(con, public, row) if duplicates == "drop" else None
    # The tables never change after this point, so checking the accounting once, here,
    # covers the report too.
    (loaded,) = _one(con, "SELECT count(*) FROM events")
    (n_rejected,) = _one(con, "SELECT count(*) FROM __rejected")
    if rows_read != loaded + n_rejected:
        raise AssertionError(  # a bug in cfnb, never the data's fault
            f"cfnb lost rows loading {staged.description}: {rows_read} read, {loaded} loaded, "
            f"{n_rejected} rejected. Please report this."
        )

    def report() -> LoadReport:
        return _build_report(
            con,
            staged,
            rows_read=int(rows_read),
            mapping={
                "user": user_col,
                "event": event_col if event_col is not None else f"(constant {event_name!r})",
                "ts": ts_col,
            },
            ts_rule=rule.text,
            duplicates=_count_duplicates(con, public) if dropped is None else dropped,
            duplicate_policy=duplicates,
            tz=tz,
        )

    log = EventLog(con, report, source=staged.description)
    if loaded:
        # The engine's index of the log (users, times, event codes) is part of loading
        # it: every funnel, retention matrix and edit starts from it.
        log.event_source().index()
    con.execute("ALTER TABLE events DROP COLUMN __uh")
    con.execute("ALTER TABLE events DROP COLUMN __uc")
    if loaded == 0:
        summary = ", ".join(f"{k}: {v}" for k, v in log.report.rejected.items())
        raise errors.NoUsableRowsError(
            f"No usable rows in {where}: all {rows_read} rows were rejected ({summary}). "
            f"See err.rejected for the rows; check the column mapping (user={user_col!r}, "
            f"event={event_col!r}, ts={ts_col!r}) and the timestamp format.",
            log.report,
            log.rejected,
        )
    return log


def _blank(text: str) -> str:
    """SQL: is ``text`` empty or only spaces? (Only text starting with a space is trimmed.)"""
    return f"({text} = '' OR (starts_with({text}, ' ') AND trim({text}) = ''))"


def _count_duplicates(con: duckdb.DuckDBPyConnection, public: list[str]) -> int:
    """Rows equal in every column to an earlier row (the loaded rows only)."""
    cols = ", ".join(public)
    # Exact, but cheap: only rows whose hash collides with another row's are compared in full.
    (dup,) = _one(
        con,
        f"""
        WITH h AS (SELECT hash({cols}) AS h FROM events),
             suspects AS (SELECT h FROM h GROUP BY h HAVING count(*) > 1)
        SELECT coalesce(sum(n - 1), 0) FROM (
            SELECT count(*) AS n FROM events WHERE hash({cols}) IN (SELECT h FROM suspects)
            GROUP BY {cols}
        )
        """,
    )
    return int(dup)


def _drop_duplicates(con: duckdb.DuckDBPyConnection, public: list[str], row: str) -> int:
    """Move every row equal to an earlier one to the rejected rows; how many moved.

    ``row`` is the SQL of a row's record number (``__row``, or ``(rowid + 1)``).
    """
    n_dup = _count_duplicates(con, public)
    if not n_dup:
        return 0
    cols = ", ".join(public)
    con.execute(
        f"""
        CREATE TEMP TABLE __dups AS
        SELECT __file, __row, first_file, first_row FROM (
          SELECT __file, {row} AS __row,
                 row_number() OVER w AS k,
                 first_value(__file) OVER w AS first_file,
                 first_value({row}) OVER w AS first_row
          FROM events WINDOW w AS (PARTITION BY {cols} ORDER BY __file, {row})
        ) WHERE k > 1
        """
    )
    con.execute(
        "INSERT INTO __rejected SELECT __file::VARCHAR, __row, NULL, 'duplicate', 'same values as row ' "
        "|| first_row || CASE WHEN first_file = __file THEN '' ELSE ' of ' || first_file::VARCHAR END, "
        "NULL FROM __dups"
    )
    con.execute(f"DELETE FROM events WHERE (__file, {row}) IN (SELECT __file, __row FROM __dups)")
    con.execute("DROP TABLE __dups")
    return n_dup


def _build_report(
    con: duckdb.DuckDBPyConnection,
    staged: _Staged,
    *,
    rows_read: int,
    mapping: dict[str, str],
    ts_rule: str,
    duplicates: int,
    duplicate_policy: str,
    tz: str,
) -> LoadReport:
    loaded, users, first, last = _one(
        con, "SELECT count(*), count(DISTINCT user_id), min(ts), max(ts) FROM events"
    )
    rejected = dict(
        con.execute(
            "SELECT reason, count(*) FROM __rejected GROUP BY reason ORDER BY count(*) DESC, reason"
        ).fetchall()
    )
    names = con.execute(
        "SELECT event, count(*) AS n FROM events GROUP BY event ORDER BY n DESC, event"
    ).fetchall()
    dropped = rejected.get("duplicate", 0)
    warnings: list[str] = []
    if staged.blank_lines:
        plural = "s" if staged.blank_lines != 1 else ""
        warnings.append(f"{staged.blank_lines} blank line{plural} skipped (they hold no record)")
    if duplicates and duplicate_policy == "keep":
        warnings.append(
            f"{duplicates} exact duplicate rows kept (pass duplicates='drop' to drop them)"
        )
    return LoadReport(
        source=staged.description,
        format=staged.format,
        rows_read=rows_read,
        rows_loaded=int(loaded),
        rejected=rejected,
        duplicates=duplicates,
        duplicate_policy=duplicate_policy,
        duplicates_dropped=int(dropped),
        users=int(users),
        event_counts=tuple((str(e), int(n)) for e, n in names),
        first_ts=first,
        last_ts=last,
        columns=mapping,
        timestamps=ts_rule,
        tz=tz,
        warnings=tuple(warnings),
    )
