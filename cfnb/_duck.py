"""The small toolbox every SQL-writing module of cfnb uses to talk to DuckDB.

Only :mod:`cfnb.loading` and :mod:`cfnb.eventlog` write SQL. They build it from these
helpers: identifiers are always quoted with :func:`ident`, and values are always bound
as parameters (``?``), so no user text (a column name, an event name, a file path) is
ever pasted into SQL as code.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref

import duckdb

__all__ = ["connect", "ident", "string_literal"]


def connect(
    *, memory_limit: str | None = None, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """Open a private in-memory DuckDB connection set up the way cfnb expects.

    The session time zone is UTC, so TIMESTAMPTZ values and period boundaries never
    depend on the machine's zone. Large loads spill to a private temporary directory
    instead of failing when they outgrow ``memory_limit``.
    """
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET enable_progress_bar = false")
    spill = tempfile.mkdtemp(prefix="cfnb-duckdb-")
    con.execute("SET temp_directory = ?", [spill])
    # The directory goes with the connection: a notebook that loads many logs must not
    # leave one directory per load behind.
    weakref.finalize(con, shutil.rmtree, spill, ignore_errors=True)
    if memory_limit is not None:
        con.execute("SET memory_limit = ?", [memory_limit])
    if threads is not None:
        con.execute("SET threads = ?", [threads])
    elif (cpus := os.cpu_count()) is not None:
        con.execute("SET threads = ?", [cpus])
    return con


def ident(name: str) -> str:
    """Quote ``name`` as a DuckDB identifier, whatever characters it holds.

    Examples
    --------
    >>> ident('plan')
    '"plan"'
    >>> ident('a "quoted" name')
    '"a ""quoted"" name"'
    """
    if "\x00" in name:
        raise ValueError(f"column names cannot contain NUL characters: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def string_literal(value: str) -> str:
    """Quote ``value`` as a SQL string literal.

    Only for the few places DuckDB does not accept a bound parameter (options of
    table functions such as ``read_csv(delim=...)``); everywhere else values are bound.
    """
    if "\x00" in value:
        raise ValueError(f"text cannot contain NUL characters: {value!r}")
    return "'" + value.replace("'", "''") + "'"
