"""Referral: who refers, who was referred, and the viral coefficient."""

from __future__ import annotations

import doctest
import json

import polars as pl
import pytest
from factories import J, jan

import cfnb.metrics.referral
from cfnb.metrics.constraint import MetricError
from cfnb.metrics.referral import referral
from cfnb.spec import event

# Week of 1 Jan: a, b, c. Week of 8 Jan: d and e (referred by a), f (by a campaign code,
# not a user), g (by itself). Week of 15 Jan: h (referred by d).
USERS = {
    "a": (jan(1), None),
    "b": (jan(2), None),
    "c": (jan(3), None),
    "d": (jan(8), "a"),
    "e": (jan(9), "a"),
    "f": (jan(9), "partner-campaign"),
    "g": (jan(10), "g"),
    "h": (jan(15), "d"),
}
# a sends 3 invites, b 1, d 2; zz is not an acquired user.
INVITES = [
    ("a", jan(2)),
    ("a", jan(2)),
    ("a", jan(4)),
    ("b", jan(3)),
    ("d", jan(9)),
    ("d", jan(10)),
    ("zz", jan(10)),
]


def journeys(with_referrer: bool) -> J:
    data: dict[str, list[object]] = {
        "user_id": list(USERS),
        "reach_0": [t for t, _ in USERS.values()],
    }
    if with_referrer:
        data["referrer"] = [r for _, r in USERS.values()]
    schema = {"user_id": pl.String, "reach_0": pl.Datetime("us", "UTC"), "referrer": pl.String}
    table = pl.DataFrame(data, schema={k: v for k, v in schema.items() if k in data})
    return J(table, ("Acquisition",), "week", jan(20))


def events() -> pl.DataFrame:
    visits = [(u, "visit", t, r) for u, (t, r) in USERS.items()]
    invites = [(u, "invite", t, None) for u, t in INVITES]
    return pl.DataFrame(
        visits + invites, schema=["user_id", "event", "ts", "referrer"], orient="row"
    ).with_columns(pl.col("ts").dt.cast_time_unit("us"))


def test_docstring_examples_run() -> None:
    assert doctest.testmod(cfnb.metrics.referral).failed == 0


@pytest.mark.parametrize("referrer_in_journeys", [True, False])
def test_referral_per_cohort_worked_by_hand(referrer_in_journeys: bool) -> None:
    result = referral(journeys(referrer_in_journeys), events(), invite=event("invite"))
    rows = result.table.select(
        "cohort", "users", "inviters", "invites", "referred", "k", "referrers", "referred_in"
    ).rows()
    assert rows == [
        # a and b invite (4 invites); a brought d and e.
        (jan(1).date(), 3, 2, 4, 2, pytest.approx(2 / 3), 1, 0),
        # d invites twice and brought h; d and e were referred (f and g do not count).
        (jan(8).date(), 4, 1, 2, 1, 0.25, 1, 2),
        (jan(15).date(), 1, 0, 0, 0, 0.0, 0, 1),
    ]
    assert result.table["invite_conversion"].to_list() == [0.5, 0.5, None]
    overall = result.overall.row(0, named=True)
    assert (overall["users"], overall["referred"], overall["invites"]) == (8, 3, 6)
    assert result.k == pytest.approx(3 / 8)
    # k = invites per user x conversion of invites, exactly.
    assert result.k == pytest.approx(overall["invites_per_user"] * overall["invite_conversion"])
    assert result.referrer_share == 0.25
    assert result.summary == (
        "Viral coefficient k = 0.38: 3 referred users from 8 acquired; 25% of users brought "
        "someone, 38% sent an invite (0.75 invites per user x 50% converted)"
    )


def test_without_invites_referring_means_bringing_someone() -> None:
    result = referral(journeys(True), events())
    assert result.table["inviters"].to_list() == [None, None, None]
    assert result.table["k"].to_list() == [pytest.approx(2 / 3), 0.25, 0.0]
    assert result.summary == (
        "Viral coefficient k = 0.38: 3 referred users from 8 acquired; 25% of users brought someone"
    )
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["cohorts"][0]["cohort"] == "2024-01-01"


def test_an_event_name_is_shorthand_for_the_invite_condition() -> None:
    by_name = referral(journeys(True), events(), invite="invite")
    assert by_name.overall["invites"].item() == 6


def test_no_users_and_no_referrer_column() -> None:
    empty = J(journeys(True).table.head(0), ("Acquisition",), "week", None)
    result = referral(empty, events(), invite="invite")
    assert result.k is None
    assert result.table.height == 0
    assert result.overall.select("users", "inviters").row(0) == (0, 0)
    assert result.summary == "Referral: no acquired users yet"
    with pytest.raises(MetricError, match="pass referrer='<column>'"):
        referral(journeys(False), events().drop("referrer"))
    assert "<table" in referral(journeys(True), events())._repr_html_()
