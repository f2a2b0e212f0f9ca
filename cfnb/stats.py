"""Confidence intervals for the proportions and ratios that cfnb reports.

Every rate cfnb shows comes with the users behind it, and every comparison with an
interval, so a reader can tell a real difference from noise. The methods are the
standard ones, written out here because they are short (no SciPy needed):

* one proportion: :func:`wilson_interval` (recommended; Wilson 1927) and
  :func:`wald_interval` (the textbook ``p ± z·√(p(1-p)/n)``, clipped to ``[0, 1]``);
* a difference of two proportions: :func:`newcombe_interval` (Newcombe 1998, method 10:
  the hybrid score interval built from the two Wilson intervals);
* a ratio of two proportions: :func:`risk_ratio` (Katz log interval);
* an odds ratio: :func:`odds_ratio` (Woolf logit interval);
* a ratio of two means: :func:`ratio_of_means` (delta method on the log scale).

A 2x2 table with an empty cell has an infinite or zero ratio; the ratio functions then
add 0.5 to every cell (the Haldane-Anscombe correction) for both the estimate and the
interval, and say so in :attr:`Estimate.corrected`. Nothing here returns NaN or inf: an
estimate that does not exist (no users) is ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

__all__ = [
    "Estimate",
    "newcombe_interval",
    "odds_ratio",
    "ratio_of_means",
    "risk_ratio",
    "wald_interval",
    "wilson_interval",
    "z_value",
]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval.

    Attributes
    ----------
    value : float or None
        The estimate; ``None`` when it does not exist (for example a rate of 0 users).
    lower, upper : float or None
        The interval's bounds; ``None`` exactly when ``value`` is.
    level : float
        The confidence level, e.g. ``0.95``.
    method : str
        How the interval was computed (``"wilson"``, ``"wald"``, ``"newcombe"``,
        ``"katz log"``, ``"woolf logit"``, ``"delta log"``).
    corrected : bool
        ``True`` when 0.5 was added to every cell of a 2x2 table because one was 0.

    Examples
    --------
    >>> e = wilson_interval(81, 263)
    >>> round(e.value, 4), round(e.lower, 4), round(e.upper, 4)
    (0.308, 0.2553, 0.3662)
    >>> e.contains(0.3)
    True
    """

    value: float | None
    lower: float | None
    upper: float | None
    level: float
    method: str
    corrected: bool = False

    def contains(self, x: float) -> bool:
        """Whether ``x`` lies inside the interval (``False`` when there is none)."""
        if self.lower is None or self.upper is None:
            return False
        return self.lower <= x <= self.upper

    def to_dict(self) -> dict[str, float | str | bool | None]:
        """The estimate as a JSON-ready dict."""
        return {
            "value": self.value,
            "lower": self.lower,
            "upper": self.upper,
            "level": self.level,
            "method": self.method,
            "corrected": self.corrected,
        }


def z_value(level: float = 0.95) -> float:
    """The two-sided standard normal quantile for a confidence ``level``.

    Examples
    --------
    >>> round(z_value(0.95), 4)
    1.96
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def _check_counts(successes: int, n: int, what: str = "successes") -> None:
    if n < 0 or successes < 0:
        raise ValueError(f"counts must be ≥ 0, got {what}={successes} of n={n}")
    if successes > n:
        raise ValueError(
            f"{what}={successes} is more than n={n}: pass the number of users who "
            "converted and the number who could have"
        )


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))


def _from_log(
    log_value: float, half_width: float, level: float, method: str, corrected: bool = False
) -> Estimate:
    """A ratio estimated on the log scale: ``exp(log_value ± half_width)``."""
    return Estimate(
        math.exp(log_value),
        math.exp(log_value - half_width),
        math.exp(log_value + half_width),
        level,
        method,
        corrected,
    )


def wald_interval(successes: int, n: int, *, level: float = 0.95) -> Estimate:
    """The Wald (normal approximation) interval for a proportion, clipped to ``[0, 1]``.

    Poor for small ``n`` or rates near 0 or 1 (it collapses to a point at 0/n); prefer
    :func:`wilson_interval`. Kept because it is the one in every textbook.

    Examples
    --------
    >>> e = wald_interval(81, 263)
    >>> round(e.lower, 4), round(e.upper, 4)
    (0.2522, 0.3638)
    """
    _check_counts(successes, n)
    z = z_value(level)
    if n == 0:
        return Estimate(None, None, None, level, "wald")
    p = successes / n
    half = z * math.sqrt(p * (1.0 - p) / n)
    return Estimate(p, _clip01(p - half), _clip01(p + half), level, "wald")


def wilson_interval(successes: int, n: int, *, level: float = 0.95) -> Estimate:
    """The Wilson score interval for a proportion ``successes / n``.

    Stays inside ``[0, 1]`` and keeps close to its nominal coverage even for a handful of
    users or a rate of 0 or 1, which is why cfnb uses it for every rate.

    Examples
    --------
    >>> e = wilson_interval(0, 20)
    >>> e.value, e.lower, round(e.upper, 4)
    (0.0, 0.0, 0.1611)
    """
    _check_counts(successes, n)
    z = z_value(level)
    if n == 0:
        return Estimate(None, None, None, level, "wilson")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # The exact bounds are 0 and 1 at p = 0 and p = 1; floating point can miss by 1e-17.
    lower = 0.0 if successes == 0 else _clip01(centre - half)
    upper = 1.0 if successes == n else _clip01(centre + half)
    return Estimate(p, lower, upper, level, "wilson")


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, *, level: float = 0.95) -> Estimate:
    """Interval for the difference ``x1/n1 - x2/n2`` of two independent proportions.

    Newcombe's hybrid score interval (method 10 of Newcombe 1998): with ``(l1, u1)`` and
    ``(l2, u2)`` the Wilson intervals of the two proportions and ``d`` the difference,
    ``d - √((p1-l1)² + (u2-p2)²)`` to ``d + √((u1-p1)² + (p2-l2)²)``.

    Examples
    --------
    >>> e = newcombe_interval(56, 70, 48, 80)
    >>> round(e.value, 4), round(e.lower, 4), round(e.upper, 4)
    (0.2, 0.0524, 0.3339)
    """
    w1 = wilson_interval(x1, n1, level=level)
    w2 = wilson_interval(x2, n2, level=level)
    if w1.value is None or w2.value is None:
        return Estimate(None, None, None, level, "newcombe")
    assert w1.lower is not None
    assert w1.upper is not None
    assert w2.lower is not None
    assert w2.upper is not None
    p1, p2 = w1.value, w2.value
    d = p1 - p2
    lower = d - math.sqrt((p1 - w1.lower) ** 2 + (w2.upper - p2) ** 2)
    upper = d + math.sqrt((w1.upper - p1) ** 2 + (p2 - w2.lower) ** 2)
    return Estimate(d, max(-1.0, lower), min(1.0, upper), level, "newcombe")


def risk_ratio(x1: int, n1: int, x2: int, n2: int, *, level: float = 0.95) -> Estimate:
    """The ratio ``(x1/n1) / (x2/n2)`` of two proportions with a log (Katz) interval.

    ``log RR ± z·√(1/x1 - 1/n1 + 1/x2 - 1/n2)``. When one of the four cells (``x1``,
    ``n1-x1``, ``x2``, ``n2-x2``) is 0, 0.5 is added to each cell (so ``n`` grows by 1)
    for the estimate and the interval, and ``corrected`` is ``True``. With no users in
    either group there is no ratio (``None``).

    Examples
    --------
    Moore, McCabe & Craig, *Introduction to the Practice of Statistics* (9th ed.),
    Example 8.18: 45 of 411 patients on aspirin and 73 of 411 on placebo had a major
    vascular event.

    >>> e = risk_ratio(45, 411, 73, 411)
    >>> round(e.value, 4), round(e.lower, 4), round(e.upper, 4)
    (0.6164, 0.4364, 0.8707)
    """
    _check_counts(x1, n1, "x1")
    _check_counts(x2, n2, "x2")
    z = z_value(level)
    if n1 == 0 or n2 == 0:
        return Estimate(None, None, None, level, "katz log")
    a, b, c, d = float(x1), float(n1 - x1), float(x2), float(n2 - x2)
    corrected = min(a, b, c, d) == 0.0
    if corrected:
        a, b, c, d = a + 0.5, b + 0.5, c + 0.5, d + 0.5
    m1, m2 = a + b, c + d
    log_rr = math.log((a / m1) / (c / m2))
    se = math.sqrt(1 / a - 1 / m1 + 1 / c - 1 / m2)
    return _from_log(log_rr, z * se, level, "katz log", corrected)


def odds_ratio(a: int, b: int, c: int, d: int, *, level: float = 0.95) -> Estimate:
    """The odds ratio ``(a·d)/(b·c)`` of a 2x2 table with a logit (Woolf) interval.

    The table is ``a`` = exposed with the outcome, ``b`` = exposed without, ``c`` =
    unexposed with, ``d`` = unexposed without. ``log OR ± z·√(1/a + 1/b + 1/c + 1/d)``;
    when a cell is 0, 0.5 is added to every cell (``corrected`` is then ``True``). With an
    empty row (no exposed or no unexposed users) there is no odds ratio (``None``).

    Examples
    --------
    Agresti, *Categorical Data Analysis* (2nd ed., 2002), §2.3 and §3.1: myocardial
    infarction in the Physicians' Health Study, 189 of 11 034 on placebo and 104 of
    11 037 on aspirin; odds ratio 1.83 with 95% interval (1.44, 2.33).

    >>> e = odds_ratio(189, 10845, 104, 10933)
    >>> round(e.value, 2), round(e.lower, 2), round(e.upper, 2)
    (1.83, 1.44, 2.33)
    """
    for name, v in (("a", a), ("b", b), ("c", c), ("d", d)):
        if v < 0:
            raise ValueError(f"2x2 table cells must be ≥ 0, got {name}={v}")
    z = z_value(level)
    if a + b == 0 or c + d == 0:
        return Estimate(None, None, None, level, "woolf logit")
    fa, fb, fc, fd = float(a), float(b), float(c), float(d)
    corrected = min(fa, fb, fc, fd) == 0.0
    if corrected:
        fa, fb, fc, fd = fa + 0.5, fb + 0.5, fc + 0.5, fd + 0.5
    log_or = math.log(fa * fd / (fb * fc))
    se = math.sqrt(1 / fa + 1 / fb + 1 / fc + 1 / fd)
    return _from_log(log_or, z * se, level, "woolf logit", corrected)


def ratio_of_means(
    mean1: float,
    sd1: float,
    n1: int,
    mean2: float,
    sd2: float,
    n2: int,
    *,
    level: float = 0.95,
) -> Estimate:
    """The ratio ``mean1 / mean2`` of two independent means, with a delta-method interval.

    On the log scale, ``Var(log m) ≈ s² / (n·m²)``, so the interval is
    ``log(m1/m2) ± z·√(s1²/(n1·m1²) + s2²/(n2·m2²))``. Used for revenue per user, which
    is never negative in aggregate. A ratio needs both means positive: otherwise the
    result is ``None`` (a mean of 0 has no finite ratio, and cfnb never reports inf).

    Examples
    --------
    >>> e = ratio_of_means(20.0, 10.0, 100, 10.0, 5.0, 100)
    >>> round(e.value, 3), round(e.lower, 3), round(e.upper, 3)
    (2.0, 1.741, 2.297)
    """
    if n1 < 0 or n2 < 0 or sd1 < 0 or sd2 < 0:
        raise ValueError(f"sizes and standard deviations must be ≥ 0, got n1={n1}, n2={n2}")
    z = z_value(level)
    if n1 == 0 or n2 == 0 or mean1 <= 0 or mean2 <= 0:
        return Estimate(None, None, None, level, "delta log")
    log_r = math.log(mean1 / mean2)
    se = math.sqrt(sd1**2 / (n1 * mean1**2) + sd2**2 / (n2 * mean2**2))
    return _from_log(log_r, z * se, level, "delta log")
