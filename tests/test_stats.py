"""Confidence intervals, checked against values published in textbooks and papers."""

from __future__ import annotations

import doctest
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cfnb.stats
from cfnb.stats import (
    newcombe_interval,
    odds_ratio,
    ratio_of_means,
    risk_ratio,
    wald_interval,
    wilson_interval,
    z_value,
)


def bounds(e: cfnb.stats.Estimate, digits: int = 4) -> tuple[float | None, float | None]:
    assert e.lower is not None
    assert e.upper is not None
    return round(e.lower, digits), round(e.upper, digits)


def test_docstring_examples_run() -> None:
    assert doctest.testmod(cfnb.stats).failed == 0


# Newcombe RG (1998). Two-sided confidence intervals for the single proportion: comparison
# of seven methods. Statistics in Medicine 17:857-872, Table II (methods 1 and 3).
@pytest.mark.parametrize(
    ("x", "n", "wilson", "wald"),
    [
        (81, 263, (0.2553, 0.3662), (0.2522, 0.3638)),
        (15, 148, (0.0624, 0.1605), (0.0527, 0.1500)),
        (0, 20, (0.0, 0.1611), (0.0, 0.0)),
        # The published Wald lower limit is -0.0306; cfnb clips it to 0.
        (1, 29, (0.0061, 0.1718), (0.0, 0.1009)),
    ],
)
def test_single_proportion_matches_newcombe_1998(
    x: int, n: int, wilson: tuple[float, float], wald: tuple[float, float]
) -> None:
    assert bounds(wilson_interval(x, n)) == wilson
    assert bounds(wald_interval(x, n)) == wald


# Newcombe RG (1998). Interval estimation for the difference between independent
# proportions: comparison of eleven methods. Statistics in Medicine 17:873-890, Table II,
# method 10 (hybrid score, no continuity correction).
@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "expected"),
    [
        (56, 70, 48, 80, (0.0524, 0.3339)),
        (9, 10, 3, 10, (0.1705, 0.8090)),
        (5, 56, 0, 29, (-0.0381, 0.1926)),
        (0, 10, 0, 20, (-0.1611, 0.2775)),
    ],
)
def test_difference_matches_newcombe_method_10(
    x1: int, n1: int, x2: int, n2: int, expected: tuple[float, float]
) -> None:
    e = newcombe_interval(x1, n1, x2, n2)
    assert e.value == pytest.approx(x1 / n1 - x2 / n2)
    assert bounds(e) == expected


def test_risk_ratio_matches_moore_mccabe_craig() -> None:
    # Moore, McCabe & Craig, Introduction to the Practice of Statistics, 9th ed.,
    # Example 8.18: major vascular events, 45 of 411 on aspirin vs 73 of 411 on placebo;
    # "software gives the 95% confidence interval as 0.4364 to 0.8707".
    e = risk_ratio(45, 411, 73, 411)
    assert round(e.value or 0, 4) == 0.6164
    assert bounds(e) == (0.4364, 0.8707)
    assert not e.corrected


def test_odds_ratio_matches_agresti_physicians_health_study() -> None:
    # Agresti, Categorical Data Analysis, 2nd ed. (2002), sections 2.2-2.3 and 3.1:
    # myocardial infarction in 189 of 11,034 on placebo and 104 of 11,037 on aspirin.
    # Odds ratio 1.83, 95% CI (1.44, 2.33); difference of proportions 0.0077 with the
    # Wald interval (0.005, 0.011), which the score interval matches at this precision.
    odds = odds_ratio(189, 11034 - 189, 104, 11037 - 104)
    assert (round(odds.value or 0, 2), *bounds(odds, 2)) == (1.83, 1.44, 2.33)
    diff = newcombe_interval(189, 11034, 104, 11037)
    assert (round(diff.value or 0, 4), *bounds(diff, 3)) == (0.0077, 0.005, 0.011)


def test_z_values_are_the_normal_quantiles() -> None:
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_value(0.90) == pytest.approx(1.644854, abs=1e-6)
    with pytest.raises(ValueError, match="between 0 and 1"):
        z_value(95)


def test_a_zero_cell_adds_a_half_to_every_cell() -> None:
    # 0 of 20 converted vs 5 of 20: cells 0, 20, 5, 15 become 0.5, 20.5, 5.5, 15.5.
    rr = risk_ratio(0, 20, 5, 20)
    assert rr.corrected
    assert rr.value == pytest.approx((0.5 / 21) / (5.5 / 21))
    se = math.sqrt(1 / 0.5 - 1 / 21 + 1 / 5.5 - 1 / 21)
    assert rr.lower == pytest.approx(rr.value * math.exp(-1.959964 * se), rel=1e-6)
    assert rr.upper == pytest.approx(rr.value * math.exp(1.959964 * se), rel=1e-6)

    odds = odds_ratio(10, 0, 5, 5)
    assert odds.corrected
    assert odds.value == pytest.approx((10.5 * 5.5) / (0.5 * 5.5))
    se = math.sqrt(1 / 10.5 + 1 / 0.5 + 1 / 5.5 + 1 / 5.5)
    assert math.log(odds.upper or 0) - math.log(odds.value) == pytest.approx(1.959964 * se)


def test_no_users_means_no_estimate_not_nan() -> None:
    for e in (
        wilson_interval(0, 0),
        wald_interval(0, 0),
        newcombe_interval(0, 0, 3, 10),
        risk_ratio(3, 10, 0, 0),
        odds_ratio(0, 0, 3, 4),
        ratio_of_means(0.0, 0.0, 10, 5.0, 1.0, 10),
    ):
        assert (e.value, e.lower, e.upper) == (None, None, None)


def test_counts_are_checked() -> None:
    with pytest.raises(ValueError, match="more than n=3"):
        wilson_interval(5, 3)
    with pytest.raises(ValueError, match="≥ 0"):
        odds_ratio(-1, 2, 3, 4)


def test_ratio_of_means_uses_the_delta_method_on_the_log_scale() -> None:
    # Means 20 (sd 10) and 10 (sd 5), 100 users each: Var(log m) = s^2/(n m^2) = 0.0025
    # for both, so the interval is 2 * exp(±1.96 * sqrt(0.005)).
    e = ratio_of_means(20.0, 10.0, 100, 10.0, 5.0, 100)
    half = 1.959964 * math.sqrt(0.005)
    assert e.value == pytest.approx(2.0)
    assert (e.lower, e.upper) == (
        pytest.approx(2 * math.exp(-half)),
        pytest.approx(2 * math.exp(half)),
    )


def test_estimate_to_dict_is_json_ready() -> None:
    d = wilson_interval(3, 10).to_dict()
    assert d["method"] == "wilson"
    assert d["level"] == 0.95
    assert wilson_interval(3, 10).contains(0.3)


@settings(max_examples=200, deadline=None)
@given(
    n1=st.integers(0, 500),
    n2=st.integers(0, 500),
    f1=st.floats(0, 1),
    f2=st.floats(0, 1),
)
def test_intervals_are_finite_and_contain_their_estimate(
    n1: int, n2: int, f1: float, f2: float
) -> None:
    x1, x2 = round(n1 * f1), round(n2 * f2)
    for e in (
        wilson_interval(x1, n1),
        newcombe_interval(x1, n1, x2, n2),
        risk_ratio(x1, n1, x2, n2),
        odds_ratio(x1, n1 - x1, x2, n2 - x2),
    ):
        if e.value is None:
            assert n1 == 0 or n2 == 0
            continue
        assert e.lower is not None
        assert e.upper is not None
        assert all(math.isfinite(v) for v in (e.value, e.lower, e.upper))
        assert e.lower <= e.value + 1e-12
        assert e.value <= e.upper + 1e-12
    w = wilson_interval(x1, n1)
    if w.lower is not None and w.upper is not None:
        assert 0.0 <= w.lower <= w.upper <= 1.0
