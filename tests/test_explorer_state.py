"""The explorer's pure part: what a person types becomes spec values, or a named error."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from cfnb.explorer.state import (
    PredicateParts,
    default_factory,
    error_key,
    format_target,
    format_value,
    match_from_parts,
    next_stage,
    parse_goal,
    parse_optional_duration,
    parse_target,
    parse_value,
    parts_from_match,
    same_result,
    stage_of,
)
from cfnb.spec import Factory, SpecError, Stage, any_of, event, prop

SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "event": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "plan": pl.String(),
    "amount": pl.Float64(),
    "seats": pl.Int64(),
    "trial": pl.Boolean(),
    "signup_day": pl.Date(),
    "tags": pl.List(pl.String()),
}


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("10", "amount", 10),
        ("2.5", "amount", 2.5),
        ("-3", "seats", -3),
        ("pro", "plan", "pro"),
        ('"pro team"', "plan", "pro team"),
        ("TRUE", "trial", True),
        ("no", "trial", False),
        ("2024-01-31", "signup_day", dt.date(2024, 1, 31)),
        ("2024-01-31", "ts", dt.date(2024, 1, 31)),
        ("2024-01-31T12:00Z", "ts", dt.datetime(2024, 1, 31, 12, tzinfo=dt.UTC)),
    ],
)
def test_parse_value_reads_the_column_type(text: str, column: str, expected: object) -> None:
    value = parse_value(text, SCHEMA[column], column, "v")
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("ten", "amount", "is not a number"),
        ("nan", "amount", "is not a number"),
        ("maybe", "trial", "write true or false"),
        ("31/01/2024", "signup_day", "write e.g. 2024-01-31"),
        ("x", "tags", "only be tested with 'is null'"),
        ("", "plan", "type a value"),
    ],
)
def test_parse_value_errors_name_the_path(text: str, column: str, words: str) -> None:
    with pytest.raises(SpecError, match=words) as info:
        parse_value(text, SCHEMA[column], column, "stages[1].where[0].value")
    assert info.value.path.startswith("stages[1].where[0]")


def test_targets_goals_and_durations() -> None:
    assert parse_target("40%", "t") == 0.4
    assert parse_target(" 0.25 ", "t") == 0.25
    assert parse_target("", "t") is None
    assert format_target(0.45) == "45%"
    assert parse_target(format_target(0.333), "t") == 0.333
    with pytest.raises(SpecError, match=r"write 0\.4 or 40% for 40%"):
        parse_target("40", "stages[1].target")
    assert parse_goal("1,000") == 1000.0
    assert parse_goal("") is None
    with pytest.raises(SpecError, match="positive"):
        parse_goal("0")
    assert parse_optional_duration("", "window") is None
    assert parse_optional_duration("36h", "window") == dt.timedelta(hours=36)
    with pytest.raises(SpecError, match=r"^window: ") as info:
        parse_optional_duration("soon", "window")
    assert info.value.path == "window"


@pytest.mark.parametrize(
    "match",
    [
        event("purchase"),
        event("purchase") & (prop("amount") > 10.5),
        event("purchase") & prop("plan").is_in(["pro", "team"]),
        event("purchase") & prop("plan").is_null(),
        event("purchase") & prop("plan").not_null(),
        event("purchase") & prop("plan").contains("pr"),
        prop("trial") == True,  # noqa: E712 (builds a predicate)
        prop("seats") >= 3,
    ],
)
def test_editor_fields_round_trip(match: object) -> None:
    from cfnb.spec import Predicate

    assert isinstance(match, Predicate)
    parts = parts_from_match(match)
    assert parts.editable
    assert match_from_parts(parts, SCHEMA, "stages[2]") == match


def test_conditions_the_editor_cannot_show_are_read_only() -> None:
    assert not parts_from_match(any_of(event("a"), event("b"))).editable
    assert not parts_from_match(event("a") & (prop("x") == 1) & (prop("y") == 2)).editable
    from cfnb.spec import event_in

    assert not parts_from_match(event_in("a", "b")).editable


def test_empty_stage_and_unknown_operator() -> None:
    with pytest.raises(SpecError, match="empty stage") as info:
        match_from_parts(PredicateParts(event="  "), SCHEMA, "stages[4]")
    assert info.value.path == "stages[4]"
    with pytest.raises(SpecError, match="true/false values can only be compared"):
        match_from_parts(PredicateParts("a", "trial", "<", "true"), SCHEMA, "stages[1]")
    with pytest.raises(SpecError, match="'in'") as info:
        match_from_parts(PredicateParts("a", "plan", "in", " , "), SCHEMA, "stages[1]")
    assert info.value.path == "stages[1].where[0].value"


def test_error_keys_group_a_stage_condition() -> None:
    assert error_key("stages[3].where[0].value") == "stages[3].match"
    assert error_key("stages[3].event[1]") == "stages[3].match"
    assert error_key("stages[3]") == "stages[3]"
    assert error_key("segment_by[0]") == "segment_by"
    assert stage_of("stages[12].within") == 12
    assert stage_of("window") is None


def test_format_value() -> None:
    assert format_value(False) == "false"
    assert format_value(dt.date(2024, 2, 1)) == "2024-02-01"
    assert format_value(3) == "3"


def test_default_factory_and_next_stage() -> None:
    t = [dt.datetime(2024, 1, 1, h, tzinfo=dt.UTC) for h in range(6)]
    events = pl.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "b", "c"],
            "event": ["visit", "page_view", "signup", "visit", "page_view", "page_view"],
            "ts": t,
        }
    )
    # c's first event is a page view, but visit is first for more users; page views are
    # done by every user, so Activation is signup.
    factory = default_factory(events)
    assert factory.stages == (Stage("Acquisition", "visit"), Stage("Activation", "signup"))
    added = next_stage(factory, ["page_view", "visit", "signup"])
    assert added == Stage("Retention", "page_view")
    one = default_factory(events.filter(pl.col("event") == "visit"))
    assert one.stage_names == ("Acquisition",)
    full = Factory([Stage(n, "visit") for n in ("Acquisition", "Activation", "Retention")])
    assert next_stage(full, ["visit"]).name == "Revenue"


def test_same_result_compares_frames_by_value() -> None:
    a = (pl.DataFrame({"x": [1, 2]}), {"k": [1.5]}, None)
    assert same_result(a, (pl.DataFrame({"x": [1, 2]}), {"k": [1.5]}, None))
    assert not same_result(a, (pl.DataFrame({"x": [1, 3]}), {"k": [1.5]}, None))
    assert not same_result(a, (pl.DataFrame({"x": [1, 2]}), {"k": [2.5]}, None))
    assert not same_result(float("nan"), float("nan"))  # redraw rather than guess


@pytest.mark.parametrize(
    "edit",
    [
        lambda f: f.replace(window="10d"),
        lambda f: f.replace(period="month"),
        lambda f: f.replace(segment_by=["plan"]),
        lambda f: f.with_stage(f.stages[1].name, match=event("signup")),
    ],
    ids=["window", "period", "segment", "second stage"],
)
def test_preparing_edits_ahead_changes_no_result_of_the_edited_view(edit) -> None:  # type: ignore[no-untyped-def]
    import cfnb
    from cfnb.charts.specs import ChartSpecs
    from cfnb.explorer.state import compute_view, prepare_edits

    events = cfnb.datasets.generate(users=600, seed=4, weeks=8).events
    factory = Factory.from_dict(cfnb.datasets.default_spec())
    edited = edit(factory)
    views = []
    for prepare in (True, False):
        specs = ChartSpecs()
        view = compute_view(factory.run(events), None, specs)
        if prepare:
            prepare_edits(view, specs)
        views.append(compute_view(view.run.with_factory(edited), view, specs))
    prepared, plain = views
    assert same_result(prepared.inputs, plain.inputs)
    assert prepared.charts == plain.charts
    assert prepared.summary == plain.summary
