"""Revenue: paying share, ARPU and ARPPU per cohort, and revenue per user by age."""

from __future__ import annotations

import doctest
import json

import polars as pl
import pytest
from factories import J, jan

import cfnb.metrics.revenue
from cfnb.metrics.constraint import MetricError
from cfnb.metrics.revenue import revenue
from cfnb.spec import event
from cfnb.stats import wilson_interval

# Cohort of 1 Jan: a, b, c; cohort of 8 Jan: d. The log ends on 22 Jan at 00:00.
JOURNEYS = J(
    pl.DataFrame(
        {"user_id": ["a", "b", "c", "d"], "reach_0": [jan(1), jan(2), jan(3), jan(8)]},
        schema={"user_id": pl.String, "reach_0": pl.Datetime("us", "UTC")},
    ),
    ("Acquisition",),
    "week",
    jan(22),
)


def events() -> pl.DataFrame:
    rows = [
        ("a", "purchase", jan(1), 10.0),  # a's week 0
        ("a", "purchase", jan(9), 5.0),  # a's week 1
        ("a", "purchase", jan(16), -5.0),  # a refund in a's week 2
        ("b", "purchase", jan(2), 20.0),
        ("c", "purchase", jan(4), None),  # no amount: ignored
        ("c", "page", jan(4), 99.0),  # not a purchase
        ("d", "purchase", jan(10), 7.0),
        ("zz", "purchase", jan(10), 1000.0),  # not an acquired user
    ]
    return pl.DataFrame(
        rows, schema=["user_id", "event", "ts", "amount"], orient="row"
    ).with_columns(pl.col("ts").dt.cast_time_unit("us"))


def test_docstring_examples_run() -> None:
    assert doctest.testmod(cfnb.metrics.revenue).failed == 0


def test_revenue_per_cohort_worked_by_hand() -> None:
    result = revenue(JOURNEYS, events(), paid=event("purchase"))
    assert result.table.rows() == [
        # a and b pay: 10 + 5 - 5 + 20 = 30 from 3 users, 2 of them paying.
        (jan(1).date(), 3, 2, pytest.approx(2 / 3), 30.0, 10.0, 15.0),
        (jan(8).date(), 1, 1, 1.0, 7.0, 7.0, 7.0),
    ]
    assert (result.users, result.paying, result.revenue) == (4, 3, 37.0)
    assert (result.arpu, result.arppu) == (9.25, pytest.approx(37 / 3))
    share = wilson_interval(3, 4)
    assert (result.paying_share, result.paying_lower, result.paying_upper) == (
        0.75,
        share.lower,
        share.upper,
    )
    assert result.summary == (
        f"75% of 4 users paid (95% CI {share.lower:.0%} to {share.upper:.0%}); revenue 37.00, "
        "ARPU 9.25, ARPPU 12.33"
    )


def test_cumulative_revenue_by_age_leaves_unelapsed_ages_empty() -> None:
    result = revenue(JOURNEYS, events(), paid="purchase")
    assert result.by_age.rows() == [
        # Week 0 of a, b, c: 10 + 20 + 0. Week 1: a has paid 15 in all.
        (jan(1).date(), 0, 3, 30.0, 10.0),
        (jan(1).date(), 1, 3, 35.0, pytest.approx(35 / 3)),
        # Only a's week 2 (1-22 Jan) has fully passed: 15 - 5 refunded.
        (jan(1).date(), 2, 1, 10.0, 10.0),
        (jan(8).date(), 0, 1, 7.0, 7.0),
        (jan(8).date(), 1, 1, 7.0, 7.0),
        # d's week 2 has not passed: empty, not 0.
        (jan(8).date(), 2, None, None, None),
    ]
    capped = revenue(JOURNEYS, events(), paid="purchase", max_age=0)
    assert capped.by_age["age"].to_list() == [0, 0]


def test_by_default_every_row_with_an_amount_is_a_payment() -> None:
    result = revenue(JOURNEYS, events())
    first = result.table.row(0, named=True)
    assert (first["paying"], first["revenue"]) == (3, 129.0)


def test_a_missing_amount_column_lists_the_numeric_ones() -> None:
    with pytest.raises(MetricError, match=r"amount='<column>' \(numeric columns: amount\)"):
        revenue(JOURNEYS, events(), amount="price")
    with pytest.raises(MetricError, match="not a number"):
        revenue(JOURNEYS, events(), amount="event")


def test_no_users_no_crash() -> None:
    empty = J(JOURNEYS.table.head(0), JOURNEYS.stages, "week", None)
    result = revenue(empty, events(), paid="purchase")
    assert (result.users, result.arpu, result.paying_share) == (0, None, None)
    assert result.table.height == 0
    assert result.by_age.height == 0
    assert result.summary == "Revenue: no acquired users yet"
    json.dumps(result.to_dict(), allow_nan=False)


def test_results_render_and_serialise() -> None:
    result = revenue(JOURNEYS, events(), paid="purchase")
    assert "<table" in result._repr_html_()
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["by_age"][-1] == {
        "cohort": "2024-01-08",
        "age": 2,
        "users": None,
        "revenue": None,
        "revenue_per_user": None,
    }
