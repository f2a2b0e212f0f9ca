"""Periods: the one place in cfnb that knows what a day, a week and a month are.

Every timestamp in cfnb is UTC (``pl.Datetime("us", "UTC")``); naive datetimes given to
these functions are read as UTC, aware ones are converted to UTC first. A period is one of:

``"day"``
    a UTC calendar day, ``00:00`` to the next ``00:00`` UTC.
``"week"``
    an ISO week: Monday ``00:00`` UTC to the next Monday ``00:00`` UTC. Its label is
    the ISO year and week number (``2024-W01`` starts on Monday 2024-01-01; the ISO year
    of a week is the year of its Thursday, so 2020-12-28 starts ``2020-W53``).
``"month"``
    a UTC calendar month, the 1st ``00:00`` UTC to the next 1st.

Two kinds of period appear in the metrics, and this module serves both:

* **calendar periods** label cohorts and throughput rows: :func:`period_start` gives the
  start (a ``pl.Date``) of the period holding a timestamp, :func:`period_range` and
  :func:`complete_periods` list them;
* **user-relative periods** measure retention: period ``k`` of a user who arrived at
  ``t`` runs from ``add_periods(t, k)`` to ``add_periods(t, k + 1)``. Days and weeks have a
  fixed length (24 h, 168 h); a month is a calendar month counted from ``t`` and
  clamped to the month's last day, exactly like Polars ``dt.offset_by("1mo")`` (the
  month after 31 January 2024 starts on 29 February 2024, the one after that on 31
  March). :func:`whole_periods` inverts it.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, TypeAlias, overload

import numpy as np
import numpy.typing as npt
import polars as pl

from cfnb.spec.errors import SpecError, unknown_choice

Period: TypeAlias = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")

_TRUNCATE_EVERY: dict[str, str] = {"day": "1d", "week": "1w", "month": "1mo"}
_FIXED_US: dict[str, int] = {"day": 86_400_000_000, "week": 7 * 86_400_000_000}
_LABEL_FORMAT: dict[str, str] = {"day": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m"}
#: The type of every timestamp in cfnb: microseconds, UTC.
UTC_US = pl.Datetime("us", "UTC")


def check_period(period: str) -> Period:
    """Return ``period`` if it names a period, else raise a ``SpecError`` naming the choices.

    Examples
    --------
    >>> check_period("week")
    'week'
    >>> check_period("weak")
    Traceback (most recent call last):
    ...
    cfnb.spec.errors.SpecError: period: unknown period 'weak'; choose one of 'day', 'week', 'month'; did you mean 'week'?
    """
    if period in PERIODS:
        return period
    raise SpecError("period", unknown_choice("period", period, PERIODS))


def utc_datetime(value: dt.datetime | dt.date) -> dt.datetime:
    """A date or datetime as an aware UTC datetime (naive values are read as UTC).

    Examples
    --------
    >>> import datetime as dt
    >>> utc_datetime(dt.date(2024, 1, 31)).isoformat()
    '2024-01-31T00:00:00+00:00'
    >>> utc_datetime(dt.datetime(2024, 1, 31, 9, 30)).isoformat()
    '2024-01-31T09:30:00+00:00'
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)


def _series_to_utc(s: pl.Series) -> pl.Series:
    if s.dtype == pl.Date:
        return s.cast(UTC_US)
    dtype = s.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            s = s.dt.replace_time_zone("UTC")
        elif dtype.time_zone != "UTC":
            s = s.dt.convert_time_zone("UTC")
        return s.dt.cast_time_unit("us")
    raise TypeError(f"expected a Date or Datetime series, got {s.name!r} of type {s.dtype}")


@overload
def period_start(x: pl.Expr, period: str) -> pl.Expr: ...
@overload
def period_start(x: pl.Series, period: str) -> pl.Series: ...
@overload
def period_start(x: dt.datetime | dt.date, period: str) -> dt.date: ...
def period_start(
    x: pl.Expr | pl.Series | dt.datetime | dt.date, period: str
) -> pl.Expr | pl.Series | dt.date:
    """The start (a ``pl.Date``) of the calendar period that holds each timestamp.

    An expression must evaluate to UTC ``Datetime`` or ``Date`` values (the events and
    journeys tables guarantee it); a series or a Python value is converted to UTC first.

    Examples
    --------
    >>> import datetime as dt
    >>> period_start(dt.datetime(2024, 1, 3, 23, 59, tzinfo=dt.UTC), "week")
    datetime.date(2024, 1, 1)
    >>> period_start(dt.date(2024, 2, 29), "month")
    datetime.date(2024, 2, 1)
    """
    every = _TRUNCATE_EVERY[check_period(period)]
    if isinstance(x, pl.Expr):
        return x.dt.date().dt.truncate(every)
    if isinstance(x, pl.Series):
        return _series_to_utc(x).dt.date().dt.truncate(every)
    start: dt.date = pl.Series([utc_datetime(x)]).dt.date().dt.truncate(every).item()
    return start


_DAY_US = 86_400_000_000


def start_days(us: npt.NDArray[np.int64], period: str) -> npt.NDArray[np.int64]:
    """Per UTC timestamp in microseconds: the start of its calendar period, as days since
    1970-01-01 (the physical value of the ``pl.Date`` :func:`period_start` gives).

    Examples
    --------
    >>> import numpy as np
    >>> us = np.array([1_704_326_340_000_000])  # 2024-01-03 23:59 UTC, a Wednesday
    >>> [int(start_days(us, p)[0]) for p in ("day", "week", "month")]
    [19725, 19723, 19723]
    """
    period = check_period(period)
    days = us // _DAY_US
    if period == "day":
        return days
    if period == "week":
        # 1970-01-01 was a Thursday: Monday is three days before a multiple of 7 after it.
        return days - (days + 3) % 7
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    return months.astype("datetime64[D]").astype(np.int64)


def end_days(starts: npt.NDArray[np.int64], period: str) -> npt.NDArray[np.int64]:
    """The exclusive end (days since 1970-01-01) of the calendar periods starting on
    ``starts``: :func:`period_end` for many, as integers.

    Examples
    --------
    >>> end_days(np.array([0, 31]), "month").tolist()
    [31, 59]
    """
    period = check_period(period)
    if period == "day":
        return starts + 1
    if period == "week":
        return starts + 7
    months = starts.astype("datetime64[D]").astype("datetime64[M]") + 1
    return months.astype("datetime64[D]").astype(np.int64)


def starts_between(first_us: int, last_us: int, period: str) -> npt.NDArray[np.int64]:
    """Starts (days since 1970-01-01) of every calendar period from the one holding
    ``first_us`` to the one holding ``last_us`` (microseconds, UTC): :func:`period_range`
    as integers. Empty when ``last_us`` is before ``first_us``.

    Examples
    --------
    >>> starts_between(0, 40 * 86_400_000_000, "month").tolist()
    [0, 31]
    """
    lo, hi = start_days(np.array([first_us, last_us], dtype=np.int64), period)
    if hi < lo:
        return np.zeros(0, dtype=np.int64)
    if period == "day":
        return np.arange(lo, hi + 1, dtype=np.int64)
    if period == "week":
        return np.arange(lo, hi + 1, 7, dtype=np.int64)
    months = np.arange(
        np.datetime64(int(lo), "D").astype("datetime64[M]"),
        np.datetime64(int(hi), "D").astype("datetime64[M]") + 1,
    )
    return months.astype("datetime64[D]").astype(np.int64)


@overload
def add_periods(ts: pl.Expr, k: int | pl.Expr, period: str) -> pl.Expr: ...
@overload
def add_periods(ts: pl.Series, k: int | pl.Expr, period: str) -> pl.Series: ...
@overload
def add_periods(ts: dt.datetime | dt.date, k: int | pl.Expr, period: str) -> dt.datetime: ...
def add_periods(
    ts: pl.Expr | pl.Series | dt.datetime | dt.date, k: int | pl.Expr, period: str
) -> pl.Expr | pl.Series | dt.datetime:
    """``ts`` moved by ``k`` periods: the start of a user's period ``k`` when ``ts`` is their reach.

    Days and weeks add a fixed 24 h or 168 h; months add calendar months, clamped to
    the end of a shorter month like Polars ``dt.offset_by`` (counted from ``ts`` each time,
    never step by step, so a 31 January start gives 29 February, then 31 March).

    Examples
    --------
    >>> import datetime as dt
    >>> add_periods(dt.datetime(2024, 1, 31, 9, 30, tzinfo=dt.UTC), 1, "month").isoformat()
    '2024-02-29T09:30:00+00:00'
    >>> add_periods(dt.datetime(2024, 1, 31, 9, 30, tzinfo=dt.UTC), 2, "week").date()
    datetime.date(2024, 2, 14)
    """
    period = check_period(period)
    if isinstance(ts, pl.Series):
        return pl.select(add_periods(pl.lit(_series_to_utc(ts)), k, period)).to_series()
    if not isinstance(ts, pl.Expr):
        moved: dt.datetime = pl.select(
            add_periods(pl.lit(utc_datetime(ts), dtype=UTC_US), k, period)
        ).item()
        return moved
    if period == "month":
        by = f"{k}mo" if isinstance(k, int) else pl.format("{}mo", k)
        return ts.dt.offset_by(by)
    # A Date plus a duration stays a Date; reach times are Datetimes, so this only matters
    # for callers that pass period starts, who then get Dates back as they would expect.
    return ts + pl.duration(days=k) if period == "day" else ts + pl.duration(weeks=k)


def whole_periods(start: pl.Expr, end: pl.Expr, period: str) -> pl.Expr:
    """How many whole user-relative periods fit between ``start`` and ``end``.

    The result is the largest ``k`` with ``add_periods(start, k) <= end``: the index of the
    user-relative period that holds ``end``. So the periods ``0 … k-1`` of a user who
    arrived at ``start`` have fully elapsed by ``end``. Both expressions must be UTC
    ``Datetime`` values; ``end`` before ``start`` gives a negative index.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> df = pl.DataFrame({
    ...     "reach": [dt.datetime(2024, 1, 31, tzinfo=dt.UTC)] * 3,
    ...     "ts": [dt.datetime(2024, 2, 28, tzinfo=dt.UTC), dt.datetime(2024, 2, 29, tzinfo=dt.UTC),
    ...            dt.datetime(2024, 3, 30, tzinfo=dt.UTC)],
    ... })
    >>> df.select(k=whole_periods(pl.col("reach"), pl.col("ts"), "month"))["k"].to_list()
    [0, 1, 1]
    """
    period = check_period(period)
    if period in _FIXED_US:
        return (end - start).dt.total_microseconds() // _FIXED_US[period]
    months = (end.dt.year().cast(pl.Int64) - start.dt.year().cast(pl.Int64)) * 12 + (
        end.dt.month().cast(pl.Int64) - start.dt.month().cast(pl.Int64)
    )
    # add_periods(start, months) lies in end's calendar month, on start's day clamped to
    # that month's length, at start's time of day. If that is still after end, the period
    # holding end began one month earlier (clamping keeps that one in the previous
    # calendar month, so it can never be after end too). Comparing day and time of day
    # gives the same answer as building the date, without formatting an offset per row.
    day = pl.min_horizontal(start.dt.day().cast(pl.Int64), end.dt.days_in_month().cast(pl.Int64))
    end_day = end.dt.day().cast(pl.Int64)
    overshoot = (day > end_day) | ((day == end_day) & (_time_of_day(start) > _time_of_day(end)))
    return months - overshoot.cast(pl.Int64)


def _time_of_day(ts: pl.Expr) -> pl.Expr:
    # UTC days are exactly 86 400 s long, so the time of day is the epoch remainder.
    return ts.dt.epoch("us") % 86_400_000_000


def fixed_length_us(period: str) -> int | None:
    """The length of a user-relative period in microseconds; ``None`` for months (they vary).

    Examples
    --------
    >>> fixed_length_us("day"), fixed_length_us("month")
    (86400000000, None)
    """
    return _FIXED_US.get(check_period(period))


@overload
def period_end(start: pl.Expr, period: str) -> pl.Expr: ...
@overload
def period_end(start: dt.date, period: str) -> dt.datetime: ...
def period_end(start: pl.Expr | dt.date, period: str) -> pl.Expr | dt.datetime:
    """The exclusive end (a UTC ``Datetime``) of the calendar period starting on ``start``.

    Examples
    --------
    >>> import datetime as dt
    >>> period_end(dt.date(2024, 2, 1), "month").isoformat()
    '2024-03-01T00:00:00+00:00'
    """
    if isinstance(start, pl.Expr):
        return add_periods(start.cast(UTC_US), 1, period)
    return add_periods(utc_datetime(start), 1, period)


def period_range(
    first: dt.datetime | dt.date, last: dt.datetime | dt.date, period: str
) -> pl.Series:
    """Starts of every calendar period from the one holding ``first`` to the one holding ``last``.

    Returns a ``pl.Date`` series named ``period``; empty when ``last`` is before ``first``.

    Examples
    --------
    >>> import datetime as dt
    >>> period_range(dt.date(2024, 1, 3), dt.date(2024, 1, 15), "week").to_list()
    [datetime.date(2024, 1, 1), datetime.date(2024, 1, 8), datetime.date(2024, 1, 15)]
    """
    period = check_period(period)
    lo, hi = period_start(first, period), period_start(last, period)
    if hi < lo:
        return pl.Series("period", [], dtype=pl.Date)
    return pl.date_range(lo, hi, _TRUNCATE_EVERY[period], eager=True).alias("period")


def complete_periods(
    first: dt.datetime | dt.date, last_ts: dt.datetime | dt.date, period: str
) -> pl.Series:
    """Calendar periods from the one holding ``first`` that had fully elapsed by ``last_ts``.

    A period is complete when its end is at or before ``last_ts`` (the log's last
    timestamp): the period holding ``last_ts`` is still running, even when ``last_ts`` is
    exactly its first instant. Returns a ``pl.Date`` series named ``period``.

    Examples
    --------
    >>> import datetime as dt
    >>> last = dt.datetime(2024, 1, 17, 12, tzinfo=dt.UTC)   # a Wednesday
    >>> complete_periods(dt.date(2024, 1, 3), last, "week").to_list()
    [datetime.date(2024, 1, 1), datetime.date(2024, 1, 8)]
    """
    starts = period_range(first, last_ts, period)
    return starts.filter(starts < period_start(last_ts, period))


def period_label(start: dt.date, period: str) -> str:
    """A short label for the calendar period starting on ``start``.

    Examples
    --------
    >>> import datetime as dt
    >>> period_label(dt.date(2024, 1, 1), "week"), period_label(dt.date(2024, 3, 1), "month")
    ('2024-W01', '2024-03')
    """
    return start.strftime(_LABEL_FORMAT[check_period(period)])


def period_noun(period: str, n: int = 1) -> str:
    """``"week"`` or ``"weeks"``: the period's name for a count of ``n``.

    Examples
    --------
    >>> period_noun("month", 3)
    'months'
    """
    noun = check_period(period)
    return noun if n == 1 else f"{noun}s"
