"""Activation: is it the causal step, and which early behaviour should define it?"""

from __future__ import annotations

import datetime as dt
import doctest
import json
import math

import polars as pl
import pytest
from factories import J, reach_schema

import cfnb.metrics.activation
from cfnb.metrics.activation import activation_candidates, activation_effect
from cfnb.metrics.constraint import MetricError
from cfnb.spec import Factory, Stage, event
from cfnb.stats import odds_ratio, ratio_of_means, risk_ratio

UTC = dt.UTC
JAN_1 = dt.datetime(2024, 1, 1, tzinfo=UTC)
DAY = dt.timedelta(days=1)
STAGES = ("Acquisition", "Activation", "Retention", "Revenue", "Referral")
FACTORY = Factory(
    [
        Stage("Acquisition", "visit"),
        Stage("Activation", "create_project"),
        Stage("Retention", "return"),
        Stage("Revenue", "pay"),
        Stage("Referral", "invite"),
    ],
    period="day",
)


def arrival(u: int) -> dt.datetime:
    return JAN_1 + dt.timedelta(minutes=u)


def journeys(reached: dict[int, int], *, late: bool = True) -> J:
    """Users 0..19 arrive on 1 January; ``reached[u]`` is the last stage user u reached.

    With ``late``, user 99 arrives on 30 January at noon, too late for anything to be
    settled by the log's end (31 January 00:00).
    """
    rows = []
    users = {u: reached.get(u, 0) for u in range(20)} | ({99: 1} if late else {})
    for u, top in users.items():
        t0 = JAN_1 + dt.timedelta(days=29, hours=12) if u == 99 else arrival(u)
        row: dict[str, object] = {"user_id": f"u{u}", "reach_0": t0}
        for k in range(1, len(STAGES)):
            row[f"reach_{k}"] = t0 + k * dt.timedelta(hours=1) if k <= top else None
        rows.append(row)
    return J(pl.DataFrame(rows, schema=reach_schema(len(STAGES))), STAGES, "day", JAN_1 + 30 * DAY)


# Users 0-9 activate; 0-5 come back later (6 of 10), as do two who never activated.
ACTIVATED = {u: 1 for u in range(10)}
LATER = [u for u in range(6)] + [10, 11]


def test_docstring_examples_run() -> None:
    assert doctest.testmod(cfnb.metrics.activation).failed == 0


def test_activated_users_come_back_three_times_as_often() -> None:
    active = pl.DataFrame(
        {
            "user_id": [f"u{u}" for u in LATER],
            "ts": [arrival(u) + DAY + dt.timedelta(hours=1) for u in LATER],
        }
    )
    effect = activation_effect(journeys(ACTIVATED), FACTORY, active)
    row = effect.table.filter(outcome="retention").row(0, named=True)
    # 6 of 10 activated vs 2 of 10 others: risk ratio 3.0. User 99 (too recent for its
    # day 1 to have passed) is in neither group.
    assert (row["activated_users"], row["activated_hits"]) == (10, 6)
    assert (row["other_users"], row["other_hits"]) == (10, 2)
    assert (row["activated_value"], row["other_value"]) == (0.6, 0.2)
    expected = risk_ratio(6, 10, 2, 10)
    assert (row["ratio"], row["ratio_lower"], row["ratio_upper"]) == (
        pytest.approx(3.0),
        pytest.approx(expected.lower),
        pytest.approx(expected.upper),
    )
    assert effect.summary.splitlines()[0] == (
        "Activated users are active in day 1 or later 3.00x as often (60% vs 20%; "
        f"95% CI {expected.lower:.2f} to {expected.upper:.2f}; 10 vs 10 users)"
    )


def test_activity_from_the_retention_module_gives_the_same_answer() -> None:
    from cfnb.metrics.retention import activity

    rows = [(f"u{u}", "visit", arrival(u)) for u in range(20)]
    rows += [(f"u{u}", "return", arrival(u) + DAY + dt.timedelta(hours=1)) for u in LATER]
    events = pl.DataFrame(rows, schema=["user_id", "event", "ts"], orient="row").with_columns(
        pl.col("ts").dt.cast_time_unit("us")
    )
    j = journeys(ACTIVATED, late=False)
    row = activation_effect(j, FACTORY, activity(events, j)).table.row(0, named=True)
    assert (row["activated_hits"], row["other_hits"], row["ratio"]) == (6, 2, pytest.approx(3.0))


def test_revenue_compares_paying_share_and_revenue_per_user() -> None:
    # Activated users 0-4 pay 10 each; of the others only user 10 pays 10. User 99 paid,
    # but its activation was not settled, so it is left out.
    revenue = pl.DataFrame(
        {
            "user_id": [f"u{u}" for u in (0, 1, 2, 3, 4, 10, 99)],
            "amount": [10.0] * 7,
            "ts": [JAN_1 + 2 * DAY] * 6 + [JAN_1 + 29 * DAY + dt.timedelta(hours=13)],
        }
    )
    table = activation_effect(journeys(ACTIVATED), FACTORY, revenue=revenue).table
    paying = table.filter(outcome="paying").row(0, named=True)
    assert (paying["activated_hits"], paying["activated_users"]) == (5, 10)
    assert (paying["other_hits"], paying["other_users"]) == (1, 10)
    assert paying["ratio"] == pytest.approx(5.0)
    per_user = table.filter(outcome="revenue per user").row(0, named=True)
    assert (per_user["activated_value"], per_user["other_value"]) == (5.0, 1.0)
    sd_act = pl.Series([10.0] * 5 + [0.0] * 5).std()
    sd_other = pl.Series([10.0] + [0.0] * 9).std()
    assert isinstance(sd_act, float)
    assert isinstance(sd_other, float)
    expected = ratio_of_means(5.0, sd_act, 10, 1.0, sd_other, 10)
    assert (per_user["ratio"], per_user["ratio_lower"], per_user["ratio_upper"]) == (
        pytest.approx(5.0),
        pytest.approx(expected.lower),
        pytest.approx(expected.upper),
    )


def test_stage_outcomes_behind_activation_have_no_comparison() -> None:
    # In a funnel only activated users can reach Retention, Revenue or Referral, so a
    # ratio against 0% of the others would be an artefact, not evidence.
    reached = {u: 1 for u in range(10)} | {0: 4, 1: 3, 2: 2}
    table = activation_effect(journeys(reached), FACTORY).table
    assert table["outcome"].to_list() == ["retention", "paying", "referral"]
    assert table["activated_hits"].to_list() == [3, 2, 1]
    assert table["other_hits"].to_list() == [0, 0, 0]
    assert table["ratio"].to_list() == [None, None, None]
    assert table["note"][0] == (
        "only activated users can reach Retention in this funnel, so there is no comparison: "
        "pass activity= or a revenue table"
    )


def test_nobody_activated_or_nobody_at_all_never_crashes() -> None:
    active = pl.DataFrame({"user_id": ["u1"], "ts": [JAN_1 + 3 * DAY]})
    row = activation_effect(journeys({}), FACTORY, active).table.row(0, named=True)
    assert (row["activated_users"], row["activated_value"], row["ratio"]) == (0, None, None)
    empty = J(journeys({}).table.head(0), STAGES, "day", None)
    effect = activation_effect(
        empty,
        FACTORY,
        active,
        revenue=pl.DataFrame(schema={"user_id": pl.String, "amount": pl.Float64}),
    )
    assert effect.table["outcome"].to_list() == [
        "retention",
        "paying",
        "revenue per user",
        "referral",
    ]
    assert effect.table["ratio"].to_list() == [None] * 4
    assert "no ratio yet" in effect.summary
    json.dumps(effect.to_dict(), allow_nan=False)
    assert "<table" in effect._repr_html_()


def test_activation_must_be_a_later_stage() -> None:
    with pytest.raises(MetricError, match="acquisition stage"):
        activation_effect(journeys({}), FACTORY, activation=0)
    with pytest.raises(MetricError, match=r"[Dd]id you mean 'Activation'"):
        activation_effect(journeys({}), FACTORY, activation="Activaton")


# ------------------------------------------------------------------------ candidates


def candidate_events() -> tuple[pl.DataFrame, J]:
    """120 users arrive on 1 January; what they do in their first week decides retention.

    * users 0-39 create a project 3 times: 32 of them log in on day 10;
    * users 40-59 create one twice and users 60-79 once: 4 of each group log in;
    * users 80-119 create none: 8 log in; 100-119 create 3 projects on day 8, too late.
    * even users open help once, which says nothing about retention.
    """
    rows = []
    for u in range(120):
        t0 = arrival(u)
        rows.append((f"u{u}", "visit", t0))
        creates = 3 if u < 40 else 2 if u < 60 else 1 if u < 80 else 0
        rows += [(f"u{u}", "create_project", t0 + (k + 1) * DAY) for k in range(creates)]
        if u >= 100:
            rows += [(f"u{u}", "create_project", t0 + 8 * DAY)] * 3
        if u % 2 == 0:
            rows.append((f"u{u}", "help", t0 + DAY))
        if u < 32 or 40 <= u < 44 or 60 <= u < 64 or 80 <= u < 88:
            rows.append((f"u{u}", "login", t0 + 10 * DAY))
    events = pl.DataFrame(rows, schema=["user_id", "event", "ts"], orient="row").with_columns(
        pl.col("ts").dt.cast_time_unit("us")
    )
    table = pl.DataFrame(
        {"user_id": [f"u{u}" for u in range(120)], "reach_0": [arrival(u) for u in range(120)]},
        schema={"user_id": pl.String, "reach_0": pl.Datetime("us", "UTC")},
    )
    return events, J(table, ("Acquisition",), "week", JAN_1 + 60 * DAY)


def test_the_behaviour_that_separates_retained_users_is_suggested() -> None:
    events, j = candidate_events()
    cands = activation_candidates(events, j, retained=event("login"), min_support=10)
    top = cands.table.row(0, named=True)
    # With >= 3 projects: 32 of 40 retained; without: 16 of 80. OR = 32*64 / (8*16) = 16.
    assert (top["event"], top["times"]) == ("create_project", 3)
    assert (top["users_with"], top["retained_with"]) == (40, 32)
    assert (top["users_without"], top["retained_without"]) == (80, 16)
    woolf = odds_ratio(32, 8, 16, 64)
    assert (top["odds_ratio"], top["lower"], top["upper"]) == (
        pytest.approx(16.0),
        pytest.approx(woolf.lower),
        pytest.approx(woolf.upper),
    )
    ranked = cands.table.select("event", "times", "odds_ratio").rows()
    assert ranked[:3] == [
        ("create_project", 3, pytest.approx(16.0)),
        ("create_project", 2, pytest.approx(36 * 48 / (24 * 12))),
        ("create_project", 1, pytest.approx(40 * 32 / (40 * 8))),
    ]
    assert ("help", 1, pytest.approx(1.0)) in ranked
    # Everyone visits, so "visit" has no users without it to compare with.
    assert "visit" not in cands.table["event"].to_list()
    assert cands.suggestion is not None
    assert cands.summary == (
        "Suggested activation: 'create_project' at least 3 times in the first 7 days "
        f"(odds ratio 16.0, 95% CI {woolf.lower:.1f} to {woolf.upper:.1f}; 33% of 120 users do it)"
    )
    assert "Suggested activation" in cands._repr_html_()
    stage = cands.suggestion.to_stage()
    assert (stage.name, stage.times, stage.within) == ("Activation", 3, dt.timedelta(days=7))


def test_a_stage_can_be_the_retention_outcome() -> None:
    events, j = candidate_events()
    logged_in = set(events.filter(event="login")["user_id"])
    table = j.table.with_columns(
        reach_1=pl.col("reach_0"),
        reach_2=pl.when(pl.col("user_id").is_in(list(logged_in))).then(
            pl.col("reach_0") + 10 * DAY
        ),
    )
    stages = ("Acquisition", "Activation", "Retention")
    cands = activation_candidates(events, J(table, stages, "week", j.last_ts), min_support=10)
    assert cands.retained == "reaching Retention"
    assert cands.table.row(0, named=True)["odds_ratio"] == pytest.approx(16.0)


def test_without_enough_support_there_is_no_suggestion() -> None:
    events, j = candidate_events()
    cands = activation_candidates(events, j, retained=event("login"), min_support=90)
    assert cands.suggestion is None
    assert cands.table.height == 0
    assert cands.summary.startswith("No suggestion: no behaviour in the first 7 days has 90+ users")
    json.dumps(cands.to_dict(), allow_nan=False)


def test_users_whose_outcome_window_is_still_open_are_not_scored() -> None:
    events, j = candidate_events()
    # The log ends 20 days in: nobody has had their 7 + 28 days yet.
    young = J(j.table, j.stages, j.period, JAN_1 + 20 * DAY)
    cands = activation_candidates(events, young, retained=event("login"), min_support=1)
    assert (cands.users, cands.table.height, cands.suggestion) == (0, 0, None)
    assert all(math.isfinite(v) for v in cands.table["odds_ratio"])


def test_retained_needs_a_stage_after_activation_or_a_condition() -> None:
    events, j = candidate_events()
    with pytest.raises(MetricError, match="retained= is needed"):
        activation_candidates(events, j)


def test_referral_compares_who_brought_a_referred_user() -> None:
    # Users 12 and 13 came through activated users 0 and 1; user 14 through user 10, who
    # never activated. So 2 of 10 activated users referred someone, and 1 of 10 others.
    j = journeys(ACTIVATED)
    referrers = {"u12": "u0", "u13": "u1", "u14": "u10"}
    table = j.table.with_columns(
        referrer=pl.col("user_id").replace_strict(referrers, default=None, return_dtype=pl.String)
    )
    row = (
        activation_effect(J(table, STAGES, "day", j.last_ts), FACTORY)
        .table.filter(outcome="referral")
        .row(0, named=True)
    )
    assert (row["basis"], row["activated_hits"], row["other_hits"]) == (
        "bring a referred user",
        2,
        1,
    )
    assert row["ratio"] == pytest.approx(2.0)
    assert row["note"] is None
