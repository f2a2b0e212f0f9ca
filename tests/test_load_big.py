"""Big loads: progress, Ctrl-C, and a memory limit smaller than the data.

A million-row CSV (about 50 MB; 185 MB once loaded) made once per session stands in for
a large export: big enough that its load takes seconds, small enough for CI.
"""

from __future__ import annotations

import _thread
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

import cfnb
from cfnb._duck import connect, interruptible

ROWS = 1_000_000


@pytest.fixture(scope="session")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    start = np.datetime64("2024-01-01T00:00:00", "us")
    seconds = np.sort(rng.integers(0, 180 * 86_400, ROWS))
    frame = pl.DataFrame(
        {
            "user_id": [f"u{n}" for n in rng.integers(0, 200_000, ROWS)],
            "event": rng.choice(["visit", "signup", "session", "purchase"], ROWS),
            "timestamp": (start + seconds.astype("timedelta64[s]")).astype(str),
            "plan": rng.choice(["free", "pro", "team"], ROWS),
            "amount": rng.integers(0, 500, ROWS),
        }
    )
    path = tmp_path_factory.mktemp("big") / "events.csv"
    frame.write_csv(path)
    return path


@pytest.fixture
def ctrl_c() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt, as in a terminal or a Jupyter kernel.

    Libraries loaded by earlier tests (chdb, the Jupyter machinery) may have replaced
    the SIGINT handler, and ``_thread.interrupt_main`` does nothing without Python's own.
    """
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_a_long_statement_reports_its_progress() -> None:
    con = connect()
    seen: list[float] = []
    query = "SELECT count(*) FROM range(400000000) t(i) WHERE hash(i) % 7 = 0"
    (n,) = interruptible(
        con, lambda: con.execute(query).fetchone(), progress=seen.append, every=0.05
    )
    assert n > 0
    assert seen, "no progress was reported during a multi-second statement"
    assert all(0.0 <= p <= 100.0 for p in seen)


def test_load_reports_progress_and_still_loads_every_row(big_csv: Path) -> None:
    seen: list[float] = []
    log = cfnb.load(big_csv, progress=seen.append)
    assert log.report.rows_read == log.report.rows_loaded == ROWS
    assert seen
    assert all(0.0 <= p <= 100.0 for p in seen)


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_stops_a_load_at_once_and_leaves_nothing_behind(big_csv: Path) -> None:
    before = {t.name for t in threading.enumerate()}
    # As Ctrl-C (or Jupyter's "interrupt kernel") would, half a second in.
    timer = threading.Timer(0.5, _thread.interrupt_main)
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        cfnb.load(big_csv)
    stopped = time.monotonic() - started
    timer.cancel()
    assert stopped < 0.5 + 2.0, f"the load took {stopped:.1f} s to stop"
    time.sleep(0.1)
    assert "cfnb-duckdb" not in {t.name for t in threading.enumerate()} - before
    # Nothing is left in a broken state: the same file loads normally afterwards.
    assert cfnb.load(big_csv).report.rows_loaded == ROWS


@pytest.mark.usefixtures("ctrl_c")
def test_an_interrupted_statement_leaves_its_connection_usable() -> None:
    con = connect()
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        interruptible(
            con, lambda: con.execute("SELECT count(*) FROM range(100000000000)").fetchone()
        )
    assert con.execute("SELECT 42").fetchone() == (42,)


def test_a_memory_limit_below_the_data_size_spills_to_disk_and_gives_the_same_log(
    big_csv: Path,
) -> None:
    # Loaded, the log takes ~185 MB in DuckDB: with 96 MB it must spill to the log's
    # private temporary directory to finish.
    small = cfnb.load(big_csv, memory_limit="96MB")
    con = small.connection
    (spilled,) = con.execute(
        "SELECT coalesce(sum(size), 0) FROM duckdb_temporary_files()"
    ).fetchone() or (0,)
    assert spilled > 0, "nothing was spilled: the test data no longer outgrows the limit"
    assert small.report.rows_loaded == ROWS
    events = small.events
    assert events.height == ROWS
    assert events["user_id"].n_unique() == small.report.users
    assert small.report.to_dict() == cfnb.load(big_csv).report.to_dict()


def test_a_memory_limit_is_checked_before_loading() -> None:
    with pytest.raises(cfnb.errors.LoadError, match="memory_limit must be a size"):
        cfnb.load(
            pl.DataFrame({"user_id": ["a"], "event": ["x"], "ts": ["2024-01-01"]}),
            memory_limit="lots",
        )


def test_duckdb_itself_refuses_the_same_work_without_spilling(big_csv: Path) -> None:
    """The point of the private temp directory: without one, the same limit fails."""
    con = duckdb.connect(":memory:")
    con.execute("SET memory_limit = '64MB'")
    con.execute("SET temp_directory = ''")
    with pytest.raises(duckdb.OutOfMemoryException):
        con.execute(
            "CREATE TABLE t AS SELECT * FROM read_csv(?, all_varchar = true) ORDER BY user_id",
            [str(big_csv)],
        )
