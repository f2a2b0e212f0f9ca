"""The Factory spec: ordered stages, each a condition on events, and the spec's settings.

:class:`Stage` and :class:`Factory` are frozen values: they compare and hash by value,
validate themselves when built, and every edit returns a changed copy, so a notebook,
the explorer and a report can hold and share one spec safely.

>>> from cfnb.spec import Factory, Stage, event
>>> f = Factory([Stage("Acquisition", event("visit")), Stage("Activation", "created_project")])
>>> f2 = f.with_stage("Activation", within="14d", target=0.4).replace(window="30d")
>>> f2.stages[1].within, f2.window.days, f.window is None
(datetime.timedelta(days=14), 30, True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from os import PathLike
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar, cast

from cfnb.spec.durations import DurationLike, format_duration, parse_duration
from cfnb.spec.errors import SpecError, choice_list, suggestion, unknown_choice
from cfnb.spec.predicates import (
    And,
    AnyEvent,
    Condition,
    EventIn,
    Not,
    Or,
    Predicate,
    any_event,
    check_column,
    check_text,
    event,
)

if TYPE_CHECKING:
    import polars as pl

    from cfnb.analysis import FactoryRun
    from cfnb.eventlog import EventLog
    from cfnb.periods import Period

__all__ = ["MODES", "Factory", "Mode", "Stage"]

Mode: TypeAlias = Literal["lifecycle", "best_path"]
MODES: tuple[Mode, ...] = ("lifecycle", "best_path")

_T = TypeVar("_T")


@dataclass(frozen=True, init=False)
class Stage:
    """One link of the factory: the events that make a user reach it.

    Parameters
    ----------
    name
        Label shown everywhere; unique within a factory.
    match
        Which events count: a predicate (``event("signup") & (prop("plan") == "pro")``),
        or an event name as shorthand for ``event(name)``.
    times
        The user needs at least this many matching events (default 1).
    within
        Optional: the stage counts only if reached within this long after the previous
        stage (``"14d"``, a ``timedelta`` or seconds).
    target
        Optional: the conversion rate into this stage the factory should reach, in (0, 1].

    Examples
    --------
    >>> s = Stage("Activation", "created_project", within="14d", target=0.4)
    >>> print(s.describe())
    Activation: event = "created_project", within 2w, target 40%
    >>> s.replace(times=3).times
    3
    """

    name: str
    match: Predicate
    times: int = 1
    within: timedelta | None = None
    target: float | None = None

    def __init__(
        self,
        name: str,
        match: Predicate | str,
        times: int = 1,
        within: DurationLike | None = None,
        target: float | None = None,
    ) -> None:
        _set(self, "name", _check_name(name, "name", "a stage name"))
        _set(self, "match", _check_predicate(match, "match"))
        _set(self, "times", _check_times(times))
        _set(self, "within", None if within is None else parse_duration(within, "within"))
        _set(self, "target", _check_target(target))

    def replace(self, **changes: Any) -> Stage:
        """Return a copy with some fields changed (``within="7d"``, ``target=None``, …)."""
        return _replace(self, changes)

    def describe(self) -> str:
        """Return one readable line: name, condition, times, within, target."""
        parts = [f"{self.name}: {self.match.describe()}"]
        if self.times != 1:
            parts.append(f"at least {self.times} times")
        if self.within is not None:
            parts.append(f"within {format_duration(self.within)}")
        if self.target is not None:
            parts.append(f"target {self.target:.0%}")
        return ", ".join(parts)


@dataclass(frozen=True, init=False)
class Factory:
    """The Customer Factory spec: ordered stages and how to measure them.

    Parameters
    ----------
    stages
        The stages in order, acquisition first (at least one; unique names).
    mode
        ``"lifecycle"`` (each user enters once, at their first acquisition event) or
        ``"best_path"`` (the longest chain inside the window, as ClickHouse
        ``windowFunnel``).
    window
        Optional: every stage must be reached within this long after acquisition.
    period
        ``"day"``, ``"week"`` or ``"month"``: cohorts and throughput are counted per period.
    happy
        The stage that makes a happy customer; ``None`` means the last stage.
    segment_by
        Acquisition-time property columns to split results by (e.g. ``["channel"]``).
    goal
        Happy customers per period at Scale (see the 10x rule in the design).
    active
        What counts as "active" for retention; default any event. An event name is
        shorthand for ``event(name)``.
    name
        Optional name of the spec, shown in reports.

    Examples
    --------
    >>> f = Factory(
    ...     [Stage("Acquisition", "visit"), Stage("Activation", "created_project")],
    ...     window="30d",
    ...     segment_by=["channel"],
    ... )
    >>> f.happy_index, f.stage_names
    (1, ('Acquisition', 'Activation'))
    >>> print(f.to_toml())
    mode = "lifecycle"
    window = "30d"
    period = "week"
    segment_by = ["channel"]
    <BLANKLINE>
    [[stages]]
    name = "Acquisition"
    event = "visit"
    <BLANKLINE>
    [[stages]]
    name = "Activation"
    event = "created_project"
    <BLANKLINE>
    """

    stages: tuple[Stage, ...]
    mode: Mode = "lifecycle"
    window: timedelta | None = None
    period: Period = "week"
    happy: str | None = None
    segment_by: tuple[str, ...] = ()
    goal: float | None = None
    active: Predicate = AnyEvent()  # noqa: RUF009 (a frozen, immutable value)
    name: str | None = None

    def __init__(
        self,
        stages: Iterable[Stage],
        *,
        mode: Mode = "lifecycle",
        window: DurationLike | None = None,
        period: Period = "week",
        happy: str | None = None,
        segment_by: str | Iterable[str] = (),
        goal: float | None = None,
        active: Predicate | str | None = None,
        name: str | None = None,
    ) -> None:
        checked = _check_stages(stages)
        _set(self, "stages", checked)
        _set(self, "mode", _check_choice(mode, "mode", MODES))
        _set(self, "window", None if window is None else parse_duration(window, "window"))
        _set(self, "period", _check_period(period))
        _set(self, "happy", _check_happy(happy, checked))
        _set(self, "segment_by", _check_segment_by(segment_by))
        _set(self, "goal", _check_goal(goal))
        _set(self, "active", any_event() if active is None else _check_predicate(active, "active"))
        _set(self, "name", None if name is None else _check_name(name, "name", "a spec name"))

    # ------------------------------------------------------------------ lookups

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The stage names, in order."""
        return tuple(s.name for s in self.stages)

    @property
    def happy_index(self) -> int:
        """Index of the stage that makes a happy customer (the last one unless ``happy``)."""
        if self.happy is None:
            return len(self.stages) - 1
        return self.stage_names.index(self.happy)

    @property
    def happy_stage(self) -> Stage:
        """The stage that makes a happy customer."""
        return self.stages[self.happy_index]

    def stage_index(self, key: int | str) -> int:
        """Return the index of a stage given by name or (possibly negative) index.

        Examples
        --------
        >>> f = Factory([Stage("Acquisition", "visit"), Stage("Activation", "signup")])
        >>> f.stage_index("Activation"), f.stage_index(-1)
        (1, 1)
        >>> f.stage_index("Activaton")
        Traceback (most recent call last):
        ...
        cfnb.spec.errors.SpecError: stages: no stage named 'Activaton'; choose one of 'Activation', 'Acquisition'; did you mean 'Activation'?
        """
        n = len(self.stages)
        if isinstance(key, bool) or not isinstance(key, int | str):
            raise SpecError("stages", f"give a stage name or index, got {key!r}")
        if isinstance(key, int):
            if not -n <= key < n:
                raise SpecError("stages", f"no stage at index {key}; there are {n} (0 to {n - 1})")
            return key % n
        names = self.stage_names
        if key not in names:
            raise SpecError(
                "stages",
                f"no stage named {key!r}; choose one of {choice_list(names, first=key)}"
                + suggestion(key, names),
            )
        return names.index(key)

    def stage(self, key: int | str) -> Stage:
        """Return a stage by name or index."""
        return self.stages[self.stage_index(key)]

    # ------------------------------------------------------------------ edits

    def replace(self, **changes: Any) -> Factory:
        """Return a copy with some fields changed.

        Examples
        --------
        >>> f = Factory([Stage("Acquisition", "visit")])
        >>> f.replace(window="7d", period="day").period
        'day'
        """
        return _replace(self, changes)

    def with_stage(self, key: int | str, stage: Stage | None = None, /, **changes: Any) -> Factory:
        """Return a copy with one stage replaced, or changed field by field.

        Renaming the happy stage keeps it the happy stage.

        Examples
        --------
        >>> f = Factory([Stage("Acquisition", "visit"), Stage("Activation", "signup")])
        >>> f.with_stage("Activation", within="7d").stages[1].within.days
        7
        >>> f.with_stage(1, Stage("Activated", "created_project")).stage_names
        ('Acquisition', 'Activated')
        """
        i = self.stage_index(key)
        old = self.stages[i]
        if stage is not None and changes:
            raise SpecError(f"stages[{i}]", "give either a new Stage or field changes, not both")
        if stage is None:
            try:
                new = old.replace(**changes)
            except SpecError as err:
                raise err.under(f"stages[{i}]") from None
        else:
            new = _check_stage(stage, i)
        stages = list(self.stages)
        stages[i] = new
        happy = new.name if self.happy == old.name else self.happy
        return self.replace(stages=tuple(stages), happy=happy)

    def add_stage(self, stage: Stage, index: int | None = None) -> Factory:
        """Return a copy with ``stage`` inserted before ``index`` (default: at the end).

        Examples
        --------
        >>> f = Factory([Stage("Acquisition", "visit")])
        >>> f.add_stage(Stage("Revenue", "purchase")).stage_names
        ('Acquisition', 'Revenue')
        """
        stages = list(self.stages)
        at = len(stages) if index is None else _insert_position(index, len(stages))
        stages.insert(at, _check_stage(stage, at))
        return self.replace(stages=tuple(stages))

    def remove_stage(self, key: int | str) -> Factory:
        """Return a copy without one stage.

        Examples
        --------
        >>> f = Factory([Stage("Acquisition", "visit"), Stage("Revenue", "purchase")])
        >>> f.remove_stage("Revenue").stage_names
        ('Acquisition',)
        """
        i = self.stage_index(key)
        if len(self.stages) == 1:
            raise SpecError("stages", "a factory needs at least one stage; add another first")
        removed = self.stages[i].name
        if self.happy == removed:
            raise SpecError(
                "happy",
                f"stage {removed!r} is the happy stage; choose another first, "
                f"e.g. factory.replace(happy=None) for the last stage",
            )
        return self.replace(stages=self.stages[:i] + self.stages[i + 1 :])

    def move_stage(self, key: int | str, to: int) -> Factory:
        """Return a copy with one stage moved so that it ends at index ``to``.

        Examples
        --------
        >>> f = Factory([Stage("A", "a"), Stage("B", "b"), Stage("C", "c")])
        >>> f.move_stage("C", 1).stage_names
        ('A', 'C', 'B')
        """
        i = self.stage_index(key)
        n = len(self.stages)
        if isinstance(to, bool) or not isinstance(to, int) or not -n <= to < n:
            raise SpecError("stages", f"cannot move a stage to {to!r}; use 0 to {n - 1}")
        stages = list(self.stages)
        stages.insert(to % n, stages.pop(i))
        return self.replace(stages=tuple(stages))

    # ------------------------------------------------------------------ text forms

    def describe(self) -> str:
        """Return the spec as a few readable lines (for reports and notebooks).

        Examples
        --------
        >>> f = Factory([Stage("Acquisition", "visit"), Stage("Activation", "signup")])
        >>> print(f.describe())
        lifecycle factory, per week
          1. Acquisition: event = "visit"
          2. Activation: event = "signup"  (happy customers)
        """
        head = f"{self.mode} factory, per {self.period}"
        if self.window is not None:
            head += f", window {format_duration(self.window)}"
        if self.name is not None:
            head = f"{self.name}: {head}"
        lines = [head]
        for i, stage in enumerate(self.stages):
            mark = "  (happy customers)" if i == self.happy_index else ""
            lines.append(f"  {i + 1}. {stage.describe()}{mark}")
        extras = []
        if self.segment_by:
            extras.append("segment by " + ", ".join(self.segment_by))
        if self.goal is not None:
            extras.append(f"goal {plain_number(self.goal)} happy customers per {self.period}")
        if not isinstance(self.active, AnyEvent):
            extras.append(f"active means {self.active.describe()}")
        lines.extend(f"  {e}" for e in extras)
        return "\n".join(lines)

    def to_python(self, variable: str = "factory") -> str:
        """Return Python source that rebuilds this spec (the explorer's "export as Python").

        Examples
        --------
        >>> f = Factory([Stage("Acquisition", "visit"), Stage("Activation", "signup", within="3d")])
        >>> print(f.to_python())
        from cfnb.spec import Factory, Stage, event
        <BLANKLINE>
        factory = Factory(
            [
                Stage('Acquisition', event('visit')),
                Stage('Activation', event('signup'), within='3d'),
            ],
            mode='lifecycle',
            period='week',
        )
        <BLANKLINE>
        >>> namespace = {}
        >>> exec(f.to_python(), namespace)
        >>> namespace["factory"] == f
        True
        """
        return _python_source(self, variable)

    # ------------------------------------------------------------------ file forms

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as plain data, in the TOML layout (minimal where possible)."""
        from cfnb.spec import toml_io

        return toml_io.factory_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Factory:
        """Build a spec from plain data in the TOML layout (as read from TOML or JSON)."""
        from cfnb.spec import toml_io

        return toml_io.factory_from_dict(data)

    def to_toml(self) -> str:
        """Return the spec as TOML text: minimal, deterministic, and read back equal."""
        from cfnb.spec import toml_io

        return toml_io.dumps(self.to_dict())

    @classmethod
    def from_toml(cls, source: str | PathLike[str]) -> Factory:
        """Read a spec from TOML text or a ``.toml`` file (see :mod:`cfnb.spec.toml_io`).

        Examples
        --------
        >>> f = Factory.from_toml('''
        ... period = "week"
        ... [[stages]]
        ... name = "Acquisition"
        ... event = "visit"
        ... ''')
        >>> f.stages[0].match
        event('visit')
        """
        from cfnb.spec import toml_io

        return toml_io.factory_from_toml(source)

    def to_json(self) -> str:
        """Return the spec as JSON text (the TOML layout; dates as ``{"date": "…"}``)."""
        from cfnb.spec import toml_io

        return toml_io.factory_to_json(self)

    @classmethod
    def from_json(cls, source: str | PathLike[str]) -> Factory:
        """Read a spec from JSON text or a ``.json`` file."""
        from cfnb.spec import toml_io

        return toml_io.factory_from_json(source)

    # ------------------------------------------------------------------ against a log

    def run(self, log: EventLog | pl.DataFrame) -> FactoryRun:
        """Measure this factory on ``log``: every metric from one journeys table.

        See :class:`cfnb.analysis.FactoryRun` for the metrics and their semantics.
        """
        from cfnb.analysis import run  # the analysis imports the spec, not the other way round

        return run(self, log)

    def validate(
        self, schema: Mapping[str, pl.DataType], event_counts: Mapping[str, int]
    ) -> list[str]:
        """Check the spec against a log's columns and event names.

        Returns warnings (event names the log does not have, with close matches);
        raises :class:`SpecError` for what cannot run (unknown columns, a value of the
        wrong type for its column). See :func:`cfnb.spec.validate.validate_factory`.
        """
        from cfnb.spec.validate import validate_factory

        return validate_factory(self, schema, event_counts)


# ---------------------------------------------------------------------------- checks


def _set(obj: object, field: str, value: object) -> None:
    object.__setattr__(obj, field, value)


def _replace(obj: _T, changes: Mapping[str, Any]) -> _T:
    names = [f.name for f in dataclasses.fields(obj)]  # type: ignore[arg-type]
    for key in changes:
        if key not in names:
            raise SpecError(
                key,
                f"{type(obj).__name__} has no field {key!r}; fields are "
                f"{choice_list(names)}{suggestion(key, names)}",
            )
    return dataclasses.replace(obj, **changes)  # type: ignore[type-var]


def _check_name(value: object, path: str, what: str) -> str:
    name = check_text(value, path, what)
    if not name.strip():
        raise SpecError(path, f"{what} must not be blank")
    return name


def _check_predicate(value: object, path: str) -> Predicate:
    if isinstance(value, Predicate):
        return value
    if isinstance(value, str):
        try:
            return event(value)
        except SpecError as err:
            raise err.under(path) from None
    raise SpecError(
        path,
        "expected a predicate such as event('signup') or an event name, "
        f"got {value!r} ({type(value).__name__})",
    )


def _check_times(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError("times", f"expected a whole number of events, at least 1, got {value!r}")
    return value


def _check_target(value: object) -> float | None:
    if value is None:
        return None
    expected = "expected a conversion rate in (0, 1]"
    if isinstance(value, str) and value.strip().endswith("%"):
        number = value.strip().removesuffix("%").strip()
        hint = f" (write {float(number) / 100:g} for {number}%)" if _is_number(number) else ""
        raise SpecError("target", f"{expected}, got {value!r}{hint}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError("target", f"{expected}, got {value!r}")
    if not 0 < value <= 1:
        if value > 1:  # nan fails both tests: it is neither too big nor too small
            hint = f" (write {value / 100:g} for {value:g}%)" if value <= 100 else ""
            why = "; a rate is the share of the previous stage's users who reach this one, so at most 1"
        elif value <= 0:
            hint, why = "", "; a target must be above 0 (leave target out to have none)"
        else:
            hint, why = "", ""
        raise SpecError("target", f"{expected}, got {value!r}{hint}{why}")
    return float(value)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _check_goal(value: object) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise SpecError(
            "goal", f"expected a positive number of happy customers per period, got {value!r}"
        )
    return float(value)


def _check_choice(value: object, path: str, choices: tuple[str, ...]) -> Any:
    if value not in choices:
        raise SpecError(path, unknown_choice(path, value, choices))
    return value


def _check_period(value: object) -> Period:
    # cfnb.periods owns the list of periods; it imports cfnb.spec.errors, so it is
    # imported here, not at the top, to keep the import graph free of cycles.
    from cfnb.periods import PERIODS

    return cast("Period", _check_choice(value, "period", PERIODS))


def _check_stage(stage: object, i: int) -> Stage:
    if not isinstance(stage, Stage):
        raise SpecError(
            f"stages[{i}]",
            f"expected a Stage, e.g. Stage('Activation', event('signup')), got {stage!r}",
        )
    return stage


def _check_stages(stages: object) -> tuple[Stage, ...]:
    if isinstance(stages, Stage | str) or not isinstance(stages, Iterable):
        raise SpecError("stages", f"expected a list of stages, got {stages!r}")
    checked = tuple(_check_stage(s, i) for i, s in enumerate(stages))
    if not checked:
        raise SpecError(
            "stages", "a factory needs at least one stage, e.g. Stage('Acquisition', 'visit')"
        )
    seen: dict[str, int] = {}
    for i, stage in enumerate(checked):
        if stage.name in seen:
            raise SpecError(
                f"stages[{i}].name",
                f"stage name {stage.name!r} is already used by stages[{seen[stage.name]}]; "
                "stage names must be unique",
            )
        seen[stage.name] = i
    return checked


def _check_happy(value: object, stages: tuple[Stage, ...]) -> str | None:
    if value is None:
        return None
    names = [s.name for s in stages]
    if not isinstance(value, str) or value not in names:
        raise SpecError("happy", unknown_choice("stage", value, names))
    return value


def _check_segment_by(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Iterable):
        raise SpecError("segment_by", f"expected a list of column names, got {value!r}")
    columns = tuple(check_column(c, f"segment_by[{i}]") for i, c in enumerate(value))
    for i, column in enumerate(columns):
        if column in columns[:i]:
            raise SpecError(f"segment_by[{i}]", f"column {column!r} is listed twice")
    return columns


def _insert_position(index: object, n: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int) or not -n <= index <= n:
        raise SpecError("stages", f"cannot insert a stage at {index!r}; use 0 to {n}")
    return index if index >= 0 else n + index


def plain_number(value: float) -> int | float:
    """A whole float as an int (``500.0`` → ``500``), for text meant for people."""
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


# ---------------------------------------------------------------------------- to_python


_BUILDERS: dict[type[Predicate], str] = {
    AnyEvent: "any_event",
    Condition: "prop",
    And: "all_of",
    Or: "any_of",
    Not: "not_",
}


def _builders_used(predicates: Iterable[Predicate]) -> set[str]:
    names: set[str] = set()
    for node in (n for pred in predicates for n in pred.walk()):
        if isinstance(node, EventIn):
            names.add("event" if len(node.names) == 1 else "event_in")
        else:
            names.update(name for cls, name in _BUILDERS.items() if isinstance(node, cls))
    return names


def _uses_dates(predicates: Iterable[Predicate]) -> bool:
    for node in (n for pred in predicates for n in pred.walk()):
        values = getattr(node, "values", (getattr(node, "value", None),))
        if any(isinstance(v, date) for v in values):
            return True
    return False


def _python_source(factory: Factory, variable: str) -> str:
    predicates = [s.match for s in factory.stages]
    if not isinstance(factory.active, AnyEvent):
        predicates.append(factory.active)
    imports = sorted({"Factory", "Stage"} | _builders_used(predicates))
    lines = []
    if _uses_dates(predicates):
        lines += ["import datetime", ""]
    lines += [f"from cfnb.spec import {', '.join(imports)}", "", f"{variable} = Factory(", "    ["]
    for stage in factory.stages:
        args = [repr(stage.name), stage.match.to_python()]
        if stage.times != 1:
            args.append(f"times={stage.times}")
        if stage.within is not None:
            args.append(f"within={format_duration(stage.within)!r}")
        if stage.target is not None:
            args.append(f"target={stage.target!r}")
        lines.append(f"        Stage({', '.join(args)}),")
    lines.append("    ],")
    settings = {
        "name": None if factory.name is None else repr(factory.name),
        "mode": repr(factory.mode),
        "window": None if factory.window is None else repr(format_duration(factory.window)),
        "period": repr(factory.period),
        "happy": None if factory.happy is None else repr(factory.happy),
        "segment_by": repr(list(factory.segment_by)) if factory.segment_by else None,
        "goal": None if factory.goal is None else repr(plain_number(factory.goal)),
        "active": None if isinstance(factory.active, AnyEvent) else factory.active.to_python(),
    }
    lines += [f"    {key}={value}," for key, value in settings.items() if value is not None]
    lines.append(")")
    return "\n".join(lines) + "\n"
