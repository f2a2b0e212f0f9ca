"""Predicates as data: conditions on one event, built in Python and compiled to Polars.

A predicate is a small frozen value (hashable, comparable, printable) that says which
events a stage counts. Build them with the functions below and combine them with
``&`` (and), ``|`` (or) and ``~`` (not):

>>> p = event("purchase") & (prop("amount") > 10)
>>> print(p)
event = "purchase" and amount > 10
>>> p.event_names(), p.columns()
(frozenset({'purchase'}), frozenset({'amount'}))

Semantics, exactly:

* ``event("a")`` matches rows whose ``event`` column is ``"a"``; ``event_in("a", "b")``
  either name; ``any_event()`` every row.
* ``prop("x") == v`` (and ``!=, <, <=, >, >=``, ``.is_in([...])``, ``.contains("s")``)
  compares the property column ``x`` with the value ``v``. A row where ``x`` is null
  never matches a comparison, not even ``!=``: ask for ``prop("x").is_null()`` or
  ``.not_null()`` explicitly. Because no comparison yields null, ``~p`` is exactly the
  rows ``p`` does not match (``~(prop("x") == 1)`` includes the rows where ``x`` is
  null; ``prop("x") != 1`` does not).
* Values are data: text, whole numbers (64-bit), finite floats, booleans, dates and
  date-times. A naive date-time is read as UTC; an aware one is converted to UTC; date
  and date-time columns are compared as UTC instants, a date as its midnight UTC.
  ``contains`` matches the text literally (no regex).
* Values only ever reach Polars as typed literals, and column names only via
  ``pl.col(name)`` after they are checked (names Polars would read as a regex or a
  wildcard are refused).
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any, TypeAlias

import polars as pl

from cfnb.spec.errors import SpecError, unknown_choice

__all__ = [
    "COMPARE_OPS",
    "And",
    "AnyEvent",
    "Compare",
    "Condition",
    "Contains",
    "EventIn",
    "IsIn",
    "IsNull",
    "Not",
    "NotNull",
    "Or",
    "Predicate",
    "Prop",
    "Value",
    "all_of",
    "any_event",
    "any_of",
    "event",
    "event_in",
    "not_",
    "prop",
]

Value: TypeAlias = str | bool | int | float | datetime | date
"""A value a property can be compared with."""

_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
COMPARE_OPS: tuple[str, ...] = tuple(_OPERATORS)
_ORDER_OPS = frozenset({"<", "<=", ">", ">="})
_UTC_US = pl.Datetime("us", "UTC")
_INT64 = (-(2**63), 2**63 - 1)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Predicate:
    """A condition on one event (one row of the events table).

    Subclasses are frozen dataclasses; two predicates are equal when they have the same
    structure and the same values *of the same type* (``prop("x") == 1`` is not
    ``prop("x") == 1.0``), so a spec compares and hashes as a value.
    """

    __slots__ = ()

    def to_polars(self) -> pl.Expr:
        """Return a boolean expression over the events table, never null.

        Examples
        --------
        >>> import polars as pl
        >>> events = pl.DataFrame({"event": ["buy", "buy", "visit"], "amount": [5.0, 20.0, None]})
        >>> events.filter((event("buy") & (prop("amount") > 10)).to_polars())["amount"].to_list()
        [20.0]
        """
        raise NotImplementedError

    def columns(self) -> frozenset[str]:
        """Return the property columns this predicate reads (not ``event``).

        Examples
        --------
        >>> sorted(((prop("plan") == "pro") | prop("coupon").not_null()).columns())
        ['coupon', 'plan']
        """
        return frozenset(p.column for p in self.walk() if isinstance(p, Condition))

    def event_names(self) -> frozenset[str] | None:
        """Return the only event names this predicate can match, or ``None`` if any name can.

        Examples
        --------
        >>> sorted(event_in("a", "b").event_names())
        ['a', 'b']
        >>> (prop("plan") == "pro").event_names() is None
        True
        """
        return None

    def describe(self) -> str:
        """Return the predicate as readable text (what ``str()`` gives).

        Examples
        --------
        >>> (event("purchase") & (prop("amount") > 10)).describe()
        'event = "purchase" and amount > 10'
        """
        raise NotImplementedError

    def to_python(self) -> str:
        """Return Python source that builds this predicate with cfnb's builders.

        Examples
        --------
        >>> (event("buy") | ~prop("plan").is_in(["free"])).to_python()
        "any_of(event('buy'), not_(prop('plan').is_in(['free'])))"
        """
        raise NotImplementedError

    def walk(self) -> Iterator[Predicate]:
        """Yield this predicate and every predicate inside it, depth first."""
        yield self

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return self.to_python()

    def __and__(self, other: object) -> Predicate:
        if isinstance(other, Prop):
            raise _needs_parentheses("&")
        if not isinstance(other, Predicate):
            return NotImplemented
        return all_of(self, other)

    def __or__(self, other: object) -> Predicate:
        if isinstance(other, Prop):
            raise _needs_parentheses("|")
        if not isinstance(other, Predicate):
            return NotImplemented
        return any_of(self, other)

    def __invert__(self) -> Predicate:
        return Not(self)

    def __bool__(self) -> bool:
        raise TypeError(
            "a predicate has no truth value: combine predicates with &, | and ~ "
            "(not with 'and', 'or', 'not'), e.g. event('buy') & (prop('amount') > 10)"
        )

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and _key(self) == _key(other)

    def __hash__(self) -> int:
        return hash(_key(self))


# ---------------------------------------------------------------------------- leaves


@dataclass(frozen=True, eq=False, repr=False)
class Condition(Predicate):
    """A condition on one property column: the leaves of a ``where`` list."""

    column: str

    def __post_init__(self) -> None:
        check_column(self.column)


@dataclass(frozen=True, eq=False, repr=False)
class EventIn(Predicate):
    """The event's name is one of ``names``. Build it with :func:`event` or :func:`event_in`."""

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        names = tuple(self.names)
        if not names:
            raise SpecError("event", "give at least one event name")
        for i, name in enumerate(names):
            check_text(name, f"event[{i}]" if len(names) > 1 else "event", "an event name")
        object.__setattr__(self, "names", names)

    def to_polars(self) -> pl.Expr:
        col = pl.col("event")
        if len(self.names) == 1:
            expr = col == pl.lit(self.names[0], dtype=pl.String)
        else:
            expr = col.is_in(pl.lit(pl.Series(self.names, dtype=pl.String)).implode())
        return expr.fill_null(False)

    def event_names(self) -> frozenset[str]:
        return frozenset(self.names)

    def describe(self) -> str:
        if len(self.names) == 1:
            return f"event = {show_value(self.names[0])}"
        return f"event in ({', '.join(show_value(n) for n in self.names)})"

    def to_python(self) -> str:
        if len(self.names) == 1:
            return f"event({self.names[0]!r})"
        return f"event_in({', '.join(repr(n) for n in self.names)})"


@dataclass(frozen=True, eq=False, repr=False)
class AnyEvent(Predicate):
    """Every event. Build it with :func:`any_event`."""

    def to_polars(self) -> pl.Expr:
        # One value per row (a bare pl.lit(True) would broadcast in a filter but
        # select as a single row).
        return pl.col("event").is_not_null()

    def describe(self) -> str:
        return "any event"

    def to_python(self) -> str:
        return "any_event()"


@dataclass(frozen=True, eq=False, repr=False)
class Compare(Condition):
    """``column op value`` with ``op`` one of ``==, !=, <, <=, >, >=``.

    Build it with :func:`prop`: ``prop("amount") > 10``.
    """

    op: str
    value: Value

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.op not in COMPARE_OPS:
            raise SpecError("op", unknown_choice("comparison", self.op, COMPARE_OPS))
        value = _check_value(self.value, "value")
        if isinstance(value, bool) and self.op in _ORDER_OPS:
            raise SpecError(
                "op", f"true/false values can only be compared with == or !=, not {self.op}"
            )
        object.__setattr__(self, "value", value)

    def to_polars(self) -> pl.Expr:
        compare = _OPERATORS[self.op]
        expr: pl.Expr = compare(_operand(self.column, self.value), _literal(self.value))
        return expr.fill_null(False)

    def describe(self) -> str:
        op = "=" if self.op == "==" else self.op
        return f"{_show_column(self.column)} {op} {show_value(self.value)}"

    def to_python(self) -> str:
        return f"prop({self.column!r}) {self.op} {_python_value(self.value)}"


@dataclass(frozen=True, eq=False, repr=False)
class IsIn(Condition):
    """The column's value is one of ``values``. Build it with ``prop("x").is_in([...])``."""

    values: tuple[Value, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        given: object = self.values
        if isinstance(given, str | bytes) or not isinstance(given, Iterable):
            raise SpecError("value", f"expected a list of values for 'in', got {given!r}")
        values = tuple(_check_value(v, f"value[{i}]") for i, v in enumerate(given))
        if not values:
            raise SpecError("value", "give at least one value for 'in'")
        kinds = {value_kind(v) for v in values}
        if len(kinds) > 1:
            raise SpecError(
                "value",
                f"the values of 'in' mix {' and '.join(sorted(kinds))}; "
                "give values of one kind, like the column's",
            )
        object.__setattr__(self, "values", values)

    def to_polars(self) -> pl.Expr:
        if all(isinstance(v, str) for v in self.values):
            listed = pl.lit(pl.Series(self.values, dtype=pl.String)).implode()
            return pl.col(self.column).is_in(listed).fill_null(False)
        # Numbers, booleans and times: equality promotes int/float exactly, where is_in
        # would need one common dtype for the column and the list.
        left = _operand(self.column, self.values[0])
        matches = [(left == _literal(v)).fill_null(False) for v in self.values]
        return pl.any_horizontal(matches)

    def describe(self) -> str:
        return f"{_show_column(self.column)} in ({', '.join(show_value(v) for v in self.values)})"

    def to_python(self) -> str:
        listed = ", ".join(_python_value(v) for v in self.values)
        return f"prop({self.column!r}).is_in([{listed}])"


@dataclass(frozen=True, eq=False, repr=False)
class IsNull(Condition):
    """The column is null (missing) on this event. Build it with ``prop("x").is_null()``."""

    def to_polars(self) -> pl.Expr:
        return pl.col(self.column).is_null()

    def describe(self) -> str:
        return f"{_show_column(self.column)} is null"

    def to_python(self) -> str:
        return f"prop({self.column!r}).is_null()"


@dataclass(frozen=True, eq=False, repr=False)
class NotNull(Condition):
    """The column has a value on this event. Build it with ``prop("x").not_null()``."""

    def to_polars(self) -> pl.Expr:
        return pl.col(self.column).is_not_null()

    def describe(self) -> str:
        return f"{_show_column(self.column)} is not null"

    def to_python(self) -> str:
        return f"prop({self.column!r}).not_null()"


@dataclass(frozen=True, eq=False, repr=False)
class Contains(Condition):
    """The text column contains ``text`` literally. Build it with ``prop("x").contains(...)``."""

    text: str

    def __post_init__(self) -> None:
        super().__post_init__()
        check_text(self.text, "value", "the text to look for", allow_empty=True)

    def to_polars(self) -> pl.Expr:
        # Categorical and Enum columns hold text too; the cast is free on String.
        text = pl.col(self.column).cast(pl.String)
        return text.str.contains(pl.lit(self.text, dtype=pl.String), literal=True).fill_null(False)

    def describe(self) -> str:
        return f"{_show_column(self.column)} contains {show_value(self.text)}"

    def to_python(self) -> str:
        return f"prop({self.column!r}).contains({self.text!r})"


# ------------------------------------------------------------------------ combinations


@dataclass(frozen=True, eq=False, repr=False)
class And(Predicate):
    """All of ``parts`` hold. Build it with ``&`` or :func:`all_of`.

    Nested ``And`` parts are flattened, so ``(a & b) & c == a & (b & c)``.
    """

    parts: tuple[Predicate, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", _flatten(type(self), self.parts, "all"))

    def to_polars(self) -> pl.Expr:
        return pl.all_horizontal([p.to_polars() for p in self.parts])

    def event_names(self) -> frozenset[str] | None:
        known = [n for n in (p.event_names() for p in self.parts) if n is not None]
        return frozenset.intersection(*known) if known else None

    def describe(self) -> str:
        return " and ".join(_describe_part(p, self) for p in self.parts)

    def to_python(self) -> str:
        return f"all_of({', '.join(p.to_python() for p in self.parts)})"

    def walk(self) -> Iterator[Predicate]:
        yield self
        for part in self.parts:
            yield from part.walk()


@dataclass(frozen=True, eq=False, repr=False)
class Or(Predicate):
    """At least one of ``parts`` holds. Build it with ``|`` or :func:`any_of`."""

    parts: tuple[Predicate, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", _flatten(type(self), self.parts, "any"))

    def to_polars(self) -> pl.Expr:
        return pl.any_horizontal([p.to_polars() for p in self.parts])

    def event_names(self) -> frozenset[str] | None:
        names = [p.event_names() for p in self.parts]
        if any(n is None for n in names):
            return None
        return frozenset().union(*(n for n in names if n is not None))

    def describe(self) -> str:
        return " or ".join(_describe_part(p, self) for p in self.parts)

    def to_python(self) -> str:
        return f"any_of({', '.join(p.to_python() for p in self.parts)})"

    def walk(self) -> Iterator[Predicate]:
        yield self
        for part in self.parts:
            yield from part.walk()


@dataclass(frozen=True, eq=False, repr=False)
class Not(Predicate):
    """``part`` does not hold. Build it with ``~`` or :func:`not_`."""

    part: Predicate

    def __post_init__(self) -> None:
        if not isinstance(self.part, Predicate):
            raise SpecError("not", f"expected a predicate, got {_type_name(self.part)}")

    def to_polars(self) -> pl.Expr:
        return ~self.part.to_polars()

    def describe(self) -> str:
        return f"not ({self.part.describe()})"

    def to_python(self) -> str:
        return f"not_({self.part.to_python()})"

    def walk(self) -> Iterator[Predicate]:
        yield self
        yield from self.part.walk()


# ---------------------------------------------------------------------------- builders


class Prop:
    """A property column, for building conditions: ``prop("amount") > 10``.

    ``Prop`` itself is not a predicate: its comparison operators *build* predicates,
    so it is deliberately unhashable.

    Examples
    --------
    >>> prop("plan") == "pro"
    prop('plan') == 'pro'
    >>> print(prop("plan").is_in(["pro", "team"]))
    plan in ("pro", "team")
    """

    __slots__ = ("column",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, column: str) -> None:
        self.column = check_column(column)

    def __repr__(self) -> str:
        return f"prop({self.column!r})"

    def _compare(self, op: str, value: object) -> Compare:
        if isinstance(value, Prop):
            raise SpecError(
                "value",
                f"compare column {self.column!r} with a value, not with another column",
            )
        if value is None:
            fix = "is_null()" if op == "==" else "not_null()"
            raise SpecError(
                "value",
                f"no value equals null; use prop({self.column!r}).{fix} to match missing values",
            )
        return Compare(self.column, op, value)  # type: ignore[arg-type]

    def __eq__(self, value: object) -> Compare:  # type: ignore[override]
        return self._compare("==", value)

    def __ne__(self, value: object) -> Compare:  # type: ignore[override]
        return self._compare("!=", value)

    def __lt__(self, value: object) -> Compare:
        return self._compare("<", value)

    def __le__(self, value: object) -> Compare:
        return self._compare("<=", value)

    def __gt__(self, value: object) -> Compare:
        return self._compare(">", value)

    def __ge__(self, value: object) -> Compare:
        return self._compare(">=", value)

    def is_in(self, values: Iterable[Value]) -> IsIn:
        """The value is one of ``values`` (all of one kind: text, numbers, …)."""
        return IsIn(self.column, values)  # type: ignore[arg-type]

    def is_null(self) -> IsNull:
        """The property is missing on the event."""
        return IsNull(self.column)

    def not_null(self) -> NotNull:
        """The property has a value on the event."""
        return NotNull(self.column)

    def contains(self, text: str) -> Contains:
        """The text property contains ``text`` (literally, case-sensitive)."""
        return Contains(self.column, text)

    def __and__(self, other: object) -> Predicate:
        raise _needs_parentheses("&")

    __rand__ = __and__

    def __or__(self, other: object) -> Predicate:
        raise _needs_parentheses("|")

    __ror__ = __or__

    def __invert__(self) -> Predicate:
        raise TypeError(
            f"~prop({self.column!r}) is not a condition; negate a comparison instead, "
            f"e.g. ~(prop({self.column!r}) == 'x')"
        )


def prop(column: str) -> Prop:
    """Refer to a property column, to compare it with a value.

    Examples
    --------
    >>> print((prop("amount") >= 10) & prop("coupon").is_null())
    amount >= 10 and coupon is null
    """
    return Prop(column)


def event(name: str) -> EventIn:
    """Match events named ``name``.

    Examples
    --------
    >>> print(event("signup"))
    event = "signup"
    """
    return EventIn((name,))


def event_in(*names: str | Iterable[str]) -> EventIn:
    """Match events named any of ``names`` (given as arguments or as one list).

    Examples
    --------
    >>> print(event_in("signup", "invite_accepted"))
    event in ("signup", "invite_accepted")
    >>> event_in(["a", "b"]) == event_in("a", "b")
    True
    """
    flat: list[str] = []
    for name in names:
        if isinstance(name, str) or not isinstance(name, Iterable):
            flat.append(name)
        else:
            flat.extend(name)
    return EventIn(tuple(flat))


def any_event() -> AnyEvent:
    """Match every event (the default meaning of "active").

    Examples
    --------
    >>> print(any_event())
    any event
    """
    return AnyEvent()


def all_of(*predicates: Predicate) -> Predicate:
    """Match events that satisfy every one of ``predicates`` (same as ``a & b & …``).

    Examples
    --------
    >>> print(all_of(event("buy"), prop("amount") > 10, prop("plan") == "pro"))
    event = "buy" and amount > 10 and plan = "pro"
    """
    return _combine(And, predicates, "all_of")


def any_of(*predicates: Predicate) -> Predicate:
    """Match events that satisfy at least one of ``predicates`` (same as ``a | b | …``).

    Examples
    --------
    >>> print(any_of(event("invite"), event("share")))
    event = "invite" or event = "share"
    """
    return _combine(Or, predicates, "any_of")


def not_(predicate: Predicate) -> Not:
    """Match events that do not satisfy ``predicate`` (same as ``~predicate``).

    Examples
    --------
    >>> print(not_(event("heartbeat")))
    not (event = "heartbeat")
    """
    return Not(predicate)


# ----------------------------------------------------------------------------- helpers


def _combine(cls: type[And | Or], predicates: tuple[Predicate, ...], name: str) -> Predicate:
    if not predicates:
        raise SpecError("", f"{name}() needs at least one predicate")
    for i, p in enumerate(predicates):
        if not isinstance(p, Predicate):
            raise SpecError(f"[{i}]", f"{name}() takes predicates, got {_type_name(p)}")
    if len(predicates) == 1:
        return predicates[0]
    return cls(predicates)


def _flatten(cls: type[Predicate], parts: Iterable[Predicate], key: str) -> tuple[Predicate, ...]:
    flat: list[Predicate] = []
    for i, part in enumerate(parts):
        if isinstance(part, cls):
            flat.extend(part.parts)  # type: ignore[attr-defined]
        elif isinstance(part, Predicate):
            flat.append(part)
        else:
            raise SpecError(f"{key}[{i}]", f"expected a predicate, got {_type_name(part)}")
    if len(flat) < 2:
        raise SpecError(key, f"'{key}' needs at least two predicates, got {len(flat)}")
    return tuple(flat)


def _describe_part(part: Predicate, parent: Predicate) -> str:
    text = part.describe()
    if isinstance(part, And | Or) and type(part) is not type(parent):
        return f"({text})"
    return text


def _needs_parentheses(op: str) -> TypeError:
    return TypeError(
        f"'{op}' binds tighter than comparisons in Python: put each comparison in "
        f"parentheses, e.g. event('buy') {op} (prop('amount') > 10)"
    )


def _key(p: Predicate) -> tuple[Any, ...]:
    return tuple(_typed(getattr(p, f.name)) for f in fields(p))  # type: ignore[arg-type]


def _typed(value: object) -> object:
    if isinstance(value, tuple):
        return tuple(_typed(v) for v in value)
    if isinstance(value, Predicate):
        return value
    return (type(value), value)


def _type_name(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_text(value: object, path: str, what: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise SpecError(path, f"expected {what} (text), got {_type_name(value)}")
    if not value and not allow_empty:
        raise SpecError(path, f"{what} must not be empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise SpecError(path, f"{what} is not valid Unicode text: {value!r}") from None
    return value


def check_column(name: object, path: str = "column") -> str:
    """Check a column name before it ever reaches ``pl.col``."""
    column = check_text(name, path, "a column name")
    if column == "*" or (column.startswith("^") and column.endswith("$")):
        raise SpecError(
            path,
            f"column name {column!r} would be read by Polars as a pattern, not a name; "
            "rename the column when loading",
        )
    return column


def _check_value(value: object, path: str) -> Value:
    """Return ``value`` checked and normalised (date-times to aware UTC)."""
    if value is None:
        raise SpecError(path, "a value cannot be null; use is_null() / not_null() instead")
    if isinstance(value, bool | str):
        if isinstance(value, str):
            check_text(value, path, "a text value", allow_empty=True)
        return value
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise SpecError(path, f"whole number {value} does not fit in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SpecError(path, f"expected a finite number, got {value!r}")
        return value
    if isinstance(value, datetime):
        try:
            if value.tzinfo is None:
                return value.replace(tzinfo=UTC)
            return value.astimezone(UTC)
        except OverflowError:
            raise SpecError(path, f"date-time {value} is out of range in UTC") from None
    if isinstance(value, date):
        return value
    raise SpecError(
        path,
        f"expected text, a number, true/false, a date or a date-time, got {_type_name(value)}",
    )


def value_kind(value: Value) -> str:
    if isinstance(value, bool):
        return "true/false values"
    if isinstance(value, int | float):
        return "numbers"
    if isinstance(value, str):
        return "text"
    if isinstance(value, datetime):
        return "date-times"
    return "dates"


def _literal(value: Value) -> pl.Expr:
    if isinstance(value, bool):
        return pl.lit(value, dtype=pl.Boolean)
    if isinstance(value, str):
        return pl.lit(value, dtype=pl.String)
    if isinstance(value, int):
        return pl.lit(value)
    if isinstance(value, float):
        return pl.lit(value, dtype=pl.Float64)
    if isinstance(value, datetime):
        return pl.lit(value, dtype=_UTC_US)
    return pl.lit(datetime(value.year, value.month, value.day, tzinfo=UTC), dtype=_UTC_US)


def _operand(column: str, value: Value) -> pl.Expr:
    if isinstance(value, date):
        # Dates, naive and zoned date-times all become UTC instants, like the value.
        return pl.col(column).cast(_UTC_US)
    return pl.col(column)


def show_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)


def _show_column(column: str) -> str:
    if _IDENTIFIER.fullmatch(column) and column not in {"and", "or", "not", "in", "event"}:
        return column
    return "`" + column.replace("`", "``") + "`"


def _python_value(value: Value) -> str:
    # repr() of str, int, float, bool, date and datetime (with datetime.timezone.utc)
    # is Python that rebuilds the value; dates need ``import datetime``.
    return repr(value)
