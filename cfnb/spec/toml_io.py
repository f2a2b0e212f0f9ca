"""A Factory spec as TOML (or JSON): the file a notebook, the CLI and a report share.

The minimal shape is always accepted exactly as written::

    mode = "lifecycle"        # or "best_path"
    window = "30d"            # optional
    period = "week"

    [[stages]]
    name = "Acquisition"
    event = "visit"

    [[stages]]
    name = "Activation"
    event = "created_project"
    within = "14d"            # optional
    target = 0.4              # optional

Top-level keys: ``name``, ``mode``, ``window``, ``period``, ``happy`` (a stage name;
default the last stage), ``segment_by = ["channel"]``, ``goal = 500``, an ``[active]``
table (what counts as active for retention; default any event) and the ``[[stages]]``.
Stage keys: ``name``, ``times``, ``within``, ``target`` and the condition, given by any
of these keys, which are ANDed when several are present:

``event``
    one event name, or a list of names (any of them): ``event = ["signup", "invite"]``.
``where``
    a list of property conditions, all of which must hold::

        where = [{column = "amount", op = ">", value = 10},
                 {column = "plan", op = "in", value = ["pro", "team"]}]

    ``op`` is one of ``==`` (or ``=``), ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``,
    ``contains`` (literal text), ``is null``, ``not null`` (the last two take no
    ``value``). Values are TOML values: text, numbers, booleans, dates, date-times.
``match``
    a nested condition, for or / not. A node is a table with exactly one of:
    ``event = …``; ``column``, ``op``, ``value`` (as in ``where``);
    ``all = [nodes]``; ``any = [nodes]``; ``not = node``; ``any_event = true``::

        [[stages]]
        name = "Referral"
        match = {any = [{event = "invite_sent"},
                        {all = [{event = "share"}, {column = "channel", op = "==", value = "email"}]},
                        {not = {column = "referrer", op = "is null"}}]}

The ``[active]`` table takes the same three keys (``event``, ``where``, ``match``).

Writing a spec gives the shortest of these forms that reads back equal (a plain
``event = "x"`` when that is all a stage matches), in a fixed key order, so the same
spec always gives the same bytes. JSON uses the same layout; as JSON has no dates, a
date value is written ``{"date": "2024-01-31"}`` and a date-time
``{"datetime": "2024-01-31T12:00:00+00:00"}`` (both forms are read from TOML too).
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from os import PathLike
from pathlib import Path
from typing import Any, cast

from cfnb.spec.durations import format_duration
from cfnb.spec.errors import SpecError, choice_list, join_path, suggestion, unknown_choice
from cfnb.spec.factory import Factory, Stage, plain_number
from cfnb.spec.predicates import (
    And,
    AnyEvent,
    Compare,
    Condition,
    Contains,
    EventIn,
    IsIn,
    IsNull,
    Not,
    NotNull,
    Or,
    Predicate,
    all_of,
    any_of,
)

__all__ = [
    "CONDITION_OPS",
    "MatchLayout",
    "dumps",
    "factory_from_dict",
    "factory_from_json",
    "factory_from_toml",
    "factory_to_dict",
    "factory_to_json",
    "split_match",
]

TOP_KEYS = ("name", "mode", "window", "period", "happy", "segment_by", "goal", "active", "stages")
MATCH_KEYS = ("event", "where", "match")
STAGE_KEYS = ("name", "event", "where", "match", "times", "within", "target")
CONDITION_KEYS = ("column", "op", "value")
NODE_KINDS = ("event", "column", "all", "any", "not", "any_event")
NODE_KEYS = ("event", "column", "op", "value", "all", "any", "not", "any_event")

CONDITION_OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "contains", "is null", "not null")
_OP_ALIASES = {"=": "==", "is not null": "not null", "is_null": "is null", "not_null": "not null"}
_NULL_OPS = {"is null": IsNull, "not null": NotNull}


# ---------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class MatchLayout:
    """How a stage's condition is laid out in the file: ``event``, ``where``, ``match``.

    The three parts are ANDed. :func:`split_match` gives the shortest layout that reads
    back to an equal predicate; validation uses it too, so error paths name the keys a
    user sees in the file.
    """

    event: EventIn | None
    where: tuple[Condition, ...]
    match: Predicate | None


def split_match(predicate: Predicate) -> MatchLayout:
    """Split a predicate into a leading event, a ``where`` list and the rest.

    Examples
    --------
    >>> from cfnb.spec import event, prop
    >>> layout = split_match(event("buy") & (prop("amount") > 10))
    >>> layout.event, layout.where, layout.match
    (event('buy'), (prop('amount') > 10,), None)
    """
    parts = predicate.parts if isinstance(predicate, And) else (predicate,)
    lead: EventIn | None = None
    i = 0
    if isinstance(parts[0], EventIn):
        lead, i = parts[0], 1
    where: list[Condition] = []
    while i < len(parts) and isinstance(parts[i], Condition):
        where.append(parts[i])  # type: ignore[arg-type]
        i += 1
    rest = parts[i:]
    match = None if not rest else rest[0] if len(rest) == 1 else And(rest)
    return MatchLayout(lead, tuple(where), match)


# ---------------------------------------------------------------------------- to data


def factory_to_dict(factory: Factory) -> dict[str, Any]:
    """Return the spec as TOML-shaped data: defaults left out, conditions minimal."""
    data: dict[str, Any] = {}
    if factory.name is not None:
        data["name"] = factory.name
    data["mode"] = factory.mode
    if factory.window is not None:
        data["window"] = format_duration(factory.window)
    data["period"] = factory.period
    if factory.happy is not None:
        data["happy"] = factory.happy
    if factory.segment_by:
        data["segment_by"] = list(factory.segment_by)
    if factory.goal is not None:
        data["goal"] = plain_number(factory.goal)
    if not isinstance(factory.active, AnyEvent):
        data["active"] = _match_to_dict(factory.active)
    data["stages"] = [_stage_to_dict(s) for s in factory.stages]
    return data


def _stage_to_dict(stage: Stage) -> dict[str, Any]:
    data: dict[str, Any] = {"name": stage.name}
    data.update(_match_to_dict(stage.match))
    if stage.times != 1:
        data["times"] = stage.times
    if stage.within is not None:
        data["within"] = format_duration(stage.within)
    if stage.target is not None:
        data["target"] = stage.target
    return data


def _match_to_dict(predicate: Predicate) -> dict[str, Any]:
    layout = split_match(predicate)
    data: dict[str, Any] = {}
    if layout.event is not None:
        data.update(_node_to_dict(layout.event))
    if layout.where:
        data["where"] = [_node_to_dict(c) for c in layout.where]
    if layout.match is not None:
        data["match"] = _node_to_dict(layout.match)
    return data


def _node_to_dict(p: Predicate) -> dict[str, Any]:
    if isinstance(p, EventIn):
        return {"event": p.names[0] if len(p.names) == 1 else list(p.names)}
    if isinstance(p, AnyEvent):
        return {"any_event": True}
    if isinstance(p, And):
        return {"all": [_node_to_dict(q) for q in p.parts]}
    if isinstance(p, Or):
        return {"any": [_node_to_dict(q) for q in p.parts]}
    if isinstance(p, Not):
        return {"not": _node_to_dict(p.part)}
    if isinstance(p, Compare):
        return {"column": p.column, "op": p.op, "value": p.value}
    if isinstance(p, IsIn):
        return {"column": p.column, "op": "in", "value": list(p.values)}
    if isinstance(p, Contains):
        return {"column": p.column, "op": "contains", "value": p.text}
    if isinstance(p, IsNull):
        return {"column": p.column, "op": "is null"}
    if isinstance(p, NotNull):
        return {"column": p.column, "op": "not null"}
    raise TypeError(f"cannot write a {type(p).__name__} predicate to a spec file")


# ---------------------------------------------------------------------------- from data


def factory_from_dict(data: Mapping[str, Any]) -> Factory:
    """Build a spec from TOML-shaped data, with errors that name the key path."""
    data = _table(data, "", TOP_KEYS, "the spec")
    stages_data = data.get("stages")
    if stages_data is None or stages_data == []:
        raise SpecError(
            "stages",
            "a factory needs at least one stage: add a [[stages]] table with a name and an event",
        )
    if not isinstance(stages_data, list):
        raise SpecError("stages", f"expected a list of stage tables, got {_show(stages_data)}")
    stages = [_stage_from_dict(s, f"stages[{i}]") for i, s in enumerate(stages_data)]
    active = data.get("active")
    if active is not None:
        active = _table(active, "active", MATCH_KEYS, "[active]")
    settings: dict[str, Any] = {
        "mode": _text(data, "mode", "", "lifecycle"),
        "window": _duration(data, "window", ""),
        "period": _text(data, "period", "", "week"),
        "happy": _text(data, "happy", "", None),
        "segment_by": _segment_by(data.get("segment_by", ())),
        "goal": data.get("goal"),
        "active": None
        if active is None
        else _match_from_dict(active, "active", "the [active] table"),
        "name": _text(data, "name", "", None),
    }
    return Factory(stages, **settings)


def _stage_from_dict(raw: object, path: str) -> Stage:
    data = _table(raw, path, STAGE_KEYS, "a stage")
    if "name" not in data:
        raise SpecError(path, 'a stage needs a name, e.g. name = "Activation"')
    match = _match_from_dict(data, path, "a stage")
    within = _duration(data, "within", path)
    try:
        return Stage(
            data["name"],
            match,
            times=data.get("times", 1),
            within=within,
            target=data.get("target"),
        )
    except SpecError as err:
        raise err.under(path) from None


def _match_from_dict(data: Mapping[str, Any], path: str, what: str) -> Predicate:
    parts: list[Predicate] = []
    if "event" in data:
        parts.append(_event_from(data["event"], join_path(path, "event")))
    if "where" in data:
        where = data["where"]
        where_path = join_path(path, "where")
        if not isinstance(where, list) or not where:
            raise SpecError(
                where_path,
                "expected a list of conditions, e.g. "
                'where = [{column = "plan", op = "==", value = "pro"}]',
            )
        for i, item in enumerate(where):
            item_path = f"{where_path}[{i}]"
            condition = _table(item, item_path, CONDITION_KEYS, "a condition")
            parts.append(_condition_from(condition, item_path))
    if "match" in data:
        parts.append(_node_from(data["match"], join_path(path, "match")))
    if not parts:
        raise SpecError(
            path,
            f'{what} needs a condition: event = "name", where = [...] or match = {{...}}',
        )
    return all_of(*parts)


def _node_from(raw: object, path: str) -> Predicate:
    data = _table(raw, path, NODE_KEYS, "a condition")
    kinds = [k for k in NODE_KINDS if k in data]
    if "op" in data or "value" in data:
        kinds = kinds if "column" in kinds else [*kinds, "column"]
    if len(kinds) != 1:
        given = " and ".join(repr(k) for k in kinds) if kinds else "none"
        raise SpecError(
            path,
            f"a condition has exactly one of {choice_list(NODE_KINDS)}; got {given} "
            "(combine several with all = [...])",
        )
    kind = kinds[0]
    if kind == "event":
        return _event_from(data["event"], join_path(path, "event"))
    if kind == "column":
        return _condition_from(data, path)
    if kind == "any_event":
        if data["any_event"] is not True:
            raise SpecError(
                join_path(path, "any_event"),
                f"only any_event = true is allowed, got {_show(data['any_event'])}",
            )
        return AnyEvent()
    if kind == "not":
        return Not(_node_from(data["not"], join_path(path, "not")))
    items = data[kind]
    kind_path = join_path(path, kind)
    if not isinstance(items, list) or not items:
        raise SpecError(kind_path, f"expected a non-empty list of conditions, got {_show(items)}")
    nodes = [_node_from(item, f"{kind_path}[{i}]") for i, item in enumerate(items)]
    return all_of(*nodes) if kind == "all" else any_of(*nodes)


def _event_from(value: object, path: str) -> EventIn:
    names = value if isinstance(value, list) else [value]
    if not names:
        raise SpecError(path, "give at least one event name")
    for i, name in enumerate(names):
        if not isinstance(name, str):
            where = f"{path}[{i}]" if isinstance(value, list) else path
            raise SpecError(where, f"expected an event name (text), got {_show(name)}")
    try:
        return EventIn(tuple(cast(list[str], names)))
    except SpecError as err:  # its path is "event" or "event[i]"; ours ends in "event"
        raise SpecError(path + err.path.removeprefix("event"), err.message) from None


def _condition_from(data: Mapping[str, Any], path: str) -> Condition:
    for key in ("column", "op"):
        if key not in data:
            raise SpecError(
                path,
                f'a condition needs {key!r}, e.g. {{column = "plan", op = "==", value = "pro"}}',
            )
    column, raw_op = data["column"], data["op"]
    op_path, value_path = join_path(path, "op"), join_path(path, "value")
    if not isinstance(raw_op, str):
        raise SpecError(op_path, f"expected an operator (text), got {_show(raw_op)}")
    op = _OP_ALIASES.get(raw_op.strip().lower(), raw_op.strip().lower())
    if op not in CONDITION_OPS:
        raise SpecError(op_path, unknown_choice("operator", raw_op, CONDITION_OPS))
    if (op in _NULL_OPS) == ("value" in data):
        fix = "remove it" if op in _NULL_OPS else "add one, e.g. value = 10"
        has = "takes no value" if op in _NULL_OPS else "needs a value"
        raise SpecError(value_path, f"'{op}' {has}; {fix}")
    value = data.get("value")
    if op == "in" and not isinstance(value, list):
        raise SpecError(
            value_path, f'\'in\' needs a list of values, e.g. ["pro", "team"], got {_show(value)}'
        )
    if op == "contains" and not isinstance(value, str):
        raise SpecError(value_path, f"'contains' needs text, got {_show(value)}")
    try:
        if op in _NULL_OPS:
            return _NULL_OPS[op](column)
        if op == "in":
            assert isinstance(value, list)
            values = tuple(_value_from(v, f"value[{i}]") for i, v in enumerate(value))
            return IsIn(column, values)
        if op == "contains":
            return Contains(column, cast(str, value))
        return Compare(column, op, _value_from(value, "value"))
    except SpecError as err:
        raise err.under(path) from None


def _value_from(value: object, path: str) -> Any:
    if isinstance(value, Mapping) and len(value) == 1:
        ((tag, text),) = value.items()
        if tag in ("date", "datetime") and isinstance(text, str):
            try:
                return date.fromisoformat(text) if tag == "date" else datetime.fromisoformat(text)
            except ValueError:
                raise SpecError(path, f"{text!r} is not an ISO {tag}") from None
    if isinstance(value, time):
        raise SpecError(path, f"a time of day ({value}) cannot be compared; use a date-time")
    if isinstance(value, list | Mapping):
        raise SpecError(
            path,
            f"expected one value (text, number, true/false, date), got {_show(value)}",
        )
    return value


def _duration(data: Mapping[str, Any], key: str, path: str) -> Any:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        # In a file a bare number is ambiguous (seconds? days?): ask for a unit.
        raise SpecError(
            join_path(path, key),
            f"expected a duration like '14d', got {value}; write it with a unit "
            f"(s, m, h, d, w), e.g. '{value}d'",
        )
    return value


def _text(data: Mapping[str, Any], key: str, path: str, default: str | None) -> Any:
    value = data.get(key, default)
    if value is not None and not isinstance(value, str):
        raise SpecError(join_path(path, key), f"expected text, got {_show(value)}")
    return value


def _segment_by(value: object) -> object:
    if isinstance(value, list):
        for i, column in enumerate(value):
            if not isinstance(column, str):
                raise SpecError(f"segment_by[{i}]", f"expected a column name, got {_show(column)}")
    elif not isinstance(value, str | tuple):
        raise SpecError(
            "segment_by", f'expected a list of column names like ["channel"], got {_show(value)}'
        )
    return value


def _table(data: object, path: str, keys: tuple[str, ...], what: str) -> Mapping[str, Any]:
    """Return ``data`` if it is a table whose keys are all among ``keys``."""
    if not isinstance(data, Mapping):
        raise SpecError(path, f"expected a table for {what}, got {_show(data)}")
    for key in data:
        if key not in keys:
            hint = suggestion(str(key), keys) or f"; valid keys are {choice_list(keys)}"
            raise SpecError(join_path(path, str(key)), f"unknown key{hint}")
    return data


def _show(value: object) -> str:
    kind = {
        str: "text",
        int: "a whole number",
        float: "a number",
        bool: "true/false",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)
    return f"{value!r} ({kind})"


# ---------------------------------------------------------------------------- TOML text


def dumps(data: Mapping[str, Any]) -> str:
    """Write TOML-shaped spec data as TOML text: scalars first, then ``[active]``, stages.

    Lists and nested conditions are written inline, one line per key, so the file
    reads like the minimal shape.
    """
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if k not in ("active", "stages")]
    if "active" in data:
        lines += ["", "[active]", *(f"{k} = {_toml_value(v)}" for k, v in data["active"].items())]
    for stage in data.get("stages", []):
        lines += ["", "[[stages]]", *(f"{k} = {_toml_value(v)}" for k, v in stage.items())]
    return "\n".join(lines).lstrip("\n") + "\n"


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"a spec holds no infinite or NaN numbers, got {value!r}")
        return repr(value)
    if isinstance(value, date):  # datetime too: ISO 8601 is TOML's date-time syntax
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) as TOML")


def factory_from_toml(source: str | PathLike[str]) -> Factory:
    """Read a spec from TOML text, or from a file when given a path (or a ``*.toml`` name)."""
    text, origin = _read_source(source, ".toml")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError("", f"not valid TOML{origin}: {err}") from None
    return factory_from_dict(data)


# ---------------------------------------------------------------------------- JSON text


def factory_to_json(factory: Factory) -> str:
    """Write a spec as JSON text (the TOML layout; dates tagged, see the module doc)."""
    return (
        json.dumps(
            _jsonable(factory_to_dict(factory)), indent=2, ensure_ascii=False, allow_nan=False
        )
        + "\n"
    )


def factory_from_json(source: str | PathLike[str]) -> Factory:
    """Read a spec from JSON text, or from a file when given a path (or a ``*.json`` name)."""
    text, origin = _read_source(source, ".json")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SpecError("", f"not valid JSON{origin}: {err}") from None
    if not isinstance(data, dict):
        raise SpecError("", f"expected a JSON object{origin}, got {_show(data)}")
    return factory_from_dict(cast(dict[str, Any], _drop_nulls(data)))


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _drop_nulls(value: object) -> object:
    # JSON writers often spell a missing optional setting as null.
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _read_source(source: str | PathLike[str], suffix: str) -> tuple[str, str]:
    """Return the spec text (given, or read from the file named) and where it came from."""
    given: object = source
    if not isinstance(given, str | PathLike):
        kind = suffix[1:].upper()
        raise SpecError("", f"expected {kind} text or a file path, got {_show(given)}")
    if isinstance(source, str) and not _names_a_file(source, suffix):
        return source, ""
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8"), f" in {path}"
    except FileNotFoundError:
        raise FileNotFoundError(f"no spec file at {str(path)!r}") from None


def _names_a_file(text: str, suffix: str) -> bool:
    if "\n" in text:
        return False
    if text.lower().endswith(suffix):
        return True
    try:
        return Path(text).is_file()
    except OSError:  # e.g. a long one-line spec is not a valid file name
        return False
