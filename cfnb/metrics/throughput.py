"""Throughput, its repeatability (XmR), and the stage of the business (DESIGN.md §7).

**Throughput** is the number of happy customers made per calendar period, counted in the
period in which each became happy (their reach time of the happy stage). The series runs
from the period of the first acquisition (the first cohort) to the last *complete*
period, with 0 for periods that made none. The period holding the log's last timestamp
is still running: by default it is left out; with ``complete_only=False`` it is shown
with ``complete = False`` and takes no part in the XmR chart.

**Repeatability** is judged with an XmR process-behaviour chart (Wheeler) over the
complete periods:

* centre line = the mean of the values; moving range = ``|x[i] - x[i-1]|``;
* natural process limits = centre ± 2.66 · mean moving range, the lower limit floored at
  0 for throughput (a count cannot go below 0, so a floored limit can never be crossed);
* signals: a point strictly outside the limits ("outside limits"), or a run of 8 or more
  consecutive points strictly on one side of the centre line ("run of 8 above" / "run of
  8 below"; every point of such a run is marked; a point exactly on the centre line ends
  a run). "outside limits" wins when a point is both;
* predictable = no signal; unknown (``None``) with fewer than :data:`MIN_PERIODS` (6)
  complete periods, the fewest Wheeler considers enough for usable limits.

**Stage of the business** (:func:`business_stage`) applies the 10x rule to the spec's
``goal`` (happy customers per period at Scale): Scale = goal, Product/Market fit =
goal / 10, Problem/Solution fit = goal / 100. The factory's current throughput is the mean
of its last 6 complete periods (recent, and defined whether or not the series is
predictable yet).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from cfnb.errors import ThroughputError
from cfnb.metrics._arrays import cached, first_reach0_us, period_counts
from cfnb.metrics._inputs import JourneysLike
from cfnb.metrics._render import count, html_grid, json_rows
from cfnb.periods import (
    Period,
    check_period,
    period_label,
    period_noun,
    start_days,
    starts_between,
    utc_datetime,
)
from cfnb.spec.errors import SpecError, choice_list

__all__ = [
    "BUSINESS_STAGES",
    "MIN_PERIODS",
    "OUTSIDE",
    "RUN_ABOVE",
    "RUN_BELOW",
    "RUN_LENGTH",
    "SCALING_FACTOR",
    "BusinessStage",
    "ThroughputError",
    "ThroughputResult",
    "XmR",
    "business_stage",
    "throughput",
    "xmr",
]

#: Fewest complete periods before a series is called predictable or not.
MIN_PERIODS = 6
#: Consecutive points on one side of the centre line that make a signal.
RUN_LENGTH = 8
#: Natural process limits are the centre ± this times the mean moving range (3 / d2(2)).
SCALING_FACTOR = 2.66
#: The 10x rule's milestones, smallest first, with their share of the goal.
BUSINESS_STAGES: tuple[tuple[str, float], ...] = (
    ("Problem/Solution fit", 0.01),
    ("Product/Market fit", 0.1),
    ("Scale", 1.0),
)
OUTSIDE = "outside limits"
RUN_ABOVE = f"run of {RUN_LENGTH} above"
RUN_BELOW = f"run of {RUN_LENGTH} below"


# --------------------------------------------------------------------------- XmR


@dataclass(frozen=True)
class XmR:
    """An XmR (individuals and moving range) chart of a series; see :func:`xmr`.

    Attributes
    ----------
    values
        The series, as floats.
    moving_ranges
        ``|x[i] - x[i-1]|``; the first is ``None``.
    centre
        The mean of the values (``None`` for an empty series).
    mean_moving_range
        The mean of the moving ranges (``None`` with fewer than 2 values).
    lower_limit, upper_limit
        Natural process limits, ``centre ∓ 2.66 · mean_moving_range`` (the lower one
        raised to ``lower_bound`` when given); ``None`` with fewer than 2 values.
    signals
        Per value: ``None``, ``"outside limits"``, ``"run of 8 above"`` or
        ``"run of 8 below"``.
    min_points
        Fewest values for a verdict on predictability.
    """

    values: tuple[float, ...]
    moving_ranges: tuple[float | None, ...]
    centre: float | None
    mean_moving_range: float | None
    lower_limit: float | None
    upper_limit: float | None
    signals: tuple[str | None, ...]
    min_points: int = MIN_PERIODS

    @property
    def predictable(self) -> bool | None:
        """No signal at all; ``None`` with fewer than ``min_points`` values."""
        if len(self.values) < max(self.min_points, 2):
            return None
        return all(s is None for s in self.signals)

    @property
    def half_width(self) -> float | None:
        """``2.66 · mean moving range``: how far a value may stray by routine variation."""
        if self.mean_moving_range is None:
            return None
        return SCALING_FACTOR * self.mean_moving_range


def _run_signals(values: Sequence[float], centre: float) -> list[str | None]:
    marks: list[str | None] = [None] * len(values)
    start, side = 0, 0
    for i, x in enumerate([*values, centre]):  # the sentinel on the centre closes the last run
        s = (x > centre) - (x < centre)
        if s != side or s == 0:
            if side != 0 and i - start >= RUN_LENGTH:
                label = RUN_ABOVE if side > 0 else RUN_BELOW
                marks[start:i] = [label] * (i - start)
            start, side = i, s
    return marks


def xmr(
    values: Sequence[float], *, lower_bound: float | None = None, min_points: int = MIN_PERIODS
) -> XmR:
    """An XmR process-behaviour chart: centre line, natural process limits and signals.

    Parameters
    ----------
    values
        The series in time order (finite numbers).
    lower_bound
        Raise the lower limit to this value when it falls below (``0`` for counts).
    min_points
        Fewest values for :attr:`XmR.predictable` to be ``True`` or ``False``.

    Returns
    -------
    XmR
        Centre = mean; limits = centre ± 2.66 times the mean moving range; a signal is a point
        strictly outside the limits or part of a run of 8+ points strictly on one side of
        the centre (a point on the centre ends a run).

    Examples
    --------
    >>> chart = xmr([5, 7, 6, 8, 4, 6])
    >>> chart.centre, chart.mean_moving_range, round(chart.upper_limit, 2)
    (6.0, 2.2, 11.85)
    >>> chart.moving_ranges
    (None, 2.0, 1.0, 2.0, 4.0, 2.0)
    >>> chart.predictable
    True
    >>> xmr([1, 1, 1, 1, 1, 1, 1, 1, 5, 5]).signals[:3]
    ('run of 8 below', 'run of 8 below', 'run of 8 below')
    """
    xs: list[float] = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError(f"xmr needs finite numbers; value {i} is {v!r}")
        xs.append(float(v))
    if min_points < 1:
        raise ValueError(f"min_points must be at least 1, got {min_points}")
    mrs = [abs(b - a) for a, b in itertools.pairwise(xs)]
    moving: tuple[float | None, ...] = (None, *mrs) if xs else ()
    if not xs:
        return XmR((), (), None, None, None, None, (), min_points)
    centre = math.fsum(xs) / len(xs)
    if not mrs:
        return XmR(tuple(xs), moving, centre, None, None, None, (None,), min_points)
    mr_bar = math.fsum(mrs) / len(mrs)
    upper = centre + SCALING_FACTOR * mr_bar
    lower = centre - SCALING_FACTOR * mr_bar
    if lower_bound is not None:
        lower = max(lower, lower_bound)
    signals = _run_signals(xs, centre)
    for i, x in enumerate(xs):
        if x > upper or x < lower:
            signals[i] = OUTSIDE
    return XmR(tuple(xs), moving, centre, mr_bar, lower, upper, tuple(signals), min_points)


# --------------------------------------------------------------------------- throughput


def _number(x: float) -> str:
    """Counts per period, rounded the way a person would say them (``1,234``, ``2.5``)."""
    return count(x, grouped=True)


def _verdict(chart: XmR, period: str) -> str:
    n = len(chart.values)
    per = f"happy customers per {period}"
    if chart.predictable is None:
        return (
            f"not yet repeatable: only {n} complete {period_noun(period, n)} of throughput "
            f"(at least {chart.min_points} are needed to judge)"
        )
    assert chart.centre is not None
    assert chart.half_width is not None
    if chart.predictable:
        if chart.centre == 0:
            return (
                f"predictable at zero: no happy customers in {n} complete {period_noun(period, n)}"
            )
        return f"predictable: {_number(chart.centre)} ± {_number(chart.half_width)} {per}"
    reasons = []
    outside = chart.signals.count(OUTSIDE)
    if outside:
        assert chart.lower_limit is not None
        assert chart.upper_limit is not None
        reasons.append(
            f"{outside} {period_noun(period, outside)} outside the limits "
            f"{_number(chart.lower_limit)} to {_number(chart.upper_limit)}"
        )
    for label, where in ((RUN_ABOVE, "above"), (RUN_BELOW, "below")):
        if label in chart.signals:
            reasons.append(
                f"a run of {RUN_LENGTH}+ {period_noun(period, 2)} {where} the centre line"
            )
    return f"not yet repeatable: {' and '.join(reasons)}; the mean is {_number(chart.centre)} {per}"


@dataclass(frozen=True)
class ThroughputResult:
    """Happy customers per period, with an XmR chart (semantics in the module docstring).

    ``table`` has one row per calendar period, oldest first:

    ``period`` (Date)
        the period's start;
    ``happy`` (Int64)
        users whose reach of ``stage`` falls in the period (0 when none);
    ``complete`` (Boolean)
        whether the period had fully elapsed by the log's last timestamp;
    ``moving_range`` (Float64)
        ``|happy - previous complete happy|`` (null for the first and incomplete rows);
    ``centre``, ``lower_limit``, ``upper_limit`` (Float64)
        the XmR lines over the complete periods (the same on every row; null when they do
        not exist yet);
    ``signal`` (String)
        null, ``"outside limits"``, ``"run of 8 above"`` or ``"run of 8 below"`` (always
        null on the incomplete row).

    Attributes ``centre``, ``lower_limit``, ``upper_limit``, ``predictable`` (``None``
    with fewer than :data:`MIN_PERIODS` complete periods) and ``verdict`` summarise it.
    """

    table: pl.DataFrame
    stage: str
    period: Period
    centre: float | None
    lower_limit: float | None
    upper_limit: float | None
    predictable: bool | None
    verdict: str
    complete_periods: int
    last_ts: dt.datetime | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: the summary plus ``rows`` (one dict per period)."""
        return {
            "stage": self.stage,
            "period": self.period,
            "centre": self.centre,
            "lower_limit": self.lower_limit,
            "upper_limit": self.upper_limit,
            "predictable": self.predictable,
            "verdict": self.verdict,
            "complete_periods": self.complete_periods,
            "last_ts": None if self.last_ts is None else self.last_ts.isoformat(),
            "rows": json_rows(self.table),
        }

    def _repr_html_(self) -> str:
        def num(x: float | None) -> str | None:
            return None if x is None else _number(x)

        rows = [
            (
                period_label(r["period"], self.period),
                r["happy"],
                "yes" if r["complete"] else "running",
                num(r["moving_range"]),
                num(r["lower_limit"]),
                num(r["centre"]),
                num(r["upper_limit"]),
                r["signal"],
            )
            for r in self.table.iter_rows(named=True)
        ]
        header = [self.period, "happy", "complete", "mR", "lower", "centre", "upper", "signal"]
        caption = f"Throughput ({self.stage} per {self.period}): {self.verdict}"
        return html_grid(header, rows, caption)


def _to_us(value: dt.datetime | dt.date) -> int:
    """A timestamp as microseconds since the epoch (naive values read as UTC)."""
    moment = utc_datetime(value)
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _stage_index(journeys: Any, stage: int | str | None) -> int:
    names: tuple[str, ...] = tuple(journeys.stages)
    if stage is None:
        factory = getattr(journeys, "factory", None)
        happy = getattr(factory, "happy_index", None)
        return happy if isinstance(happy, int) else len(names) - 1
    if isinstance(stage, bool):
        raise SpecError("stage", f"expected a stage name or index, got {stage!r}")
    if isinstance(stage, int):
        if -len(names) <= stage < len(names):
            return stage % len(names)
        raise SpecError(
            "stage", f"{stage} is not a stage index: the factory has stages 0 to {len(names) - 1}"
        )
    if stage in names:
        return names.index(stage)
    raise SpecError(
        "stage", f"no stage named {stage!r}; the stages are {choice_list(names, first=stage)}"
    )


def throughput(
    journeys: JourneysLike,
    *,
    stage: int | str | None = None,
    period: str | None = None,
    complete_only: bool = True,
) -> ThroughputResult:
    """Happy customers made per period, with an XmR chart of their repeatability.

    Parameters
    ----------
    journeys
        The journeys (``.table`` with ``reach_i``; ``.stages``; ``.period``;
        ``.last_ts``; ``.factory`` for the happy stage when present).
    stage
        The stage whose reach makes a happy customer, by name or index; default the
        factory's happy stage (the last stage when the journeys carry no factory).
    period
        ``"day"``, ``"week"`` or ``"month"``; default the journeys' period.
    complete_only
        Leave out the period still running at the log's last timestamp (default). With
        ``False`` it is the last row, with ``complete = False`` and no part in the chart.

    Returns
    -------
    ThroughputResult
        See its docstring for the columns.

    Examples
    --------
    Users arrive in the week of 1 January 2024; two become happy that week, one the next
    week, none in the third; the log ends in the fourth week, which is still running:

    >>> import datetime as dt, polars as pl
    >>> from types import SimpleNamespace
    >>> t = lambda d: dt.datetime(2024, 1, d, tzinfo=dt.UTC)
    >>> table = pl.DataFrame({"user_id": ["a", "b", "c", "d"],
    ...                       "reach_0": [t(1), t(2), t(3), t(4)],
    ...                       "reach_1": [t(2), t(5), t(9), None]})
    >>> j = SimpleNamespace(table=table, stages=("Visit", "Pay"), period="week", last_ts=t(24))
    >>> r = throughput(j)
    >>> r.table.select("period", "happy").rows()
    [(datetime.date(2024, 1, 1), 2), (datetime.date(2024, 1, 8), 1), (datetime.date(2024, 1, 15), 0)]
    >>> r.predictable is None, r.verdict
    (True, 'not yet repeatable: only 3 complete weeks of throughput (at least 6 are needed to judge)')
    """
    period_ = check_period(period if period is not None else journeys.period)
    index = _stage_index(journeys, stage)
    column = f"reach_{index}"
    if not hasattr(journeys, "reach") and column not in journeys.table.columns:
        raise ThroughputError(
            f"the journeys table has no column {column!r} for stage "
            f"{journeys.stages[index]!r}: rebuild the journeys from the same factory"
        )
    # Kept with the reach arrays: a target, segment or name edit reuses it.
    key = ("throughput", index, journeys.stages[index], period_, complete_only, journeys.last_ts)
    return cached(journeys, key, lambda: _throughput(journeys, index, period_, complete_only))


def _throughput(
    journeys: JourneysLike, index: int, period_: Period, complete_only: bool
) -> ThroughputResult:
    last_ts = journeys.last_ts
    first = first_reach0_us(journeys)
    starts = np.zeros(0, dtype=np.int64)
    running = None
    if first is not None and last_ts is not None:
        last_us = _to_us(last_ts)
        starts = starts_between(first, last_us, period_)
        running = int(start_days(np.array([last_us]), period_)[0])
    days, users = period_counts(journeys, index, period_)
    happy = np.zeros(starts.size, dtype=np.int64)
    if starts.size and days.size:
        at = np.minimum(np.searchsorted(starts, days), starts.size - 1)
        inside = starts[at] == days
        happy[at[inside]] = users[inside]
    complete = starts < running if running is not None else np.zeros(starts.size, dtype=bool)
    keep = complete if complete_only else np.ones(starts.size, dtype=bool)
    chart = xmr(happy[complete].tolist(), lower_bound=0.0)
    moving: list[float | None] = [None] * starts.size
    signals: list[str | None] = [None] * starts.size
    for k, row in enumerate(np.flatnonzero(complete)):
        moving[row], signals[row] = chart.moving_ranges[k], chart.signals[k]
    rows = np.flatnonzero(keep)
    shown = int(rows.size)
    table = pl.DataFrame(
        {
            "period": pl.Series(starts[rows].astype(np.int32)).cast(pl.Date),
            "happy": happy[rows],
            "complete": complete[rows],
            "moving_range": pl.Series([moving[r] for r in rows], dtype=pl.Float64),
            "centre": pl.repeat(chart.centre, shown, dtype=pl.Float64, eager=True),
            "lower_limit": pl.repeat(chart.lower_limit, shown, dtype=pl.Float64, eager=True),
            "upper_limit": pl.repeat(chart.upper_limit, shown, dtype=pl.Float64, eager=True),
            "signal": pl.Series([signals[r] for r in rows], dtype=pl.String),
        }
    )
    done_count = int(complete.sum())
    return ThroughputResult(
        table=table,
        stage=journeys.stages[index],
        period=period_,
        centre=chart.centre,
        lower_limit=chart.lower_limit,
        upper_limit=chart.upper_limit,
        predictable=chart.predictable,
        verdict=_verdict(chart, period_),
        complete_periods=done_count,
        last_ts=last_ts,
    )


# --------------------------------------------------------------------------- stage


@dataclass(frozen=True)
class BusinessStage:
    """Where the factory stands on the road Problem/Solution fit → Product/Market fit → Scale.

    Attributes
    ----------
    goal
        Happy customers per ``period`` at Scale.
    lines
        ``stage`` (String) and ``throughput`` (Float64): the 10x rule's milestones,
        ``goal / 100``, ``goal / 10`` and ``goal``; the throughput chart draws them.
    current
        Recent throughput: the mean of the last ``recent`` complete periods (``None``
        without complete periods).
    basis
        How ``current`` was computed, in words.
    reached
        The highest milestone with ``current >= throughput``, or ``None``.
    next_stage, to_next
        The next milestone above ``current`` and how many times ``current`` it is
        (``None`` when the goal is reached, or ``to_next`` when ``current`` is 0).
    predictable
        The throughput chart's verdict on repeatability (see :class:`ThroughputResult`).
    verdict
        The above in one sentence.
    """

    goal: float
    period: Period
    lines: pl.DataFrame
    current: float | None
    basis: str
    reached: str | None
    next_stage: str | None
    to_next: float | None
    predictable: bool | None
    verdict: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary with the ``lines`` as rows."""
        return {
            "goal": self.goal,
            "period": self.period,
            "current": self.current,
            "basis": self.basis,
            "reached": self.reached,
            "next_stage": self.next_stage,
            "to_next": self.to_next,
            "predictable": self.predictable,
            "verdict": self.verdict,
            "lines": json_rows(self.lines),
        }

    def _repr_html_(self) -> str:
        rows = [
            (
                name,
                _number(value),
                "reached" if self.current is not None and self.current >= value else "",
            )
            for name, value in self.lines.iter_rows()
        ]
        header = ["stage", f"happy customers per {self.period}", ""]
        return html_grid(header, rows, self.verdict)


def business_stage(
    result: ThroughputResult, goal: float | None, *, recent: int = MIN_PERIODS
) -> BusinessStage:
    """The stage of the business by the 10x rule, from throughput and the spec's ``goal``.

    Parameters
    ----------
    result
        :func:`throughput` of the factory.
    goal
        Happy customers per ``result.period`` at Scale (the spec's ``goal``).
    recent
        How many of the last complete periods to average for the current throughput.

    Returns
    -------
    BusinessStage

    Examples
    --------
    Eight complete weeks of 9 to 14 happy customers, with a goal of 100 a week at Scale:

    >>> import datetime as dt, polars as pl
    >>> from types import SimpleNamespace
    >>> monday = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    >>> weekly = [9, 11, 12, 10, 13, 14, 12, 10]
    >>> reach = [monday + dt.timedelta(weeks=w) for w, n in enumerate(weekly) for _ in range(n)]
    >>> table = pl.DataFrame({"user_id": [f"u{i}" for i in range(len(reach))],
    ...                       "reach_0": reach, "reach_1": reach})
    >>> j = SimpleNamespace(table=table, stages=("Visit", "Pay"), period="week",
    ...                     last_ts=monday + dt.timedelta(weeks=8))
    >>> s = business_stage(throughput(j), goal=100)
    >>> s.lines.rows()
    [('Problem/Solution fit', 1.0), ('Product/Market fit', 10.0), ('Scale', 100.0)]
    >>> round(s.current, 2), s.reached, s.next_stage
    (11.83, 'Product/Market fit', 'Scale')
    >>> s.verdict
    'Product/Market fit reached: 12 happy customers per week (mean of the last 6 complete weeks) against 10; next: Scale at 100, 8.5x today'
    """
    if goal is None:
        raise SpecError(
            "goal",
            "no throughput goal is set: set `goal` in the spec to the happy customers per "
            f"{result.period} you want at Scale (e.g. goal = 100 in the TOML file, or "
            "factory.replace(goal=100)); the 10x rule puts Product/Market fit at a tenth of it",
        )
    if isinstance(goal, bool) or not isinstance(goal, int | float) or not goal > 0:
        raise SpecError("goal", f"expected a positive number of happy customers, got {goal!r}")
    if isinstance(recent, bool) or not isinstance(recent, int) or recent < 1:
        raise ValueError(f"recent must be a whole number of periods >= 1, got {recent!r}")
    goal = float(goal)
    lines = pl.DataFrame(
        {
            "stage": [name for name, _ in BUSINESS_STAGES],
            "throughput": [goal * share for _, share in BUSINESS_STAGES],
        }
    )
    done = result.table.filter(pl.col("complete"))["happy"].tail(recent)
    n = done.len()
    current = float(done.mean()) if n else None  # type: ignore[arg-type]
    noun = period_noun(result.period, n)
    basis = (
        f"mean of the last {n} complete {noun}" if n != 1 else f"the last complete {result.period}"
    )
    reached = next_stage = None
    to_next = None
    if current is not None:
        for name, line in lines.iter_rows():
            if current >= line:
                reached = name
            elif next_stage is None:
                next_stage = name
                to_next = line / current if current > 0 else None

    per = f"happy customers per {result.period}"
    if current is None:
        verdict = f"no complete {result.period} of throughput yet: the stage cannot be placed"
    else:
        at = f"{_number(current)} {per} ({basis})"
        if reached is None:
            verdict = f"before Problem/Solution fit: {at}, below {_number(goal / 100)}"
        else:
            line = goal * dict(BUSINESS_STAGES)[reached]
            verdict = f"{reached} reached: {at} against {_number(line)}"
        if next_stage is not None:
            line = goal * dict(BUSINESS_STAGES)[next_stage]
            gap = f", {to_next:.1f}x today" if to_next is not None else ""
            verdict += f"; next: {next_stage} at {_number(line)}{gap}"
        if result.predictable is not True:
            verdict += " (throughput not yet repeatable)"
    return BusinessStage(
        goal=goal,
        period=result.period,
        lines=lines,
        current=current,
        basis=basis,
        reached=reached,
        next_stage=next_stage,
        to_next=to_next,
        predictable=result.predictable,
        verdict=verdict,
    )
