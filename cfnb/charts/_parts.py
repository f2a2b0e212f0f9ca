"""What a chart spec is made of: its structure, and the values and data placed in it.

Each chart function is split in two: ``*_parts(result)`` computes everything that
depends on the data (in Python), and ``draw_*(parts)`` builds the Altair chart from the
parts, only *placing* their values (no arithmetic on them, no text built from them).
Charts of results with the same :attr:`ChartParts.key` then have the same layout and
differ only in the values, which is what lets :class:`cfnb.charts.specs.ChartSpecs`
draw a layout once with Altair and fill it in afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["MARK", "ChartParts", "Rows"]

#: Inline data: JSON-ready rows (see :func:`cfnb.charts.theme.records`).
Rows = list[dict[str, Any]]

#: Starts every placeholder text; never found in a real chart.
MARK: Final = "\u2063cfnb-slot\u2063"
#: Placeholder numbers: this plus the value's index (exact in a float, never a real size).
NUMBER_BASE: Final = 987_654_321_000_000.0


@dataclass(frozen=True)
class ChartParts:
    """The parts of one chart: a structural key, values and inline datasets.

    Attributes
    ----------
    key
        A tuple of everything the layout depends on (which layers exist, a scale's kind,
        the kind of split…): two results with equal keys give charts that differ only in
        ``values`` and ``data``. ``draw`` functions may read it freely. Words and formats
        (titles naming the period or the segment column, date label expressions) are
        values, not key: the explorer's ordinary edits must keep the layout, or each
        one costs a drawing with Altair.
    values
        Texts, numbers and lists that land in the spec as they are (titles, widths,
        scale domains, sort orders), by name. Never ``None`` or a bool: a value that
        can be absent is structure, and belongs to ``key``.
    data
        The inline datasets, by role (``"rows"``, ``"shapes"``), as JSON-ready rows.

    Examples
    --------
    >>> parts = ChartParts(("bars",), {"width": 380, "title": "Funnel"}, {"rows": [{"x": 1}]})
    >>> stand_in = parts.placeholders()
    >>> stand_in.key == parts.key, stand_in.values["width"] != 380
    (True, True)
    """

    key: tuple[Any, ...]
    values: Mapping[str, Any]
    data: Mapping[str, Rows]

    def placeholders(self) -> ChartParts:
        """The same parts with a unique stand-in for every value and dataset.

        A stand-in has the type of the value it stands for (text, number, or a
        one-item list for a list), so Altair accepts it wherever it accepts the value.
        """
        values = {
            name: _placeholder(name, i, value)
            for i, (name, value) in enumerate(self.values.items())
        }
        data = {name: [{MARK: name}] for name in self.data}
        return ChartParts(self.key, values, data)


def _placeholder(name: str, index: int, value: object) -> object:
    if isinstance(value, bool) or value is None:
        raise TypeError(f"chart value {name!r} is {value!r}: put optional parts in the key")
    if isinstance(value, str):
        return f"{MARK}{name}"
    if isinstance(value, int | float):
        return NUMBER_BASE + index
    if isinstance(value, list):
        return [f"{MARK}[]{name}"]
    raise TypeError(f"chart value {name!r} is a {type(value).__name__}: use text, numbers or lists")
