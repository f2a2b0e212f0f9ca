"""One look for every cfnb chart: fonts, sizes, a colour-blind-safe palette, number formats.

The theme is applied to each chart by :func:`apply` (``chart.configure(...)``), never
through Altair's global theme registry, so importing cfnb changes nothing else in a
notebook. A configured chart cannot be put inside a layer or concat: :func:`strip`
gives it back without its configuration, and :func:`apply` re-themes the combination.

Colours are the Okabe-Ito palette (distinguishable with every common colour-vision
deficiency), used with fixed meanings across charts:

========================  ===========================================================
:data:`CONSTRAINT`        vermillion: the constraint, XmR signals, low-quality segments
:data:`AT_TARGET`         bluish green: a link at or above its target
:data:`BELOW_TARGET`      orange: a link below target that is not the constraint
:data:`NEUTRAL`           blue: plain values (users, throughput)
:data:`VARIES`            reddish purple: the most variable link when no constraint is named
:data:`MUTED`             grey: context (links after the happy stage, reference lines)
:data:`EMPTY`             very light grey: cells that do not exist yet (never "0")
========================  ===========================================================

Examples
--------
>>> import altair as alt
>>> from cfnb.charts import theme
>>> chart = theme.apply(alt.Chart(alt.InlineData(values=[{"x": 1}])).mark_point())
>>> chart.to_dict()["config"]["font"] == theme.FONT
True
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, TypeAlias, cast

import altair as alt

from cfnb.charts._parts import ChartParts

__all__ = [
    "AT_TARGET",
    "BELOW_TARGET",
    "CATEGORY",
    "CONSTRAINT",
    "COUNT",
    "DECIMAL",
    "EMPTY",
    "FONT",
    "HEIGHT",
    "MUTED",
    "NEUTRAL",
    "OKABE_ITO",
    "RATE",
    "RATIO",
    "SEQUENTIAL",
    "TEXT",
    "VARIES",
    "WIDTH",
    "AnyChart",
    "apply",
    "config",
    "strip",
    "title",
]

#: The Okabe-Ito palette, by name.
OKABE_ITO: Final[Mapping[str, str]] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

CONSTRAINT: Final = OKABE_ITO["vermillion"]
AT_TARGET: Final = OKABE_ITO["bluish_green"]
BELOW_TARGET: Final = OKABE_ITO["orange"]
NEUTRAL: Final = OKABE_ITO["blue"]
VARIES: Final = OKABE_ITO["reddish_purple"]
MUTED: Final = "#9A9A9A"
EMPTY: Final = "#EFEFEF"
TEXT: Final = "#222222"
SUBTLE: Final = "#5F5F5F"
#: Categorical colours for segments and cohorts (vermillion last: it means "constraint").
CATEGORY: Final[tuple[str, ...]] = (
    OKABE_ITO["blue"],
    OKABE_ITO["orange"],
    OKABE_ITO["bluish_green"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["black"],
    OKABE_ITO["yellow"],
    OKABE_ITO["vermillion"],
)
#: Sequential scheme for rates (light = low, dark = high); readable in grey scale too.
SEQUENTIAL: Final = "blues"

#: Number formats (d3-format): rates, counts of users, decimals, ratios.
RATE: Final = ".1%"
COUNT: Final = ",d"
DECIMAL: Final = ",.1f"
RATIO: Final = ",.2f"

FONT: Final = "Helvetica Neue, Helvetica, Arial, DejaVu Sans, sans-serif"
WIDTH: Final = 560
HEIGHT: Final = 280
TITLE_SIZE: Final = 15
SUBTITLE_SIZE: Final = 12
LABEL_SIZE: Final = 11
#: Characters per subtitle line for a chart of :data:`WIDTH` pixels.
WRAP: Final = 90

#: What a chart function returns: a single, layered or concatenated Altair chart.
AnyChart: TypeAlias = alt.Chart | alt.LayerChart | alt.HConcatChart | alt.VConcatChart


def config() -> alt.Config:
    """The theme as a Vega-Lite configuration (a fresh object on every call)."""
    return alt.Config(
        font=FONT,
        background="white",
        padding=10,
        autosize=alt.AutoSizeParams(type="pad"),
        title=alt.TitleConfig(
            fontSize=TITLE_SIZE,
            subtitleFontSize=SUBTITLE_SIZE,
            subtitleColor=SUBTLE,
            anchor="start",
            color=TEXT,
            fontWeight="bold",
            offset=12,
            subtitlePadding=4,
        ),
        axis=alt.AxisConfig(
            labelFontSize=LABEL_SIZE,
            titleFontSize=12,
            titleFontWeight="normal",
            titleColor=SUBTLE,
            labelColor=TEXT,
            gridColor="#E8E8E8",
            domainColor="#BBBBBB",
            tickColor="#BBBBBB",
            labelLimit=220,
        ),
        legend=alt.LegendConfig(
            labelFontSize=LABEL_SIZE,
            titleFontSize=12,
            titleFontWeight="normal",
            titleColor=SUBTLE,
            labelLimit=240,
            symbolStrokeWidth=2,
        ),
        header=alt.HeaderConfig(labelFontSize=12, titleFontSize=12, labelColor=TEXT),
        view=alt.ViewConfig(stroke=None),
        text=alt.MarkConfig(font=FONT, color=TEXT, fontSize=LABEL_SIZE),
        point=alt.MarkConfig(opacity=1),
    )


def apply(chart: alt.TopLevelMixin) -> AnyChart:
    """Return ``chart`` with the cfnb theme as its configuration (a copy; no global state).

    A shallow copy: Altair's ``configure_*`` methods deep-copy the whole chart (inline
    data included) once per call, which is most of the cost of building a chart.
    """
    out = cast(AnyChart, chart).copy(deep=False)
    out.config = _shared_config()
    return out


@functools.cache
def _shared_config() -> alt.Config:
    # Building the configuration validates two dozen schema objects (~20 ms), once per
    # chart; the explorer redraws charts on every edit. Charts only read it.
    return config()


def strip(chart: AnyChart) -> AnyChart:
    """A copy of ``chart`` without configuration, to layer or concatenate it.

    Examples
    --------
    >>> import altair as alt
    >>> from cfnb.charts import theme
    >>> themed = theme.apply(alt.Chart(alt.InlineData(values=[{"x": 1}])).mark_point())
    >>> both = theme.apply(alt.hconcat(theme.strip(themed), theme.strip(themed)))
    >>> both.to_dict()["config"]["font"] == theme.FONT
    True
    """
    out = chart.copy(deep=True)
    out.config = alt.Undefined
    return out


def wrap(text: str, width: int = WRAP) -> list[str]:
    """``text`` as lines of at most ``width`` characters (a title's subtitle lines)."""
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        lines.extend(textwrap.wrap(para, width=width, break_on_hyphens=False) or [""])
    return lines


def title(text: str, subtitle: str | Sequence[str] | None = None, *, width: int = WRAP) -> Any:
    """A chart title with an optional subtitle wrapped to ``width`` characters per line."""
    if subtitle is None:
        return alt.TitleParams(text=text)
    return alt.TitleParams(text=text, subtitle=subtitle_lines(subtitle, width))


def subtitle_lines(subtitle: str | Sequence[str], width: int = WRAP) -> list[str]:
    """A subtitle's lines as :func:`title` draws them (each part wrapped to ``width``).

    Examples
    --------
    >>> subtitle_lines(["One short line.", "Another."])
    ['One short line.', 'Another.']
    """
    parts = [subtitle] if isinstance(subtitle, str) else list(subtitle)
    return [line for part in parts for line in wrap(part, width)]


def json_value(value: object) -> object:
    """A value ready for an inline dataset: dates as ISO text, NaN/inf as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    iso = getattr(value, "isoformat", None)
    if callable(iso) and not isinstance(value, str | int | float | bool):
        return iso()
    return value


def records(rows: Iterable[Mapping[str, object]]) -> list[dict[str, Any]]:
    """Rows ready for an inline dataset: text keys, values through :func:`json_value`.

    Examples
    --------
    >>> import datetime as dt
    >>> records([{"cohort": dt.date(2024, 1, 1), "rate": float("nan")}])
    [{'cohort': '2024-01-01', 'rate': None}]
    """
    return [{str(k): json_value(v) for k, v in row.items()} for row in rows]


def inline(rows: Iterable[Mapping[str, object]]) -> alt.InlineData:
    """Rows as inline data; Altair names the dataset by a hash of its content."""
    return alt.InlineData(values=records(rows))


#: The key of :func:`no_data_parts`: charts with nothing to draw share one layout.
NO_DATA: Final = "no data"


def no_data(message: str, heading: str) -> AnyChart:
    """A themed placeholder chart saying why there is nothing to draw."""
    return draw_no_data(no_data_parts(message, heading))


def no_data_parts(message: str, heading: str) -> ChartParts:
    """The parts of :func:`no_data` (``key[0]`` is :data:`NO_DATA`)."""
    return ChartParts((NO_DATA,), {"heading": heading}, {"message": [{"message": message}]})


def draw_no_data(parts: ChartParts) -> AnyChart:
    """Draw :func:`no_data_parts`."""
    chart = (
        alt.Chart(
            alt.InlineData(values=parts.data["message"]),
            title=alt.TitleParams(text=parts.values["heading"]),
        )
        .mark_text(fontSize=13, color=SUBTLE, align="left", x=0, y=20)
        .encode(text="message:N", tooltip=alt.Tooltip("message:N", title="why empty"))
        .properties(width=WIDTH, height=40)
    )
    return apply(chart)


def pct(x: float | None, digits: int = 1) -> str:
    """A rate as a percentage for labels (``None`` as an em dash)."""
    if x is None or not math.isfinite(x):
        return "—"
    return f"{100 * x:.{digits}f}%"


def count(x: float | None) -> str:
    """A count for labels: whole numbers with thousands separators, else one decimal."""
    if x is None or not math.isfinite(x):
        return "—"
    if float(x).is_integer() or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.1f}"


def duration(seconds: float | None) -> str:
    """Seconds in the largest fitting unit: ``45 s``, ``12 min``, ``3.5 h``, ``2.1 d``."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            value = seconds / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{seconds:.0f} s"


def time_axis(starts: Sequence[Any], period: str, *, ticks: int = 6, **axis: Any) -> alt.Axis:
    """An axis for period starts (UTC dates): ticks on the periods themselves.

    Vega's default weekly ticks fall on Sundays; cfnb's weeks start on Monday. The ticks
    are at most ``ticks`` of the given period starts, evenly spaced, labelled as ISO
    dates (``%Y-%m`` for months).
    """
    return dated_axis(time_ticks(starts, ticks=ticks), date_labels(period), **axis)


def time_ticks(starts: Sequence[Any], *, ticks: int = 6) -> list[dict[str, Any]]:
    """At most ``ticks`` of the period starts, evenly spaced, as Vega-Lite UTC date-times.

    Examples
    --------
    >>> import datetime as dt
    >>> time_ticks([dt.date(2024, 1, 8), dt.date(2024, 1, 1)], ticks=1)
    [{'date': 1, 'month': 1, 'utc': True, 'year': 2024}]
    """
    days = sorted(set(starts))
    step = max(1, math.ceil(len(days) / ticks))
    # The keys in the order alt.DateTime(...).to_dict() gives them.
    return [{"date": d.day, "month": d.month, "utc": True, "year": d.year} for d in days[::step]]


def date_labels(period: str) -> str:
    """The label expression of a dated axis of ``period`` starts: ISO dates, months as
    ``%Y-%m``.

    Examples
    --------
    >>> date_labels("month")
    "utcFormat(datum.value, '%Y-%m')"
    """
    fmt = "%Y-%m" if period == "month" else "%Y-%m-%d"
    return f"utcFormat(datum.value, '{fmt}')"


def dated_axis(values: Any, labels: str, **axis: Any) -> alt.Axis:
    """An axis with ticks at ``values`` (:func:`time_ticks`), labelled by the expression
    ``labels`` (:func:`date_labels`).

    The expression is taken whole, not built from the period, so a chart's parts can
    carry it as a value and one layout serves every period.
    """
    return alt.Axis(values=values, labelExpr=labels, labelOverlap=True, **axis)


def log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values 1, 2, 5 x 10^k between ``lo`` and ``hi`` (for log axes of ratios).

    Over more than three decades, powers of ten only.

    Examples
    --------
    >>> log_ticks(0.4, 6)
    [0.5, 1.0, 2.0, 5.0]
    """
    out: list[float] = []
    steps = (1,) if hi > 1000 * lo else (1, 2, 5)
    for e in range(-6, 10):
        for m in steps:
            v = round(m * 10.0**e, 6)
            if lo <= v <= hi:
                out.append(v)
    return out
