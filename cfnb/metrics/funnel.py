"""The funnel (DESIGN.md §3): how many users reach each stage, and how fast.

Semantics, exactly (``n`` stages, over the journeys table):

* ``users[i]``: users whose ``reach_i`` is set (in best_path mode: whose level is at
  least ``i + 1``). Users are counted, never events. ``users[0]`` is every acquired user.
* ``rate[i] = users[i] / users[i-1]``: the conversion of the link into stage ``i``. Stage 0
  has no link feeding it, so its rate is null; so is any rate whose denominator is 0.
* ``overall_rate[i] = users[i] / users[0]``: 1.0 for stage 0, null when nobody entered.
* ``dropped[i] = users[i-1] - users[i]``: users lost on the link into stage ``i``; null
  for stage 0.
* ``median_seconds``, ``p25_seconds``, ``p75_seconds``: quantiles of ``reach_i -
  reach_{i-1}`` in seconds, over the users who reached stage ``i``, interpolating
  linearly between order statistics (the median of an even count is the mean of the
  middle two). Null for stage 0 and when nobody reached the stage.

``by="cohort"`` splits users by the calendar period of ``reach_0`` (``journeys.period``);
``by="<segment>"`` by a ``segment_by`` column (null is a group of its own). The grouping
column comes first; rows are sorted by it (nulls last), then by ``step``.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from cfnb.metrics._arrays import (
    QUANTILES,
    cached,
    cohort_codes,
    group_codes,
    has_steps,
    quantiles_of,
    reach_of,
    users_by_group,
)
from cfnb.metrics._inputs import FactoryLike, JourneysLike, as_timedelta
from cfnb.parallel import in_parallel
from cfnb.periods import period_end, period_range
from cfnb.spec.errors import SpecError, choice_list, suggestion

__all__ = [
    "TIME_BINS",
    "FunnelResult",
    "FunnelTrendResult",
    "TimeToConvertResult",
    "funnel",
    "funnel_trend",
    "time_to_convert",
]

_MIN, _HOUR, _DAY = 60, 3_600, 86_400
#: Bin edges (seconds) and labels of :func:`time_to_convert`: fixed, so charts of
#: different stages, segments and periods line up. Each bin is ``[lower, upper)``.
TIME_BINS: tuple[tuple[str, int, int | None], ...] = (
    ("< 1 min", 0, _MIN),
    ("1-5 min", _MIN, 5 * _MIN),
    ("5-15 min", 5 * _MIN, 15 * _MIN),
    ("15 min-1 h", 15 * _MIN, _HOUR),
    ("1-3 h", _HOUR, 3 * _HOUR),
    ("3-6 h", 3 * _HOUR, 6 * _HOUR),
    ("6-12 h", 6 * _HOUR, 12 * _HOUR),
    ("12 h-1 d", 12 * _HOUR, _DAY),
    ("1-2 d", _DAY, 2 * _DAY),
    ("2-3 d", 2 * _DAY, 3 * _DAY),
    ("3-7 d", 3 * _DAY, 7 * _DAY),
    ("7-14 d", 7 * _DAY, 14 * _DAY),
    ("14-30 d", 14 * _DAY, 30 * _DAY),
    ("30-60 d", 30 * _DAY, 60 * _DAY),
    ("60-90 d", 60 * _DAY, 90 * _DAY),
    (">= 90 d", 90 * _DAY, None),
)


class _Result:
    """Shared behaviour of the funnel results: a table, shown and exported as is."""

    table: pl.DataFrame

    def _title(self) -> str:
        raise NotImplementedError

    def to_dicts(self) -> list[dict[str, Any]]:
        """The table's rows as dictionaries (dates and datetimes stay Python objects)."""
        return self.table.to_dicts()

    def _repr_html_(self) -> str:
        return f"<p><b>{html.escape(self._title())}</b></p>" + self.table._repr_html_()


@dataclass(frozen=True, eq=False)
class FunnelResult(_Result):
    """Users, conversion and step time per stage (see the module docstring).

    Attributes
    ----------
    table
        ``[by,] stage, step, users, rate, overall_rate, dropped, median_seconds,
        p25_seconds, p75_seconds``.
    stages
        The stage names, in order.
    by
        The grouping column, or ``None``.
    """

    table: pl.DataFrame
    stages: tuple[str, ...]
    by: str | None

    def _title(self) -> str:
        return "Funnel" + (f" by {self.by}" if self.by else "")


@dataclass(frozen=True, eq=False)
class FunnelTrendResult(_Result):
    """The funnel of every cohort period, gaps included (see :func:`funnel_trend`)."""

    table: pl.DataFrame
    stages: tuple[str, ...]
    period: str

    def _title(self) -> str:
        return f"Funnel by {self.period} of acquisition"


@dataclass(frozen=True, eq=False)
class TimeToConvertResult(_Result):
    """How long users took to reach a stage, in fixed bins (see :func:`time_to_convert`)."""

    table: pl.DataFrame
    stage: str
    since: str
    users: int

    def _title(self) -> str:
        return f"Time to {self.stage} (since {self.since}), {self.users:,} users"


def _check_by(journeys: JourneysLike, by: str | None) -> None:
    """Raise unless ``by`` is ``None``, ``"cohort"`` or a segment column of the journeys."""
    if by is None or by == "cohort":
        return
    reserved = {"user_id", *(f"reach_{i}" for i in range(len(journeys.stages)))}
    at = getattr(journeys, "columns_at_reach0", None)
    segments = (
        list(journeys.factory.segment_by)  # type: ignore[attr-defined]
        if at is not None
        else [c for c in journeys.table.columns if c not in reserved]
    )
    if by not in segments:
        raise SpecError(
            "by",
            f"cannot split the funnel by {by!r}; choose 'cohort' or a segment column "
            f"({choice_list(segments) or 'none: add segment_by to the factory'})"
            f"{suggestion(by, ['cohort', *segments])}",
        )


def _groups(journeys: JourneysLike, by: str | None) -> tuple[np.ndarray | None, pl.Series | None]:
    """Per user, the code of its group, and the group values by code (``None``: one group)."""
    if by is None:
        return None, None
    if by == "cohort":
        codes, starts = cohort_codes(journeys, journeys.period)
        return codes, pl.Series("cohort", starts.astype(np.int32)).cast(pl.Date)
    codes, labels = group_codes(journeys, by)
    return codes, labels.alias(by)


def stage_rows(journeys: JourneysLike, by: str | None) -> pl.DataFrame:
    """``[by,] step, users, median_seconds, p25_seconds, p75_seconds`` per group and stage.

    ``by`` may be any event column (the explorer prepares the split by a segment it may
    switch to); :func:`funnel` checks it is one of the spec's segments first.
    """
    # Kept with the reach arrays: a period, target or name edit reuses them.
    key = ("funnel rows", by, journeys.period if by == "cohort" else None)
    return cached(journeys, key, lambda: _count_stage_rows(journeys, by))


def _count_stage_rows(journeys: JourneysLike, by: str | None) -> pl.DataFrame:
    reach = reach_of(journeys)
    n = reach.reached.shape[1]
    groups, labels = _groups(journeys, by)
    k = 1 if labels is None else labels.len()
    columns: dict[str, list[np.ndarray]] = {name: [] for name in ("users", *dict(QUANTILES))}
    users = users_by_group(journeys, groups, k)
    calls = [functools.partial(quantiles_of, journeys, i, groups, k, by) for i in range(1, n)]
    split = by if groups is not None else None
    if all(has_steps(journeys, i, split) for i in range(1, n)):
        steps = [call() for call in calls]  # a filter of sorted times each: too short to share
    else:
        # Each step's selection is a NumPy pass of its own: they run side by side.
        steps = in_parallel(calls)
    for i in range(n):
        columns["users"].append(users[:, i])
        if i == 0:
            for q, _ in QUANTILES:
                columns[q].append(np.full(k, np.nan))
            continue
        found = steps[i - 1]
        for q, _ in QUANTILES:
            columns[q].append(found[q])
    rows = pl.DataFrame(
        {
            "step": np.repeat(np.arange(n, dtype=np.int64), k),
            **{name: np.concatenate(parts) for name, parts in columns.items()},
        }
    ).with_columns(pl.col(q).fill_nan(None) for q, _ in QUANTILES)
    if labels is not None:
        rows = rows.with_columns(pl.concat([labels] * n).alias(labels.name))
    return rows


def _with_rates(rows: pl.DataFrame, stages: Sequence[str], keys: list[str]) -> pl.DataFrame:
    users = pl.col("users")
    prev = users.shift(1).over(keys, order_by="step") if keys else users.shift(1)
    first = users.first().over(keys, order_by="step") if keys else users.first()
    ratio = pl.when(prev > 0).then(users / prev)
    overall = pl.when(first > 0).then(users / first)
    names = pl.Series(list(stages), dtype=pl.String)
    return rows.sort([*keys, "step"], nulls_last=True).select(
        *keys,
        pl.col("step")
        .replace_strict(range(len(stages)), names, return_dtype=pl.String)
        .alias("stage"),
        "step",
        "users",
        ratio.cast(pl.Float64).alias("rate"),
        overall.cast(pl.Float64).alias("overall_rate"),
        (prev - users).alias("dropped"),
        "median_seconds",
        "p25_seconds",
        "p75_seconds",
    )


def funnel(journeys: JourneysLike, *, by: str | None = None) -> FunnelResult:
    """The funnel: users per stage, link and overall rates, users dropped, step times.

    Parameters
    ----------
    journeys
        From :func:`cfnb.journeys.build_journeys`.
    by
        ``None`` (one funnel), ``"cohort"`` (one per calendar period of acquisition) or
        the name of a ``segment_by`` column.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from cfnb.journeys import build_journeys
    >>> from cfnb.spec import Factory, Stage
    >>> t = lambda h: dt.datetime(2024, 1, 1, h, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({
    ...     "user_id": ["a", "a", "b", "b", "c"],
    ...     "event": ["visit", "signup", "visit", "signup", "visit"],
    ...     "ts": [t(0), t(1), t(0), t(3), t(2)],
    ... })
    >>> j = build_journeys(events, Factory([Stage("Visit", "visit"), Stage("Signup", "signup")]))
    >>> funnel(j).table.select("stage", "users", "rate", "dropped", "median_seconds")
    shape: (2, 5)
    ┌────────┬───────┬──────────┬─────────┬────────────────┐
    │ stage  ┆ users ┆ rate     ┆ dropped ┆ median_seconds │
    │ ---    ┆ ---   ┆ ---      ┆ ---     ┆ ---            │
    │ str    ┆ i64   ┆ f64      ┆ i64     ┆ f64            │
    ╞════════╪═══════╪══════════╪═════════╪════════════════╡
    │ Visit  ┆ 3     ┆ null     ┆ null    ┆ null           │
    │ Signup ┆ 2     ┆ 0.666667 ┆ 1       ┆ 7200.0         │
    └────────┴───────┴──────────┴─────────┴────────────────┘
    """
    _check_by(journeys, by)
    rows = stage_rows(journeys, by)
    keys = [by] if by else []
    return FunnelResult(_with_rates(rows, journeys.stages, keys), tuple(journeys.stages), by)


def _horizon(journeys: JourneysLike) -> dt.timedelta:
    """How long after acquisition conversions can still happen, when the factory bounds it."""
    factory: FactoryLike | None = getattr(journeys, "factory", None)
    if factory is None:
        return dt.timedelta(0)
    bounds = []
    window = as_timedelta(factory.window, "window")
    if window is not None:
        bounds.append(window)
    withins = [as_timedelta(s.within, "within") for s in factory.stages[1:]]
    if withins and all(w is not None for w in withins):
        bounds.append(sum((w for w in withins if w is not None), dt.timedelta(0)))
    return min(bounds, default=dt.timedelta(0))


def funnel_trend(journeys: JourneysLike) -> FunnelTrendResult:
    """The funnel of every acquisition cohort, one row per (cohort, stage).

    Every calendar period from the first cohort to the one holding ``last_ts`` is
    present, with 0 users (and null rates) when nobody was acquired in it. The
    ``complete`` column is true when the cohort's period has ended and, if the factory
    bounds conversion (``window``, or ``within`` on every later stage), that bound has
    also passed by ``last_ts`` for every user of the cohort: only complete cohorts have
    final rates. Without a bound, late conversions can still raise any cohort's rates.

    Columns: ``cohort, stage, step, users, rate, overall_rate, dropped, median_seconds,
    p25_seconds, p75_seconds, complete``.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from cfnb.journeys import build_journeys
    >>> from cfnb.spec import Factory, Stage
    >>> events = pl.DataFrame({
    ...     "user_id": ["a", "a", "b"], "event": ["visit", "signup", "visit"],
    ...     "ts": [dt.datetime(2024, 1, d, tzinfo=dt.UTC) for d in (1, 2, 15)],
    ... })
    >>> j = build_journeys(events, Factory([Stage("Visit", "visit"), Stage("Signup", "signup")]))
    >>> funnel_trend(j).table.select("cohort", "stage", "users", "complete").rows()[:4]
    [(datetime.date(2024, 1, 1), 'Visit', 1, True), (datetime.date(2024, 1, 1), 'Signup', 1, True), (datetime.date(2024, 1, 8), 'Visit', 0, True), (datetime.date(2024, 1, 8), 'Signup', 0, True)]
    """
    base = funnel(journeys, by="cohort").table
    n = len(journeys.stages)
    if base.height == 0:
        return FunnelTrendResult(
            base.with_columns(complete=pl.lit(False)), tuple(journeys.stages), journeys.period
        )
    first = base["cohort"].min()
    last = journeys.last_ts if journeys.last_ts is not None else base["cohort"].max()
    assert isinstance(first, dt.date)
    assert isinstance(last, dt.date)
    grid = period_range(first, last, journeys.period).alias("cohort").to_frame()
    grid = grid.join(pl.DataFrame({"step": list(range(n))}), how="cross")
    rows = grid.join(
        base.select("cohort", "step", "users", "median_seconds", "p25_seconds", "p75_seconds"),
        on=["cohort", "step"],
        how="left",
    ).with_columns(pl.col("users").fill_null(0))
    table = _with_rates(rows, journeys.stages, ["cohort"])
    if journeys.last_ts is None:
        done = pl.lit(False)
    else:
        ends = period_end(pl.col("cohort"), journeys.period) + pl.lit(_horizon(journeys))
        done = ends <= pl.lit(journeys.last_ts)
    return FunnelTrendResult(
        table.with_columns(done.alias("complete")), tuple(journeys.stages), journeys.period
    )


def _stage_index(journeys: JourneysLike, stage: int | str) -> int:
    names = list(journeys.stages)
    if isinstance(stage, str):
        if stage not in names:
            raise SpecError(
                "stage",
                f"no stage named {stage!r}; choose one of {choice_list(names, first=stage)}"
                f"{suggestion(stage, names)}",
            )
        index = names.index(stage)
    else:
        index = stage
    if not 1 <= index < len(names):
        raise SpecError(
            "stage",
            f"time to convert needs a stage after the first (1 to {len(names) - 1}, or a "
            f"name among {choice_list(names[1:])}), got {stage!r}",
        )
    return index


def time_to_convert(
    journeys: JourneysLike, stage: int | str, *, since: Literal["previous", "start"] = "previous"
) -> TimeToConvertResult:
    """How long users took to reach ``stage``, counted in fixed human bins.

    Over the users who reached ``stage``: the time since they reached the previous stage
    (``since="previous"``) or since acquisition (``since="start"``). The bins are
    :data:`TIME_BINS` (``[lower, upper)``, from "< 1 min" to ">= 90 d"); every bin is
    listed, empty ones with 0 users. ``share`` is the bin's share of those users (null
    when there are none).

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from cfnb.journeys import build_journeys
    >>> from cfnb.spec import Factory, Stage
    >>> t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({
    ...     "user_id": ["a", "a", "b", "b"], "event": ["visit", "signup"] * 2,
    ...     "ts": [t0, t0 + dt.timedelta(seconds=30), t0, t0 + dt.timedelta(hours=2)],
    ... })
    >>> j = build_journeys(events, Factory([Stage("Visit", "visit"), Stage("Signup", "signup")]))
    >>> time_to_convert(j, "Signup").table.filter(pl.col("users") > 0).rows()
    [('< 1 min', 0, 60, 1, 0.5), ('1-3 h', 3600, 10800, 1, 0.5)]
    """
    index = _stage_index(journeys, stage)
    if since not in ("previous", "start"):
        raise SpecError("since", f"choose 'previous' or 'start', got {since!r}")
    origin = index - 1 if since == "previous" else 0
    # From the reach arrays, not the table (which would fetch every user's id).
    reach = reach_of(journeys)
    both = reach.reached[:, index] & reach.reached[:, origin]
    micros = (reach.ts[both, index] - reach.ts[both, origin]).astype(np.float64)
    secs = micros * (1.0 / 1e6)  # as Polars computes _seconds, to the last bit
    total = int(secs.size)
    counts = []
    for _label, lower, upper in TIME_BINS:
        inside = secs >= lower if upper is None else (secs >= lower) & (secs < upper)
        counts.append(int(np.count_nonzero(inside)))
    table = pl.DataFrame(
        {
            "bin": [b[0] for b in TIME_BINS],
            "lower_seconds": [b[1] for b in TIME_BINS],
            "upper_seconds": [b[2] for b in TIME_BINS],
            "users": counts,
        },
        schema={
            "bin": pl.String,
            "lower_seconds": pl.Int64,
            "upper_seconds": pl.Int64,
            "users": pl.Int64,
        },
    ).with_columns((pl.col("users") / total if total else pl.lit(None, pl.Float64)).alias("share"))
    return TimeToConvertResult(table, journeys.stages[index], since, total)
