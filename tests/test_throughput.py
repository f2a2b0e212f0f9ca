"""Throughput per period, the XmR chart that judges it, and the stage of the business."""

from __future__ import annotations

import datetime as dt
import doctest
import json
import math

import polars as pl
import pytest
from factories import MONDAY, J
from hypothesis import given, settings
from hypothesis import strategies as st

import cfnb.metrics.throughput
from cfnb.journeys import build_journeys
from cfnb.metrics.throughput import (
    MIN_PERIODS,
    business_stage,
    throughput,
    xmr,
)
from cfnb.spec import Factory, Stage
from cfnb.spec.errors import SpecError

UTC = dt.UTC


def weekly(counts: list[int], *, extra: dt.timedelta = dt.timedelta(0)) -> J:
    """counts[w] users arrive and pay in week w (Tuesdays 09:00); one visitor in week 0 never pays.

    The log ends `extra` after the last week ends, i.e. inside the next (running) week.
    """
    reach = [
        MONDAY + dt.timedelta(weeks=w, days=1, hours=9)
        for w, n in enumerate(counts)
        for _ in range(n)
    ]
    table = pl.DataFrame(
        {
            "user_id": ["visitor", *(f"u{i}" for i in range(len(reach)))],
            "reach_0": [MONDAY, *reach],
            "reach_1": [None, *reach],
        },
        schema={
            "user_id": pl.String,
            "reach_0": pl.Datetime("us", "UTC"),
            "reach_1": pl.Datetime("us", "UTC"),
        },
    )
    last_ts = MONDAY + dt.timedelta(weeks=len(counts)) + extra
    return J(table, ("Visit", "Pay"), "week", last_ts)


# --------------------------------------------------------------------------- xmr


def test_xmr_reproduces_the_nist_individuals_chart_example() -> None:
    # NIST/SEMATECH e-Handbook of Statistical Methods, 6.3.2.2 "Individuals Control
    # Charts": flow rate of the first 10 batches of a new process. Published: mean 50.81,
    # mean moving range 1.8778, limits 50.81 ± 3 · 1.8778 / 1.128 = 45.8159 … 55.8041
    # (3 / d2 = 2.6596; Wheeler's 2.66 moves the limits by less than 0.001).
    flow = [49.6, 47.6, 49.9, 51.3, 47.8, 51.2, 52.6, 52.4, 53.6, 52.1]
    chart = xmr(flow)
    assert chart.centre == pytest.approx(50.81)
    assert chart.mean_moving_range == pytest.approx(1.8778, abs=5e-5)
    assert [None if m is None else round(m, 1) for m in chart.moving_ranges] == [
        None, 2.0, 2.3, 1.4, 3.5, 3.4, 1.4, 0.2, 1.2, 1.5,
    ]  # fmt: skip
    assert chart.upper_limit == pytest.approx(55.8041, abs=1e-3)
    assert chart.lower_limit == pytest.approx(45.8159, abs=1e-3)
    assert chart.predictable is True  # NIST: the process is in control
    assert chart.signals == (None,) * 10


def test_xmr_worked_by_hand() -> None:
    # values 5 7 6 8 4 6: mean 36 / 6 = 6; moving ranges 2 1 2 4 2, mean 11 / 5 = 2.2;
    # limits 6 ± 2.66 · 2.2 = 6 ± 5.852
    chart = xmr([5, 7, 6, 8, 4, 6])
    assert chart.centre == 6.0
    assert chart.moving_ranges == (None, 2.0, 1.0, 2.0, 4.0, 2.0)
    assert chart.mean_moving_range == pytest.approx(2.2)
    assert chart.lower_limit == pytest.approx(0.148)
    assert chart.upper_limit == pytest.approx(11.852)
    assert chart.half_width == pytest.approx(5.852)
    assert chart.predictable is True


def test_a_point_beyond_the_limits_is_a_signal() -> None:
    # 10 10 10 10 10 30: mean 80 / 6 = 13.33; moving ranges 0 0 0 0 20, mean 4;
    # upper limit 13.33 + 10.64 = 23.97 < 30
    chart = xmr([10, 10, 10, 10, 10, 30])
    assert chart.upper_limit == pytest.approx(80 / 6 + 2.66 * 4)
    assert chart.signals == (None, None, None, None, None, "outside limits")
    assert chart.predictable is False


def test_a_point_below_the_lower_limit_is_a_signal_too() -> None:
    # 20 20 20 20 20 2: mean 102 / 6 = 17; moving ranges 0 0 0 0 18, mean 3.6;
    # lower limit 17 - 2.66 · 3.6 = 7.42 > 2
    chart = xmr([20, 20, 20, 20, 20, 2], lower_bound=0.0)
    assert chart.lower_limit == pytest.approx(7.424)
    assert chart.signals == (None, None, None, None, None, "outside limits")


def test_a_run_of_eight_on_one_side_marks_every_point_of_the_run() -> None:
    # 1 x8 then 5 5: mean 18 / 10 = 1.8; moving ranges 0 x7, 4, 0: mean 4 / 9;
    # limits 1.8 ± 1.18: the 5s are outside, the eight 1s are a run below the centre
    chart = xmr([1, 1, 1, 1, 1, 1, 1, 1, 5, 5])
    assert chart.signals == ("run of 8 below",) * 8 + ("outside limits",) * 2
    seven = xmr([1, 1, 1, 1, 1, 1, 1, 5, 5, 5, 1, 1])  # a run of 7 is no signal
    assert "run of 8 below" not in seven.signals
    # 4 2 x5 then 5 x8: mean 70 / 18 = 3.89; moving ranges 2 x9, 3, 0 x7, mean 21 / 17;
    # limits 3.89 ± 3.29 hold every point, but the eight 5s sit above the centre line
    above = xmr([4, 2] * 5 + [5] * 8)
    assert above.signals == (None,) * 10 + ("run of 8 above",) * 8


def test_a_point_on_the_centre_line_ends_a_run() -> None:
    # 1 x7, 2, 1 x7, 16: mean 32 / 16 = 2 exactly, so the 2 sits on the centre line and
    # splits fifteen points below it into two runs of 7: no run signal, only the 16.
    values = [1] * 7 + [2] + [1] * 7 + [16]
    chart = xmr(values)
    assert chart.centre == 2.0
    assert chart.signals == (None,) * 15 + ("outside limits",)
    unsplit = xmr([1] * 7 + [1] + [1] * 7 + [16])
    assert unsplit.signals[:15] == ("run of 8 below",) * 15


def test_lower_limit_floor_is_optional() -> None:
    # 0 0 0 5 0 0: mean 5 / 6; moving ranges 0 0 5 5 0, mean 2; lower 0.83 - 5.32 < 0
    raw = xmr([0, 0, 0, 5, 0, 0])
    assert raw.lower_limit == pytest.approx(5 / 6 - 5.32)
    floored = xmr([0, 0, 0, 5, 0, 0], lower_bound=0.0)
    assert floored.lower_limit == 0.0
    assert floored.upper_limit == raw.upper_limit


def test_short_series_have_no_verdict() -> None:
    assert xmr([]).centre is None
    assert xmr([]).predictable is None
    one = xmr([4])
    assert (one.centre, one.lower_limit, one.upper_limit, one.signals) == (4.0, None, None, (None,))
    assert xmr([3, 4, 5, 4, 3]).predictable is None  # 5 < MIN_PERIODS = 6
    assert xmr([3, 4, 5, 4, 3], min_points=5).predictable is True
    flat = xmr([7] * 9)
    assert (flat.lower_limit, flat.centre, flat.upper_limit, flat.predictable) == (7, 7, 7, True)


def test_xmr_refuses_what_is_not_a_number() -> None:
    with pytest.raises(ValueError, match=r"value 2 is nan"):
        xmr([1.0, 2.0, math.nan])
    with pytest.raises(ValueError, match=r"value 0 is None"):
        xmr([None])  # type: ignore[list-item]


series = st.lists(st.integers(0, 50), min_size=2, max_size=40)


@settings(max_examples=200, deadline=None)
@given(values=series, shift=st.integers(-100, 100), scale=st.integers(1, 9))
def test_xmr_is_equivariant_and_signals_have_reasons(
    values: list[int], shift: int, scale: int
) -> None:
    chart = xmr(values)
    moved = xmr([scale * v + shift for v in values])
    assert moved.signals == chart.signals
    assert moved.centre == pytest.approx(scale * chart.centre + shift)  # type: ignore[operator]
    assert moved.upper_limit == pytest.approx(scale * chart.upper_limit + shift)  # type: ignore[operator]
    assert chart.upper_limit - chart.centre == pytest.approx(chart.centre - chart.lower_limit)  # type: ignore[operator]
    for i, (v, signal) in enumerate(zip(values, chart.signals, strict=True)):
        if signal == "outside limits":
            assert not chart.lower_limit <= v <= chart.upper_limit  # type: ignore[operator]
        else:
            assert chart.lower_limit <= v <= chart.upper_limit  # type: ignore[operator]
        if signal and signal.startswith("run"):
            above = signal.endswith("above")
            # the point is in a window of 8 consecutive points on its side of the centre
            windows = [values[s : s + 8] for s in range(max(0, i - 7), i + 1)]
            assert any(
                len(w) == 8 and all((x > chart.centre) if above else (x < chart.centre) for x in w)  # type: ignore[operator]
                for w in windows
            )


# --------------------------------------------------------------------------- throughput


def test_throughput_by_hand_with_quiet_weeks_and_a_running_week() -> None:
    # weeks of 1, 8, 15 and 22 January: 3, 0, 2, 0 payers; the log ends Wed 31 Jan,
    # inside the week of 29 January, which is still running and is left out.
    j = weekly([3, 0, 2, 0], extra=dt.timedelta(days=2))
    r = throughput(j)
    assert r.stage == "Pay"
    assert r.table.select("period", "happy", "complete").rows() == [
        (dt.date(2024, 1, 1), 3, True),
        (dt.date(2024, 1, 8), 0, True),
        (dt.date(2024, 1, 15), 2, True),
        (dt.date(2024, 1, 22), 0, True),
    ]
    # mean 5 / 4 = 1.25; moving ranges 3 2 2, mean 7 / 3
    assert r.table["moving_range"].to_list() == [None, 3.0, 2.0, 2.0]
    assert r.centre == 1.25
    assert r.upper_limit == pytest.approx(1.25 + 2.66 * 7 / 3)
    assert r.lower_limit == 0.0  # 1.25 - 6.21 floored at 0
    assert r.complete_periods == 4
    assert r.predictable is None
    assert r.verdict == (
        "not yet repeatable: only 4 complete weeks of throughput (at least 6 are needed to judge)"
    )


def test_the_running_period_can_be_shown_but_never_charted() -> None:
    j = weekly([3, 0, 2, 0], extra=dt.timedelta(days=2))
    late = J(
        j.table.vstack(
            pl.DataFrame(
                {"user_id": ["late"], "reach_0": [MONDAY], "reach_1": [j.last_ts]},
                schema=j.table.schema,
            )
        ),
        j.stages,
        j.period,
        j.last_ts,
    )
    r = throughput(late, complete_only=False)
    last = r.table.row(-1, named=True)
    assert last["period"] == dt.date(2024, 1, 29)
    assert (last["happy"], last["complete"], last["moving_range"], last["signal"]) == (
        1,
        False,
        None,
        None,
    )
    assert r.centre == 1.25  # the running week's 1 is not in the mean
    assert r.table.height == 5


def test_a_log_ending_exactly_on_a_boundary_has_a_running_period() -> None:
    j = weekly([1, 1, 1])  # ends Monday 22 Jan 00:00: that week has only begun
    assert throughput(j).table["period"].to_list()[-1] == dt.date(2024, 1, 15)
    assert throughput(j, complete_only=False).table["complete"].to_list() == [
        True,
        True,
        True,
        False,
    ]


def test_predictable_verdict_reads_centre_plus_minus_spread() -> None:
    # 12 11 13 12 10 12 14 12: mean 96 / 8 = 12; moving ranges 1 2 1 2 2 2 2, mean 12 / 7;
    # 2.66 · 12 / 7 = 4.56
    j = weekly([12, 11, 13, 12, 10, 12, 14, 12], extra=dt.timedelta(hours=1))
    r = throughput(j)
    assert r.predictable is True
    assert r.verdict == "predictable: 12 ± 4.6 happy customers per week"
    assert r.table["signal"].null_count() == 8


def test_unpredictable_verdict_names_the_signals() -> None:
    # a launch: 2 a week for 8 weeks, then 30: the 2s are a run below, the 30 is outside
    j = weekly([2, 2, 2, 2, 2, 2, 2, 2, 30], extra=dt.timedelta(hours=1))
    r = throughput(j)
    assert r.predictable is False
    assert r.table["signal"].to_list() == ["run of 8 below"] * 8 + ["outside limits"]
    assert r.verdict.startswith("not yet repeatable: 1 week outside the limits 0 to ")
    assert "a run of 8+ weeks below the centre line" in r.verdict
    assert r.verdict.endswith("the mean is 5.1 happy customers per week")


def test_all_zero_throughput_is_predictably_zero() -> None:
    r = throughput(weekly([0] * 7, extra=dt.timedelta(hours=1)))
    assert r.table["happy"].to_list() == [0] * 7
    assert r.predictable is True
    assert r.verdict == "predictable at zero: no happy customers in 7 complete weeks"


def test_month_periods_start_at_the_first_cohort() -> None:
    t = lambda m, d: dt.datetime(2024, m, d, tzinfo=UTC)  # noqa: E731
    table = pl.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "reach_0": [t(1, 20), t(2, 3), t(3, 1)],
            "reach_1": [t(3, 31), None, t(3, 2)],
        }
    )
    r = throughput(J(table, ("Visit", "Pay"), "month", t(5, 2)))
    assert r.table.select("period", "happy").rows() == [
        (dt.date(2024, 1, 1), 0),
        (dt.date(2024, 2, 1), 0),
        (dt.date(2024, 3, 1), 2),
        (dt.date(2024, 4, 1), 0),
    ]
    by_day = throughput(J(table, ("Visit", "Pay"), "month", t(5, 2)), period="week")
    assert by_day.period == "week"
    assert by_day.table["period"][0] == dt.date(2024, 1, 15)


def test_stage_by_name_index_or_the_factorys_happy_stage() -> None:
    ts = lambda d: dt.datetime(2024, 1, d, 12, tzinfo=UTC)  # noqa: E731
    events = pl.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "b", "c"],
            "event": ["visit", "signup", "pay", "visit", "signup", "visit"],
            "ts": [ts(1), ts(2), ts(10), ts(3), ts(4), ts(20)],
        }
    )
    stages = [Stage("Visit", "visit"), Stage("Signup", "signup"), Stage("Pay", "pay")]
    j = build_journeys(events, Factory(stages, happy="Signup"))
    assert throughput(j).stage == "Signup"
    assert throughput(j).table["happy"].to_list() == [2, 0]
    assert throughput(j, stage="Pay").table["happy"].to_list() == [0, 1]
    assert throughput(j, stage=-1).stage == "Pay"
    assert throughput(j, stage=0).table["happy"].to_list() == [2, 0]
    assert throughput(build_journeys(events, Factory(stages))).stage == "Pay"
    with pytest.raises(SpecError, match=r"no stage named 'Signups'.*'Signup'"):
        throughput(j, stage="Signups")
    with pytest.raises(SpecError, match=r"not a stage index"):
        throughput(j, stage=3)


def test_no_users_means_an_empty_series() -> None:
    empty = J(
        pl.DataFrame(schema={"user_id": pl.String, "reach_0": pl.Datetime("us", "UTC")}),
        ("Visit",),
        "week",
        None,
    )
    r = throughput(empty)
    assert r.table.height == 0
    assert r.table.columns == [
        "period", "happy", "complete", "moving_range", "centre", "lower_limit", "upper_limit", "signal",
    ]  # fmt: skip
    assert r.predictable is None
    assert "only 0 complete weeks" in r.verdict


@st.composite
def journeys_tables(draw: st.DrawFn) -> tuple[pl.DataFrame, dt.datetime]:
    n = draw(st.integers(1, 30))
    rows = []
    for i in range(n):
        start = MONDAY + dt.timedelta(hours=draw(st.integers(0, 24 * 200)))
        happy = draw(st.none() | st.integers(0, 24 * 100))
        rows.append((f"u{i}", start, None if happy is None else start + dt.timedelta(hours=happy)))
    table = pl.DataFrame(
        rows,
        schema={
            "user_id": pl.String,
            "reach_0": pl.Datetime("us", "UTC"),
            "reach_1": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )
    latest = max(
        max(r[1] for r in rows), max((r[2] for r in rows if r[2] is not None), default=MONDAY)
    )
    return table, latest + dt.timedelta(hours=draw(st.integers(0, 24 * 60)))


def reference_counts(
    table: pl.DataFrame, last_ts: dt.datetime, period: str
) -> list[tuple[object, ...]]:
    """Walk the calendar one period at a time and count who became happy in it."""

    def start_of(d: dt.date) -> dt.date:
        if period == "day":
            return d
        if period == "week":
            return d - dt.timedelta(days=d.weekday())
        return d.replace(day=1)

    def following(d: dt.date) -> dt.date:
        if period == "day":
            return d + dt.timedelta(days=1)
        if period == "week":
            return d + dt.timedelta(weeks=1)
        return (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)

    happy = [r for r in table["reach_1"].to_list() if r is not None]
    out = []
    p = start_of(min(table["reach_0"].to_list()).date())
    while True:
        end = dt.datetime.combine(following(p), dt.time(), tzinfo=UTC)
        if end > last_ts:
            break
        begin = dt.datetime.combine(p, dt.time(), tzinfo=UTC)
        out.append((p, sum(begin <= h < end for h in happy), True))
        p = following(p)
    return out


@settings(max_examples=60, deadline=None)
@given(data=journeys_tables(), period=st.sampled_from(["day", "week", "month"]))
def test_counts_match_a_calendar_walk(data: tuple[pl.DataFrame, dt.datetime], period: str) -> None:
    table, last_ts = data
    r = throughput(J(table, ("Visit", "Pay"), period, last_ts), period=period)
    assert r.table.select("period", "happy", "complete").rows() == reference_counts(
        table, last_ts, period
    )
    everything = throughput(J(table, ("Visit", "Pay"), period, last_ts), complete_only=False)
    assert everything.table["happy"].sum() == table["reach_1"].count()
    assert everything.table["complete"].to_list()[-1] is False


def test_result_is_json_ready_and_renders_as_a_table() -> None:
    r = throughput(weekly([3, 0, 2, 0, 4, 1], extra=dt.timedelta(days=1)))
    d = r.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert d["rows"][0]["period"] == "2024-01-01"
    assert d["rows"][0]["moving_range"] is None
    assert d["predictable"] is True
    assert '"verdict": "predictable: 1.7' in text
    page = r._repr_html_()
    assert "<table" in page
    assert "2024-W01" in page
    assert "predictable" in page


# --------------------------------------------------------------------------- stage


def test_business_stage_lines_follow_the_10x_rule() -> None:
    r = throughput(weekly([40, 60, 50, 50, 45, 55, 50], extra=dt.timedelta(hours=1)))
    s = business_stage(r, goal=1000)
    assert s.lines.rows() == [
        ("Problem/Solution fit", 10.0),
        ("Product/Market fit", 100.0),
        ("Scale", 1000.0),
    ]
    # the last 6 complete weeks: 60 50 50 45 55 50, mean 310 / 6 = 51.67
    assert s.current == pytest.approx(310 / 6)
    assert s.basis == "mean of the last 6 complete weeks"
    assert (s.reached, s.next_stage) == ("Problem/Solution fit", "Product/Market fit")
    assert s.to_next == pytest.approx(100 / (310 / 6))
    assert s.verdict == (
        "Problem/Solution fit reached: 52 happy customers per week (mean of the last 6 "
        "complete weeks) against 10; next: Product/Market fit at 100, 1.9x today"
    )
    json.dumps(s.to_dict(), allow_nan=False)
    assert "reached" in s._repr_html_()


def test_business_stage_below_the_first_line_and_past_the_goal() -> None:
    few = business_stage(throughput(weekly([0, 1, 0, 0, 1, 0], extra=dt.timedelta(hours=1))), 500)
    assert few.reached is None
    assert few.next_stage == "Problem/Solution fit"
    assert few.verdict.startswith("before Problem/Solution fit: 0.3 happy customers per week")
    big = business_stage(throughput(weekly([120, 130, 110], extra=dt.timedelta(hours=1))), 100)
    assert (big.reached, big.next_stage, big.to_next) == ("Scale", None, None)
    assert big.basis == "mean of the last 3 complete weeks"
    assert big.verdict.endswith("(throughput not yet repeatable)")
    zero = business_stage(throughput(weekly([0, 0], extra=dt.timedelta(hours=1))), 100)
    assert zero.current == 0.0
    assert zero.to_next is None


def test_business_stage_uses_complete_periods_only() -> None:
    j = weekly([10] * MIN_PERIODS, extra=dt.timedelta(days=3))
    shown = throughput(j, complete_only=False)
    assert shown.table["complete"].to_list()[-1] is False
    assert business_stage(shown, goal=100).current == 10.0
    none_yet = business_stage(throughput(weekly([], extra=dt.timedelta(days=3))), goal=100)
    assert none_yet.current is None
    assert none_yet.verdict == "no complete week of throughput yet: the stage cannot be placed"


def test_business_stage_needs_a_goal() -> None:
    r = throughput(weekly([1, 2, 3]))
    with pytest.raises(SpecError, match=r"set `goal` in the spec") as err:
        business_stage(r, None)
    assert err.value.path == "goal"
    with pytest.raises(SpecError, match=r"positive number"):
        business_stage(r, -5)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(cfnb.metrics.throughput)
    assert result.attempted > 0
    assert result.failed == 0
