"""Cohort retention charts: the heatmap (cohort x period) and a curve per cohort.

Both draw a :class:`~cfnb.metrics.retention.RetentionResult`. A cell whose period has
not fully elapsed for anyone in the cohort has a null rate: it is drawn as an empty
grey "not yet elapsed" cell (heatmap) or not at all (curves), never as 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import altair as alt
import polars as pl

from cfnb.charts import theme
from cfnb.charts._check import expect
from cfnb.charts._parts import ChartParts
from cfnb.metrics.retention import RetentionResult

__all__ = ["retention_curve_chart", "retention_heatmap_chart"]

#: Defaults that bound a chart's size whatever the log: the latest cohorts and the
#: first periods are drawn (the subtitle says when some are left out).
MAX_COHORTS = 52
MAX_PERIODS = 52
_EMPTY_LABEL = "not yet elapsed"


def _mode_words(mode: str) -> str:
    return "in" if mode == "on" else "in or after"


def _window(
    result: RetentionResult, max_cohorts: int, max_periods: int
) -> tuple[pl.DataFrame, str]:
    """The cells drawn (latest cohorts, first periods) and a note on what was left out."""
    table = result.table
    cohort, period = table["cohort"], table["period"]
    # Most results fit: skip the filter (a null would not pass it, so none may be there).
    fits = cohort.n_unique() <= max_cohorts and period.n_unique() <= max_periods
    if fits and cohort.null_count() == 0 and period.null_count() == 0:
        return table, ""
    cohorts = table["cohort"].unique().sort()
    periods = table["period"].unique().sort()
    notes = []
    if cohorts.len() > max_cohorts:
        notes.append(f"the latest {max_cohorts} of {cohorts.len()} cohorts")
    if periods.len() > max_periods:
        notes.append(f"the first {max_periods} of {periods.len()} {result.period}s")
    keep_c = cohorts.tail(max_cohorts).implode()
    keep_p = periods.head(max_periods).implode()
    shown = table.filter(pl.col("cohort").is_in(keep_c), pl.col("period").is_in(keep_p))
    return shown, (" Showing " + " and ".join(notes) + "." if notes else "")


def _cohort_rows(table: pl.DataFrame) -> list[dict[str, Any]]:
    """One row per cohort with its cells as parallel arrays (flattened in the spec).

    ``k``, ``eligible`` and ``active`` are the result's ``period``, ``eligible_users``
    and ``active_users`` per cell; ``active`` is null where no user was eligible. The
    spec computes ``rate = active / eligible`` (null when ``eligible`` is 0). Arrays keep
    the spec small: a few bytes per cell instead of a JSON object.
    """
    cohorts = (
        table.sort("cohort", "period")
        .group_by("cohort", maintain_order=True)
        .agg(pl.col("cohort_users").first(), "period", "eligible_users", "active_users")
    )
    return [
        {
            "cohort": cohort,
            "label": f"{cohort.isoformat()} · {theme.count(users)}",
            "users": users,
            "k": k,
            "eligible": eligible,
            "active": active,
        }
        for cohort, users, k, eligible, active in cohorts.iter_rows()
    ]


def _cells(data: alt.InlineData) -> alt.Chart:
    """A chart of one row per cell: the cohort rows flattened, with rate and its text."""
    return (
        alt.Chart(data)
        .transform_flatten(["k", "eligible", "active"])
        .transform_calculate(
            rate="datum.eligible > 0 && isValid(datum.active) ? datum.active / datum.eligible : null"
        )
        .transform_calculate(
            cell=f"isValid(datum.rate) ? format(datum.rate, '{theme.RATE}') : '{_EMPTY_LABEL}'"
        )
    )


def _titles(unit: str, cohort_by: str, mode: str) -> dict[str, str]:
    """The words of the cells' tooltips and the k axis, by name (values of the heatmap)."""
    return {
        "cohort_title": f"cohort ({unit} of {cohort_by})",
        "k_title": f"{unit}s since {cohort_by} (k)",
        "eligible_title": f"users whose {unit} k has elapsed",
        "active_title": f"active {_mode_words(mode)} {unit} k (users)",
    }


def _tooltip(titles: Mapping[str, str]) -> list[alt.Tooltip]:
    return [
        alt.Tooltip("cohort:N", title=titles["cohort_title"]),
        alt.Tooltip("users:Q", title="users in cohort", format=theme.COUNT),
        alt.Tooltip("k:Q", title=titles["k_title"]),
        alt.Tooltip("eligible:Q", title=titles["eligible_title"], format=theme.COUNT),
        alt.Tooltip("active:Q", title=titles["active_title"], format=theme.COUNT),
        alt.Tooltip("cell:N", title="retention"),
    ]


def retention_heatmap_chart(
    result: RetentionResult,
    *,
    max_cohorts: int = MAX_COHORTS,
    max_periods: int = MAX_PERIODS,
) -> theme.AnyChart:
    """The cohort triangle: one row per cohort, one column per period ``k``.

    A cell's colour is the share of the cohort's eligible users active ``in`` (or ``in or
    after``) period ``k``. Cells with no eligible user (their period has not fully
    elapsed) have a null rate and are drawn light grey with the tooltip "not yet
    elapsed", never coloured as 0. The colour scale saturates at the largest rate after
    period 0 (period 0 is 100% by construction with the default activity), so the
    later periods stay readable; labels and tooltips give exact numbers.

    Parameters
    ----------
    result
        :func:`cfnb.metrics.retention.retention`. Reads ``table`` (``cohort,
        cohort_users, period, eligible_users, active_users, rate``), ``period``,
        ``mode``, ``cohort_by`` and ``active``.
    max_cohorts, max_periods
        Draw at most the latest ``max_cohorts`` cohorts and the first ``max_periods``
        periods (so the spec stays small whatever the log's length).
    """
    return draw_retention_heatmap(
        retention_heatmap_parts(result, max_cohorts=max_cohorts, max_periods=max_periods)
    )


def retention_heatmap_parts(
    result: RetentionResult,
    *,
    max_cohorts: int = MAX_COHORTS,
    max_periods: int = MAX_PERIODS,
) -> ChartParts:
    """What :func:`retention_heatmap_chart` draws; the key holds whether cells are labelled.

    The words of the axes and tooltips (period, cohort_by, mode) are values, so editing
    them keeps the layout.
    """
    expect(
        result, RetentionResult, "retention_heatmap_chart", "cfnb.metrics.retention.retention(...)"
    )
    unit = result.period
    heading = f"Retention by {unit}ly cohort" if unit != "day" else "Retention by daily cohort"
    if result.table.height == 0:
        return theme.no_data_parts("No cohort yet.", heading)
    shown, note = _window(result, max_cohorts, max_periods)
    rows = _cohort_rows(shown)
    n_periods = shown["period"].n_unique()
    n_cohorts = len(rows)
    later = shown.filter(pl.col("period") > 0)["rate"].drop_nulls()
    top = later.max() if later.len() else None
    cap = float(top) if isinstance(top, int | float) and top > 0 else 1.0
    step_x = max(12, min(38, 760 // max(n_periods, 1)))
    step_y = max(12, min(26, 640 // max(n_cohorts, 1)))
    labelled = step_x >= 30 and step_y >= 16
    values: dict[str, Any] = {
        "heading": heading,
        **_titles(unit, result.cohort_by, result.mode),
        "labels": [r["label"] for r in rows],
        "cap": cap,
        "gradient": min(160, max(60, step_y * n_cohorts)),
        "step_x": step_x,
        "step_y": step_y,
        "subtitle": theme.subtitle_lines(
            f"Share of each cohort active {_mode_words(result.mode)} {unit} k after "
            f"{result.cohort_by} (active = {result.active}). Grey: not yet elapsed, "
            f"no user could be counted (not 0). Colour saturates at {theme.pct(cap, 0)}." + note,
            max(70, (step_x * n_periods + 120) // 7),
        ),
    }
    if labelled:
        values["dark"] = f"datum.rate > {cap * 0.6!r}"
    return ChartParts(("heatmap", labelled), values, {"rows": theme.records(rows)})


def draw_retention_heatmap(parts: ChartParts) -> theme.AnyChart:
    """Draw :func:`retention_heatmap_parts` with Altair."""
    if parts.key[0] == theme.NO_DATA:
        return theme.draw_no_data(parts)
    _, labelled = parts.key
    v = parts.values
    base = _cells(alt.InlineData(values=parts.data["rows"])).encode(
        x=alt.X(
            "k:O",
            title=v["k_title"],
            axis=alt.Axis(labelAngle=0, labelOverlap=True),
        ),
        y=alt.Y("label:O", sort=v["labels"], title="cohort · users"),
        tooltip=_tooltip(v),
    )
    empty = base.transform_filter("!isValid(datum.rate)").mark_rect(
        color=theme.EMPTY, stroke="white", strokeWidth=0.5
    )
    cells = (
        base.transform_filter("isValid(datum.rate)")
        .mark_rect(stroke="white", strokeWidth=0.5)
        .encode(
            color=alt.Color(
                "rate:Q",
                title="active",
                scale=alt.Scale(scheme=theme.SEQUENTIAL, domain=[0, v["cap"]], clamp=True),
                legend=alt.Legend(format=".0%", gradientLength=v["gradient"], orient="right"),
            )
        )
    )
    layers: list[alt.Chart] = [empty, cells]
    if labelled:
        labels = (
            base.transform_filter("isValid(datum.rate)")
            .mark_text(fontSize=9)
            .encode(
                text=alt.Text("rate:Q", format=".0%"),
                color=alt.condition(v["dark"], alt.value("white"), alt.value(theme.TEXT)),
            )
        )
        layers.append(labels)
    chart = alt.layer(*layers).properties(
        width=alt.Step(v["step_x"]),
        height=alt.Step(v["step_y"]),
        title=alt.TitleParams(text=v["heading"], subtitle=v["subtitle"]),
    )
    return theme.apply(chart)


def retention_curve_chart(
    result: RetentionResult, *, max_cohorts: int = MAX_COHORTS, max_periods: int = MAX_PERIODS
) -> theme.AnyChart:
    """Retention curves: one thin line per cohort, and all cohorts pooled in black.

    A cohort's line stops where its periods stop having eligible users (null rates are
    not drawn). The pooled curve is :meth:`RetentionResult.curve` (eligible and active
    users summed per ``k``).

    Parameters
    ----------
    result
        :func:`cfnb.metrics.retention.retention`; reads ``table``, ``curve()``,
        ``period``, ``mode``, ``cohort_by`` and ``active``.
    max_cohorts, max_periods
        Draw at most the latest ``max_cohorts`` cohorts and the first ``max_periods``
        periods.
    """
    expect(
        result, RetentionResult, "retention_curve_chart", "cfnb.metrics.retention.retention(...)"
    )
    unit = result.period
    heading = (
        f"Retention curves by {unit}ly cohort"
        if unit != "day"
        else "Retention curves by daily cohort"
    )
    if result.table.height == 0:
        return theme.no_data("No cohort yet.", heading)
    shown, note = _window(result, max_cohorts, max_periods)
    # Cells not yet elapsed are not drawn on a curve: leave them out of the data.
    rows = _cohort_rows(shown.filter(pl.col("eligible_users") > 0))
    pooled = result.curve().table.filter(pl.col("period") < max_periods)
    pooled_rows = [
        {
            "cohort": "all cohorts",
            "k": r["period"],
            "eligible": r["eligible_users"],
            "active": r["active_users"],
            "rate": r["rate"],
            "cell": theme.pct(r["rate"]),
        }
        for r in pooled.iter_rows(named=True)
        if r["rate"] is not None
    ]
    last_k = max([0, *[r["k"] for r in pooled_rows]])
    titles = _titles(unit, result.cohort_by, result.mode)
    x = alt.X(
        "k:Q",
        title=titles["k_title"],
        axis=alt.Axis(tickMinStep=1, format="d"),
        scale=alt.Scale(domain=[0, max(1, last_k)], nice=False),
    )
    y = alt.Y(
        "rate:Q",
        title=f"share active {_mode_words(result.mode)} {unit} k",
        axis=alt.Axis(format="%"),
        scale=alt.Scale(domain=[0, 1]),
    )
    lines = (
        _cells(theme.inline(rows))
        .transform_filter("isValid(datum.rate)")
        .mark_line(strokeWidth=1.2, opacity=0.75)
        .encode(
            x=x,
            y=y,
            detail="cohort:N",
            color=alt.Color(
                "cohort:T",
                title="cohort",
                scale=alt.Scale(type="utc", range=["#BFD8EE", "#08306B"]),
                legend=alt.Legend(format="%Y-%m-%d", formatType="utc", gradientLength=160),
            ),
            tooltip=_tooltip(titles),
        )
    )
    pooled_tooltip = [
        alt.Tooltip("cohort:N", title="cohort"),
        alt.Tooltip("k:Q", title=titles["k_title"]),
        alt.Tooltip("eligible:Q", title=titles["eligible_title"], format=theme.COUNT),
        alt.Tooltip("active:Q", title=titles["active_title"], format=theme.COUNT),
        alt.Tooltip("cell:N", title="retention"),
    ]
    base = alt.Chart(theme.inline(pooled_rows)).encode(x=x, y=y, tooltip=pooled_tooltip)
    overall = base.mark_line(color=theme.TEXT, strokeWidth=2.6)
    dots = base.mark_point(color=theme.TEXT, filled=True, size=22)
    chart = alt.layer(lines, overall, dots).properties(
        width=theme.WIDTH,
        height=theme.HEIGHT,
        title=theme.title(
            heading,
            f"Thin lines: each cohort (light = oldest, dark = newest); black: all cohorts pooled. "
            f"Lines stop where no user of the cohort has reached {unit} k yet." + note,
        ),
    )
    return theme.apply(chart)
