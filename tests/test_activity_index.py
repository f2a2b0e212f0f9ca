"""Retention's activity read from a log's index (:mod:`cfnb.activity_index`) against the
Polars join of every event to its user, which :func:`cfnb.metrics.retention.activity`
takes for journeys without an index."""

from __future__ import annotations

import datetime as dt
import itertools
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import cfnb
import cfnb.activity_index
from cfnb.activity_index import active_offsets
from cfnb.journeys import build_journeys
from cfnb.metrics.retention import Activity, activity, retention
from cfnb.spec import Factory, Stage, any_event, event, event_in, prop

UTC = dt.UTC


def t(day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 1, day, hour, minute, tzinfo=UTC)


def _frame(rows: list[tuple[str, str, dt.datetime, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "user_id": pl.String,
            "event": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "channel": pl.String,
        },
        orient="row",
    )


# Acquisition is a visit; every other kind of user is here: active before acquisition only
# (b), active at the acquisition instant and again, with ties (a), never acquired (c),
# acquired but never active (d), acquired twice over (e, whose later visit is activity).
_ROWS = [
    ("a", "visit", t(1, 9), "ads"),
    ("a", "use", t(1, 9), "ads"),  # same instant as the visit: counted once
    ("a", "use", t(2, 9), "seo"),
    ("a", "use", t(2, 9), "ads"),  # a tie
    ("a", "use", t(9, 1), "ads"),
    ("b", "use", t(1, 1), "ads"),  # before b's acquisition: not activity
    ("b", "visit", t(3), "seo"),
    ("c", "use", t(2), "ads"),
    ("c", "signup", t(4), "ads"),
    ("d", "visit", t(5, 3), "seo"),
    ("e", "visit", t(2), "ads"),
    ("e", "visit", t(4), "seo"),
    ("e", "use", t(4, 0, 1), "seo"),
]

_CONDITIONS = {
    "none": None,
    "any event": any_event(),
    "use": event("use"),
    "use or signup": event_in("use", "signup"),
    "a property": prop("channel") == "ads",
    "nothing matches": event("never"),
}


def _both(log: object, factory: Factory, active: object) -> tuple[Activity, Activity]:
    """The activity from the log's index, and from the Polars join of its events."""
    journeys = build_journeys(log, factory)  # type: ignore[arg-type]
    assert journeys.reads(log)
    fast = activity(log, journeys, active)  # type: ignore[arg-type]
    slow = activity(log.events, SimpleNamespace(table=journeys.table), active)  # type: ignore[attr-defined,arg-type]
    return fast, slow


@pytest.mark.parametrize("mode", ["lifecycle", "best_path"])
@pytest.mark.parametrize("active", list(_CONDITIONS))
def test_a_loaded_logs_activity_equals_the_join_of_its_events(mode: str, active: str) -> None:
    log = cfnb.load(_frame(_ROWS))
    factory = Factory([Stage("Visit", "visit"), Stage("Use", "use")], mode=mode)  # type: ignore[arg-type]
    fast, slow = _both(log, factory, _CONDITIONS[active])
    assert_frame_equal(fast.table, slow.table)
    assert fast.table.schema == {
        "user_id": pl.String,
        "reach_0": pl.Datetime("us", "UTC"),
        "offsets": pl.List(pl.Int64),
    }
    offsets = dict(zip(fast.table["user_id"], fast.table["offsets"].to_list(), strict=True))
    assert "c" not in offsets  # never acquired
    if active == "use":
        hour = 3_600_000_000
        assert offsets == {
            "a": [0, 24 * hour, (7 * 24 + 16) * hour],
            "b": [],
            "d": [],
            "e": [48 * hour + 60_000_000],
        }
    if active == "nothing matches":
        assert all(v == [] for v in offsets.values())


def _random_log(seed: int, users: int, rows: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = dt.datetime(2024, 1, 1, tzinfo=UTC)
    # Few distinct minutes: many ties, within a user and across users.
    minutes = rng.integers(0, 60 * 24 * 20, rows) // 7 * 7
    return pl.DataFrame(
        {
            "user_id": rng.integers(0, users, rows).astype(str).astype(object),
            "event": rng.choice(["visit", "use", "buy", "other"], rows, p=[0.3, 0.3, 0.1, 0.3]),
            "ts": [start + dt.timedelta(minutes=int(m)) for m in minutes],
            "channel": [c or None for c in rng.choice(["ads", "seo", ""], rows).tolist()],
        },
        schema_overrides={
            "user_id": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "channel": pl.String,
        },
    )


@pytest.mark.parametrize("run", [1, 7, 1 << 20])
@pytest.mark.parametrize("seed", [0, 1])
def test_runs_of_any_length_give_the_same_activity(
    monkeypatch: pytest.MonkeyPatch, seed: int, run: int
) -> None:
    """Short runs split the log at many user starts (and between threads)."""
    monkeypatch.setattr(cfnb.activity_index, "_RUN", run)
    log = cfnb.load(_random_log(seed, users=300, rows=1500))
    for mode in ("lifecycle", "best_path"):
        factory = Factory([Stage("Visit", "visit"), Stage("Buy", "buy")], mode=mode)  # type: ignore[arg-type]
        for active in (None, event("use"), prop("channel") == "ads"):
            fast, slow = _both(log, factory, active)
            assert_frame_equal(fast.table, slow.table)
            lengths = fast.table["offsets"].list.len()
            assert (lengths > 1).any()
            if active is None:  # the acquisition event is activity
                assert retention(build_journeys(log, factory), fast).table.height > 0
            else:
                assert (lengths == 0).any()


@pytest.mark.parametrize("run", [1, 5, 1 << 20])
def test_rows_in_any_user_order(monkeypatch: pytest.MonkeyPatch, run: int) -> None:
    """Rows need not come in user order: each user's instants go to their own row."""
    monkeypatch.setattr(cfnb.activity_index, "_RUN", run)
    log = cfnb.load(_random_log(2, users=40, rows=600))
    index = build_journeys(log, Factory([Stage("Visit", "visit")]))._rows.index  # type: ignore[union-attr]
    pos0 = index.user_start[:-1][::2]  # every other user, from their first row
    order = np.random.default_rng(0).permutation(pos0.size)
    positions = np.flatnonzero(index.codes % 2 == 0)
    for chosen in (None, positions):
        bounds, values = active_offsets(index, chosen, pos0)
        shuffled_bounds, shuffled_values = active_offsets(index, chosen, pos0[order])
        lists = [values[a:b].tolist() for a, b in itertools.pairwise(bounds)]
        shuffled = [shuffled_values[a:b].tolist() for a, b in itertools.pairwise(shuffled_bounds)]
        assert shuffled == [lists[i] for i in order]
        assert any(len(x) > 1 for x in lists)
