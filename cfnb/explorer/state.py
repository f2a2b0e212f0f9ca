"""The explorer's pure part: text ↔ spec values, a default spec, and the view of a run.

Nothing here knows about widgets. The editors turn what a person typed into spec values
with these functions (each raises :class:`~cfnb.spec.SpecError` naming the field path),
and the explorer turns a :class:`~cfnb.analysis.FactoryRun` into chart specs with
:func:`compute_view`, which reuses every spec whose input result did not change and
fills the others in with a :class:`~cfnb.charts.specs.ChartSpecs` (a millisecond each,
once a chart's layout has been drawn by Altair).

Examples
--------
>>> import polars as pl
>>> parse_value("10", pl.Float64, "amount", "stages[1].where[0].value")
10
>>> parse_target("45%", "stages[1].target")
0.45
>>> format_value(True)
'true'
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from cfnb import charts
from cfnb.charts.specs import ChartSpecs
from cfnb.metrics import _arrays
from cfnb.metrics.funnel import stage_rows
from cfnb.periods import PERIODS
from cfnb.spec import (
    AnyEvent,
    Compare,
    Condition,
    Contains,
    Factory,
    IsIn,
    IsNull,
    NotNull,
    Predicate,
    SpecError,
    Stage,
    Value,
    all_of,
    event,
    format_duration,
    parse_duration,
    prop,
)
from cfnb.spec.factory import plain_number
from cfnb.spec.toml_io import split_match

if TYPE_CHECKING:
    import altair as alt

    from cfnb.analysis import FactoryRun
    from cfnb.eventlog import EventLog

__all__ = [
    "CHART_NAMES",
    "OPERATORS",
    "PredicateParts",
    "View",
    "compute_view",
    "default_factory",
    "error_key",
    "event_table",
    "format_optional_duration",
    "format_target",
    "format_value",
    "match_from_parts",
    "parse_goal",
    "parse_optional_duration",
    "parse_target",
    "parse_value",
    "parts_from_match",
    "same_result",
]

OPERATORS: tuple[str, ...] = (
    "==",
    "!=",
    "in",
    "<",
    "<=",
    ">",
    ">=",
    "is null",
    "not null",
    "contains",
)
"""Operators of the property editor, in the order they are offered."""

CHART_NAMES: tuple[str, ...] = ("chain", "funnel", "throughput", "retention")
"""The explorer's charts, in the order they are shown."""

MACRO_STAGES: tuple[str, ...] = ("Acquisition", "Activation", "Retention", "Revenue", "Referral")
_BUILT_IN_COLUMNS = ("user_id", "event", "ts")
_INT = re.compile(r"[+-]?\d+")
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


# ------------------------------------------------------------------------------ the log


def event_table(log: EventLog | pl.DataFrame) -> pl.DataFrame:
    """``event, events, users`` of a log, most frequent first (``EventLog.event_names``)."""
    if isinstance(log, pl.DataFrame):
        return (
            log.group_by("event")
            .agg(pl.len().alias("events"), pl.col("user_id").n_unique().alias("users"))
            .with_columns(pl.col("events").cast(pl.Int64), pl.col("users").cast(pl.Int64))
            .sort(["events", "event"], descending=[True, False])
        )
    return log.event_names()


def property_columns(schema: Mapping[str, pl.DataType]) -> list[str]:
    """The log's property columns (every column but ``user_id``, ``event`` and ``ts``)."""
    return [c for c in schema if c not in _BUILT_IN_COLUMNS]


def segment_columns(schema: Mapping[str, pl.DataType]) -> list[str]:
    """Property columns that can segment users: the text ones."""
    return [
        c
        for c in property_columns(schema)
        if schema[c].base_type() in (pl.String, pl.Categorical, pl.Enum)
    ]


def default_factory(log: EventLog | pl.DataFrame) -> Factory:
    """A starting spec for a log nobody has described yet: Acquisition, then Activation.

    Acquisition is the event that is most often a user's *first* event (how users enter
    the factory). Activation is the event done by the most users among the others,
    leaving out "ambient" events that nearly every user does (at least 90% of the users,
    like page views): those make a 100% link that says nothing. The analyst renames,
    adds and edits stages from there.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> t = [dt.datetime(2024, 1, 1, h, tzinfo=dt.UTC) for h in range(5)]
    >>> events = pl.DataFrame({"user_id": ["a", "a", "a", "b", "b"],
    ...                        "event": ["visit", "page_view", "signup", "visit", "page_view"],
    ...                        "ts": t})
    >>> print(default_factory(events).describe())
    lifecycle factory, per week
      1. Acquisition: event = "visit"
      2. Activation: event = "signup"  (happy customers)
    """
    first_events = getattr(log, "first_events", None)
    if callable(first_events):
        # A log on Spark counts first events there (its events never reach this process).
        first, all_users = first_events(), log.report.users  # type: ignore[union-attr]
    else:
        events = log if isinstance(log, pl.DataFrame) else log.events
        if events.height == 0:
            raise SpecError("stages", "the log has no events, so no stage can be suggested")
        first = (
            events.group_by("user_id")
            # Events at a user's first instant: the earliest row wins (a stable sort).
            .agg(pl.col("event").sort_by("ts", maintain_order=True).first())
            .group_by("event")
            .len()
            .sort(["len", "event"], descending=[True, False])
        )
        all_users = events["user_id"].n_unique()
    acquisition = str(first["event"][0])
    table = event_table(log)
    others = table.filter(
        (pl.col("event") != acquisition) & (pl.col("users") < 0.9 * all_users)
    ).sort(["users", "events", "event"], descending=[True, True, False])
    stages = [Stage("Acquisition", event(acquisition))]
    if others.height:
        stages.append(Stage("Activation", event(str(others["event"][0]))))
    return Factory(stages)


def next_stage(factory: Factory, events: Sequence[str]) -> Stage:
    """A new last stage: the next unused macro-step name, the most frequent unused event."""
    names = set(factory.stage_names)
    name = next((n for n in MACRO_STAGES if n not in names), None)
    k = len(factory.stages) + 1
    while name is None or name in names:
        name, k = f"Stage {k}", k + 1
    used: set[str] = set()
    for stage in factory.stages:
        used |= stage.match.event_names() or set()
    pick = next((e for e in events if e not in used), events[0] if events else name)
    return Stage(name, event(pick))


# ------------------------------------------------------------------------------ text → values


def parse_optional_duration(text: str, path: str) -> timedelta | None:
    """``""`` → ``None``, else a duration (``"14d"``, ``"36h"``, ``"2w"``).

    Examples
    --------
    >>> parse_optional_duration(" ", "window") is None
    True
    >>> parse_optional_duration("2 weeks", "window").days
    14
    """
    text = text.strip()
    return None if not text else parse_duration(text, path)


def format_optional_duration(value: timedelta | None) -> str:
    """A duration as the editor shows it (``""`` for none)."""
    return "" if value is None else format_duration(value)


def parse_target(text: str, path: str) -> float | None:
    """A conversion rate typed as ``0.4`` or ``40%``; ``""`` for none.

    Examples
    --------
    >>> parse_target("0.4", "target"), parse_target("", "target")
    (0.4, None)
    >>> parse_target("forty", "stages[1].target")
    Traceback (most recent call last):
    ...
    cfnb.spec.errors.SpecError: stages[1].target: expected a rate like 0.4 or 40%, got 'forty'
    """
    text = text.strip()
    if not text:
        return None
    percent = text.endswith("%")
    try:
        value = float(text.rstrip("%").strip())
    except ValueError:
        raise SpecError(path, f"expected a rate like 0.4 or 40%, got {text!r}") from None
    if percent:
        value /= 100
    if not math.isfinite(value) or not 0 < value <= 1:
        hint = f" (write {value / 100:g} or {value:g}% for {value:g}%)" if 1 < value <= 100 else ""
        raise SpecError(path, f"expected a rate in (0, 1] like 0.4 or 40%, got {text!r}{hint}")
    return round(value, 10)


def format_target(value: float | None) -> str:
    """A target as the editor shows it (``0.45`` → ``"45%"``)."""
    if value is None:
        return ""
    return f"{value * 100:.10g}%"


def parse_goal(text: str, path: str = "goal") -> float | None:
    """Happy customers per period at Scale; ``""`` for none."""
    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise SpecError(
            path, f"expected a number of happy customers per period, got {text!r}"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise SpecError(
            path, f"expected a positive number of happy customers per period, got {text!r}"
        )
    return value


def format_goal(value: float | None) -> str:
    """A goal as the editor shows it (``100.0`` → ``"100"``)."""
    return "" if value is None else str(plain_number(value))


def parse_value(text: str, dtype: pl.DataType, column: str, path: str) -> Value:
    """Read one value typed in the editor as the column's type.

    Numbers (whole numbers stay whole), ``true``/``false``, ISO dates and date-times, or
    text (outer quotes dropped) for text columns.

    Examples
    --------
    >>> import polars as pl
    >>> parse_value("2.5", pl.Float64, "amount", "value"), parse_value('"pro"', pl.String, "plan", "value")
    (2.5, 'pro')
    >>> parse_value("ten", pl.Int64, "seats", "stages[2].where[0].value")
    Traceback (most recent call last):
    ...
    cfnb.spec.errors.SpecError: stages[2].where[0].value: column 'seats' holds numbers (Int64); 'ten' is not a number: write e.g. 10
    """
    raw = text.strip()
    base = dtype.base_type()
    if not raw:
        raise SpecError(path, f"type a value to compare column {column!r} with")
    if dtype.is_numeric():
        try:
            number: int | float = int(raw) if _INT.fullmatch(raw) else float(raw)
        except ValueError:
            number = math.nan
        if isinstance(number, float) and not math.isfinite(number):
            raise SpecError(
                path,
                f"column {column!r} holds numbers ({dtype}); {raw!r} is not a number: write e.g. 10",
            )
        return number
    if base is pl.Boolean:
        word = raw.lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise SpecError(
            path, f"column {column!r} holds true/false values; write true or false, not {raw!r}"
        )
    if base is pl.Datetime:
        try:
            return datetime.fromisoformat(raw) if len(raw) > 10 else date.fromisoformat(raw)
        except ValueError:
            raise SpecError(
                path,
                f"column {column!r} holds date-times; write e.g. 2024-01-31 or 2024-01-31T12:00Z, not {raw!r}",
            ) from None
    if base is pl.Date:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise SpecError(
                path, f"column {column!r} holds dates; write e.g. 2024-01-31, not {raw!r}"
            ) from None
    if base in (pl.String, pl.Categorical, pl.Enum, pl.Null):
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            return raw[1:-1]
        return raw
    raise SpecError(
        path.rsplit(".", 1)[0] + ".op",
        f"column {column!r} holds {dtype} values, which can only be tested with 'is null' or 'not null'",
    )


def format_value(value: Value) -> str:
    """A value as the editor shows it (the inverse of :func:`parse_value`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


# ------------------------------------------------------------------------------ predicates


@dataclass(frozen=True)
class PredicateParts:
    """A stage's condition as the editor shows it: one event and one property condition.

    ``editable`` is false when the condition has another shape (several event names,
    several property conditions, or/not): the editor then shows it as text only.
    """

    event: str = ""
    column: str = ""
    op: str = "=="
    value: str = ""
    editable: bool = True


def parts_from_match(match: Predicate) -> PredicateParts:
    """Split a stage's ``match`` into the editor's fields.

    Examples
    --------
    >>> from cfnb.spec import event, prop
    >>> parts_from_match(event("purchase") & (prop("amount") > 10))
    PredicateParts(event='purchase', column='amount', op='>', value='10', editable=True)
    >>> parts_from_match(event("a") | event("b")).editable
    False
    """
    if isinstance(match, AnyEvent):
        return PredicateParts()
    layout = split_match(match)
    editable = layout.match is None and len(layout.where) <= 1
    name = ""
    if layout.event is not None:
        if len(layout.event.names) != 1:
            editable = False
        name = layout.event.names[0]
    if not editable:
        return PredicateParts(event=name, editable=False)
    if not layout.where:
        return PredicateParts(event=name)
    cond = layout.where[0]
    op, value = _op_and_value(cond)
    return PredicateParts(event=name, column=cond.column, op=op, value=value)


def _op_and_value(cond: Condition) -> tuple[str, str]:
    if isinstance(cond, Compare):
        return cond.op, format_value(cond.value)
    if isinstance(cond, IsIn):
        return "in", ", ".join(format_value(v) for v in cond.values)
    if isinstance(cond, IsNull):
        return "is null", ""
    if isinstance(cond, NotNull):
        return "not null", ""
    if isinstance(cond, Contains):
        return "contains", cond.text
    raise AssertionError(f"unknown condition {cond!r}")  # pragma: no cover


def match_from_parts(
    parts: PredicateParts, schema: Mapping[str, pl.DataType], path: str
) -> Predicate:
    """Build a stage's ``match`` from the editor's fields, parsing the value as the column's type.

    ``path`` is the stage's path (``"stages[1]"``); errors name the field under it.

    Examples
    --------
    >>> import polars as pl
    >>> schema = {"event": pl.String, "amount": pl.Float64}
    >>> print(match_from_parts(PredicateParts("purchase", "amount", ">", "10"), schema, "stages[3]"))
    event = "purchase" and amount > 10
    >>> match_from_parts(PredicateParts(), schema, "stages[3]")
    Traceback (most recent call last):
    ...
    cfnb.spec.errors.SpecError: stages[3]: an empty stage matches nothing: pick an event or a property condition
    """
    name = parts.event.strip()
    lead = event(name) if name else None
    cond = _condition(parts, schema, f"{path}.where[0]") if parts.column else None
    if lead is None and cond is None:
        raise SpecError(
            path, "an empty stage matches nothing: pick an event or a property condition"
        )
    if lead is not None and cond is not None:
        return all_of(lead, cond)
    result = lead if lead is not None else cond
    assert result is not None
    return result


def _condition(parts: PredicateParts, schema: Mapping[str, pl.DataType], path: str) -> Condition:
    column = parts.column
    if column not in schema:
        raise SpecError(f"{path}.column", f"unknown column {column!r}")
    dtype = schema[column]
    op = parts.op
    if op not in OPERATORS:
        raise SpecError(
            f"{path}.op", f"unknown operator {op!r}; choose one of {', '.join(OPERATORS)}"
        )
    if op == "is null":
        return prop(column).is_null()
    if op == "not null":
        return prop(column).not_null()
    if op == "contains":
        if not parts.value:
            raise SpecError(f"{path}.value", "type the text to look for")
        return prop(column).contains(parts.value)
    if op == "in":
        items = [t for t in parts.value.split(",") if t.strip()]
        if not items:
            raise SpecError(f"{path}.value", "type the values for 'in', separated by commas")
        values = [parse_value(t, dtype, column, f"{path}.value[{i}]") for i, t in enumerate(items)]
        try:
            return prop(column).is_in(values)
        except SpecError as err:
            raise err.under(path) from None
    value = parse_value(parts.value, dtype, column, f"{path}.value")
    try:
        return Compare(column, op, value)
    except SpecError as err:
        raise err.under(path) from None


# ------------------------------------------------------------------------------ errors


_STAGE = re.compile(r"stages\[(\d+)\]")


def error_key(path: str) -> str:
    """The control an error belongs to, from the error's path.

    Every part of a stage's condition (``event``, ``where[…]``, ``match``) is one
    control, the condition editor; other fields are their own control.

    Examples
    --------
    >>> error_key("stages[1].where[0].value"), error_key("stages[2].within"), error_key("segment_by[0]")
    ('stages[1].match', 'stages[2].within', 'segment_by')
    """
    found = _STAGE.match(path)
    if found:
        rest = path[found.end() :].lstrip(".")
        head = re.split(r"[.\[]", rest, maxsplit=1)[0] if rest else ""
        if head in ("event", "where", "match"):
            head = "match"
        return f"stages[{found.group(1)}]" + (f".{head}" if head else "")
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def stage_of(key: str) -> int | None:
    """The stage index an error key is about, or ``None`` for a spec-wide key."""
    found = _STAGE.match(key)
    return int(found.group(1)) if found else None


# ------------------------------------------------------------------------------ the view


@dataclass(frozen=True, eq=False)
class View:
    """What the explorer paints for one run: the verdict line and one chart spec per name.

    ``charts`` holds each chart's Vega-Lite spec, the dict its Altair chart's
    ``to_dict(validate=False)`` gives (:func:`draw` builds that chart). ``inputs`` holds
    the result each chart was drawn from, so the next view can reuse a spec (the same
    dict) when its input did not change; ``seconds`` says where the time went
    (``metrics``, ``charts``).
    """

    run: FactoryRun
    summary: str
    charts: Mapping[str, dict[str, Any]]
    inputs: Mapping[str, Any] = field(repr=False)
    seconds: Mapping[str, float] = field(default_factory=dict)


def chart_inputs(run: FactoryRun) -> dict[str, Any]:
    """The result each chart draws (the metrics part of a view)."""
    factory = run.factory
    segment = factory.segment_by[0] if factory.segment_by else None
    throughput = run.throughput()
    return {
        "chain": run.constraint(),
        "funnel": run.funnel(by=segment),
        "throughput": (throughput, run.business_stage() if factory.goal is not None else None),
        "retention": run.retention(),
    }


def draw(name: str, data: Any) -> alt.TopLevelMixin:
    """The Altair chart of one of :data:`CHART_NAMES` from its input (see :func:`chart_inputs`)."""
    if name == "chain":
        return charts.chain_chart(data)
    if name == "funnel":
        return charts.funnel_chart(data)
    if name == "throughput":
        return charts.throughput_chart(*data)
    if name == "retention":
        return charts.retention_heatmap_chart(data)
    raise KeyError(name)


def chart_spec(name: str, data: Any, specs: ChartSpecs) -> dict[str, Any]:
    """The spec of :func:`draw`'s chart, ``draw(name, data).to_dict(validate=False)``, by ``specs``."""
    if name == "chain":
        return specs.chain(data)
    if name == "funnel":
        return specs.funnel(data)
    if name == "throughput":
        return specs.throughput(*data)
    if name == "retention":
        return specs.retention_heatmap(data)
    raise KeyError(name)


def compute_view(
    run: FactoryRun, previous: View | None = None, specs: ChartSpecs | None = None
) -> View:
    """Compute the metrics and chart specs for ``run``, reusing unchanged specs of ``previous``.

    A target edit changes the constraint only, so the funnel, throughput and retention
    specs of ``previous`` are handed back as the very same dicts (and a chart widget
    given the same dict sends nothing). The other specs come from ``specs``: pass the
    same :class:`~cfnb.charts.specs.ChartSpecs` to every call, so that each chart layout
    is drawn by Altair once and filled in afterwards (a fresh one draws every chart).
    """
    specs = ChartSpecs() if specs is None else specs
    start = time.perf_counter()
    inputs = chart_inputs(run)
    summary = run.constraint().summary
    middle = time.perf_counter()
    drawn: dict[str, dict[str, Any]] = {}
    for name in CHART_NAMES:
        if previous is not None and same_result(inputs[name], previous.inputs[name]):
            drawn[name] = previous.charts[name]
        else:
            drawn[name] = chart_spec(name, inputs[name], specs)
    end = time.perf_counter()
    return View(run, summary, drawn, inputs, {"metrics": middle - start, "charts": end - middle})


#: Segment columns with more values than this are not prepared for (a split by them
#: makes an unreadable chart, and sorting by them costs what a split by few does not).
PREPARED_SEGMENT_VALUES = 1_000


def prepare_edits(view: View, specs: ChartSpecs) -> None:
    """Compute ahead what the next edits of ``view``'s spec will need, so they answer at once.

    The explorer's worker calls this after painting a view, while the analyst looks at
    it. Every result is kept where the edited runs find it (with the journeys, their
    chains, or the retention activity), and nothing is computed that an edit would not
    ask for:

    * each segment column's value on every user's acquisition row, each stage's step
      durations sorted by segment, and the funnel split by it (a segment edit);
    * the step durations sorted by the current split and by cohort (a window edit only
      filters them);
    * the same spec's metrics and chart layouts by every other period (a period edit).

    It never changes what any metric returns; only how soon.
    """
    run = view.run
    journeys = run.journeys
    factory = run.factory
    n = len(factory.stages)
    candidates = [c for c in segment_columns(run.backend.schema) if c in run.backend.schema]
    splits: list[str | None] = [None, *factory.segment_by[:1]]
    for column in candidates:
        if column in splits:
            continue
        _, values = _arrays.group_codes(journeys, column)
        if values.len() <= PREPARED_SEGMENT_VALUES:
            splits.append(column)
    for by in splits:
        for stage in range(1, n):
            # Sorted, and which of them the current limits admit: a window edit filters.
            _arrays.admitted(journeys, _arrays.steps(journeys, stage, by), stage)
        if by not in (None, *factory.segment_by[:1]):
            # Kept with the reach: a segment edit, which keeps the reach, finds it.
            stage_rows(journeys, by)
    for period in PERIODS:
        if period == factory.period:
            continue
        # The whole view of the same spec by another period: a period edit then only
        # assembles what is kept (the reach is the same, so are its caches).
        edited = chart_inputs(run.with_factory(factory.replace(period=period)))
        for name in CHART_NAMES:
            chart_spec(name, edited[name], specs)


def same_result(a: object, b: object) -> bool:
    """Whether two metric results hold the same values (frames compared by value).

    Examples
    --------
    >>> import polars as pl
    >>> same_result((pl.DataFrame({"x": [1]}), "week"), (pl.DataFrame({"x": [1]}), "week"))
    True
    >>> same_result(pl.DataFrame({"x": [1]}), pl.DataFrame({"x": [1.0]}))
    False
    """
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, pl.DataFrame):
        assert isinstance(b, pl.DataFrame)
        return a.schema == b.schema and a.equals(b)
    if isinstance(a, pl.Series):
        assert isinstance(b, pl.Series)
        return a.dtype == b.dtype and a.equals(b)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return all(
            same_result(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    if isinstance(a, tuple | list):
        assert isinstance(b, tuple | list)
        return len(a) == len(b) and all(same_result(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping):
        assert isinstance(b, Mapping)
        return a.keys() == b.keys() and all(same_result(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:  # a value without a truth value: treat as changed
        return False


def describe_errors(messages: Sequence[str]) -> str:
    """Error messages as one HTML block (red, one line each)."""
    import html

    lines = "".join(f"<div>⚠ {html.escape(m)}</div>" for m in messages)
    return f'<div style="color:#b00020">{lines}</div>' if lines else ""
