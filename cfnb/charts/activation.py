"""Activation charts: its effect on later outcomes, and candidate definitions.

Draw :class:`~cfnb.metrics.activation.ActivationEffect` and
:class:`~cfnb.metrics.activation.ActivationCandidates`.
"""

from __future__ import annotations

from typing import Any

import altair as alt

from cfnb.charts import theme
from cfnb.charts._check import expect
from cfnb.metrics.activation import ActivationCandidates, ActivationEffect

__all__ = ["activation_candidates_chart", "activation_effect_chart"]

#: Candidates drawn by default (the best ranked).
TOP = 15
_ROW = 30
_ACTIVATED = theme.NEUTRAL
_OTHER = theme.BELOW_TARGET


def _ratio_text(r: dict[str, Any]) -> str:
    if r["ratio"] is None:
        return "no comparison (see tooltip)" if r["note"] else "no ratio yet"
    lo, hi = r["ratio_lower"], r["ratio_upper"]
    ci = f" ({lo:.2f} to {hi:.2f})" if lo is not None and hi is not None else ""
    return f"{r['ratio']:.2f}x{ci}"


def activation_effect_chart(result: ActivationEffect) -> theme.AnyChart:
    """Activated vs not-activated users on each outcome, and the ratio with its interval.

    Left: the outcome rates of activated (blue) and other (orange) users, joined by a
    line. Right: the ratio activated / other on a log scale, with its confidence
    interval as an error bar and a rule at 1 (no effect). Revenue per user appears only
    on the right (it is not a rate). An outcome with no valid comparison (only
    activated users can reach that stage) shows the reason in its tooltip.

    Reads ``result.table`` (``outcome, basis, activated_users, activated_hits,
    activated_value, other_users, other_hits, other_value, ratio, ratio_lower,
    ratio_upper, corrected, note``), ``activation`` and ``level``.
    """
    expect(
        result,
        ActivationEffect,
        "activation_effect_chart",
        "cfnb.metrics.activation.activation_effect(...)",
    )
    heading = f"Activation effect: users who reached {result.activation} vs the others"
    if result.table.height == 0:
        return theme.no_data("No outcome after activation to compare.", heading)
    rows = [
        {**r, "ratio_text": _ratio_text(r), "note": r["note"] or "—"}
        for r in result.table.iter_rows(named=True)
    ]
    order = [r["outcome"] for r in rows]
    level = f"{result.level:.0%}"
    tooltip = [
        alt.Tooltip("outcome:N", title="outcome"),
        alt.Tooltip("basis:N", title="measured as"),
        alt.Tooltip("activated_value:Q", title="activated: value", format=",.3~f"),
        alt.Tooltip("activated_hits:Q", title="activated: users with outcome", format=theme.COUNT),
        alt.Tooltip("activated_users:Q", title="activated: users compared", format=theme.COUNT),
        alt.Tooltip("other_value:Q", title="others: value", format=",.3~f"),
        alt.Tooltip("other_hits:Q", title="others: users with outcome", format=theme.COUNT),
        alt.Tooltip("other_users:Q", title="others: users compared", format=theme.COUNT),
        alt.Tooltip("ratio_text:N", title=f"ratio activated / others ({level} CI)"),
        alt.Tooltip("note:N", title="note"),
    ]
    y = alt.Y("outcome:N", sort=order, title=None, axis=alt.Axis(labelFontSize=12))
    rate_rows = [r for r in rows if r["outcome"] != "revenue per user"]
    long = [
        {
            **r,
            "group": group,
            "value": r[f"{key}_value"],
            "value_text": theme.pct(r[f"{key}_value"]),
        }
        for r in rate_rows
        for group, key in (("activated", "activated"), ("not activated", "other"))
        if r[f"{key}_value"] is not None
    ]
    colour = alt.Color(
        "group:N",
        title=None,
        scale=alt.Scale(domain=["activated", "not activated"], range=[_ACTIVATED, _OTHER]),
        legend=alt.Legend(orient="top"),
    )
    rate_x = alt.X(
        "value:Q", title="share of users", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])
    )
    dumbbell = alt.Chart().encode(y=y, tooltip=tooltip)
    left = alt.layer(
        dumbbell.mark_line(color="#CCCCCC", strokeWidth=3).encode(x=rate_x, detail="outcome:N"),
        dumbbell.mark_point(filled=True, size=110, opacity=1).encode(x=rate_x, color=colour),
        dumbbell.transform_filter("datum.group == 'activated'")
        .mark_text(fontSize=10, dy=-13, color=_ACTIVATED)
        .encode(x=rate_x, text="value_text:N"),
        dumbbell.transform_filter("datum.group != 'activated'")
        .mark_text(fontSize=10, dy=14, color=_OTHER)
        .encode(x=rate_x, text="value_text:N"),
        data=theme.inline(long),
    ).properties(
        width=300,
        height=alt.Step(_ROW * 1.5),
        title=alt.TitleParams("Rates", fontSize=12, anchor="middle"),
    )

    finite = [r for r in rows if r["ratio"] is not None]
    lows = [r["ratio_lower"] or r["ratio"] for r in finite]
    highs = [r["ratio_upper"] or r["ratio"] for r in finite]
    lo = min([0.5, *[v * 0.8 for v in lows if v and v > 0]])
    hi = max([2.0, *[v * 1.25 for v in highs]])
    ratio_x = alt.X(
        "ratio:Q",
        title=f"ratio activated / others (log scale, {level} CI)",
        scale=alt.Scale(type="log", domain=[lo, hi]),
        axis=alt.Axis(values=theme.log_ticks(lo, hi), format="~g", labelOverlap=False),
    )
    # Data is given once, to the layer: Altair copies every sub-chart, data included.
    rb = alt.Chart().encode(y=y, tooltip=tooltip)
    one = (
        alt.Chart(theme.inline([{"one": 1.0, "meaning": "no effect (ratio 1)"}]))
        .mark_rule(color=theme.MUTED, strokeDash=[4, 3])
        .encode(
            x=alt.X("one:Q", scale=alt.Scale(type="log", domain=[lo, hi])),
            tooltip=alt.Tooltip("meaning:N", title="line"),
        )
    )
    right = alt.layer(
        one,
        rb.transform_filter("isValid(datum.ratio)")
        .mark_rule(color=theme.NEUTRAL, strokeWidth=2)
        .encode(
            x=alt.X("ratio_lower:Q", scale=alt.Scale(type="log", domain=[lo, hi]), title=""),
            x2="ratio_upper:Q",
        ),
        rb.transform_filter("isValid(datum.ratio)")
        .mark_point(color=theme.NEUTRAL, filled=True, size=90, shape="diamond", opacity=1)
        .encode(x=ratio_x),
        rb.transform_filter("isValid(datum.ratio)")
        .mark_text(dy=-13, fontSize=10)
        .encode(x=ratio_x, text="ratio_text:N"),
        rb.transform_filter("!isValid(datum.ratio)")
        .mark_text(align="left", x=4, fontSize=10, color=theme.SUBTLE, fontStyle="italic")
        .encode(text="ratio_text:N"),
        data=theme.inline(rows),
    ).properties(
        width=300,
        height=alt.Step(_ROW * 1.5),
        title=alt.TitleParams("Ratio", fontSize=12, anchor="middle"),
    )
    chart = (
        alt.hconcat(left, right, spacing=24)
        .resolve_scale(y="shared")
        .properties(
            title=theme.title(
                heading,
                [
                    f"Activated: reached {result.activation}. Users are compared once their "
                    "activation is final; a ratio above 1 means activated users do it more often.",
                    *(f"• {line}" for line in _short_summaries(rows, level)),
                ],
                width=110,
            )
        )
    )
    return theme.apply(chart)


def _short_summaries(rows: list[dict[str, Any]], level: str) -> list[str]:
    out = [f"{r['outcome']}: {_ratio_text(r)} ({level} CI)" for r in rows if r["ratio"] is not None]
    missing = [r["outcome"] for r in rows if r["ratio"] is None]
    if missing:
        out.append(
            f"No ratio for {', '.join(missing)}: hover for why (for a stage that only activated "
            "users can reach, pass activity= or a revenue table)."
        )
    return out


def _feature(event: str, times: int) -> str:
    return f"{event} ≥ 1x" if times == 1 else f"{event} ≥ {times}x"


def activation_candidates_chart(result: ActivationCandidates, *, top: int = TOP) -> theme.AnyChart:
    """Early behaviours ranked by the odds ratio of being retained, with support.

    Left: each candidate's odds ratio (log scale) with its confidence interval as an
    error bar and a rule at 1; the suggestion is bluish green, candidates whose interval
    includes 1 are grey. Right: support, the share of scored users with the behaviour.

    Reads ``result.table`` (``rank, event, times, users_with, retained_with,
    retention_with, users_without, retained_without, retention_without, odds_ratio,
    lower, upper, support, corrected``), ``suggestion``, ``summary``, ``first_days``,
    ``retained``, ``users`` and ``level``. Draws the ``top`` best ranked.
    """
    expect(
        result,
        ActivationCandidates,
        "activation_candidates_chart",
        "cfnb.metrics.activation.activation_candidates(...)",
    )
    heading = f"Activation candidates: behaviour in the first {result.first_days} days"
    if result.table.height == 0:
        return theme.no_data(result.summary, heading)
    shown = result.table.sort("rank").head(top)
    s = result.suggestion
    rows = []
    for r in shown.iter_rows(named=True):
        is_suggestion = s is not None and r["event"] == s.event and r["times"] == s.times
        kind = (
            "suggestion"
            if is_suggestion
            else ("clear effect" if r["lower"] > 1 or r["upper"] < 1 else "interval includes 1")
        )
        rows.append(
            {
                **r,
                "feature": f"{r['rank']}. {_feature(r['event'], r['times'])}",
                "kind": kind,
                "or_text": f"{r['odds_ratio']:,.1f}",
                "support_text": theme.pct(r["support"], 0),
            }
        )
    order = [r["feature"] for r in rows]
    level = f"{result.level:.0%}"
    tooltip = [
        alt.Tooltip("feature:N", title="behaviour (rank)"),
        alt.Tooltip("odds_ratio:Q", title="odds ratio of retention", format=",.2f"),
        alt.Tooltip("lower:Q", title=f"{level} CI lower", format=",.2f"),
        alt.Tooltip("upper:Q", title=f"{level} CI upper", format=",.2f"),
        alt.Tooltip("users_with:Q", title="users with it", format=theme.COUNT),
        alt.Tooltip("retention_with:Q", title="retained, with it", format=theme.RATE),
        alt.Tooltip("users_without:Q", title="users without it", format=theme.COUNT),
        alt.Tooltip("retention_without:Q", title="retained, without it", format=theme.RATE),
        alt.Tooltip("support:Q", title="support (share of users with it)", format=theme.RATE),
        alt.Tooltip("corrected:N", title="0.5 added to empty cells"),
    ]
    kinds = ["suggestion", "clear effect", "interval includes 1"]
    colour = alt.Color(
        "kind:N",
        title=None,
        scale=alt.Scale(domain=kinds, range=[theme.AT_TARGET, theme.NEUTRAL, theme.MUTED]),
        legend=alt.Legend(orient="top"),
    )
    lows = [float(r["lower"]) for r in rows if r["lower"] > 0]
    highs = [float(r["upper"]) for r in rows]
    domain = [min([0.5, *[v * 0.8 for v in lows]]), max([2.0, *[v * 1.25 for v in highs]])]
    scale = alt.Scale(type="log", domain=domain)
    ticks = alt.Axis(values=theme.log_ticks(*domain), format=",~g", labelOverlap=False)
    y = alt.Y("feature:N", sort=order, title=None, axis=alt.Axis(labelFontSize=11, labelLimit=260))
    base = alt.Chart().encode(y=y, tooltip=tooltip)
    one = (
        alt.Chart(theme.inline([{"one": 1.0, "meaning": "no effect (odds ratio 1)"}]))
        .mark_rule(color=theme.MUTED, strokeDash=[4, 3])
        .encode(x=alt.X("one:Q", scale=scale), tooltip=alt.Tooltip("meaning:N", title="line"))
    )
    forest = alt.layer(
        one,
        base.mark_rule(strokeWidth=2).encode(
            x=alt.X(
                "lower:Q",
                scale=scale,
                title=f"odds ratio of {result.retained} (log scale, {level} CI)",
                axis=ticks,
            ),
            x2="upper:Q",
            color=colour,
        ),
        base.mark_point(filled=True, size=70, opacity=1).encode(
            x=alt.X("odds_ratio:Q", scale=scale), color=colour
        ),
        data=theme.inline(rows),
    ).properties(width=380, height=alt.Step(24))
    plain = alt.Chart().encode(y=alt.Y("feature:N", sort=order, axis=None), tooltip=tooltip)
    support = alt.layer(
        plain.mark_bar(color=theme.MUTED, height={"band": 0.6}).encode(
            x=alt.X(
                "support:Q",
                title="support",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            )
        ),
        plain.mark_text(align="left", dx=3, fontSize=10).encode(
            x="support:Q", text="support_text:N"
        ),
        data=theme.inline(rows),
    ).properties(width=130, height=alt.Step(24))
    note = f" Showing the top {top} of {result.table.height}." if result.table.height > top else ""
    chart = (
        alt.hconcat(forest, support, spacing=12)
        .resolve_scale(y="shared")
        .properties(
            title=theme.title(
                heading,
                [
                    result.summary,
                    f"{theme.count(result.users)} users scored (outcome: {result.retained}); "
                    f"ranked by the interval's lower bound.{note}",
                ],
                width=95,
            )
        )
    )
    return theme.apply(chart)
