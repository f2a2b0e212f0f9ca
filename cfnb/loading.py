"""Load an event log from a file or a frame into DuckDB, counting every row.

:func:`load` is the front door. It reads the source into DuckDB without a pandas round
trip, maps the user, event and time columns, parses timestamps to UTC, types the other
columns, and splits the rows into *loaded* and *rejected* (each with its reason), so that
``rows_read == rows_loaded + rejected`` always holds and nothing is dropped silently.

Time zones and timestamps
-------------------------
All times are stored in UTC (``TIMESTAMPTZ`` in DuckDB, ``Datetime("us", "UTC")`` in
Polars). How a value is read:

* a string with an offset (``2026-01-05T09:00:00+02:00``, ``...Z``) is that instant;
* a string without one (``2026-01-05 09:00:00``), a date (``2026-01-05``, read as
  midnight) and a naive datetime column are local times in ``tz`` (default UTC). A local
  time that does not exist (in a daylight-saving gap) is read with the offset in force
  before the gap, so ``02:30`` on a spring-forward night in New York is 07:30 UTC; a local
  time that happens twice (in the autumn overlap) is read as the *later* instant;
* numbers are epoch times, always UTC: the unit (``s``, ``ms``, ``us``, ``ns``) comes from
  ``ts_unit`` or is detected from their magnitude, and 8-digit numbers that are all valid
  dates (``19970101``) are read as ``YYYYMMDD`` dates. A column whose smallest and largest
  values point to different units is an error that asks for ``ts_unit``;
* ``ts_format`` (strftime codes, e.g. ``"%d/%m/%Y %H:%M"``) overrides detection.

Periods built on these times (days, ISO weeks from Monday, months) are UTC periods.
"""

from __future__ import annotations

import glob as globmod
import os
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import duckdb
import pyarrow as pa

from cfnb import errors
from cfnb._duck import connect, ident, string_literal
from cfnb.eventlog import EventLog, LoadReport

__all__ = ["EVENT_CANDIDATES", "TS_CANDIDATES", "USER_CANDIDATES", "load"]

USER_CANDIDATES = ("user_id", "distinct_id", "userid", "customer_id", "user", "uid")
EVENT_CANDIDATES = ("event", "event_name", "event_type", "eventname", "action")
TS_CANDIDATES = ("timestamp", "ts", "time", "event_time", "date", "datetime", "event_timestamp")

_CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".dat")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
_COMPRESSIONS = (".gz", ".zst")

_OFFSET_RE = r"\s*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*([zZ]|(UTC|GMT)?[+-]\d{2}(:?\d{2})?)\s*"
_NUMBER_RE = r"\s*-?\d+(\.\d+)?\s*"

Format = Literal["csv", "parquet", "jsonl"]
_TS_UNITS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}


@dataclass(frozen=True)
class _Staged:
    """A source read into DuckDB: a relation ``__src`` and the rows it could not parse.

    ``__src`` has columns ``__file`` and ``__row`` (1-based record number within its file)
    followed by the source's own columns; ``__malformed`` holds the records that did not
    parse at all (file, row, line, detail, raw).
    """

    description: str
    format: str
    columns: tuple[tuple[str, str], ...]  # (name, duckdb type) of the data columns
    untyped: bool  # every data column is text that still needs typing (CSV, JSON lines)
    blank_lines: int = 0


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
    con = connect(memory_limit=memory_limit)
    try:
        staged = _stage(
            con, source, format=format, delimiter=delimiter, encoding=encoding, columns=columns
        )
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
    except BaseException:
        con.close()
        raise


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
        fmt = found.pop()  # type: ignore[assignment]
    elif fmt not in ("csv", "parquet", "jsonl"):
        raise errors.UnsupportedSourceError(
            f"format must be 'csv', 'parquet' or 'jsonl', got {fmt!r}."
        )
    for p in paths:
        if os.path.getsize(p) == 0:
            raise errors.EmptyFileError(f"{p!r} is empty (0 bytes): there are no events to load.")
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
    many = len(paths) > 1
    if many:
        options.append("filename = '__file'")
    sql = f"CREATE TABLE __stage AS SELECT * FROM read_csv(?, {', '.join(options)})"
    try:
        con.execute(sql, [paths])
    except duckdb.Error as exc:
        raise _csv_error(paths, exc, encoding) from exc

    rejects = con.execute(
        """
        SELECT s.file_path, r.line, any_value(r.error_type::VARCHAR), any_value(r.csv_line),
               any_value(r.error_message)
        FROM __rej r JOIN __rej_scan s USING (scan_id, file_id)
        GROUP BY s.file_path, r.line ORDER BY s.file_path, r.line
        """
    ).fetchall()
    for file_path, line, etype, csv_line, _msg in rejects:
        if etype == "INVALID UNICODE" and encoding is None:
            raise errors.NotUtf8Error(
                f"{file_path!r} is not UTF-8: line {line} holds bytes that are not valid UTF-8. "
                f"Pass encoding='latin-1' (or the file's real encoding, e.g. 'utf-16') to cfnb.load."
            )
    header_lines = 0 if columns is not None else 1
    data_cols = [
        (name, typ)
        for name, typ in con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '__stage'"
        ).fetchall()
        if name != "__file"
    ]
    _create_malformed(con)
    for file_path, line, etype, csv_line, msg in rejects:
        detail = _reject_detail(str(etype), str(msg), len(data_cols))
        con.execute(
            "INSERT INTO __malformed VALUES (?, ?, ?, ?, ?)",
            [file_path, int(line) - header_lines, int(line), detail, csv_line],
        )
    if many:
        con.execute(
            "CREATE VIEW __src AS SELECT __file, row_number() OVER (PARTITION BY __file ORDER BY rowid) AS __row, "
            "* EXCLUDE (__file) FROM __stage"
        )
    else:
        con.execute(
            f"CREATE VIEW __src AS SELECT {string_literal(paths[0])} AS __file, rowid + 1 AS __row, * FROM __stage"
        )
    staged = _Staged(_describe(paths), "csv", tuple(data_cols), untyped=True)
    _check_single_column(con, staged, paths, delimiter)
    return staged


def _duck_encoding(encoding: str) -> str:
    norm = encoding.lower().replace("_", "-")
    aliases = {"latin1": "latin-1", "iso-8859-1": "latin-1", "utf8": "utf-8", "utf16": "utf-16"}
    return aliases.get(norm, norm)


def _reject_detail(etype: str, msg: str, ncols: int) -> str:
    if etype == "MISSING COLUMNS":
        return f"too few columns (expected {ncols})"
    if etype == "TOO MANY COLUMNS":
        return f"too many columns (expected {ncols})"
    if etype == "UNQUOTED VALUE":
        return "a quote is not closed or a value is not quoted properly"
    if etype == "INVALID UNICODE":
        return "bytes that are not valid text in the file's encoding"
    first = msg.splitlines()[0] if msg else etype
    return f"{etype.lower()}: {first}"


def _csv_error(paths: list[str], exc: duckdb.Error, encoding: str | None) -> errors.LoadError:
    text = str(exc)
    where = _describe(paths)
    if "unicode" in text.lower() or "utf-8" in text.lower() or "utf8" in text.lower():
        if encoding is None:
            return errors.NotUtf8Error(
                f"{where!r} is not UTF-8 text. Pass encoding='latin-1' (or the file's real encoding) to cfnb.load."
            )
    if "sniff" in text.lower() or "dialect" in text.lower():
        return errors.WrongDelimiterError(
            f"Could not work out how {where!r} is split into columns. Pass delimiter=',' (or ';', '\\t', '|', "
            f"'whitespace') and, for a file without a header row, columns=[...]. DuckDB said: {text.splitlines()[0]}"
        )
    if "No files found" in text or "does not exist" in text:
        return errors.SourceNotFoundError(f"File not found: {where!r}.")
    return errors.LoadError(f"Could not read {where!r} as CSV: {text.splitlines()[0]}")


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
    options = (
        "columns = {'line': 'VARCHAR'}, delim = '\x1e\x1f', quote = '', escape = '', header = false"
    )
    options += ", filename = '__file'"
    if encoding is not None:
        options += f", encoding = {string_literal(_duck_encoding(encoding))}"
    try:
        con.execute(
            f"CREATE TABLE __lines AS SELECT __file, line FROM read_csv(?, {options})", [paths]
        )
    except duckdb.Error as exc:
        raise _csv_error(paths, exc, encoding) from exc
    con.execute(
        "CREATE TABLE __numbered AS SELECT __file, row_number() OVER (PARTITION BY __file ORDER BY rowid) AS __line, "
        "line FROM __lines"
    )
    con.execute("DROP TABLE __lines")
    (blank,) = con.execute(
        "SELECT count(*) FROM __numbered WHERE line IS NULL OR trim(line) = ''"
    ).fetchone() or (0,)
    _create_malformed(con)
    if kind == "jsonl":
        con.execute(
            "CREATE TABLE __records AS SELECT __file, __line, line, "
            "coalesce(json_type(try_cast(line AS JSON)) = 'OBJECT', false) AS ok FROM __numbered "
            "WHERE line IS NOT NULL AND trim(line) <> ''"
        )
        keys = [
            k
            for (k,) in con.execute(
                "SELECT k FROM (SELECT unnest(json_keys(line::JSON)) AS k, min(__line) AS first_seen, "
                "min(__file) AS f FROM __records WHERE ok GROUP BY k) ORDER BY f, first_seen, k"
            ).fetchall()
        ]
        if not keys and not con.execute("SELECT count(*) FROM __records WHERE ok").fetchone()[0]:  # type: ignore[index]
            keys = []
        con.execute(
            "INSERT INTO __malformed SELECT __file, row_number() OVER (PARTITION BY __file ORDER BY __line), __line, "
            "'not a JSON object', line FROM __records WHERE NOT ok"
        )
        select = ", ".join(
            f"json_extract_string(line, {string_literal(_json_path(k))}) AS {ident(k)}"
            for k in keys
        )
        con.execute(
            "CREATE VIEW __src AS SELECT __file, __line AS __row"
            + (f", {select}" if select else "")
            + " FROM __records WHERE ok"
        )
        data_cols = tuple((k, "VARCHAR") for k in keys)
        # Row numbers of JSON Lines are line numbers: a record is a line.
        con.execute("UPDATE __malformed SET row = line")
    else:
        con.execute(
            "CREATE TABLE __records AS SELECT __file, __line, line, string_split_regex(trim(line), '\\s+') AS parts "
            "FROM __numbered WHERE line IS NOT NULL AND trim(line) <> ''"
        )
        if columns is None:
            first = con.execute(
                "SELECT parts FROM __records ORDER BY __file, __line LIMIT 1"
            ).fetchone()
            if first is None:
                raise errors.EmptyFileError(f"{_describe(paths)!r} holds only blank lines.")
            names = list(first[0])
            con.execute(
                "DELETE FROM __records WHERE (__file, __line) IN "
                "(SELECT __file, min(__line) FROM __records GROUP BY __file)"
            )
        else:
            names = list(columns)
        n = len(names)
        con.execute(
            "INSERT INTO __malformed SELECT __file, __line - ?, __line, "
            "CASE WHEN len(parts) < ? THEN 'too few columns (expected ' || ? || ')' "
            "ELSE 'too many columns (expected ' || ? || ')' END, line FROM __records WHERE len(parts) <> ?",
            [0 if columns is not None else 1, n, n, n, n],
        )
        select = ", ".join(f"parts[{i + 1}] AS {ident(name)}" for i, name in enumerate(names))
        skip = 0 if columns is not None else 1
        con.execute(
            f"CREATE VIEW __src AS SELECT __file, __line - {skip} AS __row, {select} FROM __records WHERE len(parts) = {n}"
        )
        data_cols = tuple((name, "VARCHAR") for name in names)
    con.execute("DROP TABLE __numbered")
    return _Staged(_describe(paths), kind, data_cols, untyped=True, blank_lines=int(blank))


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _stage_parquet(con: duckdb.DuckDBPyConnection, paths: list[str]) -> _Staged:
    for p in paths:
        try:
            con.execute("SELECT count(*) FROM read_parquet(?)", [p]).fetchone()
        except duckdb.Error as exc:
            raise errors.LoadError(
                f"{p!r} is not a readable Parquet file ({str(exc).splitlines()[0]}). "
                f"Remove or replace it{' (the other files are fine)' if len(paths) > 1 else ''}, then load again."
            ) from exc
    files = "[" + ", ".join(string_literal(p) for p in paths) + "]"
    con.execute(
        "CREATE VIEW __src AS SELECT filename AS __file, file_row_number + 1 AS __row, "
        "* EXCLUDE (filename, file_row_number) "
        f"FROM read_parquet({files}, filename = true, file_row_number = true, union_by_name = true)"
    )
    _create_malformed(con)
    cols = _view_columns(con, "__src")
    return _Staged(_describe(paths), "parquet", cols, untyped=False)


def _view_columns(con: duckdb.DuckDBPyConnection, name: str) -> tuple[tuple[str, str], ...]:
    rel = con.table(name)
    return tuple(
        (c, str(t))
        for c, t in zip(rel.columns, rel.types, strict=True)
        if c not in ("__file", "__row")
    )


def _stage_frame(con: duckdb.DuckDBPyConnection, source: Any) -> _Staged:
    table, kind = _to_arrow(source)
    if table.num_rows == 0:
        raise errors.EmptyFileError(f"The {kind} has no rows: there are no events to load.")
    for name in table.column_names:
        if name in ("__file", "__row"):
            raise errors.LoadError(
                f"Column {name!r} is reserved by cfnb; rename it before loading."
            )
    import pyarrow as pa_

    table = table.append_column("__row", pa_.array(range(1, table.num_rows + 1), type=pa_.int64()))
    con.register("__arrow", table)
    con.execute(
        f"CREATE VIEW __src AS SELECT {string_literal(kind)} AS __file, __row, * EXCLUDE (__row) FROM __arrow"
    )
    _create_malformed(con)
    return _Staged(kind, "frame", _view_columns(con, "__src"), untyped=False)


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
        return pa.Table.from_pandas(source, preserve_index=False), "pandas DataFrame"
    if isinstance(source, duckdb.DuckDBPyRelation):
        return source.to_arrow_table(), "DuckDB relation"
    raise errors.UnsupportedSourceError(
        f"cfnb.load cannot read a {type(source).__module__}.{type(source).__qualname__}. Pass a file path "
        f"(CSV, Parquet, JSON Lines), a directory or glob of them, a Polars or pandas DataFrame, a pyarrow "
        f"Table or a DuckDB relation."
    )


# --------------------------------------------------------------------------- mapping


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
        raise errors.ColumnNotFoundError(
            f"No {role} column found in {where}. Columns found: {', '.join(map(repr, names))}; "
            f"names recognised: {', '.join(candidates)}. Pass {arg}='<column>' to cfnb.load."
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


def _infer_text_types(con: duckdb.DuckDBPyConnection, cols: list[str]) -> dict[str, str]:
    """Choose the narrowest type every non-empty value of each text column casts to."""
    if not cols:
        return {}
    parts = []
    for c in cols:
        q = ident(c)
        parts += [
            f"count({q})",
            f"count({q}) FILTER (WHERE try_cast({q} AS BIGINT) IS NULL OR regexp_full_match({q}, '\\s*[-+]?0\\d.*') "
            f"OR NOT regexp_full_match({q}, '\\s*[-+]?\\d+\\s*'))",
            f"count({q}) FILTER (WHERE try_cast({q} AS DOUBLE) IS NULL OR regexp_full_match({q}, '\\s*[-+]?0\\d.*') "
            f"OR NOT regexp_full_match({q}, '\\s*[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?\\s*'))",
            f"count({q}) FILTER (WHERE lower(trim({q})) NOT IN ('true', 'false'))",
        ]
    row = con.execute(f"SELECT {', '.join(parts)} FROM __src").fetchone()
    assert row is not None
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


def _ts_rule(
    con: duckdb.DuckDBPyConnection,
    col: str,
    typ: str,
    *,
    tz: str,
    ts_format: str | None,
    ts_unit: str | None,
) -> _TsRule:
    q = ident(col)
    upper = typ.upper()
    local = f"in {tz}" if tz != "UTC" else "in UTC"
    if ts_format is not None:
        has_zone = "%z" in ts_format or "%Z" in ts_format
        if has_zone:
            return _TsRule(
                f"try_strptime({q}::VARCHAR, ?)::TIMESTAMPTZ", (ts_format,), f"format {ts_format!r}"
            )
        return _TsRule(
            f"timezone(?, try_strptime({q}::VARCHAR, ?)::TIMESTAMP)",
            (tz, ts_format),
            f"format {ts_format!r}, local times {local}",
        )
    if upper.startswith("TIMESTAMP WITH TIME ZONE") or upper == "TIMESTAMPTZ":
        return _TsRule(f"{q}::TIMESTAMPTZ", (), "timestamps with time zone")
    if upper.startswith("TIMESTAMP") or upper == "DATE":
        return _TsRule(
            f"timezone(?, {q}::TIMESTAMP)", (tz,), f"naive {upper.lower()} values {local}"
        )
    numeric = upper in (
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
    ) or upper.startswith("DECIMAL")
    if upper == "VARCHAR":
        row = con.execute(
            f"SELECT count({q}), count({q}) FILTER (WHERE regexp_full_match({q}, ?)) FROM __src",
            [_NUMBER_RE],
        ).fetchone()
        assert row is not None
        numeric = row[0] > 0 and row[0] == row[1]
        if not numeric:
            return _TsRule(
                f"CASE WHEN regexp_full_match({q}, ?) THEN try_cast(regexp_replace(trim({q}), '(UTC|GMT)', '') AS TIMESTAMPTZ) "
                f"ELSE timezone(?, try_cast(trim({q}) AS TIMESTAMP)) END",
                (_OFFSET_RE, tz),
                f"ISO-8601 text; values without an offset {local}",
            )
    if not numeric:
        raise errors.TimestampError(
            f"Column {col!r} has type {typ}, which cfnb cannot read as times. Convert it to timestamps, "
            f"ISO-8601 text or epoch numbers, or pass ts_format='...'."
        )
    num = f"try_cast({q} AS DOUBLE)"
    stats = con.execute(
        f"SELECT min(abs({num})), max(abs({num})), "
        f"count(*) FILTER (WHERE {num} IS NOT NULL AND ({num} <> floor({num}) OR {num} < 19000101 OR {num} > 21001231 "
        f"OR try_strptime(CAST({num}::BIGINT AS VARCHAR), '%Y%m%d') IS NULL)), count({num}) FROM __src"
    ).fetchone()
    assert stats is not None
    lo, hi, not_yyyymmdd, n = stats
    if ts_unit is None and n and not_yyyymmdd == 0:
        return _TsRule(
            f"timezone(?, try_strptime(CAST(try_cast({q} AS DOUBLE)::BIGINT AS VARCHAR), '%Y%m%d')::TIMESTAMP)",
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
        micros = f"(try_cast({q} AS HUGEINT) // 1000)"
    else:
        micros = f"round(try_cast({q} AS DOUBLE) * {factor})"
    return _TsRule(
        f"CASE WHEN abs({micros}) < 9.2e18 THEN make_timestamp(CAST({micros} AS BIGINT))::TIMESTAMPTZ END",
        (),
        f"epoch {unit} (UTC)",
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
    for p in props:
        if p in ("user_id", "event", "ts"):
            raise errors.LoadError(
                f"Column {p!r} of {where} would clash with cfnb's own {p!r} column (the mapped "
                f"{ {'user_id': 'user', 'event': 'event', 'ts': 'time'}[p] } column is {({'user_id': user_col, 'event': event_col, 'ts': ts_col})[p]!r}). "
                f"Rename it before loading, or map it explicitly."
            )

    prop_types = _infer_text_types(con, props) if staged.untyped else {p: types[p] for p in props}
    rule = _ts_rule(con, ts_col, types[ts_col], tz=tz, ts_format=ts_format, ts_unit=ts_unit)

    qu, qt = ident(user_col), ident(ts_col)
    user_expr = (
        f"CASE WHEN trim(CAST({qu} AS VARCHAR)) = '' THEN NULL ELSE CAST({qu} AS VARCHAR) END"
    )
    if not staged.untyped and types[user_col].upper() in ("FLOAT", "DOUBLE"):
        user_expr = f"CASE WHEN {qu} = floor({qu}) THEN CAST(CAST({qu} AS BIGINT) AS VARCHAR) ELSE CAST({qu} AS VARCHAR) END"
    if event_col is None:
        event_expr, event_params = "?::VARCHAR", [event_name]
    else:
        qe = ident(event_col)
        event_expr, event_params = (
            f"CASE WHEN trim(CAST({qe} AS VARCHAR)) = '' THEN NULL ELSE CAST({qe} AS VARCHAR) END",
            [],
        )
    raw_ts_null = f"({qt} IS NULL OR trim(CAST({qt} AS VARCHAR)) = '')"
    prop_exprs = [
        f"CAST(trim({ident(p)}) AS {prop_types[p]}) AS {ident(p)}"
        if staged.untyped and prop_types[p] != "VARCHAR"
        else ident(p)
        for p in props
    ]
    raw_json = (
        "to_json(struct_pack("
        + ", ".join(f"{ident(n)} := {ident(n)}" for n in names)
        + "))::VARCHAR"
    )
    parsed = f"""
        SELECT __file, __row,
               {user_expr} AS user_id,
               {event_expr} AS event,
               {rule.sql} AS ts,
               {raw_ts_null} AS ts_missing,
               {raw_json} AS raw
               {"".join(", " + e for e in prop_exprs)}
        FROM __src
    """
    params = [*event_params, *rule.params]
    reason = (
        "CASE WHEN user_id IS NULL THEN 'null user' WHEN event IS NULL THEN 'null event' "
        "WHEN ts_missing THEN 'null timestamp' WHEN ts IS NULL THEN 'unparseable timestamp' END"
    )
    con.execute(
        f"""
        CREATE TABLE __rejected AS
        SELECT file, row, line, 'malformed line' AS reason, detail, raw FROM __malformed
        UNION ALL
        SELECT __file, __row, NULL::BIGINT, {reason}, NULL::VARCHAR, raw
        FROM ({parsed}) AS __parsed WHERE {reason} IS NOT NULL
        """,
        params,
    )
    _renumber_after_malformed(con)
    public = ["user_id", "event", "ts", *[ident(p) for p in props]]
    con.execute(
        f"CREATE TABLE events AS SELECT __file, __row, {', '.join(public)} FROM ({parsed}) AS __parsed "
        f"WHERE {reason} IS NULL",
        params,
    )
    n_dup = _handle_duplicates(con, public, duplicates)
    report = _build_report(
        con,
        staged,
        mapping={
            "user": user_col,
            "event": event_col if event_col is not None else f"(constant {event_name!r})",
            "ts": ts_col,
        },
        ts_rule=rule.text,
        duplicates=n_dup,
        duplicate_policy=duplicates,
        tz=tz,
    )
    log = EventLog(con, report)
    if report.rows_loaded == 0:
        summary = ", ".join(f"{k}: {v}" for k, v in report.rejected.items())
        raise errors.NoUsableRowsError(
            f"No usable rows in {where}: all {report.rows_read} rows were rejected ({summary}). "
            f"See err.rejected for the rows; check the column mapping (user={user_col!r}, "
            f"event={event_col!r}, ts={ts_col!r}) and the timestamp format.",
            report,
            log.rejected,
        )
    return log


def _renumber_after_malformed(con: duckdb.DuckDBPyConnection) -> None:
    """Give value-rejected rows their record number in the file, counting malformed records too.

    DuckDB numbers the records it parsed; a malformed record before a row shifts that
    row's position in the file by one.
    """
    has = con.execute("SELECT count(*) FROM __malformed").fetchone()
    if not has or not has[0]:
        return
    bad = con.execute("SELECT file, row FROM __malformed ORDER BY file, row").fetchall()
    by_file: dict[str, list[int]] = {}
    for f, r in bad:
        by_file.setdefault(f, []).append(int(r))
    rows = con.execute(
        "SELECT rowid, file, row FROM __rejected WHERE reason <> 'malformed line'"
    ).fetchall()
    for rowid, f, r in rows:
        pos = int(r)
        for b in by_file.get(f, []):
            if b <= pos:
                pos += 1
        if pos != r:
            con.execute("UPDATE __rejected SET row = ? WHERE rowid = ?", [pos, rowid])


def _handle_duplicates(con: duckdb.DuckDBPyConnection, public: list[str], policy: str) -> int:
    cols = ", ".join(public)
    (distinct,) = con.execute(
        f"SELECT count(*) FROM (SELECT DISTINCT {cols} FROM events)"
    ).fetchone() or (0,)
    (total,) = con.execute("SELECT count(*) FROM events").fetchone() or (0,)
    n_dup = int(total) - int(distinct)
    if policy == "drop" and n_dup:
        con.execute(
            f"""
            CREATE TEMP TABLE __dups AS
            SELECT __file, __row, first_row FROM (
              SELECT __file, __row,
                     row_number() OVER w AS k,
                     first_value(__row) OVER w AS first_row
              FROM events WINDOW w AS (PARTITION BY {cols} ORDER BY __file, __row)
            ) WHERE k > 1
            """
        )
        con.execute(
            "INSERT INTO __rejected SELECT __file, __row, NULL, 'duplicate', 'same values as row ' || first_row, NULL "
            "FROM __dups"
        )
        con.execute(
            "DELETE FROM events WHERE (__file, __row) IN (SELECT __file, __row FROM __dups)"
        )
        con.execute("DROP TABLE __dups")
    return n_dup


def _build_report(
    con: duckdb.DuckDBPyConnection,
    staged: _Staged,
    *,
    mapping: dict[str, str],
    ts_rule: str,
    duplicates: int,
    duplicate_policy: str,
    tz: str,
) -> LoadReport:
    loaded, users, first, last = con.execute(
        "SELECT count(*), count(DISTINCT user_id), min(ts), max(ts) FROM events"
    ).fetchone() or (0, 0, None, None)
    rejected = dict(
        con.execute(
            "SELECT reason, count(*) FROM __rejected GROUP BY reason ORDER BY count(*) DESC, reason"
        ).fetchall()
    )
    names = con.execute(
        "SELECT event, count(*) AS n FROM events GROUP BY event ORDER BY n DESC, event"
    ).fetchall()
    n_rejected = sum(rejected.values())
    dropped = rejected.get("duplicate", 0)
    rows_read = int(loaded) + n_rejected
    warnings: list[str] = []
    if staged.blank_lines:
        warnings.append(f"{staged.blank_lines} blank lines skipped (they hold no record)")
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
