"""How the metrics' results show themselves: JSON-ready values, numbers, HTML tables.

Every result has a ``to_dict()`` (JSON-ready: ISO dates, ``None`` for missing or
non-finite numbers) and a ``_repr_html_()`` for notebooks; these are the pieces they
are built from.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable, Sequence

import polars as pl

__all__ = [
    "count",
    "html_grid",
    "html_table",
    "json_rows",
    "json_value",
    "pct",
    "pct_cell",
]

# --------------------------------------------------------------------------- JSON


def json_value(v: object) -> object:
    """A Python value made JSON-ready: dates as ISO strings, NaN/inf as ``None``.

    Examples
    --------
    >>> json_value([dt.date(2024, 1, 1), float("nan"), dt.timedelta(minutes=1)])
    ['2024-01-01', None, 60.0]
    """
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, list | tuple):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    return v


def json_rows(df: pl.DataFrame) -> list[dict[str, object]]:
    """A frame as a list of JSON-ready row dicts."""
    return [{k: json_value(v) for k, v in row.items()} for row in df.to_dicts()]


# --------------------------------------------------------------------------- numbers


def pct(x: float | None) -> str:
    """A rate as a short percentage (``None`` as an em dash).

    Examples
    --------
    >>> pct(0.4), pct(0.0123), pct(None)
    ('40%', '1.2%', '—')
    """
    if x is None:
        return "—"
    if x == 0 or x >= 0.1 or x == 1:
        return f"{100 * x:.0f}%"
    return f"{100 * x:.1f}%"


def pct_cell(rate: float | None) -> str | None:
    """A rate as a percentage with one decimal, for a table cell (``None`` stays blank)."""
    return None if rate is None else f"{100 * rate:.1f}%"


def count(x: float | None, *, grouped: bool = False) -> str:
    """A (possibly fractional) count of users, rounded the way a person would say it.

    ``grouped`` writes thousands with a separator (``1,234``).

    Examples
    --------
    >>> count(57.4), count(2.5), count(3.0), count(1234.0, grouped=True)
    ('57', '2.5', '3', '1,234')
    """
    if x is None:
        return "—"
    if abs(x) >= 10:
        return f"{x:,.0f}" if grouped else f"{x:.0f}"
    return f"{x:.1f}".removesuffix(".0")


# --------------------------------------------------------------------------- HTML


def _cell(v: object, as_rate: bool) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else ""
    if isinstance(v, float):
        if as_rate:
            return pct(v)
        return f"{v:,.2f}" if abs(v) < 1e6 else f"{v:,.0f}"
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def html_table(
    df: pl.DataFrame,
    *,
    title: str,
    rates: Iterable[str] = (),
    lead: str | None = None,
    max_rows: int = 40,
) -> str:
    """A small readable HTML table: a title, an optional sentence, rates as percentages."""
    rate_cols = set(rates)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    body = []
    for row in df.head(max_rows).iter_rows(named=True):
        cells = "".join(f"<td>{html.escape(_cell(v, k in rate_cols))}</td>" for k, v in row.items())
        body.append(f"<tr>{cells}</tr>")
    more = ""
    if df.height > max_rows:
        more = f"<p><small>… {df.height - max_rows} more rows</small></p>"
    lead_html = f"<p>{html.escape(lead)}</p>" if lead else ""
    return (
        f"<div><strong>{html.escape(title)}</strong>{lead_html}"
        f'<table class="cfnb"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{more}</div>"
    )


def html_grid(header: Sequence[str], rows: Sequence[Sequence[object]], caption: str = "") -> str:
    """A plain HTML table of cells already formatted (escaped text; numbers right-aligned)."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for v in row:
            align = ' style="text-align:right"' if isinstance(v, int | float) else ""
            text = "" if v is None else html.escape(str(v))
            cells.append(f"<td{align}>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (
        f'<table class="cfnb">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
