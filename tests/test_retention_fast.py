"""The array engine of retention against the Polars implementation it replaced.

:func:`polars_retention` below is that implementation (joins and group-bys over the users
and their exploded offsets), kept here, and only here, as a reference: every table
:func:`cfnb.metrics.retention.retention` makes must equal its table exactly, with the
same dtypes, row order and nulls, on generated logs, hand-made corner cases and random
ones.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from factories import J
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import cfnb
from cfnb.errors import ActivityError
from cfnb.journeys import build_journeys
from cfnb.metrics.retention import Activity, activity, retention
from cfnb.periods import UTC_US, fixed_length_us, period_start, whole_periods
from cfnb.spec import Factory, Stage

UTC = dt.UTC
PERIODS = ("day", "week", "month")
MODES = ("on", "on_or_after")


# --------------------------------------------------------------------------- reference


def _with_rate(frame: pl.DataFrame) -> pl.DataFrame:
    none_eligible = pl.col("eligible_users") == 0
    return frame.with_columns(
        active_users=pl.when(none_eligible).then(None).otherwise(pl.col("active_users")),
        rate=pl.when(none_eligible)
        .then(None)
        .otherwise(pl.col("active_users") / pl.col("eligible_users")),
    )


def polars_retention(
    journeys: object,
    act: Activity,
    *,
    period: str,
    mode: str,
    stage: int = 0,
    max_periods: int | None = None,
) -> pl.DataFrame:
    """The retention table as cfnb computed it with Polars before the array engine."""
    table = journeys.table  # type: ignore[attr-defined]
    last_ts = pl.lit(journeys.last_ts, dtype=UTC_US)  # type: ignore[attr-defined]
    base = table.select(
        "user_id",
        pl.col("reach_0").cast(UTC_US),
        anchor=pl.col(f"reach_{stage}").cast(UTC_US),
    )
    if act.table.height == base.height and all(
        act.table[c].equals(base[c]) for c in ("user_id", "reach_0")
    ):
        with_offsets = base.with_columns(act.table["offsets"])
    else:
        joined = base.join(act.table.rename({"reach_0": "_act_reach_0"}), on="user_id", how="left")
        assert joined.filter(
            pl.col("_act_reach_0").is_null() | (pl.col("_act_reach_0") != pl.col("reach_0"))
        ).is_empty()
        with_offsets = joined.drop("_act_reach_0")
    users = (
        with_offsets.lazy()
        .filter(pl.col("anchor").is_not_null())
        .with_columns(
            cohort=period_start(pl.col("anchor"), period),
            elapsed=whole_periods(pl.col("anchor"), last_ts, period).fill_null(0),
        )
        .collect()
    )
    if max_periods is not None:
        n_k = max_periods
    else:
        n_k = max(int(users.select(pl.col("elapsed").max()).item()), 1) if users.height else 0
    cohorts = users.group_by("cohort").agg(cohort_users=pl.len())
    grid = cohorts.join(
        pl.DataFrame({"period": pl.int_range(0, n_k, eager=True, dtype=pl.Int64)}), how="cross"
    )

    def users_beyond(column: str) -> pl.DataFrame:
        hist = users.group_by("cohort", column).agg(n=pl.len())
        return (
            grid.select("cohort", "period")
            .join(hist, on="cohort")
            .filter(pl.col(column) > pl.col("period"))
            .group_by("cohort", "period")
            .agg(pl.col("n").sum())
        )

    eligible = users_beyond("elapsed").rename({"n": "eligible_users"})
    length = fixed_length_us(period)
    if mode == "on" and length is not None:
        delta = (pl.col("anchor") - pl.col("reach_0")).dt.total_microseconds()
        periods_active = (
            users.lazy()
            .select(
                "cohort", "elapsed", period=((pl.col("offsets") - delta) // length).list.unique()
            )
            .explode("period")
            .filter((pl.col("period") >= 0) & (pl.col("period") < pl.col("elapsed")))
            .group_by("cohort", "period")
            .agg(active_users=pl.len())
            .collect()
        )
    elif mode == "on":
        periods_active = (
            users.lazy()
            .select("user_id", "cohort", "anchor", "elapsed", "reach_0", "offsets")
            .explode("offsets")
            .drop_nulls("offsets")
            .with_columns(ts=pl.col("reach_0") + pl.duration(microseconds=pl.col("offsets")))
            .filter(pl.col("ts") >= pl.col("anchor"))
            .with_columns(period=whole_periods(pl.col("anchor"), pl.col("ts"), period))
            .filter(pl.col("period") < pl.col("elapsed"))
            .unique(["user_id", "period"])
            .group_by("cohort", "period")
            .agg(active_users=pl.len())
            .collect()
        )
    else:
        last_active = (
            users.with_columns(
                ts=pl.col("reach_0") + pl.duration(microseconds=pl.col("offsets").list.max())
            )
            .with_columns(
                reach=pl.when(pl.col("ts") >= pl.col("anchor"))
                .then(whole_periods(pl.col("anchor"), pl.col("ts"), period) + 1)
                .otherwise(0)
            )
            .with_columns(reach=pl.min_horizontal("reach", "elapsed"))
        )
        hist = last_active.group_by("cohort", "reach").agg(n=pl.len())
        periods_active = (
            grid.select("cohort", "period")
            .join(hist, on="cohort")
            .filter(pl.col("reach") > pl.col("period"))
            .group_by("cohort", "period")
            .agg(active_users=pl.col("n").sum())
        )
    return (
        grid.join(eligible, on=["cohort", "period"], how="left")
        .join(periods_active, on=["cohort", "period"], how="left")
        .with_columns(
            pl.col("cohort_users").cast(pl.Int64),
            pl.col("eligible_users").fill_null(0).cast(pl.Int64),
            pl.col("active_users").fill_null(0).cast(pl.Int64),
        )
        .pipe(_with_rate)
        .select("cohort", "cohort_users", "period", "eligible_users", "active_users", "rate")
        .sort("cohort", "period")
    )


def assert_same_as_reference(
    journeys: object,
    act: Activity,
    *,
    stages: tuple[int, ...] = (0,),
    max_periods: tuple[int | None, ...] = (None,),
    periods: tuple[str, ...] = PERIODS,
) -> int:
    """Every period, mode, anchor and ``max_periods`` against the reference; returns how
    many active users were counted in all (so a test can check it was not vacuous)."""
    compared = 0
    for period in periods:
        for mode in MODES:
            for stage in stages:
                for n in max_periods:
                    got = retention(
                        journeys,  # type: ignore[arg-type]
                        act,
                        period=period,
                        mode=mode,
                        cohort_by=stage,
                        max_periods=n,
                    ).table
                    want = polars_retention(
                        journeys, act, period=period, mode=mode, stage=stage, max_periods=n
                    )
                    assert_frame_equal(got, want, check_exact=True)
                    assert got.schema == want.schema
                    compared += int(got["active_users"].fill_null(0).sum())
    return compared


def t(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def ev(rows: list[tuple[str, str, dt.datetime]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"user_id": pl.String, "event": pl.String, "ts": pl.Datetime("us", "UTC")},
        orient="row",
    )


def two_stage_journeys(events: pl.DataFrame, last_ts: dt.datetime | None = None) -> J:
    """Acquisition at each user's first event, activation at their first ``activate`` after."""
    first = events.group_by("user_id").agg(reach_0=pl.col("ts").min())
    act = (
        events.join(first, on="user_id")
        .filter((pl.col("event") == "activate") & (pl.col("ts") >= pl.col("reach_0")))
        .group_by("user_id")
        .agg(reach_1=pl.col("ts").min())
    )
    table = first.join(act, on="user_id", how="left").sort("user_id")
    last = last_ts if last_ts is not None else events["ts"].max()
    return J(table, ("Acquisition", "Activation"), "week", last)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- generated logs


@pytest.mark.parametrize(("users", "seed", "weeks"), [(400, 1, 8), (900, 2, 26), (300, 3, 60)])
def test_equals_the_polars_implementation_on_generated_logs(
    users: int, seed: int, weeks: int
) -> None:
    events = cfnb.datasets.generate(users=users, seed=seed, weeks=weeks).events
    factory = Factory(
        [
            Stage("Visit", "visit"),
            Stage("Signup", "signup"),
            Stage("Activation", "created_project"),
        ],
        window="8w",
    )
    journeys = build_journeys(events, factory)
    for active in (None, pl.col("event") == "session"):
        act = activity(events, journeys, active)
        compared = assert_same_as_reference(
            journeys, act, stages=(0, 1, 2), max_periods=(None, 1, 5, 40)
        )
        assert compared > 100


def test_equals_the_polars_implementation_through_a_run_and_its_edits() -> None:
    log = cfnb.load(cfnb.datasets.generate(users=600, seed=4, weeks=20).events)
    factory = Factory(
        [Stage("Visit", "visit"), Stage("Activation", "created_project", within="14d")],
        window="6w",
        period="week",
        active="session",
    )
    run = factory.run(log)
    for edited in (factory, factory.replace(window="2w"), factory.replace(period="month")):
        new = run.with_factory(edited)
        for period in PERIODS:
            for mode in MODES:
                got = new.retention(period=period, mode=mode).table
                want = polars_retention(new.journeys, new.activity, period=period, mode=mode)
                assert_frame_equal(got, want, check_exact=True)
        # The window edit keeps the activity and every matrix made from it.
        if edited != factory.replace(period="month"):
            assert new.activity is run.activity


def test_a_log_spanning_years_with_anchors_on_thousands_of_days() -> None:
    # Enough anchor days and a long enough span that the per-day tables are not built:
    # month and week keys are computed, and day counts are made only when asked for.
    rng = np.random.default_rng(11)
    n = 2500
    start = rng.integers(0, 9 * 365 * 24, n)  # hours after 2015-01-31
    rows = []
    for u in range(n):
        t0 = t(2015, 1, 31) + dt.timedelta(hours=int(start[u]))
        rows.append((f"u{u}", "visit", t0))
        later = t0
        for _ in range(int(rng.integers(0, 6))):
            later += dt.timedelta(hours=int(rng.exponential(24 * 200)))
            rows.append((f"u{u}", str(rng.choice(["use", "activate"])), later))
    events = ev(rows)
    journeys = two_stage_journeys(events, last_ts=t(2024, 6, 30, 12))
    act = activity(events, journeys)
    long = assert_same_as_reference(journeys, act, stages=(0, 1), periods=("week", "month"))
    assert long > 1000
    # Daily cohorts over nine years make a table of millions of cells: ask for a few.
    assert_same_as_reference(journeys, act, stages=(0, 1), periods=("day",), max_periods=(3,))


# --------------------------------------------------------------------------- corner cases


def test_month_end_anchors_leap_years_and_boundaries_hit_exactly() -> None:
    events = ev(
        [
            ("a", "visit", t(2024, 1, 31, 9)),
            ("a", "use", t(2024, 2, 29, 9)),  # exactly the start of month 1
            ("a", "use", t(2024, 2, 29, 8, 59)),  # the last minute of month 0
            ("a", "use", t(2024, 3, 31, 9)),  # exactly the start of month 2
            ("b", "visit", t(2023, 1, 31, 23)),
            ("b", "use", t(2023, 2, 28, 23)),  # 2023 is not a leap year: month 1
            ("b", "use", t(2024, 2, 29, 23)),  # month 13
            ("c", "visit", t(2024, 1, 29)),
            ("c", "use", t(2024, 1, 29)),  # the acquisition instant again
            ("c", "use", t(2024, 2, 5)),  # exactly week 1, day 7
            ("d", "visit", t(2024, 12, 31, 23, 59)),
            ("d", "use", t(2025, 1, 1, 0, 1)),  # the next day, two minutes later
            ("e", "visit", t(2024, 3, 31, 9)),  # no activity but the visit
        ]
    )
    for last in (t(2025, 1, 31, 23, 59), t(2024, 3, 31, 9), t(2025, 2, 28, 23)):
        journeys = two_stage_journeys(events, last_ts=last)
        for act in (
            activity(events, journeys),
            activity(events, journeys, pl.col("event") == "use"),
        ):
            assert_same_as_reference(journeys, act, stages=(0, 1), max_periods=(None, 2, 30))


def test_last_timestamp_exactly_at_a_period_boundary() -> None:
    events = ev([("a", "visit", t(2024, 1, 1, 10)), ("a", "use", t(2024, 1, 8, 9))])
    for last in (t(2024, 1, 8, 10), t(2024, 1, 8, 9, 59), t(2024, 2, 1, 10), t(2024, 1, 2, 10)):
        journeys = two_stage_journeys(events, last_ts=last)
        assert_same_as_reference(journeys, activity(events, journeys))


def test_activity_after_the_last_timestamp_and_no_last_timestamp() -> None:
    # Hand-made journeys can end before the events do: "on" must not count the later
    # activity, "on_or_after" still does.
    events = ev(
        [
            ("a", "visit", t(2024, 1, 1)),
            ("a", "activate", t(2024, 1, 3)),
            ("a", "use", t(2024, 1, 20)),
            ("a", "use", t(2024, 3, 20)),
            ("b", "visit", t(2024, 1, 5)),
            ("b", "use", t(2024, 1, 6)),
        ]
    )
    for last in (t(2024, 1, 15), t(2024, 1, 4), t(2023, 12, 1), None):
        journeys = two_stage_journeys(events, last_ts=t(2024, 1, 1))
        journeys = J(journeys.table, journeys.stages, "week", last)
        assert_same_as_reference(journeys, activity(events, journeys), stages=(0, 1))


def test_users_without_activity_and_an_empty_journeys_table() -> None:
    events = ev([("a", "visit", t(2024, 1, 1)), ("b", "visit", t(2024, 2, 1))])
    journeys = two_stage_journeys(events)
    narrow = activity(events, journeys, pl.col("event") == "never")
    assert narrow.table["offsets"].list.len().sum() == 0
    assert_same_as_reference(journeys, narrow, stages=(0, 1), max_periods=(None, 3))
    empty = ev([])
    none = J(
        pl.DataFrame(schema={"user_id": pl.String, "reach_0": UTC_US, "reach_1": UTC_US}),
        ("Acquisition", "Activation"),
        "week",
        None,
    )
    assert_same_as_reference(none, activity(empty, none), stages=(0, 1), max_periods=(None, 4))


def test_times_before_1970() -> None:
    events = ev(
        [
            ("a", "visit", t(1969, 12, 31, 12)),
            ("a", "use", t(1970, 1, 31, 6)),
            ("a", "activate", t(1970, 1, 1, 3)),
            ("b", "visit", t(1969, 1, 31, 18)),
            ("b", "use", t(1969, 3, 1, 17)),
        ]
    )
    journeys = two_stage_journeys(events, last_ts=t(1970, 6, 1))
    assert_same_as_reference(journeys, activity(events, journeys), stages=(0, 1))


def test_hand_made_activities_unsorted_negative_null_and_in_another_order() -> None:
    events = ev(
        [
            ("a", "visit", t(2024, 1, 1)),
            ("a", "activate", t(2024, 1, 2)),
            ("b", "visit", t(2024, 1, 3)),
            ("c", "visit", t(2024, 1, 10)),
        ]
    )
    journeys = two_stage_journeys(events, last_ts=t(2024, 4, 1))
    day = 86_400_000_000
    table = journeys.table.select("user_id", pl.col("reach_0").cast(UTC_US))
    offsets = pl.Series(
        "offsets", [[9 * day, 0, 40 * day, 9 * day], [-day, 3 * day], None], pl.List(pl.Int64)
    )
    hand_made = Activity(table=table.with_columns(offsets))
    assert_same_as_reference(journeys, hand_made, stages=(0, 1))
    # The same rows in another order, with a user the journeys do not have.
    extra = pl.DataFrame(
        {"user_id": ["z"], "reach_0": [t(2024, 1, 1)], "offsets": [[day]]},
        schema=hand_made.table.schema,
    )
    shuffled = Activity(table=pl.concat([extra, hand_made.table.reverse()]))
    assert_same_as_reference(journeys, shuffled, stages=(0, 1))


def test_users_without_reach_0_are_in_no_cohort() -> None:
    table = pl.DataFrame(
        {
            "user_id": ["a", "b"],
            "reach_0": [t(2024, 1, 1), None],
            "reach_1": [t(2024, 1, 2), t(2024, 1, 5)],
        },
        schema={"user_id": pl.String, "reach_0": UTC_US, "reach_1": UTC_US},
    )
    journeys = J(table, ("Acquisition", "Activation"), "week", t(2024, 3, 1))
    act = Activity(
        table=table.select("user_id", "reach_0", offsets=pl.lit([0, 86_400_000_000 * 20]))
    )
    assert_same_as_reference(journeys, act, stages=(0, 1))


# --------------------------------------------------------------------------- kept results


def test_a_remembered_matrix_is_still_checked_against_the_journeys() -> None:
    events = ev([("a", "visit", t(2024, 1, 1)), ("a", "use", t(2024, 1, 9))])
    journeys = two_stage_journeys(events, last_ts=t(2024, 2, 1))
    act = activity(events, journeys)
    first = retention(journeys, act)
    again = retention(journeys, act)
    assert_frame_equal(first.table, again.table)
    assert first.table is not again.table  # each result owns its table
    later = J(
        journeys.table.with_columns(reach_0=pl.lit(t(2024, 1, 2), dtype=UTC_US)),
        journeys.stages,
        "week",
        journeys.last_ts,
    )
    with pytest.raises(ActivityError, match="rebuild it"):
        retention(later, act)
    # Another last timestamp is another matrix.
    moved = J(journeys.table, journeys.stages, "week", t(2024, 1, 5))
    assert_frame_equal(
        retention(moved, act).table,
        polars_retention(moved, act, period="week", mode="on"),
    )


# --------------------------------------------------------------------------- random logs


@st.composite
def logs(draw: st.DrawFn) -> tuple[pl.DataFrame, dt.datetime]:
    """Small logs on an hour grid around month ends, some spanning years."""
    base = draw(st.sampled_from([t(2024, 1, 31, 22), t(2023, 11, 30), t(2019, 2, 28, 5)]))
    hours = st.sampled_from([0, 1, 23, 24, 25, 167, 168, 24 * 28, 24 * 29, 24 * 31, 24 * 365])
    rows = []
    for u in range(draw(st.integers(1, 7))):
        start = draw(st.integers(0, 24 * 90))
        rows.append((f"u{u}", "visit", base + dt.timedelta(hours=start)))
        for _ in range(draw(st.integers(0, 7))):
            later = start + draw(hours | st.integers(0, 24 * 800))
            name = draw(st.sampled_from(["use", "activate", "visit"]))
            rows.append((f"u{u}", name, base + dt.timedelta(hours=later)))
    events = ev(rows)
    last = events["ts"].max() + dt.timedelta(hours=draw(st.integers(-24 * 60, 24 * 60)))
    return events, last  # type: ignore[return-value]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=logs(), active=st.sampled_from([None, "use"]))
def test_equals_the_polars_implementation_on_random_logs(
    log: tuple[pl.DataFrame, dt.datetime], active: str | None
) -> None:
    events, last = log
    journeys = two_stage_journeys(events, last_ts=last)
    act = activity(events, journeys, None if active is None else pl.col("event") == active)
    assert_same_as_reference(journeys, act, stages=(0, 1), max_periods=(None, 3))


def test_a_namespace_works_as_journeys() -> None:
    events = ev([("a", "visit", t(2024, 1, 1)), ("a", "use", t(2024, 1, 20))])
    # Only the columns the cohort stage needs: no reach_1 although there are two stages.
    journeys = SimpleNamespace(
        table=pl.DataFrame({"user_id": ["a"], "reach_0": [t(2024, 1, 1)]}),
        stages=("Visit", "Buy"),
        period="week",
        last_ts=t(2024, 2, 1),
    )
    assert_same_as_reference(journeys, activity(events, journeys))


def test_offsets_of_another_integer_type_and_with_null_items() -> None:
    events = ev([("a", "visit", t(2024, 1, 1)), ("b", "visit", t(2024, 1, 2))])
    journeys = two_stage_journeys(events, last_ts=t(2024, 3, 1))
    hour = 3_600_000_000
    table = journeys.table.select("user_id", pl.col("reach_0").cast(UTC_US))
    nulls = pl.Series("offsets", [[0, None, 200 * hour], [None]], pl.List(pl.Int64))
    assert_same_as_reference(journeys, Activity(table=table.with_columns(nulls)))
    small = pl.Series("offsets", [[0, 500], [7]], pl.List(pl.Int32))
    assert_same_as_reference(journeys, Activity(table=table.with_columns(small)))


def test_anchors_centuries_apart() -> None:
    events = ev(
        [
            ("a", "visit", t(1900, 3, 1)),
            ("a", "use", t(1900, 4, 2)),
            ("b", "visit", t(2024, 1, 31)),
            ("b", "use", t(2024, 3, 1)),
        ]
    )
    journeys = two_stage_journeys(events, last_ts=t(2024, 6, 1))
    assert_same_as_reference(journeys, activity(events, journeys), max_periods=(3,))


def test_a_naive_last_timestamp_reads_as_utc_and_another_zone_is_refused_as_before() -> None:
    events = ev([("a", "visit", t(2024, 1, 1, 12)), ("a", "use", t(2024, 1, 9, 13))])
    journeys = two_stage_journeys(events)
    act = activity(events, journeys)
    naive = J(journeys.table, journeys.stages, "day", dt.datetime(2024, 1, 9, 12))
    assert_same_as_reference(naive, act)
    paris = dt.timezone(dt.timedelta(hours=1))
    zoned = J(journeys.table, journeys.stages, "day", dt.datetime(2024, 1, 9, 13, tzinfo=paris))
    with pytest.raises(TypeError):
        polars_retention(zoned, act, period="day", mode="on")
    with pytest.raises(TypeError):
        retention(zoned, act)  # type: ignore[arg-type]


def test_journeys_remember_their_activities_but_not_a_stale_one() -> None:
    events = cfnb.datasets.generate(users=200, seed=5, weeks=6).events
    visits = build_journeys(events, Factory([Stage("Visit", "visit")]))
    signups = build_journeys(events, Factory([Stage("Signup", "signup")]))
    want = polars_retention(visits, activity(events, visits), period="week", mode="on")
    for _ in range(20):  # new activities, often at the address of a collected one
        act = activity(events, visits)
        assert_frame_equal(retention(visits, act).table, want)
        with pytest.raises(ActivityError):
            retention(visits, activity(events, signups))
        del act
