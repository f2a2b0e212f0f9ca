"""Checking a spec against a log: unknown events warn, what cannot run is an error."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from cfnb.spec import Factory, SpecError, Stage, event, event_in, prop

SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "event": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "amount": pl.Float64(),
    "seats": pl.Int64(),
    "plan": pl.String(),
    "tier": pl.Categorical(),
    "trial": pl.Boolean(),
    "signup_day": pl.Date(),
    "tags": pl.List(pl.String),
    "channel": pl.String(),
}
COUNTS = {"visit": 900, "signup": 300, "created_project": 120, "purchase": 40, "login": 700}


def factory(*stages: Stage, **settings: object) -> Factory:
    return Factory([Stage("Acquisition", "visit"), *stages], **settings)


def test_a_spec_that_fits_the_log_has_no_warnings() -> None:
    f = factory(
        Stage("Activation", event("created_project") & (prop("seats") >= 2)),
        Stage("Revenue", event("purchase") & prop("plan").is_in(["pro", "team"])),
        segment_by=["channel"],
        active=event_in("login", "created_project"),
    )
    assert f.validate(SCHEMA, COUNTS) == []


def test_unknown_event_names_warn_with_close_matches() -> None:
    f = factory(
        Stage("Activation", "created_projct"), Stage("Revenue", event_in("purchase", "purchsae"))
    )
    assert f.validate(SCHEMA, COUNTS) == [
        "stages[1].event: no 'created_projct' events in the log; did you mean 'created_project'?",
        "stages[2].event[1]: no 'purchsae' events in the log; did you mean 'purchase'?",
    ]


def test_with_no_close_match_the_warning_lists_the_most_frequent_events() -> None:
    warnings = factory(Stage("Referral", "invite_sent")).validate(SCHEMA, COUNTS)
    assert warnings == [
        "stages[1].event: no 'invite_sent' events in the log; the log's most frequent events "
        "are 'visit', 'login', 'signup', 'created_project', 'purchase'"
    ]


def test_events_with_a_zero_count_are_missing_too() -> None:
    assert factory().validate(SCHEMA, {"visit": 0, "visits": 5}) == [
        "stages[0].event: no 'visit' events in the log; did you mean 'visits'?"
    ]


def test_nested_paths_follow_the_toml_layout() -> None:
    f = factory(
        Stage(
            "Referral",
            event("share") & ((prop("channel") == "email") | ~event("invit")),
        ),
        active=event("logn") | event("login"),
    )
    assert f.validate(SCHEMA, COUNTS) == [
        "stages[1].event: no 'share' events in the log; the log's most frequent events are "
        "'visit', 'login', 'signup', 'created_project', 'purchase'",
        "stages[1].match.any[1].not.event: no 'invit' events in the log; did you mean 'visit'?",
        "active.match.any[0].event: no 'logn' events in the log; did you mean 'login'?",
    ]


def test_a_stage_that_can_never_match_warns() -> None:
    f = factory(Stage("Activation", event("signup") & event("login")))
    assert f.validate(SCHEMA, COUNTS) == [
        "stages[1]: can never match, its event conditions exclude each other: "
        'event = "signup" and event = "login"'
    ]


def test_unknown_column_is_an_error_listing_close_columns_first() -> None:
    f = factory(Stage("Revenue", event("purchase") & (prop("amout") > 10)))
    with pytest.raises(SpecError) as err:
        f.validate(SCHEMA, COUNTS)
    assert err.value.path == "stages[1].where[0].column"
    assert str(err.value) == (
        "stages[1].where[0].column: unknown column 'amout'; did you mean 'amount'? "
        "The log's columns are 'amount', 'user_id', 'event', 'ts', 'seats', 'plan', 'tier', "
        "'trial', 'signup_day', 'tags', 'channel'"
    )


def test_unknown_column_without_a_close_match_lists_the_columns() -> None:
    f = factory(Stage("Revenue", event("purchase") & (prop("zzz") > 10)))
    with pytest.raises(
        SpecError, match="unknown column 'zzz'; the log's columns are 'user_id', 'event'"
    ):
        f.validate(SCHEMA, COUNTS)


def test_unknown_segment_column_is_an_error() -> None:
    with pytest.raises(
        SpecError, match=r"^segment_by\[0\]: unknown column 'chanel'; did you mean 'channel'"
    ):
        factory(segment_by="chanel").validate(SCHEMA, COUNTS)


def test_unknown_column_in_active_is_an_error() -> None:
    f = factory(active=event("login") & prop("device").not_null())
    with pytest.raises(SpecError, match=r"^active\.where\[0\]\.column: unknown column 'device'"):
        f.validate(SCHEMA, COUNTS)


@pytest.mark.parametrize(
    ("condition", "path", "message"),
    [
        (
            prop("amount") > "ten",
            "where[0].value",
            "column 'amount' holds numbers (Float64), but \"ten\" is text; "
            "write a number without quotes, e.g. value = 10",
        ),
        (
            prop("plan") == 3,
            "where[0].value",
            "column 'plan' holds text (String), but 3 is a number; "
            'write the value as text in quotes, e.g. value = "pro"',
        ),
        (
            prop("seats").is_in(["2", "3"]),
            "where[0].value",
            "column 'seats' holds numbers (Int64), but \"2\" is text",
        ),
        (
            prop("trial") == 1,
            "where[0].value",
            "column 'trial' holds true/false values (Boolean), but 1 is a number; write true or false",
        ),
        (
            prop("signup_day") > dt.datetime(2024, 1, 1),
            "where[0].value",
            "column 'signup_day' holds dates (Date), but 2024-01-01T00:00:00+00:00 is a date-time",
        ),
        (
            prop("ts") > "2024-01-01",
            "where[0].value",
            "column 'ts' holds date-times (Datetime(time_unit='us', time_zone='UTC')), "
            'but "2024-01-01" is text; write a date-time',
        ),
        (
            prop("amount").contains("1"),
            "where[0].op",
            "'contains' needs a text column, but 'amount' holds numbers (Float64)",
        ),
        (
            prop("tags") == "x",
            "where[0].op",
            "column 'tags' holds List(String) values, which can only be tested with 'is null'",
        ),
    ],
)
def test_values_must_fit_their_column(condition, path: str, message: str) -> None:
    f = factory(Stage("Activation", event("signup") & condition))
    with pytest.raises(SpecError) as err:
        f.validate(SCHEMA, COUNTS)
    assert err.value.path == f"stages[1].{path}"
    assert err.value.message.startswith(message)


@pytest.mark.parametrize(
    "condition",
    [
        prop("amount") > 10,
        prop("amount") == 10.5,
        prop("seats").is_in([1, 2.5]),
        prop("tier") == "pro",
        prop("tier").contains("pr"),
        prop("trial") == False,  # noqa: E712
        prop("signup_day") < dt.date(2024, 1, 1),
        prop("ts") < dt.date(2024, 1, 1),
        prop("ts") < dt.datetime(2024, 1, 1),
        prop("tags").not_null(),
        prop("plan") > "m",
    ],
)
def test_values_that_fit(condition) -> None:
    assert factory(Stage("Activation", event("signup") & condition)).validate(SCHEMA, COUNTS) == []


def test_dtype_classes_are_accepted_like_instances() -> None:
    schema = {"event": pl.String, "amount": pl.Float64}
    f = factory(Stage("Revenue", event("purchase") & (prop("amount") > 1)))
    assert f.validate(schema, COUNTS) == []
    with pytest.raises(SpecError, match="holds numbers"):
        f.with_stage(1, match=prop("amount") == "x").validate(schema, COUNTS)


def test_validate_with_a_real_events_frame() -> None:
    events = pl.DataFrame(
        {"user_id": ["1", "2"], "event": ["visit", "purchase"], "amount": [None, 3.5]}
    )
    counts = dict(events.group_by("event").len().iter_rows())
    f = factory(Stage("Revenue", event("purchase") & (prop("amount") > 1)))
    assert f.validate(events.schema, counts) == []
