"""A wrong spec file fails with the path of the field and the fix, never a traceback.

Each case is a TOML spec with one mistake, the path of the field it is in (as the file is
laid out, e.g. ``stages[2].within``) and the start of the message. Mistakes only a log can
reveal come after: a column the log lacks or a value of the wrong type is an error, an
event name the log never has is a warning (DESIGN.md §2; :mod:`cfnb.spec.validate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

import cfnb
from cfnb.cli import main
from cfnb.spec import Factory, SpecError

A = '[[stages]]\nname = "A"\nevent = "visit"\n'
B = '[[stages]]\nname = "B"\nevent = "signup"\n'


def third(line: str) -> str:
    """A spec whose third stage (``stages[2]``) holds ``line``."""
    return A + B + '[[stages]]\nname = "C"\nevent = "buy"\n' + line + "\n"


def second(line: str) -> str:
    """A spec whose second stage (``stages[1]``) holds ``line`` besides its name."""
    return A + '[[stages]]\nname = "B"\n' + line + "\n"


@dataclass(frozen=True)
class Bad:
    id: str
    toml: str
    path: str
    message: str  # the start of the message after "path: "


CASES = [
    # ---------------------------------------------------------------- unknown keys
    Bad("top-level typo", 'perod = "week"\n' + A, "perod", "unknown key; did you mean 'period'?"),
    Bad(
        "top-level key unlike any",
        'colour = "red"\n' + A,
        "colour",
        "unknown key; valid keys are 'name', 'mode', 'window', 'period', 'happy', 'segment_by', "
        "'goal', 'active', 'stages'",
    ),
    Bad(
        "stage key typo",
        third('witin = "3d"'),
        "stages[2].witin",
        "unknown key; did you mean 'within'?",
    ),
    Bad(
        "stage key unlike any",
        third("colour = 1"),
        "stages[2].colour",
        "unknown key; valid keys are 'name', 'event', 'where', 'match', 'times', 'within', 'target'",
    ),
    Bad(
        "condition key typo",
        second('where = [{column = "plan", op = "==", vlaue = "pro"}]'),
        "stages[1].where[0].vlaue",
        "unknown key; did you mean 'value'?",
    ),
    Bad(
        "nested condition key typo",
        second('match = {any = [{event = "a"}, {evnt = "b"}]}'),
        "stages[1].match.any[1].evnt",
        "unknown key; did you mean 'event'?",
    ),
    Bad(
        "[active] key typo",
        '[active]\nevnt = "session"\n' + A,
        "active.evnt",
        "unknown key; did you mean 'event'?",
    ),
    # ---------------------------------------------------------------- wrong types
    Bad("period a number", "period = 7\n" + A, "period", "expected text, got 7 (a whole number)"),
    Bad("mode a boolean", "mode = true\n" + A, "mode", "expected text, got True (true/false)"),
    Bad("spec name a number", "name = 3\n" + A, "name", "expected text, got 3 (a whole number)"),
    Bad(
        "stages a number",
        "stages = 3\n",
        "stages",
        "expected a list of stage tables, got 3 (a whole number)",
    ),
    Bad(
        "stages a single table",
        '[stages]\nname = "A"\nevent = "visit"\n',
        "stages",
        "expected a list of stage tables, got {'name': 'A', 'event': 'visit'} (a table)",
    ),
    Bad(
        "stage name a number",
        second('name = 3\nevent = "x"').replace('name = "B"\n', ""),
        "stages[1].name",
        "expected a stage name (text), got 3 (int)",
    ),
    Bad(
        "event a number",
        second("event = 3"),
        "stages[1].event",
        "expected an event name (text), got 3 (a whole number)",
    ),
    Bad(
        "event list holding a number",
        second('event = ["signup", 3]'),
        "stages[1].event[1]",
        "expected an event name (text), got 3 (a whole number)",
    ),
    Bad(
        "times as text",
        third('times = "3"'),
        "stages[2].times",
        "expected a whole number of events, at least 1, got '3'",
    ),
    Bad(
        "within a boolean",
        third("within = true"),
        "stages[2].within",
        "expected a duration like '14d', got True (bool)",
    ),
    Bad(
        "within a bare number",
        third("within = 14"),
        "stages[2].within",
        "expected a duration like '14d', got 14; write it with a unit (s, m, h, d, w), e.g. '14d'",
    ),
    Bad(
        "window a date",
        "window = 2026-01-05\n" + A,
        "window",
        "expected a duration like '14d', got datetime.date(2026, 1, 5) (date)",
    ),
    Bad(
        "target as a percentage",
        third('target = "40%"'),
        "stages[2].target",
        "expected a conversion rate in (0, 1], got '40%' (write 0.4 for 40%)",
    ),
    Bad(
        "goal as text",
        'goal = "lots"\n' + A,
        "goal",
        "expected a positive number of happy customers per period, got 'lots'",
    ),
    Bad(
        "segment_by a table",
        "segment_by = {channel = 1}\n" + A,
        "segment_by",
        "expected a list of column names like [\"channel\"], got {'channel': 1} (a table)",
    ),
    Bad(
        "segment_by holding a number",
        'segment_by = ["channel", 2]\n' + A,
        "segment_by[1]",
        "expected a column name, got 2 (a whole number)",
    ),
    Bad(
        "a list where one value goes",
        second('where = [{column = "amount", op = "==", value = [1, 2]}]'),
        "stages[1].where[0].value",
        "expected one value (text, number, true/false, date), got [1, 2] (a list)",
    ),
    Bad(
        "a column name that is a number",
        second('where = [{column = 3, op = "==", value = 1}]'),
        "stages[1].where[0].column",
        "expected a column name (text), got 3 (int)",
    ),
    Bad(
        "match as text",
        second('match = "signup"'),
        "stages[1].match",
        "expected a table for a condition, got 'signup' (text)",
    ),
    Bad(
        "a date that is not one",
        second('where = [{column = "day", op = "==", value = {date = "2026-13-01"}}]'),
        "stages[1].where[0].value",
        "'2026-13-01' is not an ISO date",
    ),
    # ---------------------------------------------------------------- empty things
    Bad(
        "no stages",
        'mode = "lifecycle"\n',
        "stages",
        "a factory needs at least one stage: add a [[stages]] table with a name and an event",
    ),
    Bad(
        "an empty list of stages",
        "stages = []\n",
        "stages",
        "a factory needs at least one stage: add a [[stages]] table with a name and an event",
    ),
    Bad(
        "an empty stage",
        A + "[[stages]]\n",
        "stages[1]",
        'a stage needs a name, e.g. name = "Activation"',
    ),
    Bad(
        "a stage without a condition",
        second(""),
        "stages[1]",
        'a stage needs a condition: event = "name", where = [...] or match = {...}',
    ),
    Bad(
        "an empty stage name",
        second('name = ""\nevent = "x"').replace('name = "B"\n', ""),
        "stages[1].name",
        "a stage name must not be empty",
    ),
    Bad(
        "a blank stage name",
        second('name = "   "\nevent = "x"').replace('name = "B"\n', ""),
        "stages[1].name",
        "a stage name must not be blank",
    ),
    Bad(
        "an empty event name",
        second('event = ""'),
        "stages[1].event",
        "an event name must not be empty",
    ),
    Bad(
        "an empty list of events",
        second("event = []"),
        "stages[1].event",
        "give at least one event name",
    ),
    Bad(
        "an empty where list",
        second("where = []"),
        "stages[1].where",
        "expected a list of conditions, e.g. where = [{column = ",
    ),
    Bad(
        "an empty all",
        second("match = {all = []}"),
        "stages[1].match.all",
        "expected a non-empty list of conditions, got [] (a list)",
    ),
    Bad(
        "an empty match",
        second("match = {}"),
        "stages[1].match",
        "a condition has exactly one of 'event', 'column', 'all', 'any', 'not', 'any_event'; "
        "got none",
    ),
    Bad(
        "an empty in list",
        second('where = [{column = "plan", op = "in", value = []}]'),
        "stages[1].where[0].value",
        "give at least one value for 'in'",
    ),
    Bad(
        "an empty [active] table",
        "[active]\n" + A,
        "active",
        "the [active] table needs a condition",
    ),
    # ---------------------------------------------------------------- negative and zero durations
    Bad(
        "a negative within (the issue's example)",
        third("within = -3"),
        "stages[2].within",
        "expected a duration like '14d', got -3",
    ),
    Bad(
        "a negative within with a unit",
        third('within = "-14d"'),
        "stages[2].within",
        "expected a duration like '14d', got '-14d'; a duration must be positive",
    ),
    Bad(
        "a zero within",
        third('within = "0d"'),
        "stages[2].within",
        "expected a duration like '14d', got '0d'; a duration must be positive",
    ),
    Bad(
        "a negative window", "window = -3\n" + A, "window", "expected a duration like '14d', got -3"
    ),
    Bad(
        "a negative window with a unit",
        'window = "-3w"\n' + A,
        "window",
        "expected a duration like '14d', got '-3w'; a duration must be positive",
    ),
    Bad(
        "a fractional duration",
        third('within = "1.5d"'),
        "stages[2].within",
        "expected a duration like '14d', got '1.5d'; write a whole number and a unit: s, m, h, d, w",
    ),
    Bad(
        "an unknown unit",
        third('within = "2 fortnights"'),
        "stages[2].within",
        "expected a duration like '14d', got '2 fortnights'; unknown unit 'fortnights', "
        "use s, m, h, d or w",
    ),
    Bad(
        "a duration too long for any calendar",
        third('within = "99999999999w"'),
        "stages[2].within",
        "expected a duration like '14d', got '99999999999w'; that is too long",
    ),
    Bad(
        "zero times",
        third("times = 0"),
        "stages[2].times",
        "expected a whole number of events, at least 1, got 0",
    ),
    Bad(
        "a zero goal",
        "goal = 0\n" + A,
        "goal",
        "expected a positive number of happy customers per period, got 0",
    ),
    Bad(
        "a negative goal",
        "goal = -5\n" + A,
        "goal",
        "expected a positive number of happy customers per period, got -5",
    ),
    # ---------------------------------------------------------------- targets outside (0, 1]
    Bad(
        "a target above 1",
        third("target = 1.5"),
        "stages[2].target",
        "expected a conversion rate in (0, 1], got 1.5 (write 0.015 for 1.5%); a rate is the share "
        "of the previous stage's users who reach this one, so at most 1",
    ),
    Bad(
        "a target in percent",
        third("target = 40"),
        "stages[2].target",
        "expected a conversion rate in (0, 1], got 40 (write 0.4 for 40%)",
    ),
    Bad(
        "a target above 100",
        third("target = 150"),
        "stages[2].target",
        "expected a conversion rate in (0, 1], got 150; a rate is the share",
    ),
    Bad(
        "a zero target",
        third("target = 0"),
        "stages[2].target",
        "expected a conversion rate in (0, 1], got 0; a target must be above 0 "
        "(leave target out to have none)",
    ),
    Bad(
        "a negative target",
        third("target = -0.2"),
        "stages[2].target",
        "expected a conversion rate in (0, 1], got -0.2; a target must be above 0",
    ),
    Bad(
        "a NaN target",
        third("target = nan"),
        "stages[2].target",
        "expected a conversion rate in (0, 1], got nan",
    ),
    Bad(
        "an infinite target",
        third("target = inf"),
        "stages[2].target",
        "expected a conversion rate in (0, 1], got inf; a rate is the share",
    ),
    Bad(
        "a boolean target",
        third("target = true"),
        "stages[2].target",
        "expected a conversion rate in (0, 1], got True",
    ),
    # ---------------------------------------------------------------- choices and references
    Bad(
        "an unknown period",
        'period = "weekly"\n' + A,
        "period",
        "unknown period 'weekly'; choose one of 'day', 'week', 'month'; did you mean 'week'?",
    ),
    Bad(
        "an unknown mode",
        'mode = "best path"\n' + A,
        "mode",
        "unknown mode 'best path'; choose one of 'lifecycle', 'best_path'; did you mean 'best_path'?",
    ),
    Bad(
        "a happy stage that is not a stage",
        'happy = "Revenue"\n' + A + B,
        "happy",
        "unknown stage 'Revenue'; choose one of 'A', 'B'",
    ),
    Bad(
        "a stage name used twice",
        A + B + A,
        "stages[2].name",
        "stage name 'A' is already used by stages[0]; stage names must be unique",
    ),
    Bad(
        "an unknown operator",
        second('where = [{column = "amount", op = "=>", value = 1}]'),
        "stages[1].where[0].op",
        "unknown operator '=>'; choose one of '==', '!=', '<', '<=', '>', '>=', 'in', 'contains', "
        "'is null', 'not null'; did you mean '>='?",
    ),
    Bad(
        "an ordering of true/false",
        second('where = [{column = "paid", op = "<", value = true}]'),
        "stages[1].where[0].op",
        "true/false values can only be compared with == or !=, not <",
    ),
    Bad(
        "a value for is null",
        second('where = [{column = "plan", op = "is null", value = "x"}]'),
        "stages[1].where[0].value",
        "'is null' takes no value; remove it",
    ),
    Bad(
        "in mixing kinds",
        second('where = [{column = "plan", op = "in", value = ["pro", 1]}]'),
        "stages[1].where[0].value",
        "the values of 'in' mix numbers and text; give values of one kind, like the column's",
    ),
    Bad(
        "a segment listed twice",
        'segment_by = ["channel", "channel"]\n' + A,
        "segment_by[1]",
        "column 'channel' is listed twice",
    ),
    Bad(
        "a column name Polars would read as a pattern",
        second('where = [{column = "^a.*$", op = "==", value = 1}]'),
        "stages[1].where[0].column",
        "column name '^a.*$' would be read by Polars as a pattern, not a name",
    ),
    Bad(
        "a deep mistake",
        second('match = {any = [{all = [{event = "a"}, {column = "x", op = "=>", value = 1}]}]}'),
        "stages[1].match.any[0].all[1].op",
        "unknown operator '=>'",
    ),
    # ---------------------------------------------------------------- not TOML at all
    Bad("broken TOML", "mode = [\n", "", "not valid TOML: "),
    Bad(
        "a key given twice",
        'period = "week"\nperiod = "day"\n' + A,
        "",
        "not valid TOML: Cannot overwrite a value (at line 2, column 15)",
    ),
]


@pytest.mark.parametrize("bad", CASES, ids=[bad.id for bad in CASES])
def test_a_spec_mistake_names_its_field_and_the_fix(bad: Bad) -> None:
    with pytest.raises(SpecError) as err:
        Factory.from_toml(bad.toml)

    assert err.value.path == bad.path
    expected = f"{bad.path}: {bad.message}" if bad.path else bad.message
    assert str(err.value).startswith(expected)
    assert isinstance(err.value, ValueError)


def test_the_cases_cover_the_issue_list() -> None:
    ids = " ".join(bad.id for bad in CASES)
    for kind in ("unknown", "a number", "empty", "negative", "target above 1"):
        assert kind in ids
    assert len(CASES) >= 60


# ------------------------------------------------------------------ against a log

LOG = pl.DataFrame(
    {
        "user_id": ["u1", "u1", "u1", "u2"],
        "event": ["visit", "signup", "session", "visit"],
        "ts": ["2026-01-05T09:00:00Z"] * 4,
        "plan": ["free", "pro", "pro", "free"],
        "amount": [0.0, 10.0, 0.0, 0.0],
        "channel": ["ads", "ads", "ads", "seo"],
    }
)


@pytest.fixture(scope="module")
def log() -> cfnb.EventLog:
    return cfnb.load(LOG)


def check(toml: str, log: cfnb.EventLog) -> list[str]:
    counts = dict(log.report.event_counts)
    return Factory.from_toml(toml).validate(log.schema, counts)


@pytest.mark.parametrize(
    ("toml", "warning"),
    [
        (
            second('event = "sigup"'),
            "stages[1].event: no 'sigup' events in the log; did you mean 'signup'?",
        ),
        (
            second('event = ["signup", "sesion"]'),
            "stages[1].event[1]: no 'sesion' events in the log; did you mean 'session'?",
        ),
        (
            second('event = "zzz"'),
            "stages[1].event: no 'zzz' events in the log; the log's most frequent events are "
            "'visit', 'session', 'signup'",
        ),
        (
            '[active]\nevent = "sesion"\n' + A,
            "active.event: no 'sesion' events in the log; did you mean 'session'?",
        ),
        (
            second('match = {all = [{event = "visit"}, {event = "signup"}]}'),
            "stages[1]: can never match, its event conditions exclude each other: "
            'event = "visit" and event = "signup"',
        ),
    ],
    ids=[
        "misspelt event",
        "misspelt event in a list",
        "event unlike any",
        "active event",
        "exclusive events",
    ],
)
def test_an_unknown_event_is_a_warning_with_its_path(
    toml: str, warning: str, log: cfnb.EventLog
) -> None:
    # The spec can run (the stage is simply never reached), so it is not an error.
    assert check(toml, log) == [warning]
    assert Factory.from_toml(toml).run(log).warnings == (warning,)


@pytest.mark.parametrize(
    ("toml", "path", "message"),
    [
        (
            second('where = [{column = "plann", op = "==", value = "pro"}]'),
            "stages[1].where[0].column",
            "unknown column 'plann'; did you mean 'plan'? The log's columns are 'plan', ",
        ),
        (
            second('where = [{column = "amount", op = ">", value = "ten"}]'),
            "stages[1].where[0].value",
            "column 'amount' holds numbers (Float64), but \"ten\" is text; write a number without "
            "quotes, e.g. value = 10",
        ),
        (
            second('where = [{column = "plan", op = "==", value = 1}]'),
            "stages[1].where[0].value",
            "column 'plan' holds text (String), but 1 is a number; write the value as text in "
            'quotes, e.g. value = "pro"',
        ),
        (
            second('where = [{column = "amount", op = "contains", value = "1"}]'),
            "stages[1].where[0].op",
            "'contains' needs a text column, but 'amount' holds numbers (Float64)",
        ),
        (
            'segment_by = ["chanel"]\n' + A,
            "segment_by[0]",
            "unknown column 'chanel'; did you mean 'channel'?",
        ),
        (
            '[active]\nwhere = [{column = "plam", op = "is null"}]\n' + A,
            "active.where[0].column",
            "unknown column 'plam'; did you mean 'plan'?",
        ),
    ],
    ids=[
        "unknown column",
        "text for a number",
        "number for text",
        "contains on numbers",
        "unknown segment",
        "unknown column in active",
    ],
)
def test_what_cannot_run_on_the_log_is_an_error_with_its_path(
    toml: str, path: str, message: str, log: cfnb.EventLog
) -> None:
    for attempt in (lambda: check(toml, log), lambda: Factory.from_toml(toml).run(log)):
        with pytest.raises(SpecError) as err:
            attempt()
        assert err.value.path == path
        assert str(err.value).startswith(f"{path}: {message}")


def test_the_cli_prints_the_field_path_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.csv"
    LOG.write_csv(events)
    spec = tmp_path / "factory.toml"
    spec.write_text(third("within = -3"), encoding="utf-8")

    assert main(["run", str(events), "--stages", str(spec)]) == 2

    assert "stages[2].within: expected a duration like '14d', got -3" in capsys.readouterr().err
