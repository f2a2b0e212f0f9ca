"""What the metrics read, and the checks and horizons every metric shares.

The metrics take their inputs by contract, not by class: the journeys, the factory and
its stages, conditions and event logs are the protocols below (see docs/internals.md),
so a test or a notebook can hand-build any of them. The functions check those inputs
with errors that say what to do, resolve stages and conditions, and compute how long
after acquisition a user may still reach each stage (the horizons).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Protocol

import polars as pl

from cfnb.errors import MetricError, did_you_mean

__all__ = [
    "PERIOD_LENGTH",
    "DescribedPredicateLike",
    "FactoryLike",
    "HasEvents",
    "HasTable",
    "JourneysLike",
    "PredicateLike",
    "StageLike",
    "as_timedelta",
    "check_journeys",
    "events_frame",
    "factory_stage_check",
    "filter_events",
    "journey_horizons",
    "predicate_expr",
    "stage_horizons",
    "stage_index",
]

# --------------------------------------------------------------------------- contracts


class HasTable(Protocol):
    """Anything holding a journeys table (``user_id``, ``reach_0`` …)."""

    @property
    def table(self) -> pl.DataFrame: ...


class JourneysLike(Protocol):
    """What the metrics read from :class:`cfnb.journeys.Journeys` (see docs/internals.md)."""

    @property
    def table(self) -> pl.DataFrame: ...
    @property
    def stages(self) -> Sequence[str]: ...
    @property
    def period(self) -> str: ...
    @property
    def last_ts(self) -> dt.datetime | None: ...


class StageLike(Protocol):
    """What the metrics read from a :class:`cfnb.spec.Stage`."""

    @property
    def name(self) -> str: ...
    @property
    def target(self) -> float | None: ...
    @property
    def within(self) -> object: ...


class FactoryLike(Protocol):
    """What the metrics read from a :class:`cfnb.spec.Factory`."""

    @property
    def stages(self) -> Sequence[StageLike]: ...
    @property
    def window(self) -> object: ...


class PredicateLike(Protocol):
    """A spec predicate: anything that compiles to a Polars expression on one event."""

    def to_polars(self) -> pl.Expr: ...


class DescribedPredicateLike(PredicateLike, Protocol):
    """A spec predicate that also says in words what it matches."""

    def describe(self) -> str: ...


class HasEvents(Protocol):
    """An :class:`~cfnb.eventlog.EventLog`, or anything else holding an events table."""

    @property
    def events(self) -> pl.DataFrame: ...


# --------------------------------------------------------------------------- checks


def check_journeys(journeys: JourneysLike) -> None:
    """Raise if the journeys table lacks a column the contract promises."""
    if hasattr(journeys, "reach") and hasattr(journeys, "cached"):
        return  # built by cfnb.journeys: every column is there (and the table not made yet)
    cols = journeys.table.columns
    needed = ["user_id", *(f"reach_{i}" for i in range(len(journeys.stages)))]
    missing = [c for c in needed if c not in cols]
    if missing:
        raise MetricError(
            f"the journeys table has no column {missing[0]!r} (it has {', '.join(cols)}): "
            "build it with cfnb.journeys from the same factory"
        )


def events_frame(
    events: object, needed: Sequence[str] = ("user_id", "event", "ts")
) -> pl.DataFrame:
    """The events table from a DataFrame or an ``EventLog`` (its ``.events``), checked."""
    frame = events if isinstance(events, pl.DataFrame) else getattr(events, "events", None)
    if not isinstance(frame, pl.DataFrame):
        raise MetricError(
            f"expected the events table (a Polars DataFrame) or an EventLog, got "
            f"{type(events).__name__}"
        )
    for col in needed:
        if col not in frame.columns:
            raise MetricError(
                f"the events table has no column {col!r} (it has {', '.join(frame.columns)}): "
                "pass the events of an EventLog loaded with cfnb.load()"
                + did_you_mean(col, frame.columns)
            )
    return frame


def predicate_expr(pred: pl.Expr | PredicateLike | str, what: str) -> pl.Expr:
    """A predicate as a Polars expression; a plain string is an event name.

    Examples
    --------
    >>> predicate_expr("invite", "invite").meta.root_names()
    ['event']
    """
    if isinstance(pred, pl.Expr):
        return pred
    if isinstance(pred, str):
        return pl.col("event") == pred
    to_polars = getattr(pred, "to_polars", None)
    if callable(to_polars):
        expr = to_polars()
        if isinstance(expr, pl.Expr):
            return expr
    raise MetricError(
        f"{what}={pred!r} is not a condition: pass an event name, a spec predicate such as "
        f"event('x') or a Polars expression"
    )


def filter_events(frame: pl.DataFrame, expr: pl.Expr, what: str) -> pl.DataFrame:
    """Rows of ``frame`` matching ``expr``, with a helpful error for unknown columns."""
    try:
        return frame.filter(expr.fill_null(False))
    except pl.exceptions.ColumnNotFoundError as err:
        raise MetricError(
            f"the {what} condition names a column the events do not have ({err}); the "
            f"events have {', '.join(frame.columns)}"
        ) from err


def stage_index(stage: int | str, stages: Sequence[str], what: str) -> int:
    """Resolve a stage given by index or name, with a helpful error."""
    names = list(stages)
    if isinstance(stage, bool):
        raise TypeError(f"{what} must be a stage name or index, got {stage!r}")
    if isinstance(stage, int):
        if 0 <= stage < len(names):
            return stage
        raise MetricError(f"{what}={stage} is not a stage index: use 0 … {len(names) - 1}")
    if stage in names:
        return names.index(stage)
    by_lower = {s.lower(): i for i, s in enumerate(names)}
    if stage.lower() in by_lower:
        return by_lower[stage.lower()]
    choices = ", ".join(repr(s) for s in names)
    raise MetricError(
        f"{what}={stage!r} is not a stage of this factory: use one of {choices}."
        + did_you_mean(stage, names)
    )


def factory_stage_check(journeys: JourneysLike, factory: FactoryLike) -> None:
    """Raise if the factory's stages are not the journeys' stages."""
    names = [s.name for s in factory.stages]
    if names != list(journeys.stages):
        raise MetricError(
            f"the factory's stages {names} are not the journeys' stages "
            f"{list(journeys.stages)}: build the journeys from this factory"
        )


# --------------------------------------------------------------------------- horizons

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: One period as a horizon: the longest month, so a cohort is never called complete too early.
PERIOD_LENGTH = {
    "day": dt.timedelta(days=1),
    "week": dt.timedelta(weeks=1),
    "month": dt.timedelta(days=31),
}


def as_timedelta(value: object, what: str) -> dt.timedelta | None:
    """A ``within``/``window``/``horizon`` value as a ``timedelta`` (``None`` stays ``None``).

    Accepts a ``timedelta``, a duration object with ``to_timedelta()`` or
    ``total_seconds()``, or a string such as ``"36h"``, ``"14d"``, ``"2w"``.

    Examples
    --------
    >>> as_timedelta("2w", "window")
    datetime.timedelta(days=14)
    """
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        return value
    to_td = getattr(value, "to_timedelta", None)
    if callable(to_td):
        converted = to_td()
        if isinstance(converted, dt.timedelta):
            return converted
    total = getattr(value, "total_seconds", None)
    if callable(total):
        return dt.timedelta(seconds=float(total()))
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return dt.timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])
    raise MetricError(
        f"{what}={value!r} is not a duration: use a timedelta or a string such as "
        "'36h', '14d' or '2w'"
    )


def stage_horizons(
    factory: FactoryLike, period: str, *, horizon: dt.timedelta | str | None = None
) -> tuple[dt.timedelta | None, ...]:
    """How long after ``reach_0`` a user may still reach each stage (``H[i]``).

    ``H[0] = 0``; ``H[i] = min(window, H[i-1] + allowance[i])`` where ``allowance[i]`` is
    stage ``i``'s ``within``, else ``horizon``, else one ``period`` (a month counts as 31
    days). A cohort is complete for stage ``i`` once its period's end plus ``H[i]`` has
    passed.

    Examples
    --------
    >>> from cfnb.spec.factory import Factory, Stage
    >>> f = Factory([Stage("Acquisition", "visit"), Stage("Activation", "use", within="14d"),
    ...              Stage("Retention", "return")], window="30d")
    >>> [h.days for h in stage_horizons(f, "week")]
    [0, 14, 21]
    >>> [h.days for h in stage_horizons(f.replace(window="20d"), "week")]
    [0, 14, 20]
    """
    window = as_timedelta(factory.window, "window")
    default = as_timedelta(horizon, "horizon") or PERIOD_LENGTH[period]
    out: list[dt.timedelta | None] = [dt.timedelta(0)]
    total = dt.timedelta(0)
    for stage in list(factory.stages)[1:]:
        total += as_timedelta(stage.within, f"within of stage {stage.name!r}") or default
        out.append(min(total, window) if window is not None else total)
    return tuple(out)


def journey_horizons(
    journeys: JourneysLike,
    factory: FactoryLike | None,
    *,
    horizon: dt.timedelta | str | None = None,
) -> tuple[dt.timedelta | None, ...]:
    """:func:`stage_horizons` for the journeys' stages; without a factory, no ``within``/``window``."""
    if factory is not None:
        factory_stage_check(journeys, factory)
        return stage_horizons(factory, journeys.period, horizon=horizon)
    step = as_timedelta(horizon, "horizon") or PERIOD_LENGTH[journeys.period]
    return tuple(step * i for i in range(len(journeys.stages)))
