"""The journeys engine against slow Python references, and invariants under hypothesis."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from reference import (
    EVENT_SCHEMA,
    T0,
    best_path_levels_exhaustive,
    best_path_reference,
    lifecycle_reference,
    random_factory,
    random_log,
)

from cfnb.journeys import build_journeys
from cfnb.metrics.funnel import funnel
from cfnb.spec import Factory, Stage, any_event, event, event_in

REFERENCES = {"lifecycle": lifecycle_reference, "best_path": best_path_reference}


def levels(table: pl.DataFrame, n: int) -> dict[str, int]:
    return {
        row["user_id"]: sum(row[f"reach_{i}"] is not None for i in range(n))
        for row in table.to_dicts()
    }


@pytest.mark.parametrize("mode", ["lifecycle", "best_path"])
@pytest.mark.parametrize("block", range(4))
def test_engine_equals_reference_on_random_logs(mode: str, block: int) -> None:
    # 4 blocks x 40 logs per mode: overlapping conditions, times, within, window, ties.
    rng = random.Random(f"{mode}-{block}")
    for _ in range(40):
        events, factory = random_log(rng), random_factory(rng, mode=mode)
        want = REFERENCES[mode](events, factory)
        got = build_journeys(events, factory).table.sort("user_id")
        assert_frame_equal(got, want)
        # A log stored in (user, ts) order takes the no-sort path: same answer.
        stored = build_journeys(events.sort("user_id", "ts"), factory).table.sort("user_id")
        assert_frame_equal(stored, want)


def test_best_path_greedy_equals_exhaustive_search() -> None:
    # The proof in cfnb.journeys says the earliest-next chain is optimal without `within`;
    # the exhaustive reference tries every chain of distinct rows.
    rng = random.Random("exhaustive")
    checked = 0
    while checked < 150:
        events = random_log(rng, rows=30)
        factory = random_factory(rng, mode="best_path")
        factory = factory.replace(stages=[s.replace(within=None) for s in factory.stages])
        table = build_journeys(events, factory).table
        assert levels(table, len(factory.stages)) == best_path_levels_exhaustive(events, factory)
        checked += 1


def test_lifecycle_and_best_path_agree_on_the_first_chain_when_it_is_the_best() -> None:
    # With one acquisition per user there is one start, and (distinct event names) the
    # two modes are the same rule.
    rng = random.Random("one-start")
    for _ in range(50):
        events = random_log(rng, names="bcd").vstack(
            pl.DataFrame(
                {
                    "user_id": [f"u{u}" for u in range(4)],
                    "event": ["a"] * 4,
                    "ts": [T0] * 4,
                    "channel": [None] * 4,
                    "plan": [None] * 4,
                },
                schema=EVENT_SCHEMA,
            )
        )
        stages = [Stage("a", "a"), Stage("b", "b"), Stage("c", "c"), Stage("d", "d")]
        factory = Factory(stages, window=rng.choice([None, 3]))
        life = build_journeys(events, factory).table.sort("user_id")
        best = build_journeys(events, factory.replace(mode="best_path")).table.sort("user_id")
        assert_frame_equal(life, best)


# --------------------------------------------------------------------------- invariants

rows_strategy = st.lists(
    st.tuples(
        st.integers(0, 3),  # user
        st.sampled_from("abcde"),  # event
        st.integers(0, 8),  # second
        st.sampled_from(["x", "y", None]),  # channel
    ),
    max_size=30,
)
stage_strategy = st.builds(
    Stage,
    name=st.just("placeholder"),
    match=st.one_of(
        st.sampled_from("abcd").map(event),
        st.tuples(st.sampled_from("abcd"), st.sampled_from("abcd")).map(lambda p: event_in(*p)),
        st.just(any_event()),
    ),
    times=st.integers(1, 2),
    within=st.sampled_from([None, 2]),
)
factory_strategy = st.builds(
    lambda stages, mode, window: Factory(
        [s.replace(name=f"s{i}") for i, s in enumerate(stages)],
        mode=mode,
        window=window,
        segment_by=["channel"],
    ),
    stages=st.lists(stage_strategy, min_size=1, max_size=4),
    mode=st.sampled_from(["lifecycle", "best_path"]),
    window=st.sampled_from([None, 3]),
)


def to_events(rows: list[tuple[int, str, int, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": [f"u{r[0]}" for r in rows],
            "event": [r[1] for r in rows],
            "ts": [T0 + dt.timedelta(seconds=r[2]) for r in rows],
            "channel": [r[3] for r in rows],
        },
        schema={k: EVENT_SCHEMA[k] for k in ("user_id", "event", "ts", "channel")},
    )


def table_of(events: pl.DataFrame, factory: Factory) -> pl.DataFrame:
    return build_journeys(events, factory).table.sort("user_id")


FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(rows=rows_strategy, factory=factory_strategy, seed=st.integers(0, 2**32 - 1))
def test_row_order_never_matters(rows: list, factory: Factory, seed: int) -> None:
    events = to_events(rows)
    shuffled = events.sample(fraction=1.0, shuffle=True, seed=seed)
    assert_frame_equal(table_of(shuffled, factory), table_of(events, factory))


@FAST
@given(rows=rows_strategy, factory=factory_strategy)
def test_renaming_users_renames_rows(rows: list, factory: Factory) -> None:
    events = to_events(rows)
    renamed = events.with_columns(("new-" + pl.col("user_id").str.reverse()).alias("user_id"))
    expected = table_of(events, factory).with_columns(
        ("new-" + pl.col("user_id").str.reverse()).alias("user_id")
    )
    assert_frame_equal(table_of(renamed, factory), expected.sort("user_id"))


@FAST
@given(rows=rows_strategy, noise=rows_strategy, factory=factory_strategy)
def test_events_no_stage_matches_change_nothing(rows: list, noise: list, factory: Factory) -> None:
    events = to_events(rows)
    # "e" is never a stage's event, but any_event() would match it, so drop such factories.
    if any(s.match.event_names() is None for s in factory.stages):
        return
    noisy = pl.concat([events, to_events(noise).with_columns(event=pl.lit("e"))])
    assert_frame_equal(
        table_of(noisy, factory).drop("channel"), table_of(events, factory).drop("channel")
    )


@FAST
@given(rows=rows_strategy, factory=factory_strategy, shift=st.integers(-(10**6), 10**6))
def test_shifting_all_timestamps_shifts_reach_times(
    rows: list, factory: Factory, shift: int
) -> None:
    events = to_events(rows)
    delta = dt.timedelta(seconds=shift, microseconds=shift % 7)
    moved = events.with_columns(pl.col("ts") + delta)
    n = len(factory.stages)
    expected = table_of(events, factory).with_columns(
        pl.col(f"reach_{i}") + delta for i in range(n)
    )
    assert_frame_equal(table_of(moved, factory), expected)


@FAST
@given(rows=rows_strategy, factory=factory_strategy)
def test_funnel_never_grows_down_the_chain(rows: list, factory: Factory) -> None:
    table = funnel(build_journeys(to_events(rows), factory)).table
    users = table["users"].to_list()
    assert users == sorted(users, reverse=True)
    for column in ("rate", "overall_rate"):
        values = table[column].drop_nulls()
        assert ((values >= 0) & (values <= 1)).all()
    assert table["rate"][0] is None


def random_edit(rng: random.Random, factory: Factory) -> Factory:
    """One explorer-style edit: a limit, the period, segments, or one stage."""
    n = len(factory.stages)
    i = rng.randrange(n)
    other = random_factory(rng).stages[0]
    edits = [
        lambda: factory.replace(window=rng.choice([None, 1, 4])),
        lambda: factory.replace(period=rng.choice(["day", "month"]), segment_by=["plan"]),
        lambda: factory.with_stage(i, within=rng.choice([None, 1, 3])),
        lambda: factory.with_stage(i, match=other.match, times=other.times),
        lambda: factory.add_stage(other.replace(name=f"added{rng.random()}"), rng.randrange(n + 1)),
        lambda: factory.remove_stage(i) if n > 1 else factory.replace(window=5),
    ]
    edited: Factory = rng.choice(edits)()
    return edited


@pytest.mark.parametrize("mode", ["lifecycle", "best_path"])
def test_update_equals_a_fresh_build_after_random_edits(mode: str) -> None:
    rng = random.Random(f"update-{mode}")
    for _ in range(40):
        events, factory = random_log(rng), random_factory(rng, mode=mode)
        journeys = build_journeys(events, factory)
        for _ in range(3):  # chained edits, as in the explorer
            factory = random_edit(rng, factory)
            journeys = journeys.update(factory)
            fresh = build_journeys(events, factory)
            assert journeys.stages == fresh.stages
            assert journeys.period == fresh.period
            assert_frame_equal(journeys.table.sort("user_id"), fresh.table.sort("user_id"))
