"""Cohort retention: hand-worked cases, a brute-force reference, and ClickHouse's `retention`."""

from __future__ import annotations

import calendar
import datetime as dt
import doctest
import json

import numpy as np
import polars as pl
import pytest
from factories import J
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import cfnb.metrics.retention
from cfnb.metrics.retention import ActivityError, activity, retention, retention_curve
from cfnb.spec.errors import SpecError

UTC = dt.UTC


def t(day: int, hour: int = 0, month: int = 1, year: int = 2024) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


def ev(rows: list[tuple[str, str, dt.datetime]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"user_id": pl.String, "event": pl.String, "ts": pl.Datetime("us", "UTC")},
        orient="row",
    )


def journeys_from(
    events: pl.DataFrame,
    period: str,
    *,
    activate: str = "activate",
    last_ts: dt.datetime | None = None,
) -> J:
    """Lifecycle journeys with two stages: first event (acquisition), first `activate` after it."""
    first = events.group_by("user_id").agg(reach_0=pl.col("ts").min())
    act = (
        events.join(first, on="user_id")
        .filter((pl.col("event") == activate) & (pl.col("ts") >= pl.col("reach_0")))
        .group_by("user_id")
        .agg(reach_1=pl.col("ts").min())
    )
    table = first.join(act, on="user_id", how="left").sort("user_id")
    return J(
        table=table,
        stages=("Acquisition", "Activation"),
        period=period,
        last_ts=last_ts if last_ts is not None else events["ts"].max(),  # type: ignore[arg-type]
    )


def cells(table: pl.DataFrame) -> list[tuple[object, ...]]:
    return table.select("period", "eligible_users", "active_users", "rate").rows()


# --------------------------------------------------------------------------- by hand


def test_weekly_cohorts_worked_by_hand() -> None:
    # Week of Mon 1 Jan: a (Mon 1st) and b (Wed 3rd). Week of Mon 8 Jan: c (Tue 9th).
    # The log ends Sat 20 Jan 12:00.
    events = ev(
        [
            ("a", "visit", t(1)),
            ("a", "use", t(9)),  # a: day 8 → week 1
            ("a", "use", t(16)),  # a: day 15 → week 2 (not elapsed: ends 22 Jan)
            ("b", "visit", t(3)),
            ("b", "use", t(5)),  # b: day 2 → week 0
            ("c", "visit", t(9)),
            ("c", "use", t(17)),  # c: day 8 → week 1 (not elapsed: ends 23 Jan)
            ("z", "visit", t(20, 12)),
        ]
    )
    j = journeys_from(events.filter(pl.col("user_id") != "z"), "week", last_ts=t(20, 12))
    act = activity(events, j)
    r = retention(j, act, max_periods=3)

    first, second = r.table.partition_by("cohort", maintain_order=True)
    assert first["cohort"][0] == dt.date(2024, 1, 1)
    assert first["cohort_users"][0] == 2
    # week 0: both elapsed, both active (the visit itself counts)
    # week 1: a's ends 15 Jan, b's 17 Jan: both elapsed; a active on the 9th, b not
    # week 2: a's ends 22 Jan, b's 24 Jan: neither elapsed, so the cell is empty
    assert cells(first) == [(0, 2, 2, 1.0), (1, 2, 1, 0.5), (2, 0, None, None)]
    assert second["cohort"][0] == dt.date(2024, 1, 8)
    # c: week 0 ends 16 Jan (elapsed), week 1 ends 23 Jan (not elapsed)
    assert cells(second) == [
        (0, 1, 1, 1.0),
        (1, 0, None, None),
        (2, 0, None, None),
    ]


def test_on_or_after_counts_anyone_who_came_back_later() -> None:
    # a is seen on days 0 and 3 only. Log ends on day 5.
    events = ev([("a", "visit", t(1)), ("a", "use", t(4)), ("z", "visit", t(6))])
    j = journeys_from(events.filter(pl.col("user_id") == "a"), "day", last_ts=t(6))
    act = activity(events, j)
    on = retention(j, act, mode="on")
    after = retention(j, act, mode="on_or_after")
    # days 0..4 have elapsed (day 4 ends exactly at last_ts, which counts as elapsed)
    assert [r[2] for r in cells(on.table)] == [1, 0, 0, 1, 0]
    assert [r[2] for r in cells(after.table)] == [1, 1, 1, 1, 0]
    assert after.table["eligible_users"].to_list() == [1, 1, 1, 1, 1]


def test_period_k_boundaries_are_user_relative_and_half_open() -> None:
    # a arrives Wed 3 Jan 10:00; week 1 is [10 Jan 10:00, 17 Jan 10:00).
    events = ev(
        [
            ("a", "visit", t(3, 10)),
            ("a", "use", t(10, 10)),  # exactly the start of week 1: in week 1
            ("b", "visit", t(3, 10)),
            ("b", "use", dt.datetime(2024, 1, 10, 9, 59, 59, 999999, tzinfo=UTC)),  # week 0
        ]
    )
    j = journeys_from(events, "week", last_ts=t(17, 10))
    r = retention(j, activity(events, j))
    # last_ts = 17 Jan 10:00 = the end of week 1, so week 1 has elapsed for both
    assert cells(r.table) == [(0, 2, 2, 1.0), (1, 2, 1, 0.5)]


def test_month_periods_are_calendar_months_from_the_reach_clamped() -> None:
    # Reach 31 Jan 2024: month 0 = [31 Jan, 29 Feb), month 1 = [29 Feb, 31 Mar),
    # month 2 = [31 Mar, 30 Apr).
    events = ev(
        [
            ("a", "visit", t(31)),
            ("a", "use", t(28, month=2)),  # month 0
            ("b", "visit", t(31)),
            ("b", "use", t(29, month=2)),  # month 1
            ("c", "visit", t(31)),
            ("c", "use", t(30, 23, month=3)),  # month 1
            ("c", "use", t(31, month=3)),  # month 2
        ]
    )
    j = journeys_from(events, "month", last_ts=t(30, month=4))
    r = retention(j, activity(events, j))
    assert r.table["cohort"].unique().to_list() == [dt.date(2024, 1, 1)]
    assert cells(r.table) == [(0, 3, 3, 1.0), (1, 3, 2, 2 / 3), (2, 3, 1, 1 / 3)]


def test_period_zero_is_full_with_any_event_but_not_with_a_narrower_condition() -> None:
    events = ev(
        [
            ("a", "visit", t(1)),
            ("a", "use", t(1, 5)),
            ("b", "visit", t(1)),
            ("b", "use", t(2, 5)),
            ("z", "visit", t(5)),
        ]
    )
    j = journeys_from(events.filter(pl.col("user_id") != "z"), "day", last_ts=t(5))
    anything = retention(j, activity(events, j), max_periods=2)
    used = retention(j, activity(events, j, pl.col("event") == "use"), max_periods=2)
    assert cells(anything.table) == [(0, 2, 2, 1.0), (1, 2, 1, 0.5)]
    assert cells(used.table) == [(0, 2, 1, 0.5), (1, 2, 1, 0.5)]
    assert used.active != "any event"


def test_cohort_by_activation_anchors_at_reach_1_and_drops_the_unactivated() -> None:
    events = ev(
        [
            ("a", "visit", t(1)),
            ("a", "activate", t(3)),
            ("a", "use", t(4, 12)),  # day 1 after activation (day 3 after acquisition)
            ("b", "visit", t(1)),  # never activates
            ("b", "use", t(2)),
            ("z", "visit", t(8)),
        ]
    )
    j = journeys_from(events.filter(pl.col("user_id") != "z"), "day", last_ts=t(8))
    act = activity(events, j)
    by_act = retention(j, act, cohort_by="activation", max_periods=3)
    assert by_act.cohort_by == "Activation"
    assert by_act.table["cohort"].unique().to_list() == [dt.date(2024, 1, 3)]
    assert by_act.table["cohort_users"].unique().to_list() == [1]
    assert cells(by_act.table) == [(0, 1, 1, 1.0), (1, 1, 1, 1.0), (2, 1, 0, 0.0)]
    # the same stage by name, by index
    assert_frame_equal(retention(j, act, cohort_by="Activation", max_periods=3).table, by_act.table)
    assert_frame_equal(retention(j, act, cohort_by=1, max_periods=3).table, by_act.table)


def test_unelapsed_cells_are_null_never_zero() -> None:
    events = ev([("a", "visit", t(1)), ("a", "use", t(2))])
    j = journeys_from(events, "week")  # the log spans one day: no week has elapsed
    r = retention(j, activity(events, j), max_periods=4)
    assert cells(r.table) == [(k, 0, None, None) for k in range(4)]
    assert r.curve().table["rate"].to_list() == [None] * 4


def test_curve_pools_cohorts_weighted_by_eligible_users() -> None:
    # Day cohorts: a (1 Jan) back on day 1; b, c (2 Jan) not back. Log ends 4 Jan.
    events = ev(
        [
            ("a", "visit", t(1)),
            ("a", "use", t(2, 6)),
            ("b", "visit", t(2)),
            ("c", "visit", t(2)),
            ("z", "visit", t(4)),
        ]
    )
    j = journeys_from(events.filter(pl.col("user_id") != "z"), "day", last_ts=t(4))
    curve = retention_curve(j, activity(events, j))
    # day 1: eligible a, b, c (all ended by 3 Jan); active a → 1/3
    # day 2: a's ends 4 Jan (elapsed), b's and c's end 5 Jan (not): 0/1
    assert curve.table.rows() == [(0, 3, 3, 1.0), (1, 3, 1, 1 / 3), (2, 1, 0, 0.0)]


def test_result_is_json_ready_and_renders_as_a_table() -> None:
    events = ev([("a", "visit", t(1)), ("a", "use", t(9)), ("z", "visit", t(20))])
    j = journeys_from(events.filter(pl.col("user_id") == "a"), "week", last_ts=t(20))
    r = retention(j, activity(events, j), max_periods=3)
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["rows"][0] == {
        "cohort": "2024-01-01",
        "cohort_users": 1,
        "period": 0,
        "eligible_users": 1,
        "active_users": 1,
        "rate": 1.0,
    }
    assert d["rows"][2]["rate"] is None
    assert d["last_ts"] == "2024-01-20T00:00:00+00:00"
    page = r._repr_html_()
    assert "<table" in page
    assert "100.0%" in page
    assert "2024-01-01" in page
    assert "<table" in r.curve()._repr_html_()
    assert r.matrix().columns == ["cohort", "cohort_users", "0", "1", "2"]
    assert "1 users" in repr(activity(events, j))


def test_from_a_loaded_log_with_the_factorys_retention_condition() -> None:
    import cfnb
    from cfnb.journeys import build_journeys
    from cfnb.spec import Factory, Stage

    frame = ev(
        [
            ("a", "visit", t(1, 9)),
            ("a", "use", t(2, 9)),  # day 1
            ("a", "visit", t(3, 9)),  # day 2, but not a "use"
            ("b", "visit", t(1, 12)),
            ("b", "use", t(1, 13)),  # day 0
            ("b", "use", t(4, 11)),  # day 2 (4 Jan 11:00 < 4 Jan 12:00)
            ("c", "signup", t(2)),  # never acquired: not in any cohort
            ("c", "use", t(5)),
        ]
    )
    log = cfnb.load(frame)
    factory = Factory([Stage("Visit", "visit")], period="day", active="use")
    j = build_journeys(log.events, factory)
    act = activity(log, j, factory.active)
    assert act.condition == 'event = "use"'
    assert act.users == 2
    r = retention(j, act)
    # last_ts = 5 Jan 00:00: a's day 2 ends 4 Jan 09:00, b's ends 4 Jan 12:00: both elapsed
    assert cells(r.table) == [(0, 2, 1, 0.5), (1, 2, 1, 0.5), (2, 2, 1, 0.5)]


def test_an_empty_log_gives_an_empty_table() -> None:
    empty = ev([])
    j = J(empty.select("user_id", reach_0="ts"), ("Visit",), "week", None)
    r = retention(j, activity(empty, j))
    assert r.table.height == 0
    assert r.table.columns == [
        "cohort", "cohort_users", "period", "eligible_users", "active_users", "rate",
    ]  # fmt: skip
    assert r.curve().table.height == 0
    assert r.to_dict()["last_ts"] is None
    assert "<table" in r._repr_html_()


# --------------------------------------------------------------------------- errors


def test_errors_name_the_argument_and_the_choices() -> None:
    events = ev([("a", "visit", t(1))])
    j = journeys_from(events, "day")
    act = activity(events, j)
    with pytest.raises(SpecError, match=r"did you mean 'on_or_after'"):
        retention(j, act, mode="on_or_afte")
    with pytest.raises(SpecError, match=r"did you mean 'activation'"):
        retention(j, act, cohort_by="activaton")
    with pytest.raises(SpecError, match=r"period.*did you mean 'month'"):
        retention(j, act, period="mnth")
    with pytest.raises(SpecError, match=r"stage index"):
        retention(j, act, cohort_by=5)
    with pytest.raises(SpecError, match=r"max_periods"):
        retention(j, act, max_periods=0)
    with pytest.raises(SpecError, match=r"plan"):
        activity(events, j, pl.col("plan") == "pro")


def test_activity_from_other_journeys_is_refused() -> None:
    events = ev([("a", "visit", t(1)), ("a", "signup", t(2))])
    j = journeys_from(events, "day")
    later = J(
        table=j.table.with_columns(reach_0=pl.lit(t(2), dtype=pl.Datetime("us", "UTC"))),
        stages=j.stages,
        period="day",
        last_ts=j.last_ts,
    )
    with pytest.raises(ActivityError, match=r"rebuild it with activity\(events, journeys\)"):
        retention(later, activity(events, j))


def test_activation_cohorts_need_a_second_stage() -> None:
    events = ev([("a", "visit", t(1))])
    j = J(events.select("user_id", reach_0="ts"), ("Acquisition",), "day", t(1))
    with pytest.raises(SpecError, match=r"add an activation stage"):
        retention(j, activity(events, j), cohort_by="activation")


# --------------------------------------------------------------------------- reference


def add_months(ts: dt.datetime, k: int) -> dt.datetime:
    month0 = ts.month - 1 + k
    year, month = ts.year + month0 // 12, month0 % 12 + 1
    day = min(ts.day, calendar.monthrange(year, month)[1])
    return ts.replace(year=year, month=month, day=day)


def add(ts: dt.datetime, k: int, period: str) -> dt.datetime:
    if period == "day":
        return ts + dt.timedelta(days=k)
    if period == "week":
        return ts + dt.timedelta(weeks=k)
    return add_months(ts, k)


def cohort_of(ts: dt.datetime, period: str) -> dt.date:
    d = ts.date()
    if period == "day":
        return d
    if period == "week":
        return d - dt.timedelta(days=d.weekday())
    return d.replace(day=1)


def reference_retention(
    events: pl.DataFrame,
    j: J,
    *,
    period: str,
    mode: str,
    stage: int,
    n_k: int,
    active_event: str | None,
) -> list[tuple[object, ...]]:
    """DESIGN §4 by the letter, one user and one period at a time."""
    times: dict[str, list[dt.datetime]] = {}
    for user, event, ts in events.select("user_id", "event", "ts").iter_rows():
        if active_event is None or event == active_event:
            times.setdefault(user, []).append(ts)
    cohorts: dict[dt.date, list[tuple[str, dt.datetime]]] = {}
    for row in j.table.iter_rows(named=True):
        anchor = row[f"reach_{stage}"]
        if anchor is not None:
            cohorts.setdefault(cohort_of(anchor, period), []).append((row["user_id"], anchor))
    out: list[tuple[object, ...]] = []
    for cohort in sorted(cohorts):
        members = cohorts[cohort]
        for k in range(n_k):
            eligible = active = 0
            for user, anchor in members:
                start, end = add(anchor, k, period), add(anchor, k + 1, period)
                if end > j.last_ts:
                    continue
                eligible += 1
                seen = [ts for ts in times.get(user, []) if ts >= anchor]
                if mode == "on":
                    active += any(start <= ts < end for ts in seen)
                else:
                    active += any(ts >= start for ts in seen)
            out.append(
                (
                    cohort,
                    len(members),
                    k,
                    eligible,
                    active if eligible else None,
                    active / eligible if eligible else None,
                )
            )
    return out


BASE = t(1)  # a Monday


@st.composite
def logs(draw: st.DrawFn) -> pl.DataFrame:
    """Small logs on an hour grid (so period boundaries are hit exactly, often)."""
    n_users = draw(st.integers(1, 6))
    rows = []
    for u in range(n_users):
        start = draw(st.integers(0, 24 * 70))
        rows.append((f"u{u}", "visit", BASE + dt.timedelta(hours=start)))
        for _ in range(draw(st.integers(0, 6))):
            later = start + draw(
                st.sampled_from([0, 24, 168, 24 * 29, 24 * 31]) | st.integers(0, 24 * 120)
            )
            name = draw(st.sampled_from(["use", "activate", "visit"]))
            rows.append((f"u{u}", name, BASE + dt.timedelta(hours=later)))
    return ev(rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=logs(),
    period=st.sampled_from(["day", "week", "month"]),
    active_event=st.sampled_from([None, "use"]),
    extra_hours=st.integers(0, 24 * 40),
)
def test_matches_brute_force_reference(
    events: pl.DataFrame, period: str, active_event: str | None, extra_hours: int
) -> None:
    last_ts = events["ts"].max() + dt.timedelta(hours=extra_hours)  # type: ignore[operator]
    j = journeys_from(events, period, last_ts=last_ts)
    act = activity(events, j, None if active_event is None else pl.col("event") == active_event)
    for mode in ("on", "on_or_after"):
        for stage in (0, 1):
            got = retention(j, act, period=period, mode=mode, cohort_by=stage)
            n_k = int(got.table["period"].max() or 0) + 1 if got.table.height else 0
            want = reference_retention(
                events, j, period=period, mode=mode, stage=stage, n_k=n_k, active_event=active_event
            )
            assert got.table.rows() == want
            rates = got.table["rate"].drop_nulls()
            assert ((rates >= 0) & (rates <= 1)).all()
            # the default shows every k up to the last with an eligible user, no further
            if got.table.height:
                last_k = got.table.filter(pl.col("period") == n_k - 1)
                assert n_k == 1 or last_k["eligible_users"].sum() > 0


@settings(max_examples=25, deadline=None)
@given(events=logs(), weeks=st.integers(-300, 300), period=st.sampled_from(["day", "week"]))
def test_shifting_by_whole_weeks_only_relabels_the_cohorts(
    events: pl.DataFrame, weeks: int, period: str
) -> None:
    shift = dt.timedelta(weeks=weeks)
    moved = events.with_columns(pl.col("ts") + shift)
    j, jm = journeys_from(events, period), journeys_from(moved, period)
    for mode in ("on", "on_or_after"):
        before = retention(j, activity(events, j), mode=mode).table
        after = retention(jm, activity(moved, jm), mode=mode).table
        assert_frame_equal(after.with_columns(pl.col("cohort") - shift), before)


# --------------------------------------------------------------------------- ClickHouse


def generated_log(seed: int, n_users: int = 300) -> pl.DataFrame:
    """Users arrive over ~4 months and come back at exponential gaps (about 9 days)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        ts = BASE + dt.timedelta(minutes=int(rng.integers(0, 120 * 24 * 60)))
        rows.append((f"u{u:03d}", "visit", ts))
        for _ in range(int(rng.geometric(0.15))):
            ts = ts + dt.timedelta(minutes=int(rng.exponential(9 * 24 * 60)))
            rows.append((f"u{u:03d}", str(rng.choice(["use", "visit"])), ts))
    events = ev(rows)
    cutoff = BASE + dt.timedelta(days=150)
    return events.filter(pl.col("ts") <= cutoff)


CH_PERIOD = {
    "day": ("addDays", "toDate"),
    "week": ("addWeeks", "toMonday"),
    "month": ("addMonths", "toStartOfMonth"),
}


def clickhouse_retention(
    events: pl.DataFrame, j: J, *, period: str, mode: str, n_k: int, active_event: str | None
) -> pl.DataFrame:
    """Retention cells from ClickHouse's `retention(cond1, cond2, …)` aggregate.

    cond1 is the acquisition event itself (always true), cond_{k+2} is "an active event in
    (or at or after the start of) the user's period k"; `retention` returns cond1 AND
    cond_i, i.e. exactly whether the user was active on period k.
    """
    chdb = pytest.importorskip("chdb")
    add_fn, start_fn = CH_PERIOD[period]
    is_active = "1" if active_event is None else f"e.event = '{active_event}'"
    conds = []
    for k in range(n_k):
        lower = f"e.ts >= {add_fn}(j.reach_0, {k})"
        upper = f" AND e.ts < {add_fn}(j.reach_0, {k + 1})" if mode == "on" else ""
        # ifNull: Arrow columns arrive Nullable, and `retention` takes at most 8 of those
        conds.append(f"ifNull(({is_active}) AND {lower}{upper}, 0)")
    last_ts = j.last_ts.strftime("%Y-%m-%d %H:%M:%S.%f")
    eligible = f"{add_fn}(reach, k + 1) <= toDateTime64('{last_ts}', 6, 'UTC')"
    # chdb's Python(name) table function finds these two by their variable names
    ev_arrow = events.select("user_id", "event", "ts").to_arrow()  # noqa: F841
    j_arrow = j.table.select("user_id", "reach_0").to_arrow()  # noqa: F841
    sql = f"""
        SELECT toDate(cohort) AS cohort, toInt64(k) AS period,
               toInt64(countIf({eligible})) AS eligible_users,
               toInt64(countIf({eligible} AND r[k + 2] = 1)) AS active_users
        FROM (
            SELECT j.user_id AS user_id, any(j.reach_0) AS reach,
                   {start_fn}(any(j.reach_0)) AS cohort,
                   retention(ifNull(e.ts = j.reach_0, 0), {", ".join(conds)}) AS r
            FROM Python(ev_arrow) AS e INNER JOIN Python(j_arrow) AS j ON e.user_id = j.user_id
            WHERE e.ts >= j.reach_0
            GROUP BY j.user_id
        )
        ARRAY JOIN range({n_k}) AS k
        GROUP BY cohort, k
        ORDER BY cohort, k
    """
    out = chdb.query(sql, "ArrowTable")
    return pl.from_arrow(out)  # type: ignore[return-value]


@pytest.mark.parametrize(("period", "n_k"), [("day", 20), ("week", 10), ("month", 4)])
@pytest.mark.parametrize("mode", ["on", "on_or_after"])
def test_equals_clickhouse_retention_aggregate(period: str, n_k: int, mode: str) -> None:
    events = generated_log(seed=7)
    j = journeys_from(events, period)
    active_event = "use" if mode == "on" else None
    act = activity(events, j, None if active_event is None else pl.col("event") == "use")
    ours = retention(j, act, period=period, mode=mode, max_periods=n_k).table
    theirs = clickhouse_retention(
        events, j, period=period, mode=mode, n_k=n_k, active_event=active_event
    )
    assert ours["eligible_users"].sum() > 100  # the comparison is not vacuous
    assert ours["active_users"].sum() > 50
    expected = ours.select(
        "cohort",
        "period",
        "eligible_users",
        # ClickHouse counts 0 where nobody is eligible; cfnb leaves the cell empty
        pl.col("active_users").fill_null(0),
    )
    assert_frame_equal(theirs.sort("cohort", "period"), expected, check_dtypes=False)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(cfnb.metrics.retention, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def _active(name: str) -> object:
    from cfnb.spec import any_event, event, event_in, prop

    return {
        "none": None,
        "any event": any_event(),
        "session": event("session"),
        "session or purchase": event_in("session", "purchase"),
        "the acquisition event": event("visit"),
        "a property": prop("channel") == "ads",
        "a number": prop("amount") >= 20,
    }[name]


@pytest.mark.parametrize("mode", ["lifecycle", "best_path"])
@pytest.mark.parametrize(
    "active",
    [
        "none",
        "any event",
        "session",
        "session or purchase",
        "the acquisition event",
        "a property",
        "a number",
    ],
)
def test_activity_from_the_journeys_index_equals_the_join_of_every_event(
    mode: str, active: str
) -> None:
    """The fast path (journeys built on these events) against the plain Polars join."""
    from types import SimpleNamespace

    from cfnb.datasets import load_sample
    from cfnb.journeys import build_journeys
    from cfnb.spec import Factory, Stage

    log = load_sample()
    events = log.events
    factory = Factory([Stage("Visit", "visit"), Stage("Signup", "signup")], mode=mode)  # type: ignore[arg-type]
    j = build_journeys(events, factory)
    condition = _active(active)
    fast = activity(events, j, condition)  # type: ignore[arg-type]
    slow = activity(events, SimpleNamespace(table=j.table), condition)  # type: ignore[arg-type]
    assert j.active_instants(condition) is not None  # type: ignore[arg-type]
    assert fast.table["offsets"].list.len().sum() > 0
    assert_frame_equal(fast.table, slow.table)
    assert fast.condition == slow.condition
    # The same from the log's own index and DuckDB table (never copied into Polars).
    on_log = build_journeys(log, factory)
    assert on_log.reads(log)
    from_log = activity(log, on_log, condition)  # type: ignore[arg-type]
    assert_frame_equal(
        from_log.table.sort("user_id"), slow.table.sort("user_id"), check_row_order=False
    )
