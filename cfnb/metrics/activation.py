"""Activation: its effect on everything after it, and which early behaviour defines it.

DESIGN.md §5. The manifesto calls activation the causal step: activated users keep coming
back, pay and refer. :func:`activation_effect` measures that claim on the log, and
:func:`activation_candidates` searches the first days of every user for the behaviour that
best separates retained from churned users (a suggested activation definition).

**Activation effect.** A user is *activated* when they reached the activation stage
(stage 1 unless told otherwise). Users are compared only once their activation status is
final (``reach_0 + H[activation]`` at or before the log's last timestamp, with ``H`` the
horizons of :func:`cfnb.metrics.constraint.stage_horizons`), and for a stage outcome only
once that stage's horizon has passed too, so recent users who could still convert do not
dilute either group. Outcomes, each for activated vs not activated users:

* ``retention``: reached the stage after activation; or, when ``activity`` is given,
  active at or after the start of the user's period 1 (``reach_0 + 1 period``; the user
  counts once period 1 has fully elapsed, as in retention's "on or after" mode);
* ``paying``: paid at least once (a revenue table row with a positive amount at or after
  ``reach_0``), or reached the stage named "Revenue" when no revenue table is given;
* ``revenue per user``: the mean of each user's total revenue (revenue table only);
* ``referral``: brought at least one referred user (:mod:`cfnb.metrics.referral`), when
  the journeys or ``events`` have a ``referrer`` column; else reached the stage named
  "Referral", when there is one.

A rate outcome gets its risk ratio (activated rate / other rate) with a Katz log interval;
revenue per user gets a ratio of means with a delta-method interval
(:mod:`cfnb.stats`). ``users`` and ``hits`` show the counts behind every rate.

**Activation candidates.** For every event name ``e`` and ``n`` in ``counts``, the
feature "did ``e`` at least ``n`` times in the first ``first_days`` days after
``reach_0``" is scored by the odds ratio of being retained for users with vs without it
(Woolf interval; 0.5 added to every cell when one is 0), with its support (users with the
feature). Candidates need ``min_support`` users both with and without the feature, and
are ranked by the lower bound of the interval (a large, well-supported effect beats a
larger but noisier one). The suggestion is the top candidate whose whole interval is
above 1.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from cfnb.errors import MetricError
from cfnb.metrics._inputs import (
    FactoryLike,
    JourneysLike,
    PredicateLike,
    check_journeys,
    events_frame,
    filter_events,
    journey_horizons,
    predicate_expr,
    stage_index,
)
from cfnb.metrics._render import html_table, json_rows, json_value, pct
from cfnb.metrics.referral import referred_pairs
from cfnb.periods import UTC_US, add_periods, utc_datetime
from cfnb.stats import odds_ratio, ratio_of_means, risk_ratio

if TYPE_CHECKING:
    from cfnb.spec.factory import Stage

__all__ = [
    "ActivationCandidates",
    "ActivationEffect",
    "EarlyCounts",
    "Suggestion",
    "activation_candidates",
    "activation_effect",
]

_EFFECT_SCHEMA = {
    "outcome": pl.String,
    "basis": pl.String,
    "activated_users": pl.Int64,
    "activated_hits": pl.Int64,
    "activated_value": pl.Float64,
    "other_users": pl.Int64,
    "other_hits": pl.Int64,
    "other_value": pl.Float64,
    "ratio": pl.Float64,
    "ratio_lower": pl.Float64,
    "ratio_upper": pl.Float64,
    "corrected": pl.Boolean,
    "note": pl.String,
}


@dataclass(frozen=True)
class ActivationEffect:
    """Retention, revenue and referral of activated vs not-activated users.

    ``table`` has one row per outcome: ``outcome`` (``"retention"``, ``"paying"``,
    ``"revenue per user"``, ``"referral"``), ``basis`` (how it was measured),
    ``activated_users``/``other_users`` (users compared), ``activated_hits``/
    ``other_hits`` (users with the outcome; null for revenue per user),
    ``activated_value``/``other_value`` (the rates, or mean revenue per user), ``ratio``
    (activated / other) with ``ratio_lower``/``ratio_upper`` at ``level``,
    ``corrected`` (0.5 added to the cells because one was 0) and ``note``. See the module
    docstring for who is compared.

    A stage after activation can only be reached through it, so a stage outcome that no
    other user reached is no evidence of an effect: its ratio is null and ``note`` says
    why (pass ``activity`` or a revenue table for a real comparison).

    Examples
    --------
    >>> effect = activation_effect(journeys, factory)   # doctest: +SKIP
    >>> effect.summary                                   # doctest: +SKIP
    'Activated users reach Retention 3.1x as often (42% vs 14%; 95% CI 2.4 to 4.0; 800 vs 1,200 users)'
    """

    activation: str
    level: float
    table: pl.DataFrame

    @property
    def summary(self) -> str:
        """One sentence per outcome."""
        return "\n".join(_effect_sentence(r, self.level) for r in self.table.iter_rows(named=True))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready rows."""
        return {"activation": self.activation, "level": self.level, "rows": json_rows(self.table)}

    def _repr_html_(self) -> str:
        rate_rows = self.table.filter(pl.col("outcome") != "revenue per user")
        money = self.table.filter(pl.col("outcome") == "revenue per user")
        out = html_table(
            rate_rows,
            title=f"Activation effect ({self.activation})",
            rates=("activated_value", "other_value"),
            lead=self.summary,
        )
        if money.height:
            out += html_table(money, title="Revenue per user")
        return out

    def __str__(self) -> str:
        return self.summary


def _effect_sentence(r: dict[str, Any], level: float) -> str:
    users = f"{r['activated_users']:,} vs {r['other_users']:,} users"
    if r["note"] is not None:
        return f"{r['outcome'].capitalize()}: {pct(r['activated_value'])} of activated users {r['basis']}; {r['note']}"
    if r["ratio"] is None:
        return f"{r['outcome'].capitalize()} ({r['basis']}): no ratio yet ({users})"
    interval = f"{level:.0%} CI {r['ratio_lower']:.2f} to {r['ratio_upper']:.2f}"
    if r["outcome"] == "revenue per user":
        values = f"{r['activated_value']:,.2f} vs {r['other_value']:,.2f}"
        return f"Activated users bring {r['ratio']:.2f}x the revenue per user ({values}; {interval}; {users})"
    values = f"{pct(r['activated_value'])} vs {pct(r['other_value'])}"
    return (
        f"Activated users {r['basis']} {r['ratio']:.2f}x as often ({values}; {interval}; {users})"
    )


def _rate_row(
    outcome: str,
    basis: str,
    frame: pl.DataFrame,
    hit: str,
    level: float,
    stage: str | None = None,
) -> dict[str, Any]:
    """Compare ``hit`` between activated and other users of ``frame``."""
    act = frame.filter(pl.col("_activated"))
    oth = frame.filter(~pl.col("_activated"))
    n1, x1 = act.height, int(act[hit].sum())
    n2, x2 = oth.height, int(oth[hit].sum())
    rr = risk_ratio(x1, n1, x2, n2, level=level)
    note = None
    if stage is not None and x2 == 0 and n2 > 0:
        note = (
            f"only activated users can reach {stage} in this funnel, so there is no "
            "comparison: pass activity= or a revenue table"
        )
        rr = type(rr)(None, None, None, level, rr.method)
    return {
        "outcome": outcome,
        "basis": basis,
        "activated_users": n1,
        "activated_hits": x1,
        "activated_value": x1 / n1 if n1 else None,
        "other_users": n2,
        "other_hits": x2,
        "other_value": x2 / n2 if n2 else None,
        "ratio": rr.value,
        "ratio_lower": rr.lower,
        "ratio_upper": rr.upper,
        "corrected": rr.corrected,
        "note": note,
    }


def _mean_sd(values: pl.Series) -> tuple[float, float]:
    if values.len() == 0:
        return 0.0, 0.0
    mean = values.mean()
    sd = values.std() if values.len() > 1 else 0.0
    m = float(mean) if isinstance(mean, int | float) else 0.0
    d = float(sd) if isinstance(sd, int | float) and math.isfinite(sd) else 0.0
    return m, d


def _named_stage(stages: Sequence[str], name: str, after: int) -> int | None:
    for i, s in enumerate(stages):
        if i > after and s.lower() == name:
            return i
    return None


def _outcome_stage(
    given: int | str | None, stages: Sequence[str], what: str, named: str, after: int
) -> int | None:
    """The stage given for an outcome, else the stage called ``named`` after ``after``."""
    if given is None:
        return _named_stage(stages, named, after)
    return stage_index(given, stages, what)


def _last_active(activity: object, journeys: JourneysLike) -> pl.Series | None:
    """Per journeys row, the offset of the user's last active instant, when ``activity``
    has one row per journeys row (built from them): then no join by user id is needed.

    Some instant is at or after a time exactly when the last one is.
    """
    table = getattr(activity, "table", None)
    built = hasattr(journeys, "reach") and hasattr(journeys, "cached")  # one row per user
    if not (built and isinstance(table, pl.DataFrame) and "offsets" in table.columns):
        return None
    if "user_id" not in table.columns or not table["user_id"].equals(journeys.table["user_id"]):
        return None
    return table["offsets"].list.max()


def _activity_after(activity: object, users: pl.DataFrame, period: str) -> pl.DataFrame:
    """``user_id`` of users active at or after the start of their period 1."""
    starts = users.select("user_id", "reach_0", _p1=add_periods(pl.col("reach_0"), 1, period))
    table = getattr(activity, "table", activity)
    if not isinstance(table, pl.DataFrame):
        raise MetricError(
            "activity must be the result of cfnb.metrics.retention.activity() or a frame "
            f"with user_id and ts, got {type(activity).__name__}"
        )
    if "offsets" in table.columns:
        # Some instant is at or after the start of period 1 exactly when the last one is:
        # one value per user instead of one row per instant.
        last = table.select("user_id", _last=pl.col("offsets").list.max())
        exploded = (
            last.filter(pl.col("_last").is_not_null())
            .join(starts, on="user_id")
            .select("user_id", "_p1", ts=pl.col("reach_0") + pl.duration(microseconds="_last"))
        )
    elif "ts" in table.columns and "user_id" in table.columns:
        exploded = table.select("user_id", pl.col("ts").cast(UTC_US)).join(
            starts.drop("reach_0"), on="user_id"
        )
    else:
        raise MetricError(
            f"activity has columns {', '.join(table.columns)}: pass the result of "
            "cfnb.metrics.retention.activity() or a frame with user_id and ts"
        )
    return exploded.filter(pl.col("ts") >= pl.col("_p1")).select("user_id").unique()


def activation_effect(
    journeys: JourneysLike,
    factory: FactoryLike,
    activity: object = None,
    revenue: pl.DataFrame | None = None,
    *,
    activation: int | str = 1,
    retention: int | str | None = None,
    paying: int | str | None = None,
    referral: int | str | None = None,
    amount: str = "amount",
    events: object = None,
    referrer: str = "referrer",
    level: float = 0.95,
    horizon: dt.timedelta | str | None = None,
) -> ActivationEffect:
    """Compare activated and not-activated users on retention, revenue and referral.

    Parameters
    ----------
    journeys, factory
        The journeys and the spec they were built from.
    activity : Activity or pl.DataFrame, optional
        Per-user activity (:func:`cfnb.metrics.retention.activity`, or a frame with
        ``user_id`` and ``ts``): retention becomes "active in period ≥ 1".
    revenue : pl.DataFrame, optional
        Payments: ``user_id``, ``amount`` and (optionally) ``ts``.
    activation : int or str
        The activation stage (default stage 1).
    retention, paying, referral : int or str, optional
        Stages for those outcomes; defaults: the stage after activation, the stage named
        "Revenue", the stage named "Referral" (each only if it comes after activation).
    amount : str
        The revenue table's amount column.
    events : pl.DataFrame or EventLog, optional
        With a ``referrer`` column (here or in the journeys), referral is "brought at
        least one referred user" (see :mod:`cfnb.metrics.referral`) instead of a stage.
    referrer : str
        The column naming the referring user.

    Examples
    --------
    Two of four users activated; both were active again a day or more later, while the
    two others were not (one was active only on its first day):

    >>> import datetime as dt, polars as pl
    >>> from types import SimpleNamespace as NS
    >>> from cfnb.spec import Factory, Stage
    >>> f = Factory([Stage("Acquisition", "visit"), Stage("Activation", "use")], period="day")
    >>> t, day = dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.timedelta(days=1)
    >>> table = pl.DataFrame({"user_id": ["a", "b", "c", "d"], "reach_0": [t] * 4,
    ...                       "reach_1": [t, t, None, None]})
    >>> active = pl.DataFrame({"user_id": ["a", "b", "c"], "ts": [t + 2 * day, t + day, t]})
    >>> j = NS(table=table, stages=f.stage_names, period="day", last_ts=t + 10 * day)
    >>> row = activation_effect(j, f, active).table.row(0, named=True)
    >>> row["activated_value"], row["other_value"], round(row["ratio"], 6), row["corrected"]
    (1.0, 0.0, 5.0, True)
    """
    check_journeys(journeys)
    stages = list(journeys.stages)
    horizons = journey_horizons(journeys, factory, horizon=horizon)
    a = stage_index(activation, stages, "activation")
    if a == 0:
        raise MetricError("activation=0 is the acquisition stage: name a later stage")
    last = journeys.last_ts
    table = journeys.table.with_columns(_activated=pl.col(f"reach_{a}").is_not_null())
    last_active = _last_active(activity, journeys)
    if last_active is not None:
        table = table.with_columns(_last_active=last_active)
    # Lazy, so that each question filters only the columns it reads (not the user ids).
    users = table.lazy()

    def settled(i: int, *columns: str | pl.Expr, also: pl.Expr | None = None) -> pl.DataFrame:
        """``columns`` of the users whose activation and stage ``i`` are settled."""
        h = horizons[i]
        if last is None or h is None:
            return users.select(*columns).head(0).collect()
        keep = pl.col("reach_0") + pl.lit(h) <= pl.lit(utc_datetime(last))
        return users.filter(keep if also is None else keep & also).select(*columns).collect()

    def reached(outcome: str, i: int) -> dict[str, Any]:
        # reaching stage i, among users whose activation and stage i are both settled
        frame = settled(max(i, a), "_activated", pl.col(f"reach_{i}").is_not_null().alias("_hit"))
        return _rate_row(outcome, f"reach {stages[i]}", frame, "_hit", level, stages[i])

    rows: list[dict[str, Any]] = []
    if activity is not None:
        period_1_end = add_periods(pl.col("reach_0"), 2, journeys.period)
        elapsed = None if last is None else period_1_end <= pl.lit(utc_datetime(last))
        if last_active is not None:
            since = pl.col("reach_0") + pl.duration(microseconds=pl.col("_last_active"))
            hit = (since >= add_periods(pl.col("reach_0"), 1, journeys.period)).fill_null(False)
            frame = settled(a, "_activated", hit.alias("_hit"), also=elapsed)
        else:
            base = settled(a, "user_id", "reach_0", "_activated", also=elapsed)
            active = _activity_after(activity, base, journeys.period)
            frame = base.with_columns(_hit=pl.col("user_id").is_in(active["user_id"].implode()))
        basis = f"are active in {journeys.period} 1 or later"
        rows.append(_rate_row("retention", basis, frame, "_hit", level))
    else:
        r = a + 1 if retention is None else stage_index(retention, stages, "retention")
        if r < len(stages):
            rows.append(reached("retention", r))

    if revenue is not None:
        payers = settled(a, "user_id", "reach_0", "_activated")
        rows.extend(_revenue_rows(revenue, payers, amount, level))
    else:
        p = _outcome_stage(paying, stages, "paying", "revenue", a)
        if p is not None:
            rows.append(reached("paying", p))

    if referral is None and (events is not None or referrer in journeys.table.columns):
        log = events_frame(events, ("user_id", "ts")) if events is not None else None
        pairs = referred_pairs(journeys, log, referrer)
        brought = pl.col("user_id").is_in(pairs["_referrer"].implode())
        frame = settled(a, "_activated", brought.alias("_hit"))
        rows.append(_rate_row("referral", "bring a referred user", frame, "_hit", level))
        return ActivationEffect(stages[a], level, pl.DataFrame(rows, schema=_EFFECT_SCHEMA))
    f = _outcome_stage(referral, stages, "referral", "referral", a)
    if f is not None:
        rows.append(reached("referral", f))

    return ActivationEffect(stages[a], level, pl.DataFrame(rows, schema=_EFFECT_SCHEMA))


def _revenue_rows(
    revenue: pl.DataFrame, base: pl.DataFrame, amount: str, level: float
) -> list[dict[str, Any]]:
    for col in ("user_id", amount):
        if col not in revenue.columns:
            raise MetricError(
                f"the revenue table has no column {col!r} (it has {', '.join(revenue.columns)}): "
                "pass user_id and the amount column (amount=...)"
            )
    if not revenue.schema[amount].is_numeric():
        raise MetricError(f"revenue column {amount!r} is {revenue.schema[amount]}, not a number")
    pay = revenue.select(
        "user_id",
        *(["ts"] if "ts" in revenue.columns else []),
        pl.col(amount).cast(pl.Float64).alias("_amount"),
    )
    pay = pay.join(base.select("user_id", "reach_0"), on="user_id")
    if "ts" in pay.columns:
        pay = pay.filter(pl.col("ts").cast(UTC_US) >= pl.col("reach_0"))
    per_user = pay.group_by("user_id").agg(
        _total=pl.col("_amount").sum(), _paid=(pl.col("_amount") > 0).any()
    )
    frame = base.join(per_user, on="user_id", how="left").with_columns(
        pl.col("_total").fill_null(0.0), pl.col("_paid").fill_null(False)
    )
    rows = [_rate_row("paying", "pay", frame, "_paid", level)]
    act = frame.filter(pl.col("_activated"))["_total"]
    oth = frame.filter(~pl.col("_activated"))["_total"]
    m1, s1 = _mean_sd(act)
    m2, s2 = _mean_sd(oth)
    est = ratio_of_means(m1, s1, act.len(), m2, s2, oth.len(), level=level)
    rows.append(
        {
            "outcome": "revenue per user",
            "basis": "revenue per user",
            "activated_users": act.len(),
            "activated_hits": None,
            "activated_value": m1 if act.len() else None,
            "other_users": oth.len(),
            "other_hits": None,
            "other_value": m2 if oth.len() else None,
            "ratio": est.value,
            "ratio_lower": est.lower,
            "ratio_upper": est.upper,
            "corrected": False,
            "note": None,
        }
    )
    return rows


# ---------------------------------------------------------------------------------------
# Activation candidates
# ---------------------------------------------------------------------------------------

_CANDIDATE_SCHEMA = {
    "rank": pl.Int64,
    "event": pl.String,
    "times": pl.Int64,
    "users_with": pl.Int64,
    "retained_with": pl.Int64,
    "retention_with": pl.Float64,
    "users_without": pl.Int64,
    "retained_without": pl.Int64,
    "retention_without": pl.Float64,
    "odds_ratio": pl.Float64,
    "lower": pl.Float64,
    "upper": pl.Float64,
    "support": pl.Float64,
    "corrected": pl.Boolean,
}


@dataclass(frozen=True)
class Suggestion:
    """A suggested activation definition: ``event`` at least ``times`` times in ``first_days``."""

    event: str
    times: int
    first_days: int
    odds_ratio: float
    lower: float
    upper: float
    support: float

    def to_stage(self, name: str = "Activation") -> Stage:
        """The suggestion as a spec :class:`~cfnb.spec.factory.Stage`, ready to put in a factory.

        ``within`` is the candidate window, measured from the previous stage: exact
        when activation follows acquisition directly.
        """
        from cfnb.spec.factory import Stage

        return Stage(name, self.event, times=self.times, within=f"{self.first_days}d")

    def describe(self) -> str:
        """The definition in words."""
        times = "at least once" if self.times == 1 else f"at least {self.times} times"
        return f"{self.event!r} {times} in the first {self.first_days} days"


@dataclass(frozen=True)
class ActivationCandidates:
    """Early behaviours ranked by how well they separate retained from churned users.

    ``table``: ``rank, event, times`` (the feature: ``event`` at least ``times`` times in
    the first ``first_days`` days), ``users_with``/``retained_with``/``retention_with``
    and ``users_without``/``retained_without``/``retention_without`` (the 2x2 table),
    ``odds_ratio`` with ``lower``/``upper`` at ``level``, ``support`` (share of users
    with the feature), ``corrected``. ``users`` and ``retained`` count the users scored
    (those whose outcome window has passed).
    """

    first_days: int
    retained: str
    users: int
    retained_users: int
    min_support: int
    level: float
    table: pl.DataFrame
    suggestion: Suggestion | None

    @property
    def summary(self) -> str:
        """The suggested activation definition in words, with its numbers."""
        s = self.suggestion
        if s is None:
            if self.table.height == 0:
                return (
                    f"No suggestion: no behaviour in the first {self.first_days} days has "
                    f"{self.min_support}+ users both with and without it ({self.users:,} users scored)"
                )
            return (
                f"No suggestion: no behaviour in the first {self.first_days} days is clearly "
                f"linked to {self.retained} (every interval includes 1; {self.users:,} users scored)"
            )
        return (
            f"Suggested activation: {s.describe()} (odds ratio {s.odds_ratio:.1f}, "
            f"{self.level:.0%} CI {s.lower:.1f} to {s.upper:.1f}; {pct(s.support)} of "
            f"{self.users:,} users do it)"
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready rows and suggestion."""
        s = self.suggestion
        return {
            "first_days": self.first_days,
            "retained": self.retained,
            "users": self.users,
            "retained_users": self.retained_users,
            "summary": self.summary,
            "suggestion": None
            if s is None
            else {k: json_value(getattr(s, k)) for k in s.__dataclass_fields__},
            "rows": json_rows(self.table),
        }

    def _repr_html_(self) -> str:
        return html_table(
            self.table,
            title="Activation candidates",
            rates=("retention_with", "retention_without", "support"),
            lead=self.summary,
        )

    def __str__(self) -> str:
        return self.summary


@dataclass(frozen=True, eq=False)
class EarlyCounts:
    """What the candidates read of the events, counted by a backend (:mod:`cfnb.reduced`).

    One entry per journeys-table row ``row`` and event-name code ``code`` (``names[code]``;
    ``None`` for events without a name): ``n``, the user's events of that name in their
    first ``first_days`` days, capped at ``cap`` (the candidates only ask "at least c
    times" for c up to ``cap``). ``retained``, for a condition as the outcome, says per
    journeys row whether the user has a matching event in the ``outcome_days`` days after
    those (``None`` for a stage outcome).
    """

    first_days: int
    outcome_days: int
    cap: int
    row: npt.NDArray[np.integer]
    code: npt.NDArray[np.integer]
    n: npt.NDArray[np.integer]
    names: tuple[str | None, ...]
    retained: npt.NDArray[np.bool_] | None = None


def activation_candidates(
    events: object,
    journeys: JourneysLike,
    *,
    first_days: int = 7,
    retained: int | str | pl.Expr | PredicateLike | None = None,
    outcome_days: int = 28,
    min_support: int = 30,
    counts: Sequence[int] = (1, 2, 3, 5),
    factory: FactoryLike | None = None,
    level: float = 0.95,
    horizon: dt.timedelta | str | None = None,
    early: EarlyCounts | None = None,
) -> ActivationCandidates:
    """Rank early behaviours by the odds ratio of retention, and suggest an activation.

    Parameters
    ----------
    events : pl.DataFrame or EventLog
        The events (``user_id``, ``event``, ``ts``).
    journeys : Journeys
        Who was acquired when (``reach_0``).
    first_days : int
        The candidate window: events in ``[reach_0, reach_0 + first_days days)``.
    retained : int, str, predicate or pl.Expr, optional
        The outcome. A stage (index or name): the user reached it; scored once its
        horizon (and the candidate window) has passed. A predicate: a matching event in
        the ``outcome_days`` days after the candidate window (so the candidate events
        cannot be the outcome); scored once that window has passed. Default: stage 2
        (the stage after activation).
    min_support : int
        Minimum users with, and without, a feature for it to be a candidate.
    counts : sequence of int
        The "at least n times" thresholds tried for every event.
    factory : Factory, optional
        For stage horizons (``within``/``window``); without it each link gets one period.
    early : EarlyCounts, optional
        The events already counted per user (a backend's answer, see
        :class:`EarlyCounts`): ``events`` is then only checked, not read.

    Examples
    --------
    >>> cands = activation_candidates(log.events, journeys, retained="Retention")  # doctest: +SKIP
    >>> cands.suggestion.to_stage()                                                # doctest: +SKIP
    """
    check_journeys(journeys)
    if first_days < 1 or outcome_days < 1:
        raise MetricError(
            f"first_days and outcome_days must be at least 1, got {first_days}, {outcome_days}"
        )
    if min_support < 1 or not counts or min(counts) < 1:
        raise MetricError("min_support and every count must be at least 1")
    frame = events_frame(events)
    stages = list(journeys.stages)
    last = journeys.last_ts
    window = dt.timedelta(days=first_days)
    users = journeys.table.select(
        "user_id",
        pl.col("reach_0").cast(UTC_US),
        *(pl.col(f"reach_{i}") for i in range(1, len(stages))),
    )
    if retained is None:
        if len(stages) < 3:
            raise MetricError(
                "retained= is needed: these journeys have no stage after activation; pass a "
                "stage name or a condition such as event('login')"
            )
        retained = 2
    if isinstance(retained, bool):
        raise MetricError("retained= takes a stage name or index, or a condition, not a bool")
    if early is not None:
        _check_early(early, first_days, outcome_days, counts, retained)
        # Counted per journeys row: the row number stands for the user.
        users = users.with_row_index("_row")
    if isinstance(retained, int | str):
        r = stage_index(retained, stages, "retained")
        h = journey_horizons(journeys, factory, horizon=horizon)[r]
        wait = max(window, h) if h is not None else None
        label = f"reaching {stages[r]}"
        scored = users.with_columns(_retained=pl.col(f"reach_{r}").is_not_null())
    else:
        expr = predicate_expr(retained, "retained")
        outcome = dt.timedelta(days=outcome_days)
        wait = window + outcome
        label = f"{retained} within {outcome_days} days after the first {first_days}"
        if early is not None and early.retained is not None:
            scored = users.with_columns(_retained=pl.Series(early.retained))
        else:
            hits = (
                filter_events(frame, expr, "retained")
                .select("user_id", pl.col("ts").cast(UTC_US))
                .join(users.select("user_id", "reach_0"), on="user_id")
                .filter(
                    pl.col("ts") >= pl.col("reach_0") + pl.lit(window),
                    pl.col("ts") < pl.col("reach_0") + pl.lit(window + outcome),
                )
                .select("user_id")
                .unique()
            )
            scored = users.with_columns(
                _retained=pl.col("user_id").is_in(hits["user_id"].implode())
            )
    # Only what is read next: filtering the user ids too would copy them for nothing.
    scored = scored.select("user_id" if early is None else "_row", "reach_0", "_retained")
    if last is None or wait is None:
        scored = scored.head(0)
    else:
        scored = scored.filter(pl.col("reach_0") + pl.lit(wait) <= pl.lit(utc_datetime(last)))
    n, n_ret = scored.height, int(scored["_retained"].sum())
    thresholds = sorted(set(counts))
    if early is None:
        features = _features(frame, scored, window, thresholds)
    else:
        features = _counted_features(early, scored, users.height, thresholds)
    rows = _candidate_rows(features, n, n_ret, min_support, level)
    rows.sort(
        key=lambda r: (-r["lower"], -r["odds_ratio"], -r["users_with"], r["event"], r["times"])
    )
    for k, row in enumerate(rows, start=1):
        row["rank"] = k
    table = pl.DataFrame(rows, schema=_CANDIDATE_SCHEMA)
    top = rows[0] if rows and rows[0]["lower"] > 1.0 else None
    suggestion = (
        None
        if top is None
        else Suggestion(
            top["event"],
            top["times"],
            first_days,
            top["odds_ratio"],
            top["lower"],
            top["upper"],
            top["support"],
        )
    )
    return ActivationCandidates(
        first_days=first_days,
        retained=label,
        users=n,
        retained_users=n_ret,
        min_support=min_support,
        level=level,
        table=table,
        suggestion=suggestion,
    )


def _check_early(
    early: EarlyCounts, first_days: int, outcome_days: int, counts: Sequence[int], retained: object
) -> None:
    condition = not isinstance(retained, int | str)
    if (
        early.first_days != first_days
        or early.cap < max(counts)
        or (condition and (early.retained is None or early.outcome_days != outcome_days))
    ):
        raise MetricError(
            "early= was counted for other arguments (first_days, counts, outcome_days or "
            "retained): count them again for this call"
        )


#: One feature: event name, times, users with it and retained users with it.
_Feature = tuple[str | None, int, int, int]


def _features(
    frame: pl.DataFrame, scored: pl.DataFrame, window: dt.timedelta, thresholds: list[int]
) -> list[_Feature]:
    """The features of ``scored`` users, counted from the events ``frame``."""
    early = (
        frame.select("user_id", "event", pl.col("ts").cast(UTC_US))
        .join(scored, on="user_id")
        .filter(
            pl.col("ts") >= pl.col("reach_0"), pl.col("ts") < pl.col("reach_0") + pl.lit(window)
        )
        .group_by("user_id", "event")
        .agg(_n=pl.len(), _retained=pl.col("_retained").first())
    )
    found: list[_Feature] = []
    for times in thresholds:
        feats = (
            early.filter(pl.col("_n") >= times)
            .group_by("event")
            .agg(users_with=pl.len(), retained_with=pl.col("_retained").sum())
        )
        for ev, w, rw in feats.select("event", "users_with", "retained_with").iter_rows():
            found.append((ev, times, int(w), int(rw)))
    return found


def _counted_features(
    early: EarlyCounts, scored: pl.DataFrame, height: int, thresholds: list[int]
) -> list[_Feature]:
    """The features of ``scored`` users (with ``_row``), from a backend's counts."""
    rows = scored["_row"].to_numpy()
    is_scored = np.zeros(height, dtype=bool)
    is_scored[rows] = True
    is_retained = np.zeros(height, dtype=bool)
    is_retained[rows[scored["_retained"].to_numpy()]] = True
    keep = is_scored[early.row]
    code, n = early.code[keep], early.n[keep]
    retained = is_retained[early.row[keep]]
    # One histogram of (code, capped count) for all users and one for the retained: the
    # users with at least ``times`` events are a sum over counts.
    width, depth = len(early.names), early.cap + 1
    key = code.astype(np.int64) * depth + n
    users = np.bincount(key, minlength=width * depth).reshape(width, depth)
    kept = np.bincount(key[retained], minlength=width * depth).reshape(width, depth)
    at_least, retained_at_least = _tail_sums(users), _tail_sums(kept)
    found: list[_Feature] = []
    for times in thresholds:
        for c in np.flatnonzero(at_least[:, times]):
            found.append(
                (early.names[c], times, int(at_least[c, times]), int(retained_at_least[c, times]))
            )
    return found


def _tail_sums(counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Per row, ``out[:, t]`` = the counts at ``t`` or more."""
    found: npt.NDArray[np.int64] = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
    return found


def _candidate_rows(
    features: list[_Feature], n: int, n_ret: int, min_support: int, level: float
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for ev, times, w, rw in features:
        if w < min_support or n - w < min_support:
            continue
        est = odds_ratio(rw, w - rw, n_ret - rw, (n - w) - (n_ret - rw), level=level)
        rows.append(
            {
                "event": ev,
                "times": times,
                "users_with": w,
                "retained_with": rw,
                "retention_with": rw / w,
                "users_without": n - w,
                "retained_without": n_ret - rw,
                "retention_without": (n_ret - rw) / (n - w),
                "odds_ratio": est.value,
                "lower": est.lower,
                "upper": est.upper,
                "support": w / n,
                "corrected": est.corrected,
            }
        )
    return rows
