"""The journeys table on hand-worked logs: each rule of DESIGN.md §3, one case at a time."""

from __future__ import annotations

import datetime as dt
import doctest

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import cfnb.journeys
from cfnb.journeys import JourneyError, Journeys, build_journeys
from cfnb.spec import Factory, SpecError, Stage, any_event, event, event_in, prop

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def log(*rows: tuple[str, str, float], **props: list[object]) -> pl.DataFrame:
    """Events from ``(user, event, seconds after T0)`` rows, plus property columns."""
    frame = pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "event": [r[1] for r in rows],
            "ts": [at(r[2]) for r in rows],
        },
        schema={"user_id": pl.String, "event": pl.String, "ts": pl.Datetime("us", "UTC")},
    )
    return frame.with_columns(pl.Series(k, v) for k, v in props.items())


def reach(journeys: Journeys, user: str) -> list[float | None]:
    """A user's reach times as seconds after T0 (None = not reached)."""
    row = journeys.table.filter(pl.col("user_id") == user).row(0, named=True)
    return [
        None if row[f"reach_{i}"] is None else (row[f"reach_{i}"] - T0).total_seconds()
        for i in range(len(journeys.stages))
    ]


VISIT_SIGNUP_PAY = [Stage("Visit", "visit"), Stage("Signup", "signup"), Stage("Pay", "pay")]


def test_docstrings_run() -> None:
    assert doctest.testmod(cfnb.journeys).failed == 0


def test_lifecycle_enters_at_the_first_acquisition_and_takes_first_matches_after() -> None:
    events = log(
        ("a", "signup", 0),  # before acquisition: does not count
        ("a", "visit", 10),
        ("a", "visit", 20),
        ("a", "signup", 30),
        ("a", "signup", 40),
        ("a", "pay", 50),
        ("b", "signup", 5),  # never acquired: not in the table
    )
    j = build_journeys(events, Factory(VISIT_SIGNUP_PAY))
    assert j.table["user_id"].to_list() == ["a"]
    assert reach(j, "a") == [10, 30, 50]
    assert j.stages == ("Visit", "Signup", "Pay")
    assert j.mode == "lifecycle"
    assert j.period == "week"
    assert j.last_ts == at(50)
    assert j.table.schema["reach_0"] == pl.Datetime("us", "UTC")


def test_a_later_stage_is_not_reached_once_an_earlier_one_is_missed() -> None:
    events = log(("a", "visit", 0), ("a", "pay", 10))
    assert reach(build_journeys(events, Factory(VISIT_SIGNUP_PAY)), "a") == [0, None, None]


def test_same_timestamp_counts_as_at_or_after() -> None:
    events = log(("a", "pay", 5), ("a", "signup", 5), ("a", "visit", 5))
    assert reach(build_journeys(events, Factory(VISIT_SIGNUP_PAY)), "a") == [5, 5, 5]


def test_one_row_never_satisfies_two_stages() -> None:
    stages = [Stage("Visit", "visit"), Stage("Any", any_event())]
    one = log(("a", "visit", 0))
    assert reach(build_journeys(one, Factory(stages)), "a") == [0, None]
    two = log(("a", "visit", 0), ("a", "visit", 0))
    assert reach(build_journeys(two, Factory(stages)), "a") == [0, 0]


def test_times_needs_that_many_unused_matching_rows() -> None:
    stages = [Stage("Visit", "visit"), Stage("Engaged", event_in("visit", "click"), times=3)]
    events = log(("a", "visit", 0), ("a", "click", 1), ("a", "visit", 2), ("a", "click", 7))
    # The acquisition row is used by stage 0, so the third match is the click at 7.
    assert reach(build_journeys(events, Factory(stages)), "a") == [0, 7]
    fewer = events.filter(pl.col("ts") < at(5))
    assert reach(build_journeys(fewer, Factory(stages)), "a") == [0, None]


def test_times_on_the_first_stage_sets_entry_at_the_nth_match() -> None:
    stages = [Stage("Regular", "visit", times=2), Stage("Signup", "signup")]
    events = log(("a", "signup", 1), ("a", "visit", 0), ("a", "visit", 3), ("a", "signup", 4))
    assert reach(build_journeys(events, Factory(stages)), "a") == [3, 4]


def test_within_limits_each_step_and_is_inclusive() -> None:
    events = log(("a", "visit", 0), ("a", "signup", 60), ("b", "visit", 0), ("b", "signup", 61))
    factory = Factory([Stage("Visit", "visit"), Stage("Signup", "signup", within="1m")])
    j = build_journeys(events, factory)
    assert reach(j, "a") == [0, 60]
    assert reach(j, "b") == [0, None]


def test_within_looks_only_at_the_first_match_after_the_previous_stage() -> None:
    # Lifecycle takes the first signup; a later, closer-to-payment one does not help.
    events = log(("a", "visit", 0), ("a", "signup", 1), ("a", "signup", 100), ("a", "pay", 105))
    stages = [Stage("Visit", "visit"), Stage("Signup", "signup"), Stage("Pay", "pay", within=10)]
    assert reach(build_journeys(events, Factory(stages)), "a") == [0, 1, None]


def test_window_counts_from_acquisition_and_is_inclusive() -> None:
    events = log(("a", "visit", 0), ("a", "signup", 5), ("a", "pay", 10), ("a", "pay", 11))
    assert reach(build_journeys(events, Factory(VISIT_SIGNUP_PAY, window=10)), "a") == [0, 5, 10]
    assert reach(build_journeys(events, Factory(VISIT_SIGNUP_PAY, window=9)), "a") == [0, 5, None]


def test_segment_columns_come_from_the_acquisition_row() -> None:
    events = log(
        ("a", "visit", 10),
        ("a", "visit", 20),
        ("a", "signup", 0),
        channel=["ads", "seo", "mail"],
        plan=[None, "pro", "free"],
    )
    j = build_journeys(events, Factory(VISIT_SIGNUP_PAY, segment_by=["channel", "plan"]))
    assert j.table.columns == ["user_id", "reach_0", "reach_1", "reach_2", "channel", "plan"]
    assert j.table.row(0) == ("a", at(10), None, None, "ads", None)


def test_property_predicates_select_rows() -> None:
    events = log(("a", "visit", 0), ("a", "pay", 1), ("a", "pay", 2), amount=[None, 5.0, 50.0])
    stages = [Stage("Visit", "visit"), Stage("Big order", event("pay") & (prop("amount") > 10))]
    assert reach(build_journeys(events, Factory(stages)), "a") == [0, 2]


def test_best_path_restarts_from_any_acquisition() -> None:
    events = log(
        ("a", "visit", 0),
        ("a", "signup", 100),  # too late for the first visit
        ("a", "visit", 95),
        ("a", "pay", 104),
        channel=["ads", "x", "seo", "y"],
    )
    factory = Factory(VISIT_SIGNUP_PAY, window=10, segment_by=["channel"])
    assert reach(build_journeys(events, factory), "a") == [0, None, None]
    best = build_journeys(events, factory.replace(mode="best_path"))
    assert best.mode == "best_path"
    assert reach(best, "a") == [95, 100, 104]
    assert best.table["channel"].to_list() == ["seo"]


def test_best_path_keeps_the_earliest_start_of_the_best_level() -> None:
    events = log(("a", "visit", 0), ("a", "visit", 5), ("a", "visit", 9))
    j = build_journeys(events, Factory(VISIT_SIGNUP_PAY, mode="best_path"))
    assert reach(j, "a") == [0, None, None]


def test_best_path_within_applies_to_the_earliest_next_event() -> None:
    # From the visit at 0 the next signup is at 1, 50 s before the payment: within 10 s
    # fails, and a later signup does not rescue it (the rule is earliest-next).
    events = log(("a", "visit", 0), ("a", "signup", 1), ("a", "signup", 45), ("a", "pay", 51))
    stages = [Stage("Visit", "visit"), Stage("Signup", "signup"), Stage("Pay", "pay", within=10)]
    j = build_journeys(events, Factory(stages, mode="best_path"))
    assert reach(j, "a") == [0, 1, None]


def test_row_order_and_unmatched_events_do_not_matter() -> None:
    events = log(
        ("a", "visit", 3),
        ("a", "signup", 3),
        ("a", "noise", 3),
        ("a", "visit", 3),
        ("b", "visit", 1),
        channel=["z", None, "q", "a", "a"],
    )
    factory = Factory(
        [Stage("Visit", "visit"), Stage("Again", any_event())], segment_by=["channel"]
    )
    expected = build_journeys(events, factory).table.sort("user_id")
    for seed in range(5):
        shuffled = events.sample(fraction=1.0, shuffle=True, seed=seed)
        assert_frame_equal(build_journeys(shuffled, factory).table.sort("user_id"), expected)
    # Canonical order: of the two tied visits, the one with channel 'a' comes first.
    assert expected["channel"].to_list() == ["a", "a"]


def test_empty_log_and_no_acquisition_give_empty_tables() -> None:
    empty = log()
    j = build_journeys(empty, Factory(VISIT_SIGNUP_PAY, segment_by=()))
    assert j.table.height == 0
    assert j.table.columns == ["user_id", "reach_0", "reach_1", "reach_2"]
    assert j.last_ts is None
    none = build_journeys(log(("a", "signup", 0)), Factory(VISIT_SIGNUP_PAY, mode="best_path"))
    assert none.table.height == 0
    assert none.last_ts == at(0)


def test_last_ts_can_be_given() -> None:
    j = build_journeys(log(("a", "visit", 0)), Factory(VISIT_SIGNUP_PAY), last_ts=at(99))
    assert j.last_ts == at(99)


def test_naive_and_millisecond_timestamps_are_read_as_utc() -> None:
    events = log(("a", "visit", 0), ("a", "signup", 1)).with_columns(
        pl.col("ts").dt.replace_time_zone(None).dt.cast_time_unit("ms")
    )
    j = build_journeys(events, Factory(VISIT_SIGNUP_PAY))
    assert reach(j, "a") == [0, 1, None]
    assert j.table.schema["reach_1"] == pl.Datetime("us", "UTC")


def test_colliding_user_hashes_fall_back_to_exact_grouping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = log(("aa", "visit", 0), ("bb", "signup", 1), ("aa", "signup", 2), ("bb", "visit", 3))

    # Every two-letter id now hashes alike, as a real 64-bit collision would; the second,
    # independent hash tells them apart.
    def colliding(e: pl.Expr, seed: int) -> pl.Expr:
        return (
            e.str.len_bytes().cast(pl.UInt64) if seed == cfnb.sources._HASH_SEED else e.hash(seed)
        )

    monkeypatch.setattr(cfnb.sources, "_user_hash", colliding)
    for rows in (events, events.reverse()):  # time-ordered and not
        j = build_journeys(rows, Factory(VISIT_SIGNUP_PAY))
        assert reach(j, "aa") == [0, 2, None]
        assert reach(j, "bb") == [3, None, None]


def test_hashes_sharing_their_high_bits_still_group_users_exactly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    visits = (("a", "visit"), ("b", "signup"), ("c", "visit"), ("a", "signup"))
    events = log(*((u, ev, t) for t in range(0, 40, 4) for u, ev in visits))
    expected = build_journeys(events, Factory(VISIT_SIGNUP_PAY)).table.sort("user_id")
    # A time-ordered log is grouped on the hashes' high bits: make them all zero, so every
    # user's rows interleave under one key and have to be regrouped by the whole hash.
    monkeypatch.setattr(cfnb.sources, "_user_hash", lambda e, seed: e.hash(seed) & 0x3F)
    j = build_journeys(events.clone(), Factory(VISIT_SIGNUP_PAY))
    assert j.table.sort("user_id").equals(expected)


def test_missing_columns_are_named() -> None:
    with pytest.raises(JourneyError, match=r"no column 'ts'.*Did you mean|no column 'ts'"):
        build_journeys(
            pl.DataFrame({"user_id": ["a"], "event": ["x"], "time": [T0]}),
            Factory(VISIT_SIGNUP_PAY),
        )
    with pytest.raises(JourneyError, match="must hold timestamps"):
        build_journeys(
            pl.DataFrame({"user_id": ["a"], "event": ["x"], "ts": ["2024-01-01"]}),
            Factory(VISIT_SIGNUP_PAY),
        )


def test_unknown_segment_column_suggests_a_close_one() -> None:
    events = log(("a", "visit", 0), channel=["ads"])
    with pytest.raises(SpecError, match=r"segment_by: no property column 'chanel'.*'channel'"):
        build_journeys(events, Factory(VISIT_SIGNUP_PAY, segment_by=["chanel"]))


def test_update_recomputes_only_what_changed_and_matches_a_fresh_build() -> None:
    events = log(
        ("a", "visit", 0),
        ("a", "signup", 30),
        ("a", "pay", 90),
        ("b", "visit", 5),
        ("b", "signup", 6),
        ("b", "invite", 7),
        channel=["ads", None, None, "seo", None, None],
    )
    base = build_journeys(events, Factory(VISIT_SIGNUP_PAY))
    edits = [
        base.factory.replace(window=60),
        base.factory.replace(period="month", segment_by=["channel"]),
        base.factory.with_stage("Pay", within=30),
        base.factory.with_stage("Signup", match=event_in("signup", "invite"), times=2),
        base.factory.with_stage("Pay", match=event("invite")),
        base.factory.add_stage(Stage("Invite", "invite")),
        base.factory.remove_stage("Pay"),
        base.factory.with_stage("Visit", match=event("signup")),
        base.factory.replace(mode="best_path", window=60),
    ]
    for factory in edits:
        updated = base.update(factory)
        fresh = build_journeys(events, factory)
        assert updated.factory == factory
        assert updated.stages == fresh.stages
        assert updated.period == fresh.period
        assert_frame_equal(updated.table.sort("user_id"), fresh.table.sort("user_id"))


def test_repr_html_summarises_the_stages() -> None:
    j = build_journeys(log(("a", "visit", 0), ("a", "signup", 1)), Factory(VISIT_SIGNUP_PAY))
    assert "Visit 1 → Signup 1 → Pay 0" in j._repr_html_()


def test_an_event_log_can_be_given_directly() -> None:
    import cfnb.loading

    events = log(("a", "visit", 0), ("a", "signup", 1), ("b", "visit", 2), channel=["x", "y", "z"])
    loaded = cfnb.loading.load(events)
    factory = Factory(VISIT_SIGNUP_PAY, segment_by=["channel"])
    from_log = build_journeys(loaded, factory)
    assert_frame_equal(
        from_log.table.sort("user_id"), build_journeys(loaded.events, factory).table.sort("user_id")
    )
    assert reach(from_log, "a") == [0, 1, None]


def test_a_segment_named_like_a_reach_column_is_refused() -> None:
    events = log(("a", "visit", 0), reach_1=["x"])
    with pytest.raises(SpecError, match="clash with the journeys' reach columns"):
        build_journeys(events, Factory(VISIT_SIGNUP_PAY, segment_by=["reach_1"]))
