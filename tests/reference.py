"""Slow, obviously correct references for the funnel, and a ClickHouse (chdb) oracle.

Shared by the tests of several modules. With pytest's default ("prepend") import mode the
``tests`` folder is on ``sys.path``, so test files import this as ``from reference import
...``. (``from tests.reference import ...`` also works when the project root is on
``sys.path``, as it is under an editable install, but the short form is the one to use.)

Everything here loops over one user's rows in plain Python; the only shared code with
the engine is the evaluation of each stage's predicate (``match.to_polars()``), which is
the spec's job, not the engine's.

ClickHouse notes (chdb 4.4, ClickHouse 26.9):

* chdb reads a Python object with the ``Python(name)`` table function, where ``name``
  is a local or global variable of the calling frame holding a pandas frame, a Polars
  frame or a PyArrow table. We hand it a PyArrow table.
* ``windowFunnel`` rejects ``DateTime64`` (``Illegal type DateTime64(6, 'UTC') of first
  argument``): it takes ``UInt*``, ``Date`` or ``DateTime`` (seconds). So the timestamp
  goes in as ``UInt64`` microseconds and the window in microseconds, exactly as PostHog
  calls it. The window is inclusive: a step exactly ``window`` after the start counts.
* ClickHouse evaluates every condition on every row, so one row can satisfy two
  conditions (a row matching both ``cond0`` and ``cond1`` alone gives level 2). cfnb
  never lets one row serve two stages, so the two agree only when stage conditions
  cannot overlap.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

__all__ = [
    "best_path_levels_exhaustive",
    "best_path_reference",
    "canonical_user_rows",
    "funnel_reference",
    "lifecycle_reference",
    "random_factory",
    "random_log",
    "window_funnel_levels",
]

_REQUIRED = ("user_id", "event", "ts")
_US = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Row:
    """One event row as the references see it."""

    ts: int  # microseconds
    matches: tuple[bool, ...]  # per stage
    values: dict[str, Any]  # every column of the row


def _us(value: dt.timedelta | None) -> int | None:
    return None if value is None else value // _US


def _null_last(value: Any) -> tuple[bool, Any]:
    return (value is None, value if value is not None else 0)


def canonical_user_rows(events: pl.DataFrame, stages: Sequence[Any]) -> dict[str, list[Row]]:
    """Each user's rows matching some stage, sorted in the canonical order.

    The order is: ``ts``; the first stage the row matches; ``event``; every other column
    by column name, nulls last (as ``cfnb.journeys`` documents).
    """
    flags = events.select(
        *(s.match.to_polars().fill_null(False).alias(f"m{k}") for k, s in enumerate(stages))
    )
    others = sorted(c for c in events.columns if c not in _REQUIRED)
    by_user: dict[str, list[Row]] = {}
    for values, matched in zip(events.iter_rows(named=True), flags.iter_rows(), strict=True):
        if not any(matched):
            continue
        ts = (values["ts"] - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // _US
        by_user.setdefault(values["user_id"], []).append(Row(ts, tuple(matched), values))

    def key(row: Row) -> tuple[Any, ...]:
        first = row.matches.index(True)
        return (row.ts, first, row.values["event"], *(_null_last(row.values[c]) for c in others))

    return {user: sorted(rows, key=key) for user, rows in by_user.items()}


def _table(
    reach: dict[str, list[int | None]],
    seg: dict[str, dict[str, Any]],
    factory: Any,
    events: pl.DataFrame,
) -> pl.DataFrame:
    n = len(factory.stages)
    users = sorted(reach)
    data: dict[str, Any] = {"user_id": pl.Series(users, dtype=pl.String)}
    for i in range(n):
        data[f"reach_{i}"] = pl.Series([reach[u][i] for u in users], dtype=pl.Int64).cast(
            pl.Datetime("us", "UTC")
        )
    table = pl.DataFrame(data)
    for name in factory.segment_by:
        values = [seg[u][name] for u in users]
        table = table.with_columns(pl.Series(name, values, dtype=events.schema[name]))
    return table


def lifecycle_reference(events: pl.DataFrame, factory: Any) -> pl.DataFrame:
    """The lifecycle journeys table, computed one user and one stage at a time.

    Returns the same columns as ``build_journeys(...).table``, sorted by ``user_id``.
    """
    stages = list(factory.stages)
    window = _us(factory.window)
    reach: dict[str, list[int | None]] = {}
    seg: dict[str, dict[str, Any]] = {}
    for user, rows in canonical_user_rows(events, stages).items():
        used: set[int] = set()
        times: list[int | None] = []
        for i, stage in enumerate(stages):
            candidates = [
                r
                for r, row in enumerate(rows)
                if row.matches[i] and r not in used and (i == 0 or row.ts >= times[-1])  # type: ignore[operator]
            ]
            if len(candidates) < stage.times:
                break
            taken = candidates[: stage.times]
            t = rows[taken[-1]].ts
            if i > 0:
                within = _us(stage.within)
                if within is not None and t - times[-1] > within:  # type: ignore[operator]
                    break
                if window is not None and t - times[0] > window:  # type: ignore[operator]
                    break
            else:
                seg[user] = {name: rows[taken[-1]].values[name] for name in factory.segment_by}
            used.update(taken)
            times.append(t)
        if times:
            reach[user] = times + [None] * (len(stages) - len(times))
    return _table(reach, seg, factory, events)


def _greedy_chain(rows: list[Row], start: int, factory: Any) -> list[int]:
    """Rows of the best_path chain from ``start``: earliest next rows, limits applied."""
    stages = list(factory.stages)
    window = _us(factory.window)
    chain = [start]
    for k in range(1, len(stages)):
        seen, found = 0, None
        for q in range(chain[-1] + 1, len(rows)):
            if rows[q].matches[k]:
                seen += 1
                if seen == stages[k].times:
                    found = q
                    break
        if found is None:
            break
        t = rows[found].ts
        within = _us(stages[k].within)
        if within is not None and t - rows[chain[-1]].ts > within:
            break
        if window is not None and t - rows[start].ts > window:
            break
        chain.append(found)
    return chain


def best_path_reference(events: pl.DataFrame, factory: Any) -> pl.DataFrame:
    """The best_path journeys table: the greedy chain from every start, best one kept.

    A start is any stage-0 row with at least ``times_0 - 1`` stage-0 rows before it; the
    user's row is the chain of the highest level with the earliest start.
    """
    stages = list(factory.stages)
    reach: dict[str, list[int | None]] = {}
    seg: dict[str, dict[str, Any]] = {}
    for user, rows in canonical_user_rows(events, stages).items():
        best: list[int] = []
        seen0 = 0
        for c, row in enumerate(rows):
            if not row.matches[0]:
                continue
            seen0 += 1
            if seen0 < stages[0].times:
                continue
            chain = _greedy_chain(rows, c, factory)
            if len(chain) > len(best):
                best = chain
        if best:
            times: list[int | None] = [rows[r].ts for r in best]
            reach[user] = times + [None] * (len(stages) - len(best))
            seg[user] = {name: rows[best[0]].values[name] for name in factory.segment_by}
    return _table(reach, seg, factory, events)


def best_path_levels_exhaustive(events: pl.DataFrame, factory: Any) -> dict[str, int]:
    """Each user's best_path level by trying every chain (``within`` is not supported).

    A chain is a strictly increasing sequence of rows (canonical order): ``times_0``
    stage-0 rows, then ``times_1`` stage-1 rows, and so on; stage ``k`` counts if its last
    row is at most ``window`` after stage 0's last row. Exponential in principle, fine for
    the handful of rows per user the tests generate.
    """
    stages = list(factory.stages)
    if any(s.within is not None for s in stages[1:]):
        raise ValueError("the exhaustive reference does not model `within`")
    window = _us(factory.window)
    n = len(stages)
    levels: dict[str, int] = {}
    for user, rows in canonical_user_rows(events, stages).items():

        @functools.cache
        def go(
            k: int, got: int, after: int, t0: int | None, rows: tuple[Row, ...] = tuple(rows)
        ) -> int:
            best = k
            for q in range(after + 1, len(rows)):
                if not rows[q].matches[k]:
                    continue
                if got + 1 < stages[k].times:
                    best = max(best, go(k, got + 1, q, t0))
                    continue
                t = rows[q].ts
                if k > 0 and window is not None and t - t0 > window:  # type: ignore[operator]
                    continue
                best = max(best, n if k + 1 == n else go(k + 1, 0, q, t if k == 0 else t0))
            return best

        level = go(0, 0, -1, None)
        if level:
            levels[user] = level
    return levels


@functools.cache
def _chdb() -> Any:
    import chdb

    return chdb.connect(":memory:")


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def window_funnel_levels(
    events: pl.DataFrame, conditions: Sequence[Iterable[str]], window: dt.timedelta
) -> dict[str, int]:
    """ClickHouse ``windowFunnel(window)`` level per user, with chdb; users at 0 left out.

    ``conditions[k]`` is the set of event names of stage ``k``.
    """
    # Read by name through `Python(data)` in the query below.
    data = events.select("user_id", "event", pl.col("ts").dt.epoch("us").alias("t")).to_arrow()  # noqa: F841
    conds = ", ".join(
        "event IN (" + ", ".join(_quote(n) for n in sorted(names)) + ")" for names in conditions
    )
    sql = (
        f"SELECT user_id, windowFunnel({window // _US})(toUInt64(t), {conds}) AS level "
        "FROM Python(data) GROUP BY user_id"
    )
    result = pl.from_arrow(_chdb().query(sql, "ArrowTable"))
    assert isinstance(result, pl.DataFrame)
    return {u: int(v) for u, v in result.iter_rows() if v > 0}


def _quartile(values: list[float], which: int) -> float | None:
    """First (0) or third (2) quartile, interpolating linearly between order statistics."""
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=4, method="inclusive")[which]


def funnel_reference(table: pl.DataFrame, n: int) -> list[dict[str, Any]]:
    """Funnel rows from a journeys table, one Python loop per stage."""
    rows = table.to_dicts()
    out: list[dict[str, Any]] = []
    for i in range(n):
        reached = [r for r in rows if r[f"reach_{i}"] is not None]
        secs = (
            [(r[f"reach_{i}"] - r[f"reach_{i - 1}"]).total_seconds() for r in reached] if i else []
        )
        prev = out[-1]["users"] if out else None
        first = out[0]["users"] if out else len(reached)
        out.append(
            {
                "step": i,
                "users": len(reached),
                "rate": None if not prev else len(reached) / prev,
                "overall_rate": None if not first else len(reached) / first,
                "dropped": None if prev is None else prev - len(reached),
                "median_seconds": statistics.median(secs) if secs else None,
                "p25_seconds": _quartile(secs, 0),
                "p75_seconds": _quartile(secs, 2),
            }
        )
    return out


T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
EVENT_SCHEMA = {
    "user_id": pl.String,
    "event": pl.String,
    "ts": pl.Datetime("us", "UTC"),
    "channel": pl.String,
    "plan": pl.Int64,
}


def random_log(
    rng: random.Random,
    *,
    users: int = 4,
    rows: int = 40,
    names: str = "abcd",
    seconds: int = 6,
) -> pl.DataFrame:
    """A small, tie-heavy log: whole seconds in ``[0, seconds)``, in no particular order."""
    data = [
        {
            "user_id": f"u{rng.randrange(users)}",
            "event": rng.choice(names),
            "ts": T0 + dt.timedelta(seconds=rng.randrange(seconds)),
            "channel": rng.choice(["x", "y", None]),
            "plan": rng.choice([1, 2, None]),
        }
        for _ in range(rng.randint(0, rows))
    ]
    return pl.DataFrame(data, schema=EVENT_SCHEMA)


def random_factory(rng: random.Random, *, mode: str = "lifecycle", names: str = "abcd") -> Any:
    """A random Factory: overlapping conditions, ``times``, ``within`` and ``window``."""
    from cfnb.spec import Factory, Stage, any_event, event, event_in, prop

    stages = []
    for k in range(rng.randint(1, 4)):
        kind = rng.random()
        if kind < 0.45:
            match = event(rng.choice(names))
        elif kind < 0.7:
            match = event_in(*rng.sample(names, 2))
        elif kind < 0.85:
            match = any_event()
        else:
            match = event(rng.choice(names)) & (prop("plan") == 1)
        stages.append(
            Stage(
                f"s{k}",
                match,
                times=rng.choice([1, 1, 1, 2, 3]),
                within=rng.choice([None, None, 1, 2]),
            )
        )
    return Factory(
        stages, mode=mode, window=rng.choice([None, 2, 3]), segment_by=["channel", "plan"]
    )
