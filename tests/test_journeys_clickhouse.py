"""best_path against ClickHouse ``windowFunnel`` (chdb), the engine behind PostHog funnels."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

import polars as pl
import pytest
from reference import EVENT_SCHEMA, T0, best_path_reference, window_funnel_levels

from cfnb.journeys import build_journeys
from cfnb.spec import Factory, Stage, any_event, event, event_in

pytest.importorskip("chdb")

WINDOWS = [1, 2, 3, 5]


def levels(table: pl.DataFrame, n: int) -> dict[str, int]:
    return {
        row["user_id"]: sum(row[f"reach_{i}"] is not None for i in range(n))
        for row in table.to_dicts()
    }


def disjoint_case(rng: random.Random) -> tuple[pl.DataFrame, list[list[str]], int]:
    """A tie-heavy log (with disorder and repeats) and 1-5 stages of distinct event names."""
    names = list("abcdefg")
    rows = [
        (f"u{rng.randrange(5)}", rng.choice(names), rng.randrange(8))
        for _ in range(rng.randint(0, 60))
    ]
    events = pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "event": [r[1] for r in rows],
            "ts": [T0 + dt.timedelta(seconds=r[2]) for r in rows],
        },
        schema={k: EVENT_SCHEMA[k] for k in ("user_id", "event", "ts")},
    )
    rng.shuffle(names)
    n = rng.randint(1, 5)
    sets: list[list[str]] = []
    for k in range(n):
        size = rng.choice([1, 1, 2]) if len(names) > n - k else 1
        sets.append(names[:size])
        names = names[size:]
    return events, sets, rng.choice(WINDOWS)


def test_best_path_equals_window_funnel_on_random_logs() -> None:
    rng = random.Random("windowFunnel")
    cases = [disjoint_case(rng) for _ in range(240)]
    # One chdb query per window: every case's users go in one frame, prefixed by the case,
    # with events renamed to the stage they belong to, so one set of conditions fits all.
    by_window: dict[int, list[pl.DataFrame]] = defaultdict(list)
    expected: dict[str, int] = {}
    for c, (events, sets, window) in enumerate(cases):
        factory = Factory(
            [Stage(f"s{k}", event_in(*names)) for k, names in enumerate(sets)],
            mode="best_path",
            window=window,
        )
        table = build_journeys(events, factory).table
        expected |= {f"{c}/{u}": lvl for u, lvl in levels(table, len(sets)).items()}
        stage_of = {name: f"s{k}" for k, names in enumerate(sets) for name in names}
        by_window[window].append(
            events.with_columns(
                pl.format("{}/{}", pl.lit(c), "user_id").alias("user_id"),
                pl.col("event").replace_strict(stage_of, default="other"),
            )
        )
    got: dict[str, int] = {}
    for window, frames in by_window.items():
        conditions = [[f"s{k}"] for k in range(5)]
        got |= window_funnel_levels(pl.concat(frames), conditions, dt.timedelta(seconds=window))
    assert got == expected
    assert len(set(expected.values())) == 5  # every level from 1 to 5 occurs


def test_gap_exactly_the_window_counts_in_both() -> None:
    events = pl.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "b"],
            "event": ["x", "y", "z", "x", "y"],
            "ts": [T0 + dt.timedelta(microseconds=us) for us in (0, 2e6, 3e6, 0, 3e6 + 1)],
        }
    )
    factory = Factory([Stage("x", "x"), Stage("y", "y"), Stage("z", "z")], mode="best_path")
    for window, want in [(3, {"a": 3, "b": 1}), (2, {"a": 2, "b": 1})]:
        table = build_journeys(events, factory.replace(window=window)).table
        assert levels(table, 3) == want
        chdb = window_funnel_levels(events, [["x"], ["y"], ["z"]], dt.timedelta(seconds=window))
        assert chdb == want


def test_equal_timestamps_chain_in_stage_order_in_both() -> None:
    # Rows listed last-stage first, all at one instant.
    events = pl.DataFrame(
        {"user_id": ["a"] * 3, "event": ["z", "y", "x"], "ts": [T0] * 3},
    )
    factory = Factory(
        [Stage("x", "x"), Stage("y", "y"), Stage("z", "z")], mode="best_path", window=1
    )
    assert levels(build_journeys(events, factory).table, 3) == {"a": 3}
    assert window_funnel_levels(events, [["x"], ["y"], ["z"]], dt.timedelta(seconds=1)) == {"a": 3}


def test_overlapping_conditions_are_where_cfnb_and_clickhouse_differ() -> None:
    # One 'visit' row matches both "visit" and "any event". ClickHouse lets that one row
    # satisfy both conditions (level 2); cfnb never lets one row serve two stages (level
    # 1), and the brute-force reference agrees with cfnb.
    events = pl.DataFrame({"user_id": ["a"], "event": ["visit"], "ts": [T0]})
    factory = Factory(
        [Stage("Visit", event("visit")), Stage("Active", any_event())],
        mode="best_path",
        window=60,
    )
    ours = levels(build_journeys(events, factory).table, 2)
    theirs = window_funnel_levels(events, [["visit"], ["visit"]], dt.timedelta(seconds=60))
    assert ours == {"a": 1}
    assert theirs == {"a": 2}
    assert levels(best_path_reference(events, factory), 2) == ours
    # With a second row the chain exists for both.
    two = pl.concat([events, events])
    assert levels(build_journeys(two, factory).table, 2) == {"a": 2}
    assert window_funnel_levels(two, [["visit"], ["visit"]], dt.timedelta(seconds=60)) == {"a": 2}
