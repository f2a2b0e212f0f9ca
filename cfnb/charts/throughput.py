"""The throughput chart: happy customers per period as an XmR process-behaviour chart.

Draws a :class:`~cfnb.metrics.throughput.ThroughputResult` (and, optionally, the
:class:`~cfnb.metrics.throughput.BusinessStage` lines of the 10x rule).
"""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from cfnb.charts import theme
from cfnb.charts._check import expect
from cfnb.metrics.throughput import BusinessStage, ThroughputResult

__all__ = ["throughput_chart"]

#: At most this many periods are drawn (the latest); the limits still come from the result.
MAX_PERIODS = 156
_STAGE_COLOR = theme.OKABE_ITO["bluish_green"]


def _label(period: str, start: Any) -> str:
    return f"{period} of {start.isoformat()}" if period != "month" else start.strftime("%B %Y")


def throughput_chart(
    result: ThroughputResult,
    business_stage: BusinessStage | None = None,
    *,
    max_periods: int = MAX_PERIODS,
) -> theme.AnyChart:
    """Happy customers per period, with the XmR centre line and natural process limits.

    * points and line: ``happy`` per complete period (blue); a point outside the limits
      or in a run of 8 on one side of the centre line is a signal (vermillion, larger);
    * the centre line (solid) and the natural process limits (dashed), labelled;
    * the period still running (when the result includes it, ``complete_only=False``)
      is a hollow grey point joined by a dotted line: it is not part of the chart;
    * with ``business_stage``: the Problem/Solution fit, Product/Market fit and Scale
      lines (labelled dotted rules). When they span far more than the data, the y axis
      is a symmetric log scale so both stay readable.

    Parameters
    ----------
    result
        :func:`cfnb.metrics.throughput.throughput`. Reads ``table`` (``period, happy,
        complete, moving_range, centre, lower_limit, upper_limit, signal``), ``stage``,
        ``period``, ``centre``, ``lower_limit``, ``upper_limit`` and ``verdict``.
    business_stage
        :func:`cfnb.metrics.throughput.business_stage`; reads ``lines`` (``stage,
        throughput``) and ``verdict``.
    max_periods
        Draw at most the latest ``max_periods`` periods.
    """
    expect(result, ThroughputResult, "throughput_chart", "cfnb.metrics.throughput.throughput(...)")
    if business_stage is not None:
        expect(
            business_stage,
            BusinessStage,
            "throughput_chart",
            "cfnb.metrics.throughput.business_stage(result, goal)",
        )
    per = result.period
    heading = f"Throughput: happy customers ({result.stage}) per {per}"
    if result.table.height == 0:
        return theme.no_data("No period of throughput yet.", heading)
    table = result.table.tail(max_periods)
    rows = []
    for r in table.iter_rows(named=True):
        kind = "running" if not r["complete"] else ("signal" if r["signal"] else "complete")
        rows.append(
            {
                "period": r["period"],
                "label": _label(per, r["period"]),
                "happy": r["happy"],
                "kind": kind,
                "status": "still running (not charted)" if kind == "running" else "complete",
                "moving_range": r["moving_range"],
                "signal": r["signal"] or ("—" if kind != "running" else "not judged"),
            }
        )
    x = alt.X(
        "period:T",
        title=None,
        scale=alt.Scale(type="utc"),
        axis=alt.Axis(
            format="%b %d" if per != "month" else "%b %Y", formatType="utc", labelOverlap=True
        ),
    )
    happy_max = float(table["happy"].max() or 0)  # type: ignore[arg-type]
    top = max(happy_max, result.upper_limit or 0.0)
    lines_df = business_stage.lines if business_stage is not None else pl.DataFrame()
    stage_top = float(lines_df["throughput"].max() or 0) if lines_df.height else 0.0  # type: ignore[arg-type]
    log = stage_top > 4 * max(top, 1.0)
    y_scale = alt.Scale(type="symlog", constant=1) if log else alt.Scale(zero=True)
    y_title = f"happy customers per {per}" + (" (log scale)" if log else "")
    y = alt.Y("happy:Q", title=y_title, scale=y_scale)
    tooltip = [
        alt.Tooltip("label:N", title="period"),
        alt.Tooltip("happy:Q", title=f"happy customers ({result.stage})", format=theme.COUNT),
        alt.Tooltip("status:N", title="period"),
        alt.Tooltip("moving_range:Q", title="moving range", format=theme.DECIMAL),
        alt.Tooltip("signal:N", title="signal"),
    ]
    base = alt.Chart(theme.inline(rows)).encode(x=x, y=y, tooltip=tooltip)
    complete = base.transform_filter("datum.kind != 'running'")
    layers: list[alt.Chart] = [
        complete.mark_line(color=theme.NEUTRAL, strokeWidth=1.6),
        complete.transform_filter("datum.kind == 'complete'").mark_point(
            color=theme.NEUTRAL, filled=True, size=36
        ),
        complete.transform_filter("datum.kind == 'signal'").mark_point(
            color=theme.CONSTRAINT, filled=True, size=90, shape="diamond"
        ),
        base.transform_filter("datum.kind == 'running'").mark_point(
            color=theme.MUTED, filled=False, size=60, strokeWidth=2
        ),
    ]
    running = [i for i, r in enumerate(rows) if r["kind"] == "running"]
    if running and running[0] > 0:
        bridge = rows[running[0] - 1 : running[0] + 1]
        layers.insert(
            1,
            alt.Chart(theme.inline(bridge))
            .mark_line(color=theme.MUTED, strokeDash=[2, 3], strokeWidth=1.4)
            .encode(x=x, y=y, tooltip=tooltip),
        )
    refs = _reference_rows(result)
    if refs:
        ref_tip = [
            alt.Tooltip("name:N", title="line"),
            alt.Tooltip("value:Q", title=f"happy customers per {per}", format=",.2f"),
            alt.Tooltip("meaning:N", title="meaning"),
        ]
        ref = alt.Chart(theme.inline(refs)).encode(
            y=alt.Y("value:Q", scale=y_scale, title=y_title), tooltip=ref_tip
        )
        layers.insert(
            0,
            ref.mark_rule(strokeWidth=1.3).encode(
                color=alt.Color("colour:N", scale=None),
                strokeDash=alt.StrokeDash("dash:N", scale=None),
            ),
        )
        layers.append(
            ref.mark_text(align="right", baseline="bottom", dy=-2, x="width", fontSize=10).encode(
                text="text:N", color=alt.Color("colour:N", scale=None)
            )
        )
    stages = _stage_rows(business_stage, per) if business_stage is not None else []
    if stages:
        stage_tip = [
            alt.Tooltip("name:N", title="stage of the business"),
            alt.Tooltip("value:Q", title=f"happy customers per {per}", format=",.2f"),
            alt.Tooltip("meaning:N", title="rule"),
        ]
        st = alt.Chart(theme.inline(stages)).encode(
            y=alt.Y("value:Q", scale=y_scale, title=y_title), tooltip=stage_tip
        )
        layers.insert(0, st.mark_rule(color=_STAGE_COLOR, strokeDash=[1, 3], strokeWidth=1.6))
        layers.append(
            st.mark_text(
                align="left",
                baseline="bottom",
                dy=-2,
                x=4,
                fontSize=10,
                fontWeight="bold",
                color=_STAGE_COLOR,
            ).encode(text="text:N")
        )
    subtitle = [result.verdict[:1].upper() + result.verdict[1:] + "."]
    legend_bits = "Blue: complete periods; red diamonds: signals; dashed: natural process limits"
    if any(r["kind"] == "running" for r in rows):
        legend_bits += "; hollow grey: the period still running (not judged)"
    subtitle.append(legend_bits + ".")
    if business_stage is not None:
        subtitle.append("Stage: " + business_stage.verdict + ".")
    if result.table.height > max_periods:
        subtitle.append(f"Showing the latest {max_periods} of {result.table.height} {per}s.")
    chart = alt.layer(*layers).properties(
        width=theme.WIDTH + 80,
        height=theme.HEIGHT,
        title=theme.title(heading, subtitle, width=100),
    )
    return theme.apply(chart)


def _reference_rows(result: ThroughputResult) -> list[dict[str, Any]]:
    rows = []
    lines = (
        ("centre", result.centre, "mean of the complete periods", theme.TEXT, "solid"),
        (
            "upper limit",
            result.upper_limit,
            "centre + 2.66 × mean moving range",
            theme.SUBTLE,
            "dashed",
        ),
        (
            "lower limit",
            result.lower_limit,
            "centre − 2.66 × mean moving range (≥ 0)",
            theme.SUBTLE,
            "dashed",
        ),
    )
    for name, value, meaning, colour, style in lines:
        if value is None:
            continue
        rows.append(
            {
                "name": name,
                "value": value,
                "meaning": meaning,
                "colour": colour,
                "dash": [5, 4] if style == "dashed" else [1, 0],
                "text": f"{name} {theme.count(value)}",
            }
        )
    return rows


def _stage_rows(stage: BusinessStage, per: str) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "value": value,
            "meaning": "10x rule: each stage is a tenth of the next; Scale is the goal",
            "text": f"{name} ({theme.count(value)}/{per})",
        }
        for name, value in stage.lines.iter_rows()
    ]
