"""Segments compared: who becomes happy, and where each segment's chain breaks.

Draws a :class:`~cfnb.metrics.constraint.SegmentConstraints` (from
:func:`cfnb.metrics.constraint.constraint_by_segment`).
"""

from __future__ import annotations

from typing import Any

import altair as alt

from cfnb.charts import theme
from cfnb.charts._check import expect
from cfnb.charts.chain import LINK_STATES, _state, _strength
from cfnb.metrics.constraint import SegmentConstraints

__all__ = ["segment_chart"]

#: At most this many segment values are drawn (the largest by acquired users).
MAX_SEGMENTS = 12
_ROW = 30


def _value(v: str | None) -> str:
    return "(none)" if v is None else v


def segment_chart(
    result: SegmentConstraints, *, max_segments: int = MAX_SEGMENTS
) -> theme.AnyChart:
    """Per segment value: its happy rate against the rest, and its links' rates.

    Left: the share of each value's acquired users (recent complete cohorts) who became
    happy, a tick at the rate of all other values, and the value's share of users;
    values flagged as feeding low-quality users (``low_quality``) are vermillion.
    Right: each link's rate for that value, coloured as in :func:`chain_chart` (at
    target, below target, the value's own constraint, ...), with the constraint cell
    outlined.

    Reads ``result.segment``, ``result.table`` (``value, acquired, share, happy,
    happy_rate, rest_happy_rate, difference, difference_lower, difference_upper,
    low_quality, status, constraint, rate, target, gain_per_period, summary``) and, per
    value, ``result.results[i]`` (a ``ConstraintResult``: ``status``, ``stage`` and its
    ``links`` table).
    """
    expect(
        result,
        SegmentConstraints,
        "segment_chart",
        "cfnb.metrics.constraint.constraint_by_segment(journeys, factory, segment)",
    )
    seg = result.segment
    heading = f"Segments by {seg}: who becomes happy, and where each chain breaks"
    if result.table.height == 0:
        return theme.no_data(f"No value of {seg} has users yet.", heading)
    indexed = result.table.with_row_index("_i").sort(
        ["acquired", "value"], descending=[True, False], nulls_last=True
    )
    shown = indexed.head(max_segments)
    rows: list[dict[str, Any]] = []
    cells: list[dict[str, Any]] = []
    for r in shown.iter_rows(named=True):
        label = f"{_value(r['value'])} · {theme.count(r['acquired'])}"
        kind = "feeds low-quality users" if r["low_quality"] else "other values"
        rows.append(
            {
                **{k: v for k, v in r.items() if k != "_i"},
                "value": _value(r["value"]),
                "label": label,
                "kind": kind,
                "happy_text": f"{theme.pct(r['happy_rate'])} · {theme.pct(r['share'], 0)} of users",
                "label_at": max(r["happy_rate"] or 0.0, r["rest_happy_rate"] or 0.0),
                "difference_text": (
                    "—"
                    if r["difference"] is None
                    else f"{100 * r['difference']:+.1f} pts ({100 * (r['difference_lower'] or 0):+.1f} to "
                    f"{100 * (r['difference_upper'] or 0):+.1f})"
                ),
            }
        )
        res = result.results[int(r["_i"])]
        for link in res.links.sort("link").iter_rows(named=True):
            state = _state(link, res)
            cells.append(
                {
                    **link,
                    "value": _value(r["value"]),
                    "label": label,
                    "state": state,
                    "strength": _strength(link),
                    "rate_text": theme.pct(link["rate"], 0) if link["rate"] is not None else "—",
                    "flag": "◆" if state in ("constraint", "varies most") else "",
                    "status": res.status,
                }
            )
    order = [r["label"] for r in rows]
    y = alt.Y("label:N", sort=order, title=f"{seg} · users", axis=alt.Axis(labelFontSize=12))
    tooltip = [
        alt.Tooltip("value:N", title=seg),
        alt.Tooltip(
            "acquired:Q", title="acquired users (recent complete cohorts)", format=theme.COUNT
        ),
        alt.Tooltip("share:Q", title="share of those users", format=theme.RATE),
        alt.Tooltip("happy:Q", title="became happy (users)", format=theme.COUNT),
        alt.Tooltip("happy_rate:Q", title="happy rate", format=theme.RATE),
        alt.Tooltip("rest_happy_rate:Q", title="happy rate of all other values", format=theme.RATE),
        alt.Tooltip("difference_text:N", title="difference (95% CI)"),
        alt.Tooltip("kind:N", title="quality"),
        alt.Tooltip("summary:N", title="this value's verdict"),
    ]
    colour = alt.Color(
        "kind:N",
        title=None,
        scale=alt.Scale(
            domain=["feeds low-quality users", "other values"],
            range=[theme.CONSTRAINT, theme.NEUTRAL],
        ),
        legend=alt.Legend(orient="top"),
    )
    top = max(
        [
            0.05,
            *[float(r["happy_rate"] or 0) for r in rows],
            *[float(r["rest_happy_rate"] or 0) for r in rows],
        ]
    )
    x = alt.X(
        "happy_rate:Q",
        title="became happy (share of acquired)",
        axis=alt.Axis(format="%"),
        scale=alt.Scale(domain=[0, top * 1.45]),
    )
    # Data is given once, to each layer: Altair copies every sub-chart, data included.
    base = alt.Chart().encode(y=y, tooltip=tooltip)
    left = alt.layer(
        base.mark_bar(height={"band": 0.6}).encode(x=x, color=colour),
        base.mark_tick(color=theme.TEXT, thickness=2, size=_ROW * 0.8).encode(
            x=alt.X("rest_happy_rate:Q", scale=alt.Scale(domain=[0, top * 1.45]))
        ),
        base.mark_text(align="left", dx=6, fontSize=10).encode(
            x=alt.X("label_at:Q", scale=alt.Scale(domain=[0, top * 1.45])), text="happy_text:N"
        ),
        data=theme.inline(rows),
    ).properties(width=300, height=alt.Step(_ROW))

    states = [s for s in LINK_STATES if any(c["state"] == s for c in cells)]
    stage_order = list(dict.fromkeys(c["stage"] for c in cells))
    cell_tip = [
        alt.Tooltip("value:N", title=seg),
        alt.Tooltip("stage:N", title="link into"),
        alt.Tooltip("state:N", title="state"),
        alt.Tooltip("rate:Q", title="rate", format=theme.RATE),
        alt.Tooltip("target:Q", title="target", format=theme.RATE),
        alt.Tooltip("target_source:N", title="target from"),
        alt.Tooltip("gain_per_period:Q", title="gain at target (happy/period)", format=",.2f"),
        alt.Tooltip("users_in:Q", title="users entering", format=theme.COUNT),
        alt.Tooltip("users_out:Q", title="users passing", format=theme.COUNT),
        alt.Tooltip("status:N", title="this value's verdict"),
    ]
    grid = alt.Chart().encode(
        x=alt.X(
            "stage:N",
            sort=stage_order,
            title="link into",
            axis=alt.Axis(orient="top", labelAngle=0, domain=False, ticks=False),
        ),
        y=alt.Y("label:N", sort=order, axis=None),
        tooltip=cell_tip,
    )
    right = (
        alt.layer(
            grid.mark_rect(cornerRadius=3, stroke="white", strokeWidth=3).encode(
                color=alt.Color(
                    "state:N",
                    title="link",
                    scale=alt.Scale(domain=states, range=[LINK_STATES[s] for s in states]),
                    legend=alt.Legend(orient="bottom", direction="horizontal"),
                ),
                opacity=alt.condition(
                    "datum.state == 'after happy stage'", alt.value(0.45), alt.value(0.9)
                ),
            ),
            grid.mark_text(fontSize=12, fontWeight="bold").encode(
                text=alt.Text("cell_text:N"),
                color=alt.condition(
                    "datum.state == 'constraint'", alt.value("white"), alt.value(theme.TEXT)
                ),
            ),
            data=theme.inline(cells),
        )
        .transform_calculate(cell_text="datum.flag + ' ' + datum.rate_text")
        .properties(width=alt.Step(84), height=alt.Step(_ROW))
    )
    low = [r["value"] for r in rows if r["kind"] == "feeds low-quality users"]
    lead = (
        f"{', '.join(low)} feed{'s' if len(low) == 1 else ''} many users who become happy less often "
        "than the rest (the manifesto's 1 + 1 + 1 = -2)."
        if low
        else f"No value of {seg} is flagged as feeding low-quality users."
    )
    note = (
        f" Showing the {max_segments} largest of {result.table.height}."
        if result.table.height > max_segments
        else ""
    )
    chart = (
        alt.hconcat(left, right, spacing=14)
        .resolve_scale(y="shared", color="independent")
        .properties(
            title=theme.title(
                heading,
                [
                    lead,
                    "Left: happy rate (tick: all other values). Right: each link's rate for "
                    "that value; ◆ marks the value's own constraint (or most variable link)."
                    + note,
                ],
                width=100,
            )
        )
    )
    return theme.apply(chart)
