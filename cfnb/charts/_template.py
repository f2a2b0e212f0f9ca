"""A chart's spec as a template: Altair's layout, drawn once, with holes for the values.

:meth:`Template.learn` draws the chart a second time with stand-ins for every value and
dataset (:meth:`ChartParts.placeholders`), finds where each stand-in landed in the spec,
and keeps the rest as it is. :meth:`Template.fill` then writes another result's values
into a copy, and names its datasets as Altair does: with Altair's own function.
"""

from __future__ import annotations

import json
import marshal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import altair as alt

# Altair names an inline dataset by a hash of its values (altair 6: ``data-`` and 32 hex
# digits, ``empty`` for ``[{}]``); using its function keeps the names identical.
from altair.utils.schemapi import SchemaValidationError
from altair.vegalite.v6.api import _dataset_name

from cfnb.charts._parts import MARK, NUMBER_BASE, ChartParts, Rows

__all__ = ["Template"]

Path: TypeAlias = tuple[str | int, ...]
Spec: TypeAlias = dict[str, Any]


@dataclass(frozen=True)
class Template:
    """A chart spec without its values: where each value and dataset name goes.

    Attributes
    ----------
    layout
        The spec (``marshal`` bytes: copied in microseconds), ``datasets`` left empty.
    values
        ``(path, value name)``: where each of :attr:`ChartParts.values` is written.
    names
        ``(path, data name)``: where each dataset's name is written (its references).
    order
        The datasets' roles in the order Altair lists them under ``datasets``.
    """

    layout: bytes
    values: tuple[tuple[Path, str], ...]
    names: tuple[tuple[Path, str], ...]
    order: tuple[str, ...]

    @classmethod
    def learn(
        cls, draw: Callable[[ChartParts], alt.TopLevelMixin], parts: ChartParts, spec: Spec
    ) -> Template | None:
        """The template of ``draw``'s layout for ``parts.key``, or ``None`` if it has none.

        ``spec`` is the chart of ``parts`` as Altair drew it: the template is kept only
        if it fills in to exactly that spec. ``None`` means "always draw with Altair".
        """
        stand_in = parts.placeholders()
        try:
            skeleton = draw(stand_in).to_dict(validate=False)
        except SchemaValidationError:  # Altair refused a stand-in: it draws this layout
            return None
        template = _locate(skeleton, stand_in)
        if template is None or _json(template.fill(parts)) != _json(spec):
            return None
        return template

    def fill(self, parts: ChartParts) -> Spec:
        """The spec of ``parts``: a copy of the layout with their values and datasets."""
        spec: Spec = marshal.loads(self.layout)
        for path, name in self.values:
            # Lists are copied, as Altair's to_dict copies them, so no two places share one.
            _put(spec, path, _fresh(parts.values[name]))
        names = {role: _name(rows) for role, rows in parts.data.items()}
        for path, role in self.names:
            _put(spec, path, names[role])
        # Equal datasets share a name and an entry, as in Altair.
        spec["datasets"] = {names[role]: parts.data[role] for role in self.order}
        return spec


def _locate(skeleton: Spec, stand_in: ChartParts) -> Template | None:
    """Find every stand-in in ``skeleton``; ``None`` if one is anywhere but alone."""
    texts: dict[str, str] = {}
    lists: dict[str, str] = {}
    numbers: dict[float, str] = {}
    for name, value in stand_in.values.items():
        if isinstance(value, list):
            lists[value[0]] = name
        elif isinstance(value, str):
            texts[value] = name
        else:
            numbers[value] = name
    datasets = skeleton.get("datasets", {})
    roles = {_name(rows): role for role, rows in stand_in.data.items()}
    if set(datasets) != set(roles):
        return None
    values: list[tuple[Path, str]] = []
    names: list[tuple[Path, str]] = []
    stray: list[Path] = []

    def walk(node: dict[str, Any] | list[Any], path: Path) -> None:
        items: list[tuple[str | int, Any]] = (
            list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        )
        for k, v in items:
            here = (*path, k)
            if isinstance(v, str):
                if v in texts:
                    values.append((here, texts[v]))
                elif v in roles:
                    names.append((here, roles[v]))
                elif MARK in v:
                    stray.append(here)  # a stand-in inside other text, or a list's item
            elif type(v) is float and v >= NUMBER_BASE:
                if v in numbers:
                    values.append((here, numbers[v]))
                else:
                    stray.append(here)
            elif isinstance(v, list) and len(v) == 1 and isinstance(v[0], str) and v[0] in lists:
                values.append((here, lists[v[0]]))
            elif isinstance(v, dict | list):
                walk(v, here)

    # The datasets keep their place among the keys; fill writes them.
    layout = {k: {} if k == "datasets" else v for k, v in skeleton.items()}
    walk(layout, ())
    if stray or not datasets:
        return None
    return Template(
        layout=marshal.dumps(layout),
        values=tuple(values),
        names=tuple(names),
        order=tuple(roles[name] for name in datasets),
    )


def _name(rows: Rows) -> str:
    """The name Altair gives an inline dataset of ``rows`` (any JSON value, whatever its
    annotation says)."""
    return _dataset_name(cast(Any, rows))


def _fresh(value: Any) -> Any:
    """A copy of a value's lists and dicts (texts and numbers are immutable)."""
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    return value


def _put(spec: Spec, path: Path, value: object) -> None:
    node: Any = spec
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value


def _json(spec: Spec) -> str:
    return json.dumps(spec, sort_keys=True)
