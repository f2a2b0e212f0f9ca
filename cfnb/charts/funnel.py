"""Funnel charts: users per stage with link and overall rates, and time to convert.

Both draw a result (:class:`~cfnb.metrics.funnel.FunnelResult`,
:class:`~cfnb.metrics.funnel.TimeToConvertResult`), never events.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from cfnb.charts import theme
from cfnb.charts._check import expect
from cfnb.charts._parts import ChartParts
from cfnb.metrics.funnel import FunnelResult, TimeToConvertResult

__all__ = ["funnel_chart", "time_to_convert_chart"]

#: At most this many groups are drawn in a split funnel (the largest by acquired users).
MAX_GROUPS = 10
#: At most this many cohorts are drawn in a funnel split by cohort (the latest).
MAX_COHORTS = 52
_ROW = 34


def _stage_rows(table: pl.DataFrame, keys: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    rows = []
    for r in table.iter_rows(named=True):
        step = int(r["step"])
        dropped = r["dropped"]
        prev = None if dropped is None else int(r["users"]) + int(dropped)
        rows.append(
            {
                **{k: r[k] for k in keys},
                "stage": r["stage"],
                "step": step,
                "users": r["users"],
                "previous_users": prev,
                "rate": r["rate"],
                "overall_rate": r["overall_rate"],
                "dropped": dropped,
                "median_time": theme.duration(r["median_seconds"]) if step else "—",
                "middle_half": (
                    f"{theme.duration(r['p25_seconds'])} to {theme.duration(r['p75_seconds'])}"
                    if step and r["p25_seconds"] is not None
                    else "—"
                ),
            }
        )
    return rows


_TOOLTIP = [
    alt.Tooltip("stage:N", title="stage"),
    alt.Tooltip("users:Q", title="users", format=theme.COUNT),
    alt.Tooltip("rate:Q", title="step rate (of previous stage)", format=theme.RATE),
    alt.Tooltip("overall_rate:Q", title="overall rate (of acquired)", format=theme.RATE),
    alt.Tooltip("dropped:Q", title="dropped on this link (users)", format=theme.COUNT),
    alt.Tooltip("median_time:N", title="median time from previous stage"),
    alt.Tooltip("middle_half:N", title="middle 50% of times"),
]


def funnel_chart(
    result: FunnelResult, *, by: str | None = None, width: int | None = None
) -> theme.AnyChart:
    """Bars of users per stage, with step rate, overall rate, drop-off and step time.

    Parameters
    ----------
    result
        :func:`cfnb.metrics.funnel.funnel`. Unsplit, the chart is one bar per stage (the
        grey part is the users lost on the link into it) beside a table of the rates. A
        result split by a segment (``funnel(journeys, by="channel")``) gives grouped bars
        of the share of each segment's acquired users reaching each stage (the
        :data:`MAX_GROUPS` largest segments); split by ``"cohort"``, a line per link of
        its step rate over the cohorts.
    by
        The split to draw: ``None`` draws the result's own split (``result.by``). Naming
        another column is an error: compute the funnel with that ``by``.
    width
        Width of the bars in pixels.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from cfnb.journeys import build_journeys
    >>> from cfnb.metrics.funnel import funnel
    >>> from cfnb.spec import Factory, Stage
    >>> t = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    >>> events = pl.DataFrame({"user_id": ["a", "a", "b"], "event": ["visit", "signup", "visit"],
    ...                        "ts": [t, t, t]})
    >>> j = build_journeys(events, Factory([Stage("Visit", "visit"), Stage("Signup", "signup")]))
    >>> funnel_chart(funnel(j)).to_dict()["hconcat"][0]["layer"][1]["mark"]["type"]
    'bar'
    """
    return draw_funnel(funnel_parts(result, by=by, width=width))


def funnel_parts(
    result: FunnelResult, *, by: str | None = None, width: int | None = None
) -> ChartParts:
    """What :func:`funnel_chart` draws of ``result``; the key says which funnel it is
    (unsplit, by a segment, by cohort, or nothing to draw), never which segment."""
    expect(result, FunnelResult, "funnel_chart", "cfnb.metrics.funnel.funnel(journeys)")
    if by is not None and by != result.by:
        raise ValueError(
            f"this funnel is split by {result.by!r}, not {by!r}: compute it with "
            f"cfnb.metrics.funnel.funnel(journeys, by={by!r}) and chart that"
        )
    if result.table.height == 0 or result.table["users"].sum() == 0:
        return theme.no_data_parts("No users in the factory yet.", "Funnel")
    if result.by is None:
        return _overall_parts(result, width or 380)
    if result.by == "cohort":
        return _by_cohort_parts(result, width or theme.WIDTH)
    return _by_segment_parts(result, result.by, width or theme.WIDTH)


def draw_funnel(parts: ChartParts) -> theme.AnyChart:
    """Draw :func:`funnel_parts` with Altair."""
    kind = parts.key[0]
    if kind == theme.NO_DATA:
        return theme.draw_no_data(parts)
    if kind == "overall":
        return _draw_overall(parts)
    if kind == "cohort":
        return _draw_by_cohort(parts)
    return _draw_by_segment(parts)


_COLUMNS = ("step rate", "overall", "dropped", "median time")
_OVERALL_NOTE = (
    "Blue: users who reached the stage; grey: users lost on the link into it. "
    "Step rate is of the previous stage, overall of the acquired users."
)


def _overall_parts(result: FunnelResult, width: int) -> ChartParts:
    rows = _stage_rows(result.table)

    def cell(r: dict[str, Any], name: str) -> str:
        if name == "step rate":
            return theme.pct(r["rate"])
        if name == "overall":
            return theme.pct(r["overall_rate"])
        if name == "dropped":
            return "—" if r["dropped"] is None else f"-{theme.count(r['dropped'])}"
        return str(r["median_time"])

    cells = [
        {**r, "column": name, "text": cell(r, name)}
        for r in rows
        for name in _COLUMNS
        if not (r["step"] == 0 and name != "overall")
    ]
    values = {
        "order": [r["stage"] for r in rows],
        "width": width,
        "heading": f"Funnel: {theme.count(rows[0]['users'])} acquired users",
        "subtitle": theme.subtitle_lines(_OVERALL_NOTE),
    }
    data = {"rows": theme.records(rows), "cells": theme.records(cells)}
    return ChartParts(("overall",), values, data)


def _draw_overall(parts: ChartParts) -> theme.AnyChart:
    v = parts.values
    order = v["order"]
    y = alt.Y("stage:N", sort=order, title=None, axis=alt.Axis(labelFontSize=12, labelPadding=6))
    base = alt.Chart(alt.InlineData(values=parts.data["rows"])).encode(y=y, tooltip=_TOOLTIP)
    lost = base.mark_bar(color="#DDDDDD", height={"band": 0.72}).encode(
        x=alt.X("previous_users:Q", title="users", axis=alt.Axis(format=",d", tickCount=5)),
    )
    kept = base.mark_bar(color=theme.NEUTRAL, height={"band": 0.72}).encode(
        x=alt.X("users:Q", title="users")
    )
    labels = base.mark_text(align="left", dx=4, fontWeight="bold").encode(
        x=alt.X("users:Q"), text=alt.Text("users:Q", format=theme.COUNT)
    )
    bars = alt.layer(lost, kept, labels).properties(width=v["width"], height=alt.Step(_ROW))
    table = (
        alt.Chart(alt.InlineData(values=parts.data["cells"]))
        .mark_text(align="center", fontSize=12)
        .encode(
            x=alt.X(
                "column:N",
                sort=list(_COLUMNS),
                title=None,
                axis=alt.Axis(
                    orient="top", domain=False, ticks=False, labelAngle=0, labelFontWeight="bold"
                ),
            ),
            y=alt.Y("stage:N", sort=order, axis=None),
            text="text:N",
            color=alt.condition(
                "datum.column == 'dropped'", alt.value(theme.SUBTLE), alt.value(theme.TEXT)
            ),
            tooltip=_TOOLTIP,
        )
        .properties(width=alt.Step(88), height=alt.Step(_ROW))
    )
    chart = alt.hconcat(bars, table, spacing=16).properties(
        title=alt.TitleParams(text=v["heading"], subtitle=v["subtitle"])
    )
    return theme.apply(chart)


def _by_segment_parts(result: FunnelResult, by: str, width: int) -> ChartParts:
    table = result.table.with_columns(group=pl.col(by).cast(pl.String).fill_null("(none)"))
    acquired = table.filter(pl.col("step") == 0).sort(["users", "group"], descending=[True, False])
    sizes = acquired.head(MAX_GROUPS)
    keep = sizes["group"].to_list()
    names = {g: f"{g} · {theme.count(n)}" for g, n in sizes.select("group", "users").rows()}
    shown = table.filter(pl.col("group").is_in(keep), pl.col("step") > 0)
    rows = [
        {**r, "group": names[r["group"]], "segment": r["group"]}
        for r in _stage_rows(shown, ("group",))
    ]
    top = max([0.05, *[r["overall_rate"] or 0.0 for r in rows]])
    more = acquired.height - len(keep)
    note = f" Showing the {MAX_GROUPS} largest of {acquired.height}." if more > 0 else ""
    values = {
        "order": list(result.stages[1:]),
        "groups": [names[g] for g in keep],
        "colours": list(theme.CATEGORY[: len(keep)]),
        "top": min(1.0, top * 1.15),
        "width": width,
        "step": max(9, 72 // max(len(keep), 1)),
        # The words naming the column are values: a segment edit keeps the layout.
        "heading": f"Funnel by {by}",
        "segment": by,
        "x_title": f"share of the {by}'s acquired users who reached the stage",
        "legend_title": f"{by} · acquired users",
        "subtitle": theme.subtitle_lines(
            f"Overall conversion of each {by}: the share of its acquired users reaching each "
            f"stage. Hover for users, step rates and drop-off.{note}"
        ),
    }
    return ChartParts(("segment",), values, {"rows": theme.records(rows)})


def _draw_by_segment(parts: ChartParts) -> theme.AnyChart:
    v = parts.values
    tooltip = [alt.Tooltip("segment:N", title=v["segment"]), *_TOOLTIP]
    base = alt.Chart(alt.InlineData(values=parts.data["rows"])).encode(
        y=alt.Y("stage:N", sort=v["order"], title=None, axis=alt.Axis(labelFontSize=12)),
        yOffset=alt.YOffset("group:N", sort=v["groups"]),
        tooltip=tooltip,
    )
    x = alt.X(
        "overall_rate:Q",
        title=v["x_title"],
        axis=alt.Axis(format="%"),
        scale=alt.Scale(domain=[0, v["top"]], nice=False),
    )
    bars = base.mark_bar(height={"band": 0.88}).encode(
        x=x,
        color=alt.Color(
            "group:N",
            sort=v["groups"],
            title=v["legend_title"],
            scale=alt.Scale(domain=v["groups"], range=v["colours"]),
            legend=alt.Legend(orient="top", direction="horizontal", titleOrient="left"),
        ),
    )
    labels = base.mark_text(align="left", dx=3, fontSize=10, color=theme.TEXT).encode(
        x=x, text=alt.Text("overall_rate:Q", format=theme.RATE)
    )
    chart = alt.layer(bars, labels).properties(
        width=v["width"],
        height=alt.Step(v["step"]),
        title=alt.TitleParams(text=v["heading"], subtitle=v["subtitle"]),
    )
    return theme.apply(chart)


_TREND_TOOLTIP = [
    alt.Tooltip("cohort:N", title="cohort"),
    alt.Tooltip("stage:N", title="link into"),
    alt.Tooltip("users:Q", title="users", format=theme.COUNT),
    alt.Tooltip("rate:Q", title="step rate (of previous stage)", format=theme.RATE),
    alt.Tooltip("overall_rate:Q", title="overall rate (of acquired)", format=theme.RATE),
    alt.Tooltip("dropped:Q", title="dropped on this link (users)", format=theme.COUNT),
]


def _by_cohort_parts(result: FunnelResult, width: int) -> ChartParts:
    table = result.table.filter(pl.col("step") > 0, pl.col("rate").is_not_null())
    cohorts = table["cohort"].unique().sort().tail(MAX_COHORTS)
    table = table.filter(pl.col("cohort").is_in(cohorts.implode()))
    fields = ["cohort", "stage", "users", "rate", "overall_rate", "dropped"]
    stages = list(result.stages[1:])
    more = result.table["cohort"].n_unique() - cohorts.len()
    note = f" Showing the latest {MAX_COHORTS} cohorts." if more > 0 else ""
    values = {
        "ticks": theme.time_ticks(cohorts.to_list()),
        "stages": stages,
        "colours": list(theme.CATEGORY[: len(stages)]),
        "width": width,
        "subtitle": theme.subtitle_lines(
            "Step rate of each link per acquisition cohort; recent cohorts may still be "
            "converting." + note
        ),
    }
    rows = theme.records(table.select(fields).to_dicts())
    return ChartParts(("cohort",), values, {"rows": rows})


def _draw_by_cohort(parts: ChartParts) -> theme.AnyChart:
    v = parts.values
    base = alt.Chart(alt.InlineData(values=parts.data["rows"])).encode(
        x=alt.X(
            "cohort:T",
            title="cohort (period of acquisition)",
            scale=alt.Scale(type="utc"),
            axis=theme.dated_axis(v["ticks"], theme.date_labels("day")),
        ),
        y=alt.Y("rate:Q", title="step rate (of the previous stage)", axis=alt.Axis(format="%")),
        color=alt.Color(
            "stage:N",
            sort=v["stages"],
            title="link into",
            scale=alt.Scale(domain=v["stages"], range=v["colours"]),
        ),
        tooltip=_TREND_TOOLTIP,
    )
    chart = alt.layer(base.mark_line(strokeWidth=2), base.mark_point(filled=True, size=30))
    chart = chart.properties(
        width=v["width"],
        height=theme.HEIGHT,
        title=alt.TitleParams(text="Funnel by cohort", subtitle=v["subtitle"]),
    )
    return theme.apply(chart)


def _share(users: int, share: float | None) -> str:
    if share is None or users == 0:
        return ""
    return "<1%" if share < 0.005 else f"{100 * share:.0f}%"


def time_to_convert_chart(result: TimeToConvertResult) -> theme.AnyChart:
    """A histogram of how long users took to reach a stage, in fixed human bins.

    Reads ``result.table`` (``bin, lower_seconds, upper_seconds, users, share``),
    ``stage``, ``since`` and ``users``. Bins are drawn in the result's order, empty ones
    included, so charts of different stages line up.
    """
    expect(
        result,
        TimeToConvertResult,
        "time_to_convert_chart",
        "cfnb.metrics.funnel.time_to_convert(journeys, stage)",
    )
    since = "the previous stage" if result.since == "previous" else "acquisition"
    heading = f"Time to {result.stage} since {since}: {theme.count(result.users)} users"
    if result.users == 0:
        return theme.no_data(f"Nobody reached {result.stage} yet.", heading)
    rows = [
        {
            **r,
            "range": (
                f"{theme.duration(r['lower_seconds'])} to {theme.duration(r['upper_seconds'])}"
                if r["upper_seconds"] is not None
                else f"{theme.duration(r['lower_seconds'])} or more"
            ),
            "share_text": _share(r["users"], r["share"]),
        }
        for r in result.table.iter_rows(named=True)
    ]
    order = [r["bin"] for r in rows]
    tooltip = [
        alt.Tooltip("bin:N", title="time bin"),
        alt.Tooltip("range:N", title="range"),
        alt.Tooltip("users:Q", title="users", format=theme.COUNT),
        alt.Tooltip("share:Q", title="share of converters", format=theme.RATE),
    ]
    base = alt.Chart(theme.inline(rows)).encode(
        x=alt.X(
            "bin:N",
            sort=order,
            title=f"time from {since} to {result.stage}",
            axis=alt.Axis(labelAngle=-40),
        ),
        tooltip=tooltip,
    )
    bars = base.mark_bar(color=theme.NEUTRAL).encode(y=alt.Y("users:Q", title="users"))
    labels = (
        base.transform_filter("datum.users > 0")
        .mark_text(dy=-6, fontSize=10)
        .encode(y="users:Q", text="share_text:N")
    )
    chart = alt.layer(bars, labels).properties(
        width=theme.WIDTH,
        height=theme.HEIGHT - 60,
        title=theme.title(heading, "Labels: share of the users who converted."),
    )
    return theme.apply(chart)
