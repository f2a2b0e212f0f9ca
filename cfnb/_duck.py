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
import threading
import weakref
from collections.abc import Callable
from typing import TypeVar

import duckdb

__all__ = ["connect", "ident", "interruptible", "string_literal"]

_T = TypeVar("_T")


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


def interruptible(
    con: duckdb.DuckDBPyConnection,
    work: Callable[[], _T],
    *,
    progress: Callable[[float], None] | None = None,
    every: float = 0.5,
) -> _T:
    """Run ``work`` (which queries ``con``) so that Ctrl-C stops it at once.

    A KeyboardInterrupt (Ctrl-C, or Jupyter's "interrupt kernel") reaches Python only
    between bytecodes, and a long DuckDB statement holds the main thread for its whole
    run. So ``work`` runs in a worker thread while this thread waits; on an interrupt it
    asks DuckDB to stop (``con.interrupt()``), waits for the worker to unwind, and
    re-raises the KeyboardInterrupt. ``progress``, when given, is called every
    ``every`` seconds with the running statement's percentage done (0-100).
    """
    if progress is not None:
        con.execute("SET enable_progress_bar = true")
        con.execute("SET enable_progress_bar_print = false")
    outcome: list[_T] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the waiting thread, which raises it
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="cfnb-duckdb", daemon=True).start()
    try:
        while not done.wait(every):
            if progress is not None:
                progress(max(con.query_progress(), 0.0))
    except KeyboardInterrupt:
        con.interrupt()
        while not done.wait(every):
            con.interrupt()  # a statement started after the first request
        raise
    if failure:
        raise failure[0]
    return outcome[0]
