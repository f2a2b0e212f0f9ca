"""The engine reads events through a source: a Polars frame, or a loaded log's DuckDB table.

Both must answer every read alike (rows taken, conditions, column codes), whatever the
path a read takes inside DuckDB (a lookup by row id for a few rows, a scan for many,
row ids with gaps after duplicates are dropped), and the log index must group each
user's rows in time order whatever the user-id hashes do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal, assert_series_equal

import cfnb
import cfnb.duck_events
from cfnb.logindex import CoreColumns, LogIndex, build_index
from cfnb.sources import EventSource, FrameSource


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> cfnb.EventLog:
    events = cfnb.datasets.generate(users=400, seed=7, weeks=6).events
    path = tmp_path_factory.mktemp("sources") / "events.parquet"
    events.write_parquet(path)
    return cfnb.load(path)


@pytest.fixture(scope="module")
def sources(log: cfnb.EventLog) -> tuple[EventSource, EventSource]:
    return FrameSource(log.events), log.event_source()


def _rows(n: int, k: int, seed: int) -> np.ndarray:
    # Unsorted, with repeats: the order asked is the order given back.
    return np.random.default_rng(seed).integers(0, n, k).astype(np.int64)


@pytest.mark.parametrize("few_rows", [20_000, 3], ids=["lookup by rowid", "scan"])
def test_both_sources_take_the_same_rows_in_the_order_asked(
    sources: tuple[EventSource, EventSource], few_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cfnb.duck_events, "_FEW_ROWS", few_rows)
    frame, duck = sources
    rows = _rows(frame.height, 500, seed=1)
    columns = ["event", "channel", "ts", "user_id"]

    assert_frame_equal(duck.take(columns, rows), frame.take(columns, rows))


@pytest.mark.parametrize("few_rows", [20_000, 3], ids=["lookup by rowid", "scan"])
def test_both_sources_encode_a_column_at_rows_alike(
    sources: tuple[EventSource, EventSource], few_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cfnb.duck_events, "_FEW_ROWS", few_rows)
    frame, duck = sources
    rows = _rows(frame.height, 800, seed=2)
    for column in ("channel", "event"):
        codes, values = duck.codes_at(column, rows)
        expected = frame.take([column], rows).to_series()
        decoded = pl.Series(column, [None if c < 0 else values[int(c)] for c in codes])
        assert_series_equal(decoded, expected, check_dtypes=False)


def test_event_names_read_as_text_though_stored_as_an_enum(
    sources: tuple[EventSource, EventSource],
) -> None:
    frame, duck = sources
    assert duck.schema["event"] == pl.String
    assert_frame_equal(duck.select(["event"]), frame.select(["event"]))


def test_both_sources_evaluate_conditions_and_select_alike(
    sources: tuple[EventSource, EventSource],
) -> None:
    frame, duck = sources
    conditions = [
        pl.col("channel") == "ads",
        (pl.col("event") == "purchase") & (pl.col("amount") > 20),
        pl.col("referrer").is_not_null(),
    ]
    for got, expected in zip(duck.masks(conditions), frame.masks(conditions), strict=True):
        np.testing.assert_array_equal(got, expected)
    where = pl.col("amount").is_not_null()
    assert_frame_equal(
        duck.select(["user_id", "amount"], where), frame.select(["user_id", "amount"], where)
    )


def test_a_log_with_dropped_duplicates_reads_the_right_rows_despite_rowid_gaps(
    write_file: Callable[..., Path],
) -> None:
    lines = ["user_id,event,ts,plan"]
    for i in range(40):
        line = f"u{i % 7},{'visit' if i % 3 else 'signup'},2026-01-{1 + i % 20:02d}T0{i % 9}:00:00Z,p{i % 4}"
        lines.append(line)
        if i % 5 == 0:
            lines.append(line)  # an exact duplicate, dropped at load
    log = cfnb.load(write_file("dups.csv", "\n".join(lines) + "\n"), duplicates="drop")
    duck = log.event_source()
    assert duck._rowids is not None  # type: ignore[attr-defined]
    frame = FrameSource(log.events)
    rows = _rows(frame.height, 60, seed=3)

    assert_frame_equal(duck.take(["plan", "ts"], rows), frame.take(["plan", "ts"], rows))
    codes, values = duck.codes_at("plan", rows)
    assert [values[int(c)] for c in codes] == frame.take(["plan"], rows).to_series().to_list()


def _grouped_by_user_in_time_order(index: LogIndex, users: pl.Series, ts: pl.Series) -> None:
    rows = index.rows_at(np.arange(index.rows))
    ordered = pl.DataFrame({"user_id": users, "ts": ts})[rows]
    # Each user's rows are contiguous, numbered 0, 1, … in order of first position.
    runs = ordered.with_columns(pl.Series("user", index.user))
    assert runs.group_by("user_id").agg(pl.col("user").n_unique())["user"].max() == 1
    assert runs["user"].diff().fill_null(1).is_in([0, 1]).all()
    # ... and in time order.
    assert (runs.group_by("user", maintain_order=True).agg(pl.col("ts").is_sorted())["ts"]).all()
    np.testing.assert_array_equal(index.ts, ordered["ts"].to_physical().to_numpy())


def test_the_index_of_a_log_and_of_its_shuffled_frame_group_the_same_users(
    log: cfnb.EventLog,
) -> None:
    duck = log.event_source().index()
    _grouped_by_user_in_time_order(duck, log.events["user_id"], log.events["ts"])
    shuffled = log.events.sample(fraction=1.0, shuffle=True, seed=11)
    frame = FrameSource(shuffled).index()
    _grouped_by_user_in_time_order(frame, shuffled["user_id"], shuffled["ts"])
    assert frame.users == duck.users
    assert frame.event_counts == duck.event_counts


def _core(users: list[str], ts: list[int], hash_of: Callable[[str], int]) -> CoreColumns:
    return CoreColumns(
        hash=np.array([hash_of(u) for u in users], dtype=np.uint64),
        check=np.array([sum(map(ord, u)) * 7919 for u in users], dtype=np.uint64),
        ts=np.array(ts, dtype=np.int64),
        codes=np.zeros(len(users), dtype=np.uint8),
        names=("visit",),
        ids=lambda: pl.Series("user_id", users),
    )


@pytest.mark.parametrize(
    "hash_of",
    [
        lambda u: 1 << 63,  # every id one hash: only the ids themselves tell them apart
        lambda u: (1 << 63) | (ord(u[-1]) & 7),  # equal high bits, distinct low bits
    ],
    ids=["identical hashes", "equal high bits"],
)
def test_the_index_groups_users_exactly_when_their_hashes_collide(
    hash_of: Callable[[str], int],
) -> None:
    users = ["ua", "ub", "ua", "uc", "ub", "ua", "uc"]
    ts = [5, 1, 2, 9, 3, 7, 4]
    index = build_index(_core(users, ts, hash_of))

    _grouped_by_user_in_time_order(
        index, pl.Series("user_id", users), pl.Series("ts", ts).cast(pl.Datetime("us", "UTC"))
    )
    assert index.users == 3
