"""The journeys engine's chains as small tables, and back: what executors send the driver.

This is the one module that knows the private state of :mod:`cfnb.journeys`
(``_Lifecycle``, ``_BestPath``, ``_assemble``). An executor builds the journeys of its
partition with the ordinary engine and exports the *raw chains* (reach times before
``within``/``window`` are applied) with the event row that anchors each chain; the
driver imports them as an engine state whose "events" are those anchor rows only. The
engine's own ``_assemble`` then applies the limits and gathers segments, on the driver,
exactly as it does locally, so window, within, period, segment and target edits are
answered there without going back to Spark.

lifecycle
    one row per acquired user: the row that set ``reach_0`` (every column), then
    ``__r0 … __r{n-1}``, the raw reach times in microseconds (null: never reached).
best_path
    one row per chain start the limits can still pick: every start that has a
    continuation, plus each user's first start (the level-1 answer). A user's starts
    are contiguous and in canonical order. ``__g`` is the start's group in its
    partition (-1: no continuation) and ``__c1 … __c{n-1}`` the group's raw continuation
    times (null: not reached). Starts without a continuation after the first are never
    chosen (``_best_path_reach`` only picks a user's first start or a start of a group),
    so they are not sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from cfnb.journeys import (
    Journeys,
    _assemble,
    _BestPath,
    _first_of_user,
    _groups_of,
    _Lifecycle,
    _user_bounds,
)
from cfnb.sources import FrameSource
from cfnb.spec import Factory

__all__ = ["export_state", "import_state"]

_GROUP = "__g"


def _reach(i: int) -> str:
    return f"__r{i}"


def _cont(k: int) -> str:
    return f"__c{k}"


def _times(values: npt.NDArray[np.int64], reached: npt.NDArray[np.bool_], name: str) -> pl.Series:
    return pl.Series(name, np.where(reached, values, 0), dtype=pl.Int64).set(
        pl.Series(~reached), None
    )


def export_state(journeys: Journeys) -> pl.DataFrame:
    """The raw chains of ``journeys`` (built by the engine on one partition) as a table."""
    state, events = journeys._state, journeys._source.frame()
    if isinstance(state, _Lifecycle):
        rows = journeys.rows_at(state.raw_pos[:, 0])
        table = events.select(pl.all().gather(pl.Series(rows, dtype=pl.Int64)))
        reach = [
            _times(state.raw_ts[:, i], state.raw_pos[:, i] >= 0, _reach(i))
            for i in range(state.raw_pos.shape[1])
        ]
        return table.with_columns(reach)
    first = _first_of_user(state.start_user)
    keep = np.flatnonzero(first | (state.start_group >= 0))
    group = state.start_group[keep]
    rows = journeys.rows_at(state.start_pos[keep])
    table = events.select(pl.all().gather(pl.Series(rows, dtype=pl.Int64)))
    columns = [pl.Series(_GROUP, group, dtype=pl.Int64)]
    has = group >= 0
    safe = np.where(has, group, 0)
    for k in range(state.cont_ts.shape[1]):
        if state.cont_pos.shape[0] == 0:  # no start has a continuation
            reached, values = np.zeros(group.size, dtype=bool), np.zeros(group.size, np.int64)
        else:
            reached = has & (state.cont_pos[safe, k] >= 0)
            values = state.cont_ts[safe, k]
        columns.append(_times(values, reached, _cont(k + 1)))
    return table.with_columns(columns)


def import_state(
    parts: Sequence[pl.DataFrame], factory: Factory, last_ts: dt.datetime | None
) -> tuple[pl.DataFrame, Journeys]:
    """The anchor rows and the journeys (limits applied) from every partition's export."""
    n = len(factory.stages)
    if factory.mode == "lifecycle":
        table = pl.concat(parts, how="vertical")
        anchors = table.drop([_reach(i) for i in range(n)])
        raw = table.select(_reach(i) for i in range(n))
        reached = raw.select(pl.all().is_not_null()).to_numpy().astype(bool).reshape(-1, n)
        raw_ts = raw.fill_null(0).to_numpy().astype(np.int64).reshape(-1, n)
        index = np.arange(reached.shape[0], dtype=np.int64)[:, None]
        # Column 0 points at the anchor row; later columns are only read as "reached".
        state: _Lifecycle | _BestPath = _Lifecycle(
            raw_pos=np.where(reached, index, -1),
            raw_ts=raw_ts,
        )
    else:
        anchors, state = _import_best_path(parts, n)
    # Positions are the anchor rows themselves: no index, no tie order to apply.
    return anchors, _assemble(FrameSource(anchors), factory, state, last_ts, rows=None)


def _import_best_path(parts: Sequence[pl.DataFrame], n: int) -> tuple[pl.DataFrame, _BestPath]:
    conts = [_cont(k) for k in range(1, n)]
    # Groups are numbered per partition: shift each partition's past the previous ones.
    shifted, offset = [], 0
    for part in parts:
        groups = int(part.select(pl.col(_GROUP).max().fill_null(-1)).item()) + 1
        shifted.append(
            part.with_columns(
                pl.when(pl.col(_GROUP) >= 0).then(pl.col(_GROUP) + offset).otherwise(-1)
            )
        )
        offset += groups
    table = pl.concat(shifted, how="vertical")
    anchors = table.drop([_GROUP, *conts])
    group = table[_GROUP].to_numpy().astype(np.int64)
    ids = table["user_id"]
    start_user = np.cumsum((ids != ids.shift()).fill_null(True).to_numpy()) - 1
    in_group = np.flatnonzero(group >= 0)
    lead = in_group[_first_of_user(group[in_group])] if in_group.size else in_group
    cont = table.select(conts)[lead] if conts else pl.DataFrame()
    if conts:
        reached = cont.select(pl.all().is_not_null()).to_numpy().astype(bool).reshape(-1, n - 1)
        cont_ts = cont.fill_null(0).to_numpy().astype(np.int64).reshape(-1, n - 1)
        cont_pos = np.where(reached, 0, -1).astype(np.int64)
    else:
        cont_ts = cont_pos = np.zeros((0, 0), dtype=np.int64)
    ts = table["ts"].to_physical().to_numpy().astype(np.int64)
    first, last = _groups_of(group)
    return anchors, _BestPath(
        start_pos=np.arange(table.height, dtype=np.int64),
        start_ts=ts,
        start_user=start_user.astype(np.int64),
        user_bounds=_user_bounds(start_user),
        group_first=first,
        group_last=last,
        cont_pos=cont_pos,
        cont_ts=cont_ts,
    )


def first_starts(journeys: Journeys) -> pl.DataFrame:
    """``user_id, reach_0``: each user's earliest possible ``reach_0`` (their first start).

    In lifecycle that is the journeys' own table (``reach_0``, with its other columns);
    in best_path the limits may pick a later start, never an earlier one.
    """
    state = journeys._state
    if isinstance(state, _Lifecycle):
        return journeys.table
    first = journeys.rows_at(state.start_pos[_first_of_user(state.start_user)])
    rows = journeys._source.frame().select(
        pl.col("user_id", "ts").gather(pl.Series(first, dtype=pl.Int64))
    )
    return rows.rename({"ts": "reach_0"})
