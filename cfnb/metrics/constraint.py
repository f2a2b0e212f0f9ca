"""The constraint: which link of the customer factory to work on now, and what it is worth.

DESIGN.md §6. Every link ``i`` (stage ``i`` given stage ``i-1``, ``1 ≤ i ≤ happy``) has

* ``rate[i]``: its conversion (users at stage ``i`` / users at stage ``i-1``, pooled)
  over the *recent complete cohorts* — the last ``recent`` cohorts in which every member
  had the full time to pass the link, so no rate is dragged down by users who could
  still convert;
* ``target[i]``: the spec's ``target`` if given, else the best rate that link reached in
  one of those cohorts with at least ``min_cohort_users`` users at stage ``i-1`` (the
  factory's own demonstrated best);
* ``gain_per_period``: throughput is the input times the product of the rates, so raising
  ``rate[i]`` to ``target[i]`` multiplies it by ``target/rate``: the gain is
  ``throughput_per_period * (target/rate - 1)`` happy customers per period (0 when the link
  is already at or above target). Throughput per period is measured on the same cohorts
  as the rates: the mean number of happy customers made per recent cohort complete
  through the happy stage (in a steady factory, the happy customers per period; unlike a
  calendar count it is not dragged down by a ramp-up, by cohorts still in progress, or by
  a log that runs on after its last arrival).

A *cohort* is a period (of ``reach_0``) in which at least one user was acquired.

**The constraint is the link with the largest gain.** Links after the happy stage do not
feed throughput (it counts happy customers): they are listed with their rates and
targets for reference, with no gain, and are never the constraint.

When is a cohort *complete* for link ``i``? A user who reached stage ``i-1`` has until
``within[i]`` after it (when set) and until ``window`` after ``reach_0`` (when set) to
reach stage ``i``. A link without ``within`` gets one period (or ``horizon=``, when
given; a month counts as 31 days). Adding these allowances link by link, capped by
``window``, gives the horizon ``H[i]`` from ``reach_0``; a cohort is complete for link
``i`` once its period's end plus ``H[i]`` is at or before the log's last timestamp.

Honest verdicts (the ``status`` of the result):

``"constraint"``
    a link is named; a link that nobody passes (rate 0) while its target is above 0 has
    an infinite ``target/rate``: the most upstream such link is the constraint, and its
    gain is the users reaching the stage before it per period * its target * the rates
    of the links after it (their target when they have had no users yet);
``"raw material"``
    the constraint is Acquisition: there are no users in the factory yet, or every link
    is at or above its target (then only more input raises throughput);
``"not yet repeatable"``
    fewer than ``min_periods`` complete periods of throughput, or a throughput series
    that is not predictable: the XmR chart of :mod:`cfnb.metrics.throughput` over every
    complete period (the same verdict as the throughput chart with the default
    ``min_periods``). The verdict then names what varies most across the recent complete
    cohorts, by coefficient of variation (sample standard deviation / mean): each link's
    cohort rates (cohorts with at least ``min_cohort_users`` users at the link's entry)
    and, since throughput = input x the rates, Acquisition's users per cohort. The
    tables are still filled in; no link is marked as the constraint.

Ties go upstream (on equal gains or equal variation), as the upstream link feeds the rest.

Also here: :func:`constraint_by_segment` (the same per value of a segment column, with
segments that feed low-quality users flagged), the period-over-period table of
:class:`ConstraintResult` (a link improved while throughput fell: the manifesto's
1 + 1 + 1 = -2), and :func:`constraint_broken` (did a change break the constraint?).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from cfnb.errors import MetricError, did_you_mean
from cfnb.metrics._arrays import as_dates, cached, cohort_count_arrays, reach_of
from cfnb.metrics._inputs import (
    PERIOD_LENGTH,
    FactoryLike,
    JourneysLike,
    as_timedelta,
    check_journeys,
    factory_stage_check,
    stage_horizons,
    stage_index,
)
from cfnb.metrics._render import count, html_table, json_rows, json_value, pct
from cfnb.metrics.throughput import OUTSIDE, RUN_LENGTH, XmR, throughput, xmr
from cfnb.periods import end_days, period_end, period_noun, period_start, utc_datetime
from cfnb.stats import newcombe_interval

__all__ = [
    "ConstraintBreak",
    "ConstraintResult",
    "MetricError",
    "SegmentConstraints",
    "constraint",
    "constraint_broken",
    "constraint_by_segment",
    "stage_horizons",
]


# ---------------------------------------------------------------------------------------
# The journeys as the constraint reads them
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _View:
    """A journeys table seen differently (one segment, or as of a date)."""

    table: pl.DataFrame
    stages: tuple[str, ...]
    period: str
    last_ts: dt.datetime | None


def happy_index(factory: object, stages: Sequence[str]) -> int:
    """The index of the happy stage: ``factory.happy_index``, else ``factory.happy``, else last."""
    h: Any = getattr(factory, "happy_index", None)
    if callable(h):
        h = h()
    if h is None:
        happy = getattr(factory, "happy", None)
        if isinstance(happy, str) and happy in stages:
            h = list(stages).index(happy)
        elif isinstance(happy, int) and not isinstance(happy, bool):
            h = happy
        else:
            h = len(stages) - 1
    if not isinstance(h, int) or not 0 <= h < len(stages):
        raise MetricError(f"happy stage index {h!r} is not one of the {len(stages)} stages")
    return h


def as_of(journeys: JourneysLike, when: dt.datetime) -> _View:
    """The journeys as they stood at ``when``: later users dropped, later reaches unset."""
    n = len(journeys.stages)
    table = journeys.table.filter(pl.col("reach_0") < pl.lit(when))
    table = table.with_columns(
        pl.when(pl.col(f"reach_{i}") < pl.lit(when)).then(pl.col(f"reach_{i}")).alias(f"reach_{i}")
        for i in range(1, n)
    )
    last = journeys.last_ts
    return _View(
        table,
        tuple(journeys.stages),
        journeys.period,
        min(utc_datetime(last), when) if last else None,
    )


# ---------------------------------------------------------------------------------------
# The constraint
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Setup:
    names: tuple[str, ...]
    happy: int
    period: str
    last_ts: dt.datetime | None
    horizons: tuple[dt.timedelta | None, ...]
    allowances: tuple[dt.timedelta, ...]
    window: dt.timedelta | None
    targets: tuple[float | None, ...]


def _setup(
    journeys: JourneysLike, factory: FactoryLike, horizon: dt.timedelta | str | None
) -> _Setup:
    check_journeys(journeys)
    factory_stage_check(journeys, factory)
    names = tuple(journeys.stages)
    period = journeys.period
    targets: list[float | None] = []
    for stage in factory.stages:
        t = stage.target
        if t is not None and not 0.0 <= float(t) <= 1.0:
            raise MetricError(
                f"target of stage {stage.name!r} is {t!r}: a target is a conversion rate "
                "between 0 and 1 (e.g. 0.4 for 40%)"
            )
        targets.append(None if t is None else float(t))
    default = as_timedelta(horizon, "horizon") or PERIOD_LENGTH[period]
    allowances = [dt.timedelta(0)] + [
        as_timedelta(s.within, f"within of stage {s.name!r}") or default
        for s in list(factory.stages)[1:]
    ]
    last = journeys.last_ts
    return _Setup(
        names=names,
        happy=happy_index(factory, names),
        period=period,
        last_ts=utc_datetime(last) if last is not None else None,
        horizons=stage_horizons(factory, period, horizon=horizon),
        allowances=tuple(allowances),
        window=as_timedelta(factory.window, "window"),
        targets=tuple(targets),
    )


_COHORT_SCHEMA = {
    "cohort": pl.Date,
    "link": pl.Int64,
    "stage": pl.String,
    "users_in": pl.Int64,
    "users_out": pl.Int64,
    "rate": pl.Float64,
    "complete": pl.Boolean,
    "recent": pl.Boolean,
}


@dataclass(frozen=True, eq=False)
class _Links:
    """Per link ``i`` (1 … stages - 1) and cohort (arrays of shape ``(links, cohorts)``)."""

    starts: npt.NDArray[np.int64]  # each cohort's first day (days since 1970-01-01)
    users_in: npt.NDArray[np.int64]
    users_out: npt.NDArray[np.int64]
    complete: npt.NDArray[np.bool_]
    recent: npt.NDArray[np.bool_]

    def rates(self) -> npt.NDArray[np.float64]:
        """``users_out / users_in`` (NaN where nobody entered)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.users_in > 0, self.users_out / self.users_in, np.nan)


def _links(j: JourneysLike, s: _Setup, recent: int) -> _Links | None:
    """Per cohort and link: users in, users out, complete, recent (``None``: no cohort).

    A cohort is a period in which someone was acquired: a period with no acquisition (a
    gap, or a log that runs on after its last arrival) has no cohort, so it can be
    neither "recent" nor a zero in the variation of the input.
    """
    if reach_of(j).users == 0 or s.last_ts is None or len(s.names) < 2:
        return None
    counts = cohort_count_arrays(j, s.period)
    ends = end_days(counts.starts, s.period) * _DAY_US
    last = _micros(s.last_ts)
    complete = np.zeros((len(s.names) - 1, counts.starts.size), dtype=bool)
    for i, h in enumerate(s.horizons[1:]):
        if h is not None:
            complete[i] = ends + h // dt.timedelta(microseconds=1) <= last
    # The newest `recent` complete cohorts of each link are its recent ones.
    newer = np.cumsum(complete[:, ::-1], axis=1)[:, ::-1]
    return _Links(
        starts=counts.starts,
        users_in=counts.entered[:, 1:].T.copy(),
        users_out=counts.passed[:, 1:].T.copy(),
        complete=complete,
        recent=complete & (newer <= recent),
    )


def _cohort_links(links: _Links | None, s: _Setup) -> pl.DataFrame:
    """The cohorts table of :class:`ConstraintResult`: per link and cohort, users in,
    users out, rate, complete, recent (sorted by link, then cohort)."""
    if links is None:
        return pl.DataFrame(schema=_COHORT_SCHEMA)
    n_links, c = links.users_in.shape
    rate = links.rates().reshape(-1)
    return pl.DataFrame(
        {
            "cohort": as_dates(np.tile(links.starts, n_links)),
            "link": np.repeat(np.arange(1, n_links + 1, dtype=np.int64), c),
            "stage": pl.Series(np.repeat(np.array(s.names[1:], dtype=object), c), dtype=pl.String),
            "users_in": links.users_in.reshape(-1),
            "users_out": links.users_out.reshape(-1),
            "rate": pl.Series(rate).fill_nan(None),
            "complete": links.complete.reshape(-1),
            "recent": links.recent.reshape(-1),
        },
        schema=_COHORT_SCHEMA,
    )


def _micros(moment: dt.datetime) -> int:
    return (utc_datetime(moment) - _EPOCH) // dt.timedelta(microseconds=1)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAY_US = 86_400_000_000


def _throughput_series(j: JourneysLike, s: _Setup) -> pl.DataFrame:
    """Happy customers per complete calendar period, as :func:`throughput` counts them."""
    return throughput(j, stage=s.happy, period=s.period).table.select("period", "happy")


def _chart(values: Sequence[float], min_points: int) -> XmR:
    # Throughput is a count, so its lower limit stops at 0, as on the throughput chart.
    return xmr(values, lower_bound=0.0, min_points=min_points)


_LINK_SCHEMA = {
    "link": pl.Int64,
    "from_stage": pl.String,
    "stage": pl.String,
    "users_in": pl.Int64,
    "users_out": pl.Int64,
    "rate": pl.Float64,
    "target": pl.Float64,
    "target_source": pl.String,
    "gain_per_period": pl.Float64,
    "is_constraint": pl.Boolean,
    "cohorts": pl.Int64,
    "cv": pl.Float64,
    "feeds_happy": pl.Boolean,
}


@dataclass(frozen=True)
class ConstraintResult:
    """The constraint of a customer factory, with the numbers behind the verdict.

    Semantics are in the module docstring (DESIGN.md §6). The verdict fields are
    ``status``, ``stage``, ``rate``, ``target``, ``target_source``, ``gain_per_period``
    (happy customers per ``period``) and ``summary``; the tables show how it was reached.

    Attributes
    ----------
    status : str
        ``"constraint"``, ``"raw material"`` or ``"not yet repeatable"``.
    stage : str or None
        The link named by the verdict (the constraint, Acquisition for raw material, or
        the most variable link when not yet repeatable; ``None`` when none can be named).
    links : pl.DataFrame
        One row per link: ``link, from_stage, stage, users_in, users_out, rate, target,
        target_source, gain_per_period, is_constraint, cohorts, cv, feeds_happy``;
        ``users_in``/``users_out`` and ``rate`` are pooled over the link's recent complete
        cohorts (``cohorts`` of them), ``cv`` is the coefficient of variation of the
        cohort rates, ``target_source`` is ``"spec"`` or ``"best cohort <date>"``.
    cohorts : pl.DataFrame
        ``cohort, link, stage, users_in, users_out, rate, complete, recent``.
    throughput : pl.DataFrame
        ``period, happy``: happy customers per complete period.
    period_over_period : pl.DataFrame
        ``cohort, link, stage, rate, previous_rate, happy, previous_happy,
        improved_while_throughput_fell`` for consecutive cohorts complete through the
        happy stage; ``happy`` is the number of happy customers the cohort produced. A
        link *improved* when the 95% Newcombe interval of its rate change lies above 0
        (both cohorts with at least ``min_cohort_users`` at the link's entry), and
        throughput *fell* when the cohort made fewer happy customers than the one before.
    notes : tuple of str
        Extra findings in words (for example a link that improved while throughput fell).

    Examples
    --------
    >>> r = constraint(journeys, factory)          # doctest: +SKIP
    >>> r.summary                                   # doctest: +SKIP
    'Constraint: Activation — 23% vs target 40%; +57 happy customers/week if fixed'
    """

    status: str
    stage: str | None
    rate: float | None
    target: float | None
    target_source: str | None
    gain_per_period: float | None
    period: str
    summary: str
    throughput_per_period: float | None
    complete_periods: int
    predictable: bool | None
    centre: float | None
    lower_limit: float | None
    upper_limit: float | None
    links: pl.DataFrame
    cohorts: pl.DataFrame
    throughput: pl.DataFrame
    period_over_period: pl.DataFrame
    notes: tuple[str, ...] = ()
    recent: int = 8
    min_cohort_users: int = 10
    min_periods: int = 6

    @property
    def nonlinear(self) -> pl.DataFrame:
        """Rows of ``period_over_period`` where a link improved while throughput fell."""
        return self.period_over_period.filter(pl.col("improved_while_throughput_fell"))

    def to_dict(self) -> dict[str, object]:
        """The verdict and its tables as JSON-ready data."""
        return {
            "status": self.status,
            "stage": self.stage,
            "rate": json_value(self.rate),
            "target": json_value(self.target),
            "target_source": self.target_source,
            "gain_per_period": json_value(self.gain_per_period),
            "period": self.period,
            "summary": self.summary,
            "throughput_per_period": json_value(self.throughput_per_period),
            "complete_periods": self.complete_periods,
            "predictable": self.predictable,
            "centre": json_value(self.centre),
            "lower_limit": json_value(self.lower_limit),
            "upper_limit": json_value(self.upper_limit),
            "notes": list(self.notes),
            "links": json_rows(self.links),
            "throughput": json_rows(self.throughput),
            "period_over_period": json_rows(self.period_over_period),
        }

    def _repr_html_(self) -> str:
        lead = self.summary + ("" if not self.notes else " " + " ".join(self.notes))
        return html_table(
            self.links.drop("link"), title="Constraint", rates=("rate", "target"), lead=lead
        )

    def __str__(self) -> str:
        return self.summary


def constraint(
    journeys: JourneysLike,
    factory: FactoryLike,
    *,
    recent: int = 8,
    min_cohort_users: int = 10,
    min_periods: int = 6,
    horizon: dt.timedelta | str | None = None,
) -> ConstraintResult:
    """Name the constraint of the factory: the link whose fix is worth most throughput.

    Parameters
    ----------
    journeys : Journeys
        One row per acquired user (``user_id``, ``reach_0 … reach_{n-1}``).
    factory : Factory
        The spec the journeys were built from (targets, ``within``, ``window``, happy).
    recent : int
        How many recent complete cohorts (and complete periods of throughput) to use.
    min_cohort_users : int
        A cohort can set a link's target (its best rate) only with at least this many
        users at the link's entry; the same minimum applies to the variation measure.
    min_periods : int
        Fewer complete periods than this makes the verdict "not yet repeatable".
    horizon : timedelta or str, optional
        Time allowed for a link without ``within`` (default one period).

    Returns
    -------
    ConstraintResult

    Examples
    --------
    Ten weeks of 10 visitors, 2 of whom activate each week, against a 40% target:
    doubling activation doubles the 2 happy customers a week.

    >>> import datetime as dt, polars as pl
    >>> from types import SimpleNamespace as NS
    >>> from cfnb.spec import Factory, Stage
    >>> f = Factory([Stage("Acquisition", "visit"), Stage("Activation", "use", target=0.4)])
    >>> t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    >>> reach_0 = [t0 + dt.timedelta(weeks=w, minutes=u) for w in range(10) for u in range(10)]
    >>> reach_1 = [t if i % 10 < 2 else None for i, t in enumerate(reach_0)]
    >>> table = pl.DataFrame({"user_id": [str(i) for i in range(100)],
    ...                       "reach_0": reach_0, "reach_1": reach_1})
    >>> j = NS(table=table, stages=f.stage_names, period="week",
    ...        last_ts=t0 + dt.timedelta(weeks=10))
    >>> constraint(j, f, min_cohort_users=5).summary
    'Constraint: Activation — 20% vs target 40%; +2 happy customers/week if fixed'
    >>> constraint(NS(table=table.head(0), stages=f.stage_names, period="week",
    ...               last_ts=None), f).summary
    'Constraint: Acquisition — no users in the factory yet; bring in raw material first'
    """
    for name, v in (("recent", recent), ("min_periods", min_periods)):
        if v < 1:
            raise MetricError(f"{name} must be at least 1, got {v}")
    s = _setup(journeys, factory, horizon)
    return _analyse(journeys, s, recent, min_cohort_users, min_periods)


def _variation(values: pl.Series) -> tuple[float, float, float] | None:
    """Coefficient of variation (sample sd / mean), min and max; ``None`` under 2 values."""
    if values.len() < 2:
        return None
    mean, sd = values.mean(), values.std()
    lo, hi = values.min(), values.max()
    if not isinstance(mean, float) or not isinstance(sd, float) or mean <= 0:
        return None
    assert isinstance(lo, int | float)
    assert isinstance(hi, int | float)
    # Identical cohorts give a standard deviation of a few ulps, not 0.
    cv = 0.0 if hi == lo else sd / mean
    return cv, float(lo), float(hi)


@dataclass(frozen=True)
class _LinkFacts:
    """What the recent complete cohorts say of one link, whatever its target."""

    users_in: int
    users_out: int
    rate: float | None
    cohorts: int
    variation: tuple[float, float, float] | None  # cv, lowest and highest cohort rate
    best: tuple[float, dt.date] | None  # the best cohort's rate and start


@dataclass(frozen=True)
class _Facts:
    """The constraint's inputs that targets do not change (see :func:`_analyse`)."""

    cohorts: pl.DataFrame
    series: pl.DataFrame
    chart: XmR
    throughput: float | None
    links: tuple[_LinkFacts, ...]
    acquired: tuple[float, float, float] | None  # variation of acquired users per cohort
    arrival_cohorts: int
    period_over_period: pl.DataFrame


def _facts(j: JourneysLike, s: _Setup, recent: int, min_users: int, min_periods: int) -> _Facts:
    h = s.happy
    links = _links(j, s, recent)
    series = _throughput_series(j, s)
    chart = _chart([float(v) for v in series["happy"].to_list()], min_periods)
    n_links = len(s.names) - 1
    if links is None:
        none = np.zeros((n_links, 0), dtype=np.int64)
        links = _Links(none, none, none, none.astype(bool), none.astype(bool))
    rates = links.rates()
    # Throughput per period, measured on the same cohorts as the last link's rate: the
    # happy customers made per recent cohort complete through the happy stage. In a
    # steady factory it equals happy customers per calendar period; unlike the calendar
    # count it is not dragged down by a ramp-up, by cohorts still in progress, or by a
    # log that runs on after its last arrival.
    tput = None
    if h > 0:
        yields = links.users_out[h - 1][links.recent[h - 1]]
        tput = float(yields.sum()) / yields.size if yields.size else None
    facts = []
    for i in range(n_links):
        recent_rows = links.recent[i]
        users_in = int(links.users_in[i][recent_rows].sum())
        users_out = int(links.users_out[i][recent_rows].sum())
        eligible = np.flatnonzero(
            recent_rows & (links.users_in[i] >= min_users) & (links.users_in[i] > 0)
        )
        best = None
        if eligible.size:
            # Ties go to the newest cohort: the most recent demonstration of that rate.
            newest_first = eligible[::-1]
            top = newest_first[int(np.argmax(rates[i][newest_first]))]
            best = float(rates[i][top]), _date(links.starts[top])
        facts.append(
            _LinkFacts(
                users_in=users_in,
                users_out=users_out,
                rate=users_out / users_in if users_in > 0 else None,
                cohorts=int(recent_rows.sum()),
                variation=_variation(pl.Series(rates[i][eligible], dtype=pl.Float64)),
                best=best,
            )
        )
    # The raw material varies too: acquired users per cohort competes with the link rates
    # for "varies most", since throughput = input x the product of the rates.
    arrivals = links.users_in[0][links.recent[0]] if n_links else np.zeros(0, np.int64)
    return _Facts(
        cohorts=_cohort_links(links if links.starts.size else None, s),
        series=series,
        chart=chart,
        throughput=tput,
        links=tuple(facts),
        acquired=_variation(pl.Series(arrivals.astype(np.float64), dtype=pl.Float64)),
        arrival_cohorts=int(arrivals.size),
        period_over_period=_period_over_period(j, s, links, rates, min_users),
    )


def _date(days: np.integer | int) -> dt.date:
    return _EPOCH.date() + dt.timedelta(days=int(days))


def _analyse(
    j: JourneysLike,
    s: _Setup,
    recent: int,
    min_users: int,
    min_periods: int,
    targets: dict[int, tuple[float, str]] | None = None,
) -> ConstraintResult:
    """The whole analysis; ``targets`` (link -> target, source) replaces the best cohort."""
    names, h, noun = s.names, s.happy, s.period
    # Everything but the targets' part depends only on the reach, the periods and the
    # horizons: kept with the reach arrays, so a target edit redoes only the verdict.
    setup = (s.names, s.happy, s.period, s.last_ts, s.horizons, recent, min_users, min_periods)
    facts = cached(
        j, ("constraint facts", setup), lambda: _facts(j, s, recent, min_users, min_periods)
    )
    cohorts, series, chart, tput, pop = (
        facts.cohorts,
        facts.series,
        facts.chart,
        facts.throughput,
        facts.period_over_period,
    )
    users = reach_of(j).users
    values = chart.values

    link_rows: list[dict[str, Any]] = []
    for i in range(1, len(names)):
        fact = facts.links[i - 1]
        target, source = s.targets[i], "spec" if s.targets[i] is not None else None
        if target is None and targets is not None:
            if i in targets:
                target, source = targets[i]
        elif target is None and fact.best is not None:
            target, source = fact.best[0], f"best cohort {fact.best[1].isoformat()}"
        varied = fact.variation
        link_rows.append(
            {
                "link": i,
                "from_stage": names[i - 1],
                "stage": names[i],
                "users_in": fact.users_in,
                "users_out": fact.users_out,
                "rate": fact.rate,
                "target": target,
                "target_source": source,
                "gain_per_period": None,
                "is_constraint": False,
                "cohorts": fact.cohorts,
                "cv": varied[0] if varied else None,
                "feeds_happy": i <= h,
                "_arrivals": fact.users_in / fact.cohorts if fact.cohorts else None,
                "_range": varied[1:] if varied else None,
            }
        )
    acquired = facts.acquired
    source_row: dict[str, Any] = {
        "link": 0,
        "stage": names[0],
        "rate": None,
        "target": None,
        "target_source": None,
        "gain_per_period": None,
        "cohorts": facts.arrival_cohorts,
        "cv": acquired[0] if acquired else None,
        "_range": acquired[1:] if acquired else None,
    }

    chain = [r for r in link_rows if r["feeds_happy"]]
    for k, r in enumerate(chain):
        rate, target = r["rate"], r["target"]
        if rate is None or target is None:
            continue
        if rate == 0:
            if target == 0:
                r["gain_per_period"] = 0.0
                continue
            # target/rate is infinite: count what the link would pass at its target and
            # carry it through the links after it at their present rates.
            gain = r["_arrivals"] * target
            for after in chain[k + 1 :]:
                downstream = after["rate"] if after["rate"] is not None else after["target"]
                gain = None if downstream is None or gain is None else gain * downstream
            r["gain_per_period"] = gain
        elif tput is not None:
            r["gain_per_period"] = tput * (target / rate - 1.0) if target > rate else 0.0

    n_periods = len(values)
    status, named, unweighed = _verdict(users, source_row, chain, chart)
    for r in link_rows:
        r["is_constraint"] = status == "constraint" and r is named
    links = pl.DataFrame(
        [{k: v for k, v in r.items() if not k.startswith("_")} for r in link_rows],
        schema=_LINK_SCHEMA,
    )
    notes = _nonlinear_notes(pop, noun)
    untargeted = [r["stage"] for r in chain if _rate_without_target(r)]
    if status != "not yet repeatable" and untargeted:
        notes = (
            f"Not weighed: {', '.join(untargeted)} (no spec target, and no recent complete "
            f"cohort with {min_users}+ users at the link's entry to set one).",
            *notes,
        )
    summary = _summary(status, named, s, tput, chart, users, unweighed, not untargeted)
    return ConstraintResult(
        status=status,
        stage=names[0] if status == "raw material" else (named["stage"] if named else None),
        rate=named["rate"] if named else None,
        target=named["target"] if named else None,
        target_source=named["target_source"] if named else None,
        gain_per_period=named["gain_per_period"] if named else None,
        period=noun,
        summary=summary,
        throughput_per_period=tput,
        complete_periods=n_periods,
        predictable=chart.predictable,
        centre=chart.centre,
        lower_limit=chart.lower_limit,
        upper_limit=chart.upper_limit,
        links=links,
        cohorts=cohorts,
        throughput=series,
        period_over_period=pop,
        notes=notes,
        recent=recent,
        min_cohort_users=min_users,
        min_periods=min_periods,
    )


def _verdict(
    users: int,
    source_row: dict[str, Any],
    chain: list[dict[str, Any]],
    chart: XmR,
) -> tuple[str, dict[str, Any] | None, str | None]:
    """Status, the row it names, and (for "not yet repeatable") why, when not the chart."""
    if users == 0 or not chain:
        return "raw material", None, None
    varied = [r for r in [source_row, *chain] if r["cv"] is not None and r["cv"] > 0]
    # On a tie the upstream one: it feeds the others.
    most = max(varied, key=lambda r: (r["cv"], -r["link"])) if varied else None
    if not chart.predictable:
        return "not yet repeatable", most, None
    starved = [r for r in chain if r["rate"] == 0 and (r["target"] or 0) > 0]
    if starved:
        return "constraint", starved[0], None
    gains = [r for r in chain if r["gain_per_period"] is not None and r["gain_per_period"] > 0]
    # A link with a rate but no target is only noted; one with no data blocks a verdict.
    unknown = [r for r in chain if r["gain_per_period"] is None and not _rate_without_target(r)]
    if not gains and unknown:
        # "Every link is at target" would be a guess: some links cannot be weighed yet.
        names = ", ".join(r["stage"] for r in unknown)
        return (
            "not yet repeatable",
            most,
            f"{names} cannot be weighed yet ({_why_unknown(unknown[-1])})",
        )
    if not gains:
        return "raw material", None, None
    # Largest gain; on a tie the upstream link, since it also feeds the others.
    best = max(gains, key=lambda r: (r["gain_per_period"], -r["link"]))
    return "constraint", best, None


def _rate_without_target(r: dict[str, Any]) -> bool:
    return r["rate"] is not None and r["target"] is None


def _why_unknown(r: dict[str, Any]) -> str:
    if r["cohorts"] == 0:
        return f"no cohort has had its full time to reach {r['stage']}"
    if r["rate"] is None:
        return f"nobody has reached {r['from_stage']} in the recent complete cohorts"
    if r["target"] is None:
        return f"no spec target and no recent cohort big enough to set one for {r['stage']}"
    return "no recent cohort is complete through the happy stage"


def _summary(
    status: str,
    r: dict[str, Any] | None,
    s: _Setup,
    tput: float | None,
    chart: XmR,
    users: int,
    unweighed: str | None = None,
    weighed_all: bool = True,
) -> str:
    noun = s.period
    if status == "raw material":
        if users == 0:
            return f"Constraint: {s.names[0]} — no users in the factory yet; bring in raw material first"
        if len(s.names) < 2 or s.happy == 0:
            return f"Constraint: {s.names[0]} — the happy stage is the first stage, so throughput is acquisition itself"
        which = "every link" if weighed_all else "every link we can weigh"
        return (
            f"Constraint: {s.names[0]} — {which} is at or above its target; more raw "
            f"material raises throughput ({count(tput)} happy customers/{noun} now)"
        )
    if status == "not yet repeatable":
        n = len(chart.values)
        if unweighed is not None:
            why = unweighed
        elif chart.predictable is None:
            why = f"{n} complete {period_noun(noun, n)} of throughput (need {chart.min_points})"
        else:
            assert chart.centre is not None
            outside = chart.signals.count(OUTSIDE)
            runs = sum(1 for x in chart.signals if x is not None and x != OUTSIDE)
            why = (
                f"throughput is not predictable (centre {count(chart.centre)}/{noun}, limits "
                f"{count(chart.lower_limit)} to {count(chart.upper_limit)}"
                + (f"; {outside} {period_noun(noun, outside)} outside them" if outside else "")
                + (f"; a run of {RUN_LENGTH}+ on one side of the centre" if runs else "")
                + ")"
            )
        if r is None:
            return f"Not yet repeatable: {why}; no link's rate varies across the recent cohorts"
        lo, hi = r["_range"]
        if r["link"] == 0:
            spread = f"{count(lo)} to {count(hi)} users/{noun}"
        else:
            spread = f"{pct(r['rate'])} overall, cohorts {pct(lo)} to {pct(hi)}"
        return (
            f"Not yet repeatable: {why}. Varies most: {r['stage']} "
            f"({spread} over {r['cohorts']} cohorts, CV {r['cv']:.2f})"
        )
    assert r is not None
    target_text = f"target {pct(r['target'])}"
    if r["target_source"] and r["target_source"] != "spec":
        target_text += f" ({r['target_source']})"
    head = f"Constraint: {r['stage']} — {pct(r['rate'])} vs {target_text}; "
    if r["rate"] == 0:
        if r["gain_per_period"] is None:
            return head + f"nobody passes this link, so nothing reaches {s.names[s.happy]}"
        return head + (
            f"nobody passes this link; +{count(r['gain_per_period'])} happy "
            f"customers/{noun} if it reached its target"
        )
    return head + f"+{count(r['gain_per_period'])} happy customers/{noun} if fixed"


_POP_SCHEMA = {
    "cohort": pl.Date,
    "link": pl.Int64,
    "stage": pl.String,
    "rate": pl.Float64,
    "previous_rate": pl.Float64,
    "happy": pl.Int64,
    "previous_happy": pl.Int64,
    "improved_while_throughput_fell": pl.Boolean,
}


def _period_over_period(
    j: JourneysLike,
    s: _Setup,
    links: _Links,
    rates: npt.NDArray[np.float64],
    min_users: int,
) -> pl.DataFrame:
    """Consecutive cohorts complete through the happy stage: rate up while happy down?"""
    h = s.happy
    if h == 0 or not links.starts.size:
        return pl.DataFrame(schema=_POP_SCHEMA)
    done = np.flatnonzero(links.complete[h - 1])  # cohorts complete through the happy stage
    if done.size < 2:
        return pl.DataFrame(schema=_POP_SCHEMA)
    happy = cohort_count_arrays(j, s.period).users[:, h]
    now, before = done[1:], done[:-1]  # each cohort and the complete one before it
    parts: dict[str, list[Any]] = {name: [] for name in _POP_SCHEMA}
    for i in range(h):
        into, out = links.users_in[i], links.users_out[i]
        # "Improved" means beyond noise: the whole interval of the change is above 0.
        flags = [
            bool(
                into[a] >= min_users
                and into[b] >= min_users
                and happy[a] < happy[b]
                and _improved(int(out[a]), int(into[a]), int(out[b]), int(into[b]))
            )
            for a, b in zip(now, before, strict=True)
        ]
        parts["cohort"].append(now)
        parts["link"].append(np.full(now.size, i + 1, dtype=np.int64))
        parts["stage"].append([s.names[i + 1]] * now.size)
        parts["rate"].append(rates[i][now])
        parts["previous_rate"].append(rates[i][before])
        parts["happy"].append(happy[now])
        parts["previous_happy"].append(happy[before])
        parts["improved_while_throughput_fell"].append(flags)
    cohort = np.concatenate(parts.pop("cohort"))
    columns = {name: np.concatenate([np.asarray(p) for p in v]) for name, v in parts.items()}
    return pl.DataFrame(
        {
            "cohort": as_dates(links.starts[cohort]),
            **{
                k: pl.Series(v).fill_nan(None) if v.dtype.kind == "f" else v
                for k, v in columns.items()
            },
        }
    ).cast(_POP_SCHEMA)  # type: ignore[arg-type]


def _improved(x1: int, n1: int, x2: int, n2: int) -> bool:
    up = newcombe_interval(x1, n1, x2, n2)
    return up.lower is not None and up.lower > 0


def _nonlinear_notes(pop: pl.DataFrame, noun: str) -> tuple[str, ...]:
    flagged = pop.filter(pl.col("improved_while_throughput_fell"))
    if flagged.height == 0:
        return ()
    last = flagged.sort("cohort").row(-1, named=True)
    return (
        f"Watch: in the {noun} of {last['cohort'].isoformat()}, {last['stage']} improved "
        f"({pct(last['previous_rate'])} → {pct(last['rate'])}) while the cohort's happy "
        f"customers fell ({last['previous_happy']} → {last['happy']}); "
        f"{flagged.height} such case(s) in all.",
    )


# ---------------------------------------------------------------------------------------
# Per segment
# ---------------------------------------------------------------------------------------

_SEGMENT_SCHEMA = {
    "value": pl.String,
    "acquired": pl.Int64,
    "share": pl.Float64,
    "happy": pl.Int64,
    "happy_rate": pl.Float64,
    "rest_happy_rate": pl.Float64,
    "difference": pl.Float64,
    "difference_lower": pl.Float64,
    "difference_upper": pl.Float64,
    "low_quality": pl.Boolean,
    "status": pl.String,
    "constraint": pl.String,
    "rate": pl.Float64,
    "target": pl.Float64,
    "gain_per_period": pl.Float64,
    "summary": pl.String,
}


@dataclass(frozen=True)
class SegmentConstraints:
    """The constraint per value of a segment column, and segments feeding low-quality users.

    ``table`` has one row per value: ``value`` (as text; null for users without a
    value), ``acquired`` and ``share`` (users in the recent cohorts complete through the
    happy stage, and their share of all such users), ``happy`` and ``happy_rate``
    (happy per acquired), ``rest_happy_rate`` (the same for every other value),
    ``difference`` = ``happy_rate - rest_happy_rate`` with its Newcombe interval
    (``difference_lower``, ``difference_upper``), ``low_quality``, and the segment's own
    constraint verdict (``status, constraint, rate, target, gain_per_period, summary``,
    as :func:`constraint` on that segment's users alone, except that a link without a
    spec target is held to the whole factory's best cohort, ``target_source`` "best
    cohort <date>, all users": a segment's own best would excuse one that never converts).

    A segment **feeds low-quality users** when its share is at least ``min_share`` and the
    whole interval for ``difference`` is below 0: it brings many users who become happy
    less often than the rest, by more than chance explains (the manifesto's
    1 + 1 + 1 = -2).
    """

    segment: str
    min_share: float
    table: pl.DataFrame
    results: tuple[ConstraintResult, ...] = field(repr=False)

    @property
    def low_quality(self) -> list[str | None]:
        """The values flagged as feeding low-quality users."""
        return self.table.filter(pl.col("low_quality"))["value"].to_list()

    def result(self, value: str | None) -> ConstraintResult:
        """The full constraint result of one segment value."""
        values = self.table["value"].to_list()
        if value not in values:
            raise KeyError(f"{self.segment} has no value {value!r}: use one of {values}")
        return self.results[values.index(value)]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready rows."""
        return {"segment": self.segment, "min_share": self.min_share, "rows": json_rows(self.table)}

    def _repr_html_(self) -> str:
        return html_table(
            self.table.drop("summary"),
            title=f"Constraint by {self.segment}",
            rates=(
                "share",
                "happy_rate",
                "rest_happy_rate",
                "rate",
                "target",
                "difference",
                "difference_lower",
                "difference_upper",
            ),
        )


def constraint_by_segment(
    journeys: JourneysLike,
    factory: FactoryLike,
    segment: str,
    *,
    min_share: float = 0.2,
    level: float = 0.95,
    recent: int = 8,
    min_cohort_users: int = 10,
    min_periods: int = 6,
    horizon: dt.timedelta | str | None = None,
) -> SegmentConstraints:
    """The constraint per value of ``segment``, with low-quality feeders flagged.

    Examples
    --------
    >>> by = constraint_by_segment(journeys, factory, "channel")   # doctest: +SKIP
    >>> by.low_quality                                             # doctest: +SKIP
    ['ads']
    """
    s = _setup(journeys, factory, horizon)
    table = journeys.table
    segments = [c for c in table.columns if c != "user_id" and not re.fullmatch(r"reach_\d+", c)]
    if segment not in table.columns or segment not in segments:
        raise MetricError(
            f"the journeys table has no segment column {segment!r}: add it to the factory's "
            f"segment_by (columns now: {', '.join(segments) or 'none'})."
            + did_you_mean(segment, segments)
        )
    if not 0.0 <= min_share <= 1.0:
        raise MetricError(f"min_share must be between 0 and 1, got {min_share}")
    h = s.happy
    labelled = table.with_columns(
        _value=pl.col(segment).cast(pl.String), _cohort=period_start(pl.col("reach_0"), s.period)
    )
    overall = _analyse(journeys, s, recent, min_cohort_users, min_periods)
    # A segment is held to what the whole factory has shown it can do: its own best
    # cohort would excuse a segment that never converts (best 0% = "at target").
    shared = {
        int(r["link"]): (float(r["target"]), f"{r['target_source']}, all users")
        for r in overall.links.iter_rows(named=True)
        if r["target"] is not None and r["target_source"] != "spec"
    }
    cohorts = overall.cohorts
    recent_done = cohorts.filter(pl.col("link") == max(h, 1), pl.col("recent")).select(
        _cohort=pl.col("cohort")
    )
    pool = labelled.join(recent_done, on="_cohort", how="semi") if h > 0 else labelled.head(0)
    total = pool.height
    total_happy = int(pool[f"reach_{h}"].is_not_null().sum()) if total else 0
    rows: list[dict[str, Any]] = []
    results: list[ConstraintResult] = []
    values = labelled["_value"].unique().sort(nulls_last=True).to_list()
    for value in values:
        mine = labelled.filter(
            pl.col("_value").is_null() if value is None else pl.col("_value") == value
        )
        view = _View(mine.drop("_value", "_cohort"), s.names, s.period, s.last_ts)
        res = _analyse(view, s, recent, min_cohort_users, min_periods, shared)
        part = pool.filter(
            pl.col("_value").is_null() if value is None else pl.col("_value") == value
        )
        n, happy = part.height, int(part[f"reach_{h}"].is_not_null().sum()) if part.height else 0
        diff = newcombe_interval(happy, n, total_happy - happy, total - n, level=level)
        share = n / total if total else None
        rows.append(
            {
                "value": value,
                "acquired": n,
                "share": share,
                "happy": happy,
                "happy_rate": happy / n if n else None,
                "rest_happy_rate": (total_happy - happy) / (total - n) if total > n else None,
                "difference": diff.value,
                "difference_lower": diff.lower,
                "difference_upper": diff.upper,
                "low_quality": bool(
                    share is not None
                    and share >= min_share
                    and diff.upper is not None
                    and diff.upper < 0
                ),
                "status": res.status,
                "constraint": res.stage,
                "rate": res.rate,
                "target": res.target,
                "gain_per_period": res.gain_per_period,
                "summary": res.summary,
            }
        )
        results.append(res)
    return SegmentConstraints(
        segment=segment,
        min_share=min_share,
        table=pl.DataFrame(rows, schema=_SEGMENT_SCHEMA),
        results=tuple(results),
    )


# ---------------------------------------------------------------------------------------
# Constraint broken?
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConstraintBreak:
    """Did a change on ``change_date`` break the constraint?

    **Throughput**: the natural process limits (XmR, lower limit at 0) of all complete
    periods that ended at or before the change, against the complete periods that started
    at or after it (a period straddling the change belongs to neither). ``broken`` is
    ``True`` when a period after the change is above the earlier upper limit (DESIGN.md
    §7; a run of 8 above the centre line is not used: over a long "after" it happens by
    chance); ``None`` when there is too little history (fewer than 2 periods before, or
    none after).

    **The link**: ``stage`` (given, or the constraint as the factory stood on the change
    date) compared for users who reached the stage before it before the change and had
    their whole time to convert before it too, against users who reached it on or after
    the change and whose time has elapsed. ``difference = rate_after - rate_before`` with
    a Newcombe interval.
    """

    change_date: dt.datetime
    period: str
    broken: bool | None
    stage: str | None
    periods_before: int
    periods_after: int
    centre: float | None
    lower_limit: float | None
    upper_limit: float | None
    throughput_after: float | None
    users_before: int
    converted_before: int
    rate_before: float | None
    users_after: int
    converted_after: int
    rate_after: float | None
    difference: float | None
    difference_lower: float | None
    difference_upper: float | None
    level: float
    summary: str
    throughput: pl.DataFrame

    def to_dict(self) -> dict[str, object]:
        """JSON-ready verdict and throughput rows."""
        out = {k: json_value(getattr(self, k)) for k in self.__dataclass_fields__}
        out["throughput"] = json_rows(self.throughput)
        return out

    def _repr_html_(self) -> str:
        return html_table(self.throughput, title="Constraint broken?", lead=self.summary)

    def __str__(self) -> str:
        return self.summary


def constraint_broken(
    journeys: JourneysLike,
    factory: FactoryLike,
    change_date: dt.date | dt.datetime,
    *,
    stage: str | int | None = None,
    level: float = 0.95,
    recent: int = 8,
    min_cohort_users: int = 10,
    horizon: dt.timedelta | str | None = None,
) -> ConstraintBreak:
    """Throughput and the constraint link's rate, before vs after a change.

    Examples
    --------
    >>> import datetime as dt
    >>> constraint_broken(journeys, factory, dt.date(2024, 3, 4)).summary  # doctest: +SKIP
    'Constraint broken: throughput reached 61/week after 2024-03-04 …'
    """
    s = _setup(journeys, factory, horizon)
    when = utc_datetime(change_date)
    noun = s.period
    series = _throughput_series(journeys, s).with_columns(end=period_end(pl.col("period"), noun))
    # The whole history before the change is the baseline: a short one gives a centre
    # line so noisy that a run of 8 above it happens by chance.
    before = series.filter(pl.col("end") <= pl.lit(when))
    after = series.filter(pl.col("period").cast(pl.Datetime("us", "UTC")) >= pl.lit(when))
    shown = series.with_columns(
        phase=pl.when(pl.col("end") <= pl.lit(when))
        .then(pl.lit("before"))
        .when(pl.col("period").cast(pl.Datetime("us", "UTC")) >= pl.lit(when))
        .then(pl.lit("after"))
        .otherwise(pl.lit("straddles"))
    ).select("period", "happy", "phase")
    chart = _chart([float(v) for v in before["happy"]], 2)
    after_vals = [float(v) for v in after["happy"]]
    broken: bool | None = None
    above = 0
    if chart.upper_limit is not None and after_vals:
        above = sum(1 for v in after_vals if v > chart.upper_limit)
        broken = above > 0

    if stage is None:
        past = _analyse(as_of(journeys, when), _replace_last(s, when), recent, min_cohort_users, 1)
        link = s.names.index(past.stage) if past.stage in s.names[1:] else None
    else:
        link = stage_index(stage, s.names, "stage")
        if link == 0:
            raise MetricError(f"stage={stage!r} is the first stage: name a link (a later stage)")
    nb = xb = na = xa = 0
    if link is not None and s.last_ts is not None:
        prev, cur = pl.col(f"reach_{link - 1}"), pl.col(f"reach_{link}")
        deadline = prev + pl.lit(s.allowances[link])
        if s.window is not None:
            deadline = pl.min_horizontal(deadline, pl.col("reach_0") + pl.lit(s.window))
        t = journeys.table.filter(prev.is_not_null()).with_columns(
            _deadline=deadline, _hit=cur.is_not_null()
        )
        pre = t.filter(prev < pl.lit(when), pl.col("_deadline") <= pl.lit(when))
        post = t.filter(prev >= pl.lit(when), pl.col("_deadline") <= pl.lit(s.last_ts))
        nb, xb = pre.height, int(pre["_hit"].sum())
        na, xa = post.height, int(post["_hit"].sum())
    diff = newcombe_interval(xa, na, xb, nb, level=level)
    rb = xb / nb if nb else None
    ra = xa / na if na else None
    name = s.names[link] if link is not None else None
    summary = _break_summary(
        broken,
        chart,
        above,
        after_vals,
        when,
        noun,
        name,
        rb,
        ra,
        diff.value,
        diff.lower,
        diff.upper,
        level,
        before.height,
    )
    return ConstraintBreak(
        change_date=when,
        period=noun,
        broken=broken,
        stage=name,
        periods_before=before.height,
        periods_after=len(after_vals),
        centre=chart.centre,
        lower_limit=chart.lower_limit,
        upper_limit=chart.upper_limit,
        throughput_after=sum(after_vals) / len(after_vals) if after_vals else None,
        users_before=nb,
        converted_before=xb,
        rate_before=rb,
        users_after=na,
        converted_after=xa,
        rate_after=ra,
        difference=diff.value,
        difference_lower=diff.lower,
        difference_upper=diff.upper,
        level=level,
        summary=summary,
        throughput=shown,
    )


def _replace_last(s: _Setup, when: dt.datetime) -> _Setup:
    last = min(s.last_ts, when) if s.last_ts is not None else None
    return _Setup(s.names, s.happy, s.period, last, s.horizons, s.allowances, s.window, s.targets)


def _pts(x: float) -> str:
    """A difference of rates in percentage points: ``+13 pts``, ``-2.5 pts``, ``0 pts``."""
    text = f"{100 * x:+.0f}" if abs(x) >= 0.1 else f"{100 * x:+.1f}"
    return "0 pts" if text.lstrip("+-") in ("0", "0.0") else f"{text} pts"


def _break_summary(
    broken: bool | None,
    chart: XmR,
    above: int,
    after_vals: list[float],
    when: dt.datetime,
    noun: str,
    name: str | None,
    rb: float | None,
    ra: float | None,
    d: float | None,
    lo: float | None,
    hi: float | None,
    level: float,
    n_before: int,
) -> str:
    day = when.date().isoformat()
    if chart.upper_limit is None:
        head = (
            f"Cannot tell yet: {n_before} complete {period_noun(noun, n_before)} before "
            f"{day} (need 2 to set limits)"
        )
    elif not after_vals:
        head = f"Cannot tell yet: no complete {noun} after {day}"
    elif broken:
        head = (
            f"Constraint broken: throughput reached {count(max(after_vals))}/{noun} after {day}, "
            f"above the earlier upper limit {count(chart.upper_limit)}"
        )
    else:
        head = (
            f"Not broken yet: no {noun} after {day} above the earlier upper limit "
            f"{count(chart.upper_limit)} (latest {count(after_vals[-1])})"
        )
    if name is None:
        return head + "; no constraint link could be named before the change (pass stage=)"
    if rb is None or ra is None or d is None or lo is None or hi is None:
        return head + f"; {name}: not enough users on both sides of the change to compare"
    return head + (
        f"; {name} {pct(rb)} → {pct(ra)} ({_pts(d)}, {level:.0%} CI {_pts(lo)} to {_pts(hi)})"
    )
