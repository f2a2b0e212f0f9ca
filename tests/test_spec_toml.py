"""Factory specs as TOML and JSON: the public minimal shape, richer matching, round trips."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfnb.spec import (
    Factory,
    Predicate,
    SpecError,
    Stage,
    all_of,
    any_event,
    any_of,
    event,
    event_in,
    not_,
    prop,
)
from cfnb.spec.predicates import COMPARE_OPS, Compare

# DESIGN.md §2, verbatim: this shape is a public contract.
DESIGN_TOML = """\
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
"""

HOSTILE = "'; DROP TABLE events; --"


def test_the_design_shape_parses_exactly() -> None:
    assert Factory.from_toml(DESIGN_TOML) == Factory(
        [
            Stage("Acquisition", event("visit")),
            Stage("Activation", event("created_project"), within=timedelta(days=14), target=0.4),
        ],
        mode="lifecycle",
        window=timedelta(days=30),
        period="week",
    )


def test_the_design_shape_is_written_back_minimal() -> None:
    assert Factory.from_toml(DESIGN_TOML).to_toml() == (
        'mode = "lifecycle"\n'
        'window = "30d"\n'
        'period = "week"\n'
        "\n"
        "[[stages]]\n"
        'name = "Acquisition"\n'
        'event = "visit"\n'
        "\n"
        "[[stages]]\n"
        'name = "Activation"\n'
        'event = "created_project"\n'
        'within = "2w"\n'
        "target = 0.4\n"
    )


def test_only_stages_are_required() -> None:
    f = Factory.from_toml('[[stages]]\nname = "Acquisition"\nevent = "visit"\n')
    assert f == Factory([Stage("Acquisition", "visit")])


RICH_TOML = """\
name = "SaaS funnel"
mode = "best_path"
window = "36h"
period = "month"
happy = "Revenue"
segment_by = ["channel"]
goal = 500

[active]
event = ["login", "created_project"]

[[stages]]
name = "Acquisition"
event = "visit"

[[stages]]
name = "Activation"
event = ["created_project", "imported_data"]
times = 2

[[stages]]
name = "Revenue"
event = "purchase"
where = [{column = "amount", op = ">", value = 10}, {column = "plan", op = "in", value = ["pro", "team"]}]

[[stages]]
name = "Referral"
match = {any = [{event = "invite_sent"}, {all = [{event = "share"}, {column = "via", op = "=", value = "email"}]}, {not = {column = "referrer", op = "is null"}}]}
"""


def test_the_richer_shape() -> None:
    f = Factory.from_toml(RICH_TOML)
    assert f == Factory(
        [
            Stage("Acquisition", event("visit")),
            Stage("Activation", event_in("created_project", "imported_data"), times=2),
            Stage(
                "Revenue",
                event("purchase") & (prop("amount") > 10) & prop("plan").is_in(["pro", "team"]),
            ),
            Stage(
                "Referral",
                event("invite_sent")
                | (event("share") & (prop("via") == "email"))
                | ~prop("referrer").is_null(),
            ),
        ],
        name="SaaS funnel",
        mode="best_path",
        window="36h",
        period="month",
        happy="Revenue",
        segment_by=["channel"],
        goal=500,
        active=event_in("login", "created_project"),
    )
    assert Factory.from_toml(f.to_toml()) == f


def test_event_where_and_match_are_anded() -> None:
    f = Factory.from_toml(
        """
        [[stages]]
        name = "Big pro purchase"
        event = "purchase"
        where = [{column = "amount", op = ">=", value = 100.0}]
        match = {any = [{column = "plan", op = "==", value = "pro"}, {column = "coupon", op = "not null"}]}
        """
    )
    assert f.stages[0].match == all_of(
        event("purchase"),
        prop("amount") >= 100.0,
        any_of(prop("plan") == "pro", prop("coupon").not_null()),
    )


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('{column = "n", op = "!=", value = 3}', prop("n") != 3),
        ('{column = "n", op = "<=", value = -1.5}', prop("n") <= -1.5),
        ('{column = "ok", op = "==", value = true}', prop("ok") == True),  # noqa: E712
        ('{column = "d", op = "<", value = 2024-01-31}', prop("d") < dt.date(2024, 1, 31)),
        (
            '{column = "t", op = ">", value = 2024-01-31T10:00:00+02:00}',
            prop("t") > dt.datetime(2024, 1, 31, 8, tzinfo=dt.UTC),
        ),
        (
            '{column = "t", op = ">", value = {datetime = "2024-01-31T08:00:00"}}',
            prop("t") > dt.datetime(2024, 1, 31, 8, tzinfo=dt.UTC),
        ),
        ('{column = "name", op = "contains", value = "a.b"}', prop("name").contains("a.b")),
        ('{column = "x", op = "is null"}', prop("x").is_null()),
        ('{column = "x", op = "is not null"}', prop("x").not_null()),
        (f'{{column = "plan", op = "in", value = ["{HOSTILE}"]}}', prop("plan").is_in([HOSTILE])),
    ],
)
def test_where_conditions(condition: str, expected: Predicate) -> None:
    f = Factory.from_toml(f'[[stages]]\nname = "A"\nwhere = [{condition}]\n')
    assert f.stages[0].match == expected


def test_any_event_in_a_nested_match() -> None:
    f = Factory.from_toml('[[stages]]\nname = "A"\nmatch = {any_event = true}\n')
    assert f.stages[0].match == any_event()
    assert "match = {any_event = true}" in f.to_toml()


# ----------------------------------------------------------------------------- errors


def spec_error(text: str) -> SpecError:
    with pytest.raises(SpecError) as err:
        Factory.from_toml(text)
    return err.value


STAGE = '[[stages]]\nname = "A"\nevent = "visit"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[stages]]\nname = "A"\nevent = "visit"\nwitin = "3d"\n',
            "stages[0].witin: unknown key; did you mean 'within'?",
        ),
        ('perod = "week"\n' + STAGE, "perod: unknown key; did you mean 'period'?"),
        (
            STAGE + '[[stages]]\nname = "B"\nevent = "b"\nwithin = -3\n',
            "stages[1].within: expected a duration like '14d', got -3",
        ),
        (
            STAGE.replace('"visit"', '"visit"\nwithin = 14'),
            "stages[0].within: expected a duration like '14d', got 14; write it with a unit",
        ),
        ('window = "2 fortnights"\n' + STAGE, "window: expected a duration like '14d'"),
        ('mode = "best path"\n' + STAGE, "mode: unknown mode 'best path'"),
        ("period = 7\n" + STAGE, "period: expected text, got 7 (a whole number)"),
        ("segment_by = [1]\n" + STAGE, "segment_by[0]: expected a column name, got 1"),
        ('goal = "lots"\n' + STAGE, "goal: expected a positive number"),
        ('mode = "lifecycle"\n', "stages: a factory needs at least one stage"),
        ("stages = 3\n", "stages: expected a list of stage tables"),
        ('[[stages]]\nevent = "x"\n', "stages[0]: a stage needs a name"),
        (
            '[[stages]]\nname = 3\nevent = "x"\n',
            "stages[0].name: expected a stage name (text), got 3",
        ),
        ('[[stages]]\nname = "A"\n', "stages[0]: a stage needs a condition"),
        ('[[stages]]\nname = "A"\nevent = 3\n', "stages[0].event: expected an event name (text)"),
        (
            '[[stages]]\nname = "A"\nevent = ["a", 3]\n',
            "stages[0].event[1]: expected an event name",
        ),
        (
            '[[stages]]\nname = "A"\nevent = "a"\ntimes = 1.5\n',
            "stages[0].times: expected a whole number",
        ),
        (
            '[[stages]]\nname = "A"\nevent = "a"\ntarget = 40\n',
            "stages[0].target: expected a conversion rate in (0, 1], got 40 (write 0.4 for 40%)",
        ),
        (
            '[[stages]]\nname = "A"\nwhere = [{colum = "x", op = "==", value = 1}]\n',
            "stages[0].where[0].colum: unknown key; did you mean 'column'?",
        ),
        (
            '[[stages]]\nname = "A"\nwhere = [{column = "x", op = "=>", value = 1}]\n',
            "stages[0].where[0].op: unknown operator '=>'; choose one of",
        ),
        (
            '[[stages]]\nname = "A"\nwhere = [{column = "x", op = "in", value = 1}]\n',
            "stages[0].where[0].value: 'in' needs a list of values",
        ),
        (
            '[[stages]]\nname = "A"\nwhere = [{column = "x", op = "in", value = [1, "a"]}]\n',
            "stages[0].where[0].value: the values of 'in' mix numbers and text",
        ),
        (
            '[[stages]]\nname = "A"\nwhere = [{column = "x", op = "==", value = 1.0e999}]\n',
            "stages[0].where[0].value: expected a finite number",
        ),
        (
            '[[stages]]\nname = "A"\nwhere = [{column = "x", op = "=="}]\n',
            "stages[0].where[0].value: '==' needs a value",
        ),
        (
            '[[stages]]\nname = "A"\nwhere = [{column = "x", op = "not null", value = 1}]\n',
            "stages[0].where[0].value: 'not null' takes no value; remove it",
        ),
        (
            '[[stages]]\nname = "A"\nwhere = [{column = "x", op = "contains", value = 1}]\n',
            "stages[0].where[0].value: 'contains' needs text",
        ),
        (
            '[[stages]]\nname = "A"\nwhere = [{column = "t", op = "<", value = 10:30:00}]\n',
            "stages[0].where[0].value: a time of day (10:30:00) cannot be compared",
        ),
        (
            '[[stages]]\nname = "A"\nwhere = [{column = "*", op = "==", value = 1}]\n',
            "stages[0].where[0].column: column name '*' would be read by Polars as a pattern",
        ),
        ('[[stages]]\nname = "A"\nwhere = []\n', "stages[0].where: expected a list of conditions"),
        (
            '[[stages]]\nname = "A"\nmatch = {any = [{event = "a"}, {evnt = "b"}]}\n',
            "stages[0].match.any[1].evnt: unknown key; did you mean 'event'?",
        ),
        (
            '[[stages]]\nname = "A"\nmatch = {not = {event = "a", column = "x", op = "is null"}}\n',
            "stages[0].match.not: a condition has exactly one of",
        ),
        (
            '[[stages]]\nname = "A"\nmatch = {all = []}\n',
            "stages[0].match.all: expected a non-empty list of conditions",
        ),
        (
            '[[stages]]\nname = "A"\nmatch = {any_event = false}\n',
            "stages[0].match.any_event: only any_event = true is allowed",
        ),
        (
            '[[stages]]\nname = "A"\nmatch = "x"\n',
            "stages[0].match: expected a table for a condition",
        ),
        ('[active]\nevnt = "x"\n' + STAGE, "active.evnt: unknown key; did you mean 'event'?"),
        ("[active]\n" + STAGE, "active: the [active] table needs a condition"),
        ('happy = "B"\n' + STAGE, "happy: unknown stage 'B'; choose one of 'A'"),
        (STAGE + STAGE, "stages[1].name: stage name 'A' is already used by stages[0]"),
        ("mode = [\n", "not valid TOML"),
    ],
)
def test_errors_name_the_path_and_the_fix(text: str, message: str) -> None:
    assert str(spec_error(text)).startswith(message)


def test_error_paths_are_structured() -> None:
    err = spec_error(
        '[[stages]]\nname = "A"\nevent = "a"\n[[stages]]\nname = "B"\nevent = "b"\nwithin = "0d"\n'
    )
    assert err.path == "stages[1].within"
    assert isinstance(err, ValueError)


# ----------------------------------------------------------------------------- files, JSON


def test_read_from_a_path_or_a_file_name(tmp_path: Path) -> None:
    path = tmp_path / "factory.toml"
    path.write_text(DESIGN_TOML, encoding="utf-8")
    expected = Factory.from_toml(DESIGN_TOML)
    assert Factory.from_toml(path) == expected
    assert Factory.from_toml(str(path)) == expected
    with pytest.raises(FileNotFoundError, match="no spec file"):
        Factory.from_toml(tmp_path / "missing.toml")


def test_json_round_trip_tags_dates() -> None:
    f = Factory(
        [
            Stage(
                "A",
                event("a")
                & (prop("since") >= dt.date(2024, 1, 2))
                & (prop("at") < dt.datetime(2024, 1, 2, 3)),
            )
        ]
    )
    data = json.loads(f.to_json())
    assert data["stages"][0]["where"][0]["value"] == {"date": "2024-01-02"}
    assert data["stages"][0]["where"][1]["value"] == {"datetime": "2024-01-02T03:00:00+00:00"}
    assert Factory.from_json(f.to_json()) == f


def test_json_nulls_mean_not_set(tmp_path: Path) -> None:
    text = json.dumps(
        {"window": None, "happy": None, "stages": [{"name": "A", "event": "a", "within": None}]}
    )
    assert Factory.from_json(text) == Factory([Stage("A", "a")])
    path = tmp_path / "f.json"
    path.write_text(text, encoding="utf-8")
    assert Factory.from_json(path) == Factory([Stage("A", "a")])


def test_a_long_one_line_spec_is_text_not_a_file_name() -> None:
    text = json.dumps({"name": "x" * 5000, "stages": [{"name": "A", "event": "a"}]})
    assert Factory.from_json(text).name == "x" * 5000


def test_json_errors() -> None:
    with pytest.raises(SpecError, match="not valid JSON"):
        Factory.from_json("{")
    with pytest.raises(SpecError, match="expected a JSON object"):
        Factory.from_json("[1]")


def test_dict_form_is_the_toml_layout() -> None:
    f = Factory.from_toml(RICH_TOML)
    assert tomllib.loads(f.to_toml()) == f.to_dict()
    assert Factory.from_dict(f.to_dict()) == f


def test_to_toml_is_deterministic() -> None:
    a = Factory.from_toml(RICH_TOML)
    b = Factory.from_toml(a.to_toml())
    assert a.to_toml() == b.to_toml()
    assert a.to_toml().encode() == Factory.from_json(a.to_json()).to_toml().encode()


# ----------------------------------------------------------------------------- round trips

ODD_TEXT = st.sampled_from(
    [HOSTILE, 'say "hi"', "line\nbreak", "tab\there", "back\\slash", "é ✓ 日本", "\x00\x7f", "]]"]
)
TEXT = st.one_of(ODD_TEXT, st.text(max_size=8))
NAMES = st.one_of(ODD_TEXT, st.text(min_size=1, max_size=8)).filter(lambda s: bool(s.strip()))
COLUMNS = st.one_of(ODD_TEXT, st.text(min_size=1, max_size=8)).filter(
    lambda c: c != "*" and not (c.startswith("^") and c.endswith("$"))
)
OFFSETS = st.integers(-14, 14).map(lambda h: dt.timezone(timedelta(hours=h)))
DATETIMES = st.datetimes(
    min_value=dt.datetime(1900, 1, 1),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.none() | OFFSETS,
)
NUMBERS = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False)
)
# Values of one kind, so they may share an "in" list.
VALUE_KINDS = [TEXT, NUMBERS, DATETIMES, st.dates(min_value=dt.date(1900, 1, 1))]


@st.composite
def conditions(draw: st.DrawFn) -> Predicate:
    column = draw(COLUMNS)
    kind = draw(st.sampled_from(["compare", "bool", "in", "null", "not null", "contains"]))
    if kind == "compare":
        return Compare(column, draw(st.sampled_from(COMPARE_OPS)), draw(st.one_of(*VALUE_KINDS)))
    if kind == "bool":
        return Compare(column, draw(st.sampled_from(["==", "!="])), draw(st.booleans()))
    if kind == "in":
        values = draw(st.one_of(*(st.lists(k, min_size=1, max_size=3) for k in VALUE_KINDS)))
        return prop(column).is_in(values)
    if kind == "null":
        return prop(column).is_null()
    if kind == "not null":
        return prop(column).not_null()
    return prop(column).contains(draw(TEXT))


LEAVES = st.one_of(
    NAMES.map(event),
    st.lists(NAMES, min_size=1, max_size=3).map(event_in),
    st.just(any_event()),
    conditions(),
)
PREDICATES = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda ps: all_of(*ps)),
        st.lists(children, min_size=2, max_size=3).map(lambda ps: any_of(*ps)),
        children.map(not_),
    ),
    max_leaves=6,
)
DURATIONS = st.integers(1, 10**8).map(lambda s: timedelta(seconds=s))


@st.composite
def factories(draw: st.DrawFn) -> Factory:
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    stages = [
        Stage(
            name,
            draw(PREDICATES),
            times=draw(st.integers(1, 5)),
            within=draw(st.none() | DURATIONS),
            target=draw(st.none() | st.floats(0, 1, exclude_min=True)),
        )
        for name in names
    ]
    return Factory(
        stages,
        mode=draw(st.sampled_from(["lifecycle", "best_path"])),
        window=draw(st.none() | DURATIONS),
        period=draw(st.sampled_from(["day", "week", "month"])),
        happy=draw(st.none() | st.sampled_from(names)),
        segment_by=draw(st.lists(COLUMNS, max_size=2, unique=True)),
        goal=draw(st.none() | st.integers(1, 10**6) | st.floats(1e-3, 1e12)),
        active=draw(st.none() | PREDICATES),
        name=draw(st.none() | NAMES),
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(factories())
def test_toml_round_trip(f: Factory) -> None:
    text = f.to_toml()
    assert Factory.from_toml(text) == f
    assert Factory.from_toml(text).to_toml() == text


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(factories())
def test_json_round_trip(f: Factory) -> None:
    assert Factory.from_json(f.to_json()) == f


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(factories())
def test_python_export_round_trip(f: Factory) -> None:
    namespace: dict[str, object] = {}
    exec(f.to_python(), namespace)
    assert namespace["factory"] == f
