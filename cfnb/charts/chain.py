"""The chain: the factory's stages as links of a chain, the constraint the broken one.

The manifesto's picture: "The steps in the customer factory are like links in a
chain. At any given point in time, there is always a single weakest link or
constraint." :func:`chain_chart` draws one link per stage, in order, interlocked. A
link's thickness is its strength, ``rate / target`` (full at or above target), and its
colour says where it stands; the constraint is drawn broken, in vermillion, under a
"CONSTRAINT" marker. Under every link: its rate, its target and the happy customers per
period that reaching the target would add.

Everything comes from a :class:`~cfnb.metrics.constraint.ConstraintResult`: ``status``,
``stage``, ``summary``, ``period``, ``throughput_per_period`` and the ``links`` table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import altair as alt
import polars as pl

from cfnb.charts import theme
from cfnb.charts._check import expect
from cfnb.charts._parts import ChartParts
from cfnb.metrics.constraint import ConstraintResult

__all__ = ["LINK_STATES", "chain_chart"]

#: The states a link is drawn in, with their colours (legend order).
LINK_STATES: Final[dict[str, str]] = {
    "constraint": theme.CONSTRAINT,
    "varies most": theme.VARIES,
    "below target": theme.BELOW_TARGET,
    "at target": theme.AT_TARGET,
    "input": theme.NEUTRAL,
    "no target yet": theme.NEUTRAL,
    "after happy stage": theme.MUTED,
}

# Geometry, in pixels. A link is a stadium (rounded ring) ``_RING`` wide; links sit
# ``_SPACING`` apart, so neighbours overlap and interlock.
_SPACING: Final = 176
_RING: Final = 1.26 * _SPACING
_HALF_HEIGHT: Final = 0.40  # of the ring's half width, in path units
_MIN_STROKE: Final = 3.0
_MAX_STROKE: Final = 15.0
#: A link at this share of its target (or less) is drawn at the thinnest stroke.
_WEAKEST: Final = 0.4
_TOP: Final = 62  # y of the ring centres
_HEIGHT: Final = 204


def _f(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".") if x else "0"


def _arc_point(cx: float, r: float, degrees: float) -> tuple[float, float]:
    a = math.radians(degrees)
    return cx + r * math.cos(a), r * math.sin(a)


def _ring_path(h: float = _HALF_HEIGHT) -> str:
    """A stadium outline within x ∈ [-1, 1], y ∈ [-h, h] (symbol path units)."""
    c = 1 - h
    return (
        f"M{_f(-c)},{_f(-h)}L{_f(c)},{_f(-h)}A{_f(h)},{_f(h)} 0 0 1 {_f(c)},{_f(h)}"
        f"L{_f(-c)},{_f(h)}A{_f(h)},{_f(h)} 0 0 1 {_f(-c)},{_f(-h)}Z"
    )


def _broken_path(h: float = _HALF_HEIGHT) -> str:
    """The stadium cracked in two: the halves pulled apart and tilted at a jagged gap."""
    c = 1 - h
    lift, gap = 0.07, 0.10
    left = (
        f"M{_f(-gap + 0.04)},{_f(-h - lift)}L{_f(-c)},{_f(-h - lift)}"
        f"A{_f(h)},{_f(h)} 0 0 0 {_f(-c)},{_f(h - lift)}L{_f(-gap - 0.05)},{_f(h - lift)}"
    )
    right = (
        f"M{_f(gap - 0.03)},{_f(-h + lift)}L{_f(c)},{_f(-h + lift)}"
        f"A{_f(h)},{_f(h)} 0 0 1 {_f(c)},{_f(h + lift)}L{_f(gap + 0.06)},{_f(h + lift)}"
    )
    return left + right


def _under_path(start: float, end: float, h: float = _HALF_HEIGHT) -> str:
    """Part of a ring's lower right arc (degrees from its rightmost point, clockwise).

    Redrawn over the next link where this link passes in front of it, so neighbours
    interlock: the next link is on top at the upper crossing, under at the lower one.
    """
    c = 1 - h
    x0, y0 = _arc_point(c, h, start)
    x1, y1 = _arc_point(c, h, end)
    return f"M{_f(x0)},{_f(y0)}A{_f(h)},{_f(h)} 0 0 1 {_f(x1)},{_f(y1)}"


RING_PATH: Final = _ring_path()
BROKEN_PATH: Final = _broken_path()
# The crossing with the next ring is near 50 degrees; the coloured part outlasts its halo
# so the halo's round ends never show.
UNDER_PATH: Final = _under_path(15, 90)
UNDER_HALO_PATH: Final = _under_path(35, 70)
_PATHS: Final = {
    "ring": RING_PATH,
    "broken": BROKEN_PATH,
    "under": UNDER_PATH,
    "under_halo": UNDER_HALO_PATH,
}


def _state(row: dict[str, Any], result: ConstraintResult) -> str:
    named = result.stage == row["stage"]
    if result.status == "constraint" and row["is_constraint"]:
        return "constraint"
    if result.status == "raw material" and row["link"] == 0:
        return "constraint"
    if result.status == "not yet repeatable" and named:
        return "varies most"
    if row["link"] == 0:
        return "input"
    if not row["feeds_happy"]:
        return "after happy stage"
    if row["rate"] is None or row["target"] is None:
        return "no target yet"
    return "at target" if row["rate"] >= row["target"] else "below target"


def _strength(row: dict[str, Any]) -> float | None:
    rate, target = row["rate"], row["target"]
    if rate is None or target is None:
        return None
    if target <= 0:
        return 1.0
    return max(0.0, min(1.0, float(rate) / float(target)))


def _link_rows(result: ConstraintResult) -> list[dict[str, Any]]:
    links = result.links.sort("link")
    rows: list[dict[str, Any]] = []
    first = links.row(0, named=True) if links.height else None
    arrivals = None
    if first is not None and first["cohorts"]:
        arrivals = first["users_in"] / first["cohorts"]
    stages = [first["from_stage"]] if first is not None else [result.stage or "Acquisition"]
    happy = [r["stage"] for r in links.iter_rows(named=True) if r["feeds_happy"]]
    rows.append(
        {
            "link": 0,
            "from_stage": None,
            "stage": stages[0],
            "users_in": None,
            "users_out": arrivals,
            "rate": None,
            "target": None,
            "target_source": None,
            "gain_per_period": None,
            "is_constraint": result.status == "raw material",
            "cohorts": first["cohorts"] if first is not None else 0,
            "cv": None,
            "feeds_happy": True,
        }
    )
    rows.extend(links.iter_rows(named=True))
    per = result.period
    for i, r in enumerate(rows):
        r["position"] = i
        r["state"] = _state(r, result)
        r["strength"] = _strength(r)
        r["happy_stage"] = bool(happy) and r["stage"] == happy[-1]
        r["rate_text"], r["target_text"], r["gain_text"], r["gain_note"] = _texts(r, per)
        r["x"] = _SPACING / 2 + 8 + i * _SPACING
        r["flag"] = {"constraint": "▼ CONSTRAINT", "varies most": "▼ VARIES MOST"}.get(
            r["state"], ""
        )
    return rows


def _texts(r: dict[str, Any], per: str) -> tuple[str, str, str, str]:
    """The lines under a link: rate, target, gain at target and what the gain means."""
    if r["link"] == 0:
        users = r["users_out"]
        rate = "—" if users is None else f"{theme.count(users)} users/{per}"
        if r["state"] == "constraint":
            return rate, "input (raw material)", "more input", "raises throughput"
        return rate, "input (raw material)", "", ""
    rate = theme.pct(r["rate"], 0) if r["rate"] is not None else "—"
    if r["rate"] is None:
        target = "no complete cohort yet"
    elif r["target"] is None:
        target = "no target yet"
    elif r["target_source"] in (None, "spec"):
        target = f"target {theme.pct(r['target'], 0)}"
    else:
        target = f"target {theme.pct(r['target'], 0)} (best)"
    gain = note = ""
    if not r["feeds_happy"]:
        gain, note = "not in throughput", "(after the happy stage)"
    elif r["gain_per_period"] is not None:
        g = r["gain_per_period"]
        if g <= 0:
            gain = "at target"
        else:
            gain, note = f"+{theme.count(g)} happy/{per}", "if at target"
    if r["state"] == "varies most" and r["cv"] is not None:
        note = f"varies most: CV {r['cv']:.2f}"
    return rate, target, gain, note


def _thickness(strength: float | None) -> float:
    """0 to 1: how thick a link is drawn. Full at target; thinnest at :data:`_WEAKEST`."""
    if strength is None:
        return 1.0
    return max(0.0, min(1.0, (strength - _WEAKEST) / (1.0 - _WEAKEST)))


def _shapes(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The drawing order of the rings: halo, ring, then the previous ring's under-crossing.

    Only ``ring`` rows carry the link's fields (for tooltips); halos and crossings are
    slim, so the spec stays small.
    """
    out: list[dict[str, Any]] = []
    for i, r in enumerate(rows):
        width = _MIN_STROKE + (_MAX_STROKE - _MIN_STROKE) * _thickness(r["strength"])
        if r["strength"] is None and r["link"] != 0:
            width = (_MIN_STROKE + _MAX_STROKE) / 2
        broken = r["state"] == "constraint"
        r["stroke_width"] = round(width, 2)
        shape = "broken" if broken else "ring"
        x = r["x"]
        out.append({"x": x, "part": "halo", "shape": shape, "color": "#FFFFFF", "w": width + 6})
        out.append(
            {**r, "part": "ring", "shape": shape, "color": LINK_STATES[r["state"]], "w": width}
        )
        prev = rows[i - 1] if i else None
        if prev is not None and prev["state"] != "constraint" and not broken:
            pw, px, pc = prev["stroke_width"], prev["x"], LINK_STATES[prev["state"]]
            out.append(
                {"x": px, "part": "halo", "shape": "under_halo", "color": "#FFFFFF", "w": pw + 6}
            )
            out.append({"x": px, "part": "under", "shape": "under", "color": pc, "w": pw})
    return out


_TOOLTIP = [
    alt.Tooltip("stage:N", title="stage"),
    alt.Tooltip("from_stage:N", title="link from"),
    alt.Tooltip("state:N", title="state"),
    alt.Tooltip("rate:Q", title="rate (recent complete cohorts)", format=theme.RATE),
    alt.Tooltip("target:Q", title="target", format=theme.RATE),
    alt.Tooltip("target_source:N", title="target from"),
    alt.Tooltip("strength:Q", title="strength (rate / target)", format=".0%"),
    alt.Tooltip(
        "gain_per_period:Q", title="gain at target (happy customers/period)", format=",.2f"
    ),
    alt.Tooltip("users_in:Q", title="users entering the link", format=theme.COUNT),
    alt.Tooltip("users_out:Q", title="users passing it (input: users/period)", format=",.1f"),
    alt.Tooltip("cohorts:Q", title="recent complete cohorts", format=theme.COUNT),
    alt.Tooltip("cv:Q", title="variation across cohorts (CV)", format=".2f"),
]


def chain_chart(result: ConstraintResult, *, title: str | None = None) -> theme.AnyChart:
    """The customer factory as a chain, its constraint the broken link.

    One link per stage, in order: Acquisition (the input, labelled with users per
    period) and then one link per conversion (the link *into* that stage). A link's
    thickness is ``rate / target`` (full at or above target). Colours:

    * vermillion, drawn broken, under a ▼ CONSTRAINT marker: the constraint (when
      ``status == "raw material"``, the Acquisition link);
    * reddish purple, marked "VARIES MOST": the most variable link when the verdict is
      ``"not yet repeatable"`` (no constraint is named, and the chart says so);
    * orange below target, bluish green at target, blue without a target, grey for
      links after the happy stage (they do not feed throughput).

    Under each link: its rate, its target (``(best)`` when the target is the best recent
    cohort rather than the spec's) and the happy customers per period gained if it
    reached its target. The subtitle is the verdict (``result.summary``) and the
    throughput.

    Parameters
    ----------
    result
        :func:`cfnb.metrics.constraint.constraint`. Reads ``status``, ``stage``,
        ``summary``, ``period``, ``throughput_per_period`` and the ``links`` table
        (``link, from_stage, stage, users_in, users_out, rate, target, target_source,
        gain_per_period, is_constraint, cohorts, cv, feeds_happy``).
    title
        Replaces the default title.

    Examples
    --------
    >>> from cfnb import datasets
    >>> from cfnb.journeys import build_journeys
    >>> from cfnb.metrics.constraint import constraint
    >>> from cfnb.spec import Factory
    >>> factory = Factory.from_dict(datasets.default_spec())
    >>> log = datasets.generate(users=600, weeks=12)
    >>> chart = chain_chart(constraint(build_journeys(log.events, factory), factory))
    >>> chart.to_json() == chain_chart(constraint(build_journeys(log.events, factory), factory)).to_json()
    True
    """
    return draw_chain(chain_parts(result, title=title))


def chain_parts(result: ConstraintResult, *, title: str | None = None) -> ChartParts:
    """What :func:`chain_chart` draws of ``result``: one layout, whatever the result."""
    expect(result, ConstraintResult, "chain_chart", "cfnb.metrics.constraint.constraint(...)")
    rows = _link_rows(result)
    shapes = _shapes(rows)
    width = int(_SPACING * len(rows) + 16)
    states = [s for s in LINK_STATES if any(r["state"] == s for r in rows)]
    values = {
        "width": width,
        "states": states,
        "colours": [LINK_STATES[s] for s in states],
        "heading": title or _heading(result),
        "subtitle": theme.subtitle_lines(_subtitle(result), max(60, width // 7)),
    }
    return ChartParts((), values, {"shapes": theme.records(shapes), "links": theme.records(rows)})


def draw_chain(parts: ChartParts) -> theme.AnyChart:
    """Draw :func:`chain_parts` with Altair."""
    v = parts.values
    width = v["width"]
    x = alt.X("x:Q", scale=alt.Scale(domain=[0, width], nice=False, zero=False), axis=None)
    size = _RING**2  # symbol paths span [-1, 1]: the ring is sqrt(size) pixels wide

    state_scale = alt.Scale(domain=v["states"], range=v["colours"])
    ring_layer = (
        alt.Chart(alt.InlineData(values=parts.data["shapes"]))
        .mark_point(filled=False, opacity=1, strokeCap="round", strokeJoin="round", y=_TOP)
        .encode(
            shape=alt.Shape(
                "shape:N",
                scale=alt.Scale(domain=list(_PATHS), range=list(_PATHS.values())),
                legend=None,
            ),
            stroke=alt.Stroke("color:N", scale=None),
            strokeWidth=alt.StrokeWidth("w:Q", scale=None),
            size=alt.value(size),
        )
    )
    # Every other layer draws the same dataset: one row per link.
    links = alt.Chart(alt.InlineData(values=parts.data["links"]))
    legend = links.mark_point(opacity=0, y=_TOP).encode(
        color=alt.Color(
            "state:N",
            title=None,
            scale=state_scale,
            legend=alt.Legend(
                orient="bottom",
                direction="horizontal",
                symbolType="stroke",
                symbolStrokeWidth=5,
                symbolSize=300,
                symbolOpacity=1,
                labelFontSize=11,
                columnPadding=14,
            ),
        ),
    )

    def text(field: str, dy: float, **mark: Any) -> alt.Chart:
        chart: alt.Chart = (
            links.transform_filter(f"datum.{field} != ''")
            .mark_text(baseline="middle", y=_TOP + dy, **mark)
            .encode(text=f"{field}:N")
        )
        return chart

    ring_half = _RING / 2 * _HALF_HEIGHT
    names = text("stage", 0, fontSize=13, fontWeight="bold")
    below = ring_half + _MAX_STROKE / 2 + 14
    rates = text("rate_text", below, fontSize=17, fontWeight="bold").encode(
        color=alt.Color("state:N", scale=state_scale, legend=None)
    )
    targets = text("target_text", below + 21, fontSize=11, color=theme.SUBTLE)
    gains = text("gain_text", below + 39, fontSize=12, fontWeight="bold", color=theme.TEXT)
    notes = text("gain_note", below + 54, fontSize=11, color=theme.SUBTLE)
    flags = (
        links.transform_filter("datum.flag != ''")
        .mark_text(
            fontSize=13,
            fontWeight="bold",
            baseline="middle",
            y=_TOP - ring_half - _MAX_STROKE / 2 - 14,
        )
        .encode(text="flag:N", color=alt.Color("state:N", scale=state_scale, legend=None))
    )
    layers: list[alt.Chart] = [legend, ring_layer, names, rates, targets, gains, notes, flags]
    # x and the tooltip are shared by every layer (said once, at the top).
    chart = (
        alt.layer(*layers)
        .encode(x=x, tooltip=_TOOLTIP)
        .properties(
            width=width,
            height=_HEIGHT,
            title=alt.TitleParams(text=v["heading"], subtitle=v["subtitle"]),
        )
    )
    return theme.apply(chart)


def _heading(result: ConstraintResult) -> str:
    if result.status == "constraint":
        return f"The chain: the constraint is {result.stage}"
    if result.status == "raw material":
        return f"The chain: the constraint is {result.stage} (raw material)"
    return "The chain: no constraint can be named yet (not yet repeatable)"


def _subtitle(result: ConstraintResult) -> list[str]:
    per = result.period
    lines = [result.summary]
    happy = result.links.filter(pl.col("feeds_happy"))
    happy_stage = happy["stage"].to_list()[-1] if happy.height else None
    if result.throughput_per_period is not None and happy_stage is not None:
        lines.append(
            f"Throughput: {theme.count(result.throughput_per_period)} happy customers/{per} "
            f"(users reaching {happy_stage}). Thickness: rate / target (thin at "
            f"≤ {_WEAKEST:.0%}, full at target)."
        )
    return lines
