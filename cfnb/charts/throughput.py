"""The throughput chart: happy customers per period as an XmR process-behaviour chart.

Draws a :class:`~cfnb.metrics.throughput.ThroughputResult` (and, optionally, the
:class:`~cfnb.metrics.throughput.BusinessStage` lines of the 10x rule).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import altair as alt

from cfnb.charts import theme
from cfnb.charts._check import expect
from cfnb.charts._parts import ChartParts
from cfnb.metrics.throughput import BusinessStage, ThroughputResult

__all__ = ["throughput_chart"]

#: At most this many periods are drawn (the latest); the limits still come from the result.
MAX_PERIODS = 156
_STAGE_COLOR = theme.OKABE_ITO["bluish_green"]
_WIDTH = theme.WIDTH + 80
_LABEL_GAP = 13  # minimum pixels between two line labels


def _label(period: str, start: Any) -> str:
    return f"{period} of {start.isoformat()}" if period != "month" else start.strftime("%B %Y")


class _YScale:
    """The y scale, fixed in Python so line labels can be placed without overlaps."""

    def __init__(self, top: float, log: bool, height: int) -> None:
        self.top, self.log, self.height = top, log, height

    def pixel(self, v: float) -> float:
        f = (math.log1p(v) / math.log1p(self.top)) if self.log else v / self.top
        return self.height * (1 - max(0.0, min(1.0, f)))

    def ticks(self) -> list[float]:
        """Tick values of the log axis: 0, then 1, 2, 5 x 10^k up to the top."""
        return [0.0] + [m * 10**e for e in range(0, 9) for m in (1, 2, 5) if m * 10**e <= self.top]


def _y_scale(log: bool, top: float) -> alt.Scale:
    if log:
        return alt.Scale(type="symlog", constant=1, domain=[0, top], nice=False)
    return alt.Scale(domain=[0, top], nice=False)


def _y_axis(log: bool, ticks: list[float]) -> alt.Axis:
    if not log:
        return alt.Axis(tickCount=6, tickMinStep=1, format=",d")
    return alt.Axis(values=ticks, format="~s", labelOverlap=False)


def _spread(labels: list[dict[str, Any]], height: int) -> None:
    """Move label ``py`` apart (at least ``_LABEL_GAP`` pixels), keeping their order."""
    labels.sort(key=lambda r: (r["py"], r["text"]))
    for a, b in itertools.pairwise(labels):
        b["py"] = max(b["py"], a["py"] + _LABEL_GAP)
    overflow = labels[-1]["py"] - (height + 4) if labels else 0
    if overflow > 0:
        for r in labels:
            r["py"] -= overflow
        for a, b in zip(reversed(labels[:-1]), reversed(labels[1:]), strict=False):
            a["py"] = min(a["py"], b["py"] - _LABEL_GAP)


def throughput_chart(
    result: ThroughputResult,
    business_stage: BusinessStage | None = None,
    *,
    max_periods: int = MAX_PERIODS,
) -> theme.AnyChart:
    """Happy customers per period, with the XmR centre line and natural process limits.

    * points and line: ``happy`` per complete period (blue); a point outside the limits
      or in a run of 8 on one side of the centre line is a signal (vermillion diamond);
    * the centre line (solid) and the natural process limits (dashed), labelled on the
      right;
    * the period still running (when the result includes it, ``complete_only=False``)
      is a hollow grey point joined by a dotted line: it is not part of the chart;
    * with ``business_stage``: the Problem/Solution fit, Product/Market fit and Scale
      lines (green dotted rules, labelled). When they reach far above the data, the y
      axis is a symmetric log scale so both stay readable (the axis title says so).

    Parameters
    ----------
    result
        :func:`cfnb.metrics.throughput.throughput`. Reads ``table`` (``period, happy,
        complete, moving_range, signal``), ``stage``, ``period``, ``centre``,
        ``lower_limit``, ``upper_limit`` and ``verdict``.
    business_stage
        :func:`cfnb.metrics.throughput.business_stage`; reads ``lines`` (``stage,
        throughput``) and ``verdict``.
    max_periods
        Draw at most the latest ``max_periods`` periods.
    """
    return draw_throughput(throughput_parts(result, business_stage, max_periods=max_periods))


def throughput_parts(
    result: ThroughputResult,
    business_stage: BusinessStage | None = None,
    *,
    max_periods: int = MAX_PERIODS,
) -> ChartParts:
    """What :func:`throughput_chart` draws; the key holds the y scale's kind and whether
    the reference lines and the running period's bridge are drawn.

    The words and formats that name the period are values, so a period edit keeps the
    layout.
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
        return theme.no_data_parts("No period of throughput yet.", heading)
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
                "status": "still running (not judged)" if kind == "running" else "complete",
                "moving_range": r["moving_range"],
                "signal": r["signal"] or ("not judged" if kind == "running" else "—"),
            }
        )
    refs = _reference_rows(result)
    stages = _stage_rows(business_stage, per) if business_stage is not None else []
    data_top = max([1.0, *[float(r["happy"]) for r in rows], *[r["value"] for r in refs]])
    stage_top = max([0.0, *[r["value"] for r in stages]])
    log = stage_top > 4 * data_top
    scale = _YScale(max(data_top, stage_top) * 1.08, log, theme.HEIGHT)
    data = {"rows": theme.records(rows)}
    values: dict[str, Any] = {
        "heading": heading,
        "happy": f"happy customers ({result.stage})",
        "y_title": f"happy customers per {per}" + (" (log scale)" if log else ""),
        "line_title": f"happy customers per {per}",
        "top": scale.top,
        "ticks": theme.time_ticks(table["period"].to_list()),
        "date_labels": theme.date_labels(per),
    }
    if log:
        values["y_ticks"] = scale.ticks()
    lines = refs + stages
    if lines:
        labels = [{**r, "py": scale.pixel(r["value"])} for r in lines]
        _spread(labels, theme.HEIGHT)
        data["lines"] = theme.records(lines)
        data["labels"] = theme.records(labels)
    running = [i for i, r in enumerate(rows) if r["kind"] == "running"]
    bridge = bool(running) and running[0] > 0
    if bridge:
        data["bridge"] = theme.records(rows[running[0] - 1 : running[0] + 1])
    subtitle = [result.verdict[:1].upper() + result.verdict[1:] + "."]
    legend_bits = "Blue: complete periods; red diamonds: signals; dashed: natural process limits"
    if running:
        legend_bits += "; hollow grey: the period still running (not judged)"
    subtitle.append(legend_bits + ".")
    if business_stage is not None:
        subtitle.append("Stage: " + business_stage.verdict + ".")
    if result.table.height > max_periods:
        subtitle.append(f"Showing the latest {max_periods} of {result.table.height} {per}s.")
    values["subtitle"] = theme.subtitle_lines(subtitle, 108)
    return ChartParts(("xmr", log, bool(lines), bridge), values, data)


def draw_throughput(parts: ChartParts) -> theme.AnyChart:
    """Draw :func:`throughput_parts` with Altair."""
    if parts.key[0] == theme.NO_DATA:
        return theme.draw_no_data(parts)
    _, log, has_lines, bridge = parts.key
    v, data = parts.values, parts.data
    x = alt.X(
        "period:T",
        title=None,
        scale=alt.Scale(type="utc"),
        axis=theme.dated_axis(v["ticks"], v["date_labels"]),
    )
    y = alt.Y(
        "happy:Q",
        title=v["y_title"],
        scale=_y_scale(log, v["top"]),
        axis=_y_axis(log, v.get("y_ticks", [])),
    )
    tooltip = [
        alt.Tooltip("label:N", title="period"),
        alt.Tooltip("happy:Q", title=v["happy"], format=theme.COUNT),
        alt.Tooltip("status:N", title="status"),
        alt.Tooltip("moving_range:Q", title="moving range", format=theme.DECIMAL),
        alt.Tooltip("signal:N", title="signal"),
    ]
    base = alt.Chart(alt.InlineData(values=data["rows"])).encode(x=x, y=y, tooltip=tooltip)
    complete = base.transform_filter("datum.kind != 'running'")
    layers: list[alt.Chart] = []
    line_tip = [
        alt.Tooltip("name:N", title="line"),
        alt.Tooltip("value:Q", title=v["line_title"], format=",.2f"),
        alt.Tooltip("meaning:N", title="meaning"),
    ]
    if has_lines:
        rules = alt.Chart(alt.InlineData(values=data["lines"])).encode(
            y=alt.Y("value:Q", scale=_y_scale(log, v["top"]), title=v["y_title"]),
            tooltip=line_tip,
        )
        layers.append(
            rules.mark_rule().encode(
                color=alt.Color("colour:N", scale=None),
                strokeDash=alt.StrokeDash("dash:N", scale=None),
                strokeWidth=alt.StrokeWidth("stroke:Q", scale=None),
            )
        )
    layers.append(complete.mark_line(color=theme.NEUTRAL, strokeWidth=1.6))
    if bridge:
        layers.append(
            alt.Chart(alt.InlineData(values=data["bridge"]))
            .mark_line(color=theme.MUTED, strokeDash=[2, 3], strokeWidth=1.4)
            .encode(x=x, y=y, tooltip=tooltip)
        )
    layers += [
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
    if has_lines:
        layers.append(
            alt.Chart(alt.InlineData(values=data["labels"]))
            .mark_text(align="left", baseline="middle", x=_WIDTH + 12, fontSize=10)
            .encode(
                y=alt.Y("py:Q", scale=None),
                text="text:N",
                color=alt.Color("colour:N", scale=None),
                tooltip=line_tip,
            )
        )
    chart = alt.layer(*layers).properties(
        width=_WIDTH,
        height=theme.HEIGHT,
        title=alt.TitleParams(text=v["heading"], subtitle=v["subtitle"]),
    )
    return theme.apply(chart)


def _reference_rows(result: ThroughputResult) -> list[dict[str, Any]]:
    rows = []
    lines = (
        ("centre", result.centre, "mean of the complete periods", theme.TEXT, [1, 0]),
        (
            "upper limit",
            result.upper_limit,
            "centre + 2.66 x mean moving range",
            theme.SUBTLE,
            [5, 4],
        ),
        (
            "lower limit",
            result.lower_limit,
            "centre - 2.66 x mean moving range (not below 0)",
            theme.SUBTLE,
            [5, 4],
        ),
    )
    for name, value, meaning, colour, dash in lines:
        if value is None:
            continue
        rows.append(
            {
                "name": name,
                "value": value,
                "meaning": meaning,
                "colour": colour,
                "dash": dash,
                "stroke": 1.3,
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
            "colour": _STAGE_COLOR,
            "dash": [1, 3],
            "stroke": 1.8,
            "text": f"{name} {theme.count(value)}/{per}",
        }
        for name, value in stage.lines.iter_rows()
    ]
