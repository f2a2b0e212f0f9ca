"""Predicates as data: what they match on an events table, and how they read."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest

import cfnb.spec as spec
from cfnb.spec import (
    And,
    SpecError,
    all_of,
    any_event,
    any_of,
    event,
    event_in,
    not_,
    prop,
)

UTC = dt.UTC
HOSTILE = "'; DROP TABLE events; --"

# One row per case worth telling apart; the index is the row number.
EVENTS = pl.DataFrame(
    {
        "user_id": ["u1", "u1", "u2", "u2", "u3", "u3", "u4"],
        "event": ["visit", "purchase", "purchase", "signup", "purchase", HOSTILE, "visit"],
        "ts": [dt.datetime(2024, 1, d, 12, tzinfo=UTC) for d in range(1, 8)],
        "amount": [None, 5.0, 20.0, None, 10.0, None, 1.0],
        "seats": [1, 2, None, 3, 2, 1, None],
        "plan": ["free", "pro", None, "team", HOSTILE, "pro.x", "a(b"],
        "trial": [True, False, None, True, False, None, False],
        "born": [dt.date(2000, 1, d) for d in (1, 2, 3, 4, 5, 6, 7)],
    },
    schema_overrides={"ts": pl.Datetime("us", "UTC")},
).with_columns(
    tier=pl.col("plan").cast(pl.Categorical),
    local_time=pl.col("ts").dt.replace_time_zone(None),
)


def rows(predicate: spec.Predicate, events: pl.DataFrame = EVENTS) -> list[int]:
    """The row numbers the predicate matches."""
    matched = events.with_row_index("row").filter(predicate.to_polars())
    return matched["row"].to_list()


# ----------------------------------------------------------------------------- matching


def test_event_names() -> None:
    assert rows(event("purchase")) == [1, 2, 4]
    assert rows(event_in("visit", "signup")) == [0, 3, 6]
    assert rows(event_in(["visit", "signup"])) == [0, 3, 6]
    assert rows(event("nope")) == []


def test_any_event_gives_one_value_per_row() -> None:
    assert rows(any_event()) == list(range(EVENTS.height))
    assert EVENTS.select(any_event().to_polars()).height == EVENTS.height


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        (prop("amount") > 10, [2]),
        (prop("amount") >= 10, [2, 4]),
        (prop("amount") < 10, [1, 6]),
        (prop("amount") <= 5, [1, 6]),
        (prop("amount") == 5, [1]),
        (prop("amount") == 5.0, [1]),
        (prop("seats") == 2, [1, 4]),
        (prop("seats") < 2.5, [0, 1, 4, 5]),
        (prop("plan") == "pro", [1]),
        (prop("plan") > "pro", [3, 5]),
        (prop("trial") == True, [0, 3]),  # noqa: E712 (builds a predicate)
        (prop("trial") != True, [1, 4, 6]),  # noqa: E712
        (10 < prop("amount"), [2]),  # noqa: SIM300 (the reflected operator)
    ],
)
def test_comparisons(predicate: spec.Predicate, expected: list[int]) -> None:
    assert rows(predicate) == expected


def test_null_never_matches_a_comparison_but_not_includes_it() -> None:
    # amount is null on rows 0, 3, 5.
    assert rows(prop("amount") != 5) == [2, 4, 6]
    assert rows(~(prop("amount") == 5)) == [0, 2, 3, 4, 5, 6]
    assert rows(prop("amount").is_null()) == [0, 3, 5]
    assert rows(prop("amount").not_null()) == [1, 2, 4, 6]


def test_predicates_never_yield_null() -> None:
    predicates = [
        prop("amount") > 1,
        prop("plan").is_in(["pro"]),
        prop("seats").is_in([2, 3]),
        prop("plan").contains("o"),
        ~(prop("trial") == False),  # noqa: E712
        (prop("amount") > 1) | (prop("seats") > 1),
    ]
    for predicate in predicates:
        assert EVENTS.select(predicate.to_polars()).null_count().item() == 0, predicate


def test_is_in() -> None:
    assert rows(prop("plan").is_in(["pro", "team"])) == [1, 3]
    assert rows(prop("seats").is_in([2, 3])) == [1, 3, 4]
    # Numbers compare exactly: 1.5 matches no whole number of seats.
    assert rows(prop("seats").is_in([1.5, 3.0])) == [3]
    assert rows(prop("amount").is_in([5, 20])) == [1, 2]
    assert rows(prop("trial").is_in([False])) == [1, 4, 6]


def test_text_is_matched_literally() -> None:
    assert rows(event(HOSTILE)) == [5]
    assert rows(prop("plan") == HOSTILE) == [4]
    assert rows(prop("plan").contains("'; DROP")) == [4]
    # Regex metacharacters are plain characters.
    assert rows(prop("plan").contains(".")) == [5]
    assert rows(prop("plan").contains("a(")) == [6]
    assert rows(prop("plan").contains("")) == [0, 1, 3, 4, 5, 6]


def test_categorical_columns_hold_text() -> None:
    assert rows(prop("tier") == "pro") == [1]
    assert rows(prop("tier").is_in(["team", "free"])) == [0, 3]
    assert rows(prop("tier").contains("ro")) == [1, 5]


def test_times_compare_as_utc_instants() -> None:
    noon_3rd = dt.datetime(2024, 1, 3, 12)
    in_paris = dt.datetime(2024, 1, 3, 13, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert rows(prop("ts") >= noon_3rd) == [2, 3, 4, 5, 6]
    assert rows(prop("ts") >= in_paris) == [2, 3, 4, 5, 6]
    assert rows(prop("local_time") >= in_paris) == [2, 3, 4, 5, 6]
    assert rows(prop("ts") < dt.date(2024, 1, 3)) == [0, 1]
    assert rows(prop("born") == dt.date(2000, 1, 2)) == [1]
    assert rows(prop("born").is_in([dt.date(2000, 1, 2), dt.date(2000, 1, 7)])) == [1, 6]


def test_and_or_not() -> None:
    big_purchase = event("purchase") & (prop("amount") > 10)
    assert rows(big_purchase) == [2]
    assert rows(event("signup") | big_purchase) == [2, 3]
    assert rows(~event("purchase")) == [0, 3, 5, 6]
    assert rows(all_of(event("purchase"), prop("seats") == 2, prop("plan") != "pro")) == [4]
    assert rows(any_of(event("signup"), prop("plan").contains("("))) == [3, 6]
    assert rows(not_(prop("trial") == True)) == [1, 2, 4, 5, 6]  # noqa: E712


def test_a_missing_column_fails_in_polars_not_silently() -> None:
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        rows(prop("nope") == 1)


# ----------------------------------------------------------------------------- as values


def test_predicates_are_values() -> None:
    a, b, c = event("buy"), prop("amount") > 10, prop("plan") == "pro"
    assert (a & b) & c == a & (b & c) == all_of(a, b, c)
    assert isinstance(a & b & c, And)
    assert len((a & b & c).parts) == 3
    assert (a | b) != (a & b)
    assert len({a & b, all_of(a, b), b & a}) == 2
    assert {event("x"): 1}[event("x")] == 1


def test_values_of_different_types_are_different_predicates() -> None:
    assert (prop("x") == 1) != (prop("x") == 1.0)
    assert (prop("x") == 1) != (prop("x") == True)  # noqa: E712
    assert (prop("x") == 1) == (prop("x") == 1)


def test_naive_and_utc_times_are_the_same_value() -> None:
    naive = prop("ts") > dt.datetime(2024, 1, 1, 12)
    aware = prop("ts") > dt.datetime(2024, 1, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert naive == aware
    assert naive.value.tzinfo == UTC


def test_prop_is_a_builder_not_a_value() -> None:
    with pytest.raises(TypeError, match="unhashable"):
        hash(prop("plan"))
    assert isinstance(prop("plan") == "pro", spec.Compare)
    assert repr(prop("plan")) == "prop('plan')"


def test_event_names_say_what_a_predicate_can_match() -> None:
    assert event("a").event_names() == {"a"}
    assert (event_in("a", "b") & (prop("x") > 1)).event_names() == {"a", "b"}
    assert (event_in("a", "b") & event_in("b", "c")).event_names() == {"b"}
    assert (event("a") | event("b")).event_names() == {"a", "b"}
    assert (event("a") | (prop("x") > 1)).event_names() is None
    assert (~event("a")).event_names() is None
    assert any_event().event_names() is None
    assert (event("a") & event("b")).event_names() == frozenset()


def test_columns_lists_property_columns() -> None:
    p = event("buy") & ((prop("amount") > 1) | ~prop("coupon").is_null())
    assert p.columns() == {"amount", "coupon"}
    assert event("buy").columns() == frozenset()


@pytest.mark.parametrize(
    ("predicate", "text"),
    [
        (event("purchase") & (prop("amount") > 10), 'event = "purchase" and amount > 10'),
        (event_in("a", "b"), 'event in ("a", "b")'),
        (prop("plan").is_in(["pro", "team"]), 'plan in ("pro", "team")'),
        (prop("x").is_null() | prop("y").not_null(), "x is null or y is not null"),
        (prop("name").contains("abc"), 'name contains "abc"'),
        (prop("trial") == False, "trial = false"),  # noqa: E712
        (prop("born") < dt.date(2000, 1, 2), "born < 2000-01-02"),
        (~event("a"), 'not (event = "a")'),
        ((event("a") | event("b")) & (prop("n") != 3), '(event = "a" or event = "b") and n != 3'),
        (prop("my col") == 'say "hi"\n', '`my col` = "say \\"hi\\"\\n"'),
        (any_event(), "any event"),
    ],
)
def test_describe(predicate: spec.Predicate, text: str) -> None:
    assert predicate.describe() == text
    assert str(predicate) == text


@pytest.mark.parametrize(
    "predicate",
    [
        event("a") & (prop("amount") > 10.5),
        event_in("a", HOSTILE) | ~prop("plan").is_in(["x", 'q"\n']),
        prop("when") >= dt.datetime(2024, 1, 1, 3, tzinfo=UTC),
        prop("born").is_in([dt.date(2000, 1, 1)]),
        not_(not_(prop("x").contains("y"))),
        any_of(any_event(), prop("n").not_null(), prop("n").is_null()),
    ],
)
def test_to_python_rebuilds_the_predicate(predicate: spec.Predicate) -> None:
    namespace = {"datetime": dt, **{name: getattr(spec, name) for name in spec.__all__}}
    assert eval(predicate.to_python(), namespace) == predicate
    assert repr(predicate) == predicate.to_python()


# ----------------------------------------------------------------------------- mistakes


def test_comparing_with_none_points_to_is_null() -> None:
    with pytest.raises(SpecError, match=r"use prop\('plan'\)\.is_null\(\)"):
        _ = prop("plan") == None  # noqa: E711
    with pytest.raises(SpecError, match=r"not_null\(\)"):
        _ = prop("plan") != None  # noqa: E711


def test_python_and_or_are_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match=re.escape("combine predicates with &, | and ~")):
        _ = event("a") and event("b")
    with pytest.raises(TypeError, match=r"put each comparison in parentheses"):
        _ = event("a") & prop("amount") > 10


@pytest.mark.parametrize(
    ("build", "path", "says"),
    [
        (lambda: prop("*"), "column", "read by Polars as a pattern"),
        (lambda: prop("^a.*$"), "column", "read by Polars as a pattern"),
        (lambda: prop(""), "column", "must not be empty"),
        (lambda: prop(3), "column", "expected a column name (text), got 3 (int)"),
        (lambda: event(""), "event", "must not be empty"),
        (lambda: event_in(), "event", "at least one event name"),
        (lambda: prop("x").is_in([]), "value", "at least one value"),
        (lambda: prop("x").is_in([1, "a"]), "value", "mix numbers and text"),
        (lambda: prop("x").is_in("ab"), "value", "expected a list of values"),
        (lambda: prop("x") > float("nan"), "value", "finite number"),
        (lambda: prop("x") > 2**70, "value", "does not fit in 64 bits"),
        (lambda: prop("x") < True, "op", "only be compared with == or !="),
        (lambda: prop("x") == [1], "value", "got [1] (list)"),
        (lambda: prop("x") == prop("y"), "value", "not with another column"),
        (lambda: spec.Compare("x", "=>", 1), "op", "did you mean '>='?"),
        (lambda: all_of(), "", "at least one predicate"),
        (lambda: any_of(event("a"), "b"), "[1]", "takes predicates"),
    ],
)
def test_bad_predicates_name_the_field_and_the_fix(build, path: str, says: str) -> None:
    with pytest.raises(SpecError) as err:
        build()
    assert err.value.path == path
    assert says in str(err.value)
