"""Check a Factory spec against a log: its columns, their types, its event names.

What cannot run is an error (:class:`SpecError` naming the field path, in the TOML
layout, and the fix): a column the log does not have, a value of the wrong type for its
column (``amount > "ten"`` on a number column), ``contains`` on a column that is not
text, a ``segment_by`` column that does not exist. What can run but is probably a
mistake is a warning (returned, one string each): an event name the log never has (with
the close matches from the log), a stage whose conditions can never match.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import polars as pl

from cfnb.spec.errors import SpecError, choice_list, join_path, suggestion
from cfnb.spec.factory import Factory
from cfnb.spec.predicates import (
    And,
    Compare,
    Condition,
    Contains,
    EventIn,
    IsIn,
    Not,
    Or,
    Predicate,
    Value,
    show_value,
    value_kind,
)
from cfnb.spec.toml_io import split_match

__all__ = ["locate", "validate_factory"]

_FIXES = {
    "numbers": "write a number without quotes, e.g. value = 10",
    "text": 'write the value as text in quotes, e.g. value = "pro"',
    "true/false values": "write true or false",
    "date-times": "write a date-time, e.g. value = 2024-01-31T00:00:00Z",
    "dates": "write a date, e.g. value = 2024-01-31",
}


def validate_factory(
    factory: Factory, schema: Mapping[str, pl.DataType], event_counts: Mapping[str, int]
) -> list[str]:
    """Check ``factory`` against a log's ``schema`` and event counts.

    Parameters
    ----------
    factory
        The spec.
    schema
        Column name → Polars dtype of the events table (``EventLog.schema``).
    event_counts
        Event name → number of events in the log.

    Returns
    -------
    list of str
        Warnings, each starting with the path of the field it is about.

    Raises
    ------
    SpecError
        For an unknown column or a value whose type does not fit its column.

    Examples
    --------
    >>> import polars as pl
    >>> from cfnb.spec import Factory, Stage, event, prop
    >>> f = Factory([Stage("Acquisition", "visit"), Stage("Revenue", event("purchse"))])
    >>> validate_factory(f, {"event": pl.String, "amount": pl.Float64}, {"visit": 9, "purchase": 3})
    ["stages[1].event: no 'purchse' events in the log; did you mean 'purchase'?"]
    >>> bad = f.with_stage(1, match=event("purchase") & (prop("amount") > "ten"))
    >>> validate_factory(bad, {"event": pl.String, "amount": pl.Float64}, {"purchase": 3})
    Traceback (most recent call last):
    ...
    cfnb.spec.errors.SpecError: stages[1].where[0].value: column 'amount' holds numbers (Float64), but "ten" is text; write a number without quotes, e.g. value = 10
    """
    warnings: list[str] = []
    known_events = {name for name, count in event_counts.items() if count > 0}
    targets = [(f"stages[{i}]", s.match) for i, s in enumerate(factory.stages)]
    targets.append(("active", factory.active))
    for base, predicate in targets:
        for path, node in locate(predicate, base):
            if isinstance(node, EventIn):
                warnings.extend(_check_events(node, path, known_events, event_counts))
            elif isinstance(node, Condition):
                _check_condition(node, path, schema)
        if predicate.event_names() == frozenset():
            warnings.append(
                f"{base}: can never match, its event conditions exclude each other: {predicate}"
            )
    for i, column in enumerate(factory.segment_by):
        if column not in schema:
            raise SpecError(f"segment_by[{i}]", _unknown_column(column, schema))
    return warnings


def locate(predicate: Predicate, base: str) -> Iterator[tuple[str, Predicate]]:
    """Yield ``(path, leaf)`` for every leaf of a stage's condition, paths as in the file.

    Examples
    --------
    >>> from cfnb.spec import event, prop
    >>> [path for path, _ in locate(event("buy") & (prop("amount") > 10), "stages[2]")]
    ['stages[2].event', 'stages[2].where[0]']
    """
    layout = split_match(predicate)
    if layout.event is not None:
        yield join_path(base, "event"), layout.event
    for i, condition in enumerate(layout.where):
        yield join_path(base, f"where[{i}]"), condition
    if layout.match is not None:
        yield from _locate_node(layout.match, join_path(base, "match"))


def _locate_node(node: Predicate, path: str) -> Iterator[tuple[str, Predicate]]:
    if isinstance(node, And | Or):
        key = "all" if isinstance(node, And) else "any"
        for i, part in enumerate(node.parts):
            yield from _locate_node(part, join_path(path, f"{key}[{i}]"))
    elif isinstance(node, Not):
        yield from _locate_node(node.part, join_path(path, "not"))
    elif isinstance(node, EventIn):
        yield join_path(path, "event"), node
    else:
        yield path, node


def _check_events(
    node: EventIn, path: str, known: set[str], counts: Mapping[str, int]
) -> Iterator[str]:
    for i, name in enumerate(node.names):
        if name in known:
            continue
        where = f"{path}[{i}]" if len(node.names) > 1 else path
        hint = suggestion(name, known)
        if not hint and known:
            common = sorted(known, key=lambda n: (-counts[n], n))[:5]
            hint = f"; the log's most frequent events are {choice_list(common)}"
        yield f"{where}: no {name!r} events in the log{hint}"


def _check_condition(node: Condition, path: str, schema: Mapping[str, pl.DataType]) -> None:
    column = node.column
    if column not in schema:
        raise SpecError(join_path(path, "column"), _unknown_column(column, schema))
    dtype = schema[column]
    family = _family(dtype)
    if isinstance(node, Contains) and family not in ("text", "null"):
        raise SpecError(
            join_path(path, "op"),
            f"'contains' needs a text column, but {column!r} holds {family} ({dtype}); "
            "compare it with ==, <, > or in instead",
        )
    values: tuple[Value, ...] = ()
    if isinstance(node, Compare):
        values = (node.value,)
    elif isinstance(node, IsIn):
        values = node.values
    for value in values:
        kind = value_kind(value)
        if family == "null" or kind in _ACCEPTS.get(family, ()):
            continue
        if family == "other":
            raise SpecError(
                join_path(path, "op"),
                f"column {column!r} holds {dtype} values, which can only be tested with "
                "'is null' or 'not null'",
            )
        raise SpecError(
            join_path(path, "value"),
            f"column {column!r} holds {family} ({dtype}), but {show_value(value)} is "
            f"{_ONE[kind]}; "
            f"{_FIXES[family]}",
        )


_ONE = {
    "numbers": "a number",
    "text": "text",
    "true/false values": "true/false",
    "date-times": "a date-time",
    "dates": "a date",
}

# A column family → the kinds of value it can be compared with.
_ACCEPTS: dict[str, tuple[str, ...]] = {
    "numbers": ("numbers",),
    "text": ("text",),
    "true/false values": ("true/false values",),
    "date-times": ("date-times", "dates"),
    "dates": ("dates",),
}


def _family(dtype: pl.DataType | type[pl.DataType]) -> str:
    base = dtype.base_type()
    if base is pl.Null:
        return "null"
    if dtype.is_numeric():
        return "numbers"
    if base in (pl.String, pl.Categorical, pl.Enum):
        return "text"
    if base is pl.Boolean:
        return "true/false values"
    if base is pl.Datetime:
        return "date-times"
    if base is pl.Date:
        return "dates"
    return "other"


def _unknown_column(column: str, schema: Mapping[str, object]) -> str:
    hint = suggestion(column, schema)
    columns = choice_list(schema, first=column)
    return f"unknown column {column!r}{hint}{' T' if hint else '; t'}he log's columns are {columns}"
