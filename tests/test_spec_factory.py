"""Stage and Factory: frozen values that validate themselves and edit by copy."""

from __future__ import annotations

import dataclasses
import datetime as dt
from datetime import timedelta

import pytest

from cfnb.spec import Factory, SpecError, Stage, any_event, event, prop


def five_stages() -> Factory:
    return Factory(
        [
            Stage("Acquisition", event("visit")),
            Stage("Activation", event("created_project"), within="14d", target=0.4),
            Stage("Retention", event("login"), times=3),
            Stage("Revenue", event("purchase") & (prop("amount") > 0)),
            Stage("Referral", event("invite_sent")),
        ],
        window="30d",
    )


# ----------------------------------------------------------------------------- building


def test_defaults_and_shorthands() -> None:
    f = Factory([Stage("Acquisition", "visit"), Stage("Activation", "signup")])
    assert f.mode == "lifecycle"
    assert f.period == "week"
    assert f.window is None
    assert f.happy is None
    assert f.happy_index == 1
    assert f.happy_stage.name == "Activation"
    assert f.segment_by == ()
    assert f.goal is None
    assert f.active == any_event()
    assert f.stages[0].match == event("visit")
    assert f.stages[0].times == 1


def test_values_are_normalised() -> None:
    f = Factory(
        [Stage("Acquisition", "visit", within=3600, target=1)],
        window=timedelta(days=2),
        segment_by="channel",
        goal=500,
        active="login",
    )
    assert f.stages[0].within == timedelta(hours=1)
    assert f.stages[0].target == 1.0
    assert isinstance(f.stages[0].target, float)
    assert f.window == timedelta(days=2)
    assert f.segment_by == ("channel",)
    assert f.goal == 500.0
    assert f.active == event("login")


def test_specs_are_frozen_hashable_values() -> None:
    assert five_stages() == five_stages()
    assert len({five_stages(), five_stages()}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        five_stages().mode = "best_path"
    with pytest.raises(dataclasses.FrozenInstanceError):
        five_stages().stages[0].name = "x"


def test_happy_names_a_stage() -> None:
    f = five_stages().replace(happy="Revenue")
    assert f.happy_index == 3
    assert f.happy_stage.name == "Revenue"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Factory([]), "stages: a factory needs at least one stage"),
        (
            lambda: Factory([Stage("A", "a"), Stage("A", "b")]),
            "stages[1].name: stage name 'A' is already used by stages[0]",
        ),
        (
            lambda: Factory([Stage("Activation", "a")], happy="Activaton"),
            "happy: unknown stage 'Activaton'; choose one of 'Activation'; "
            "did you mean 'Activation'?",
        ),
        (
            lambda: Factory([Stage("A", "a")], mode="lifecyle"),
            "mode: unknown mode 'lifecyle'; choose one of 'lifecycle', 'best_path'; "
            "did you mean 'lifecycle'?",
        ),
        (
            lambda: Factory([Stage("A", "a")], period="weekly"),
            "period: unknown period 'weekly'; choose one of 'day', 'week', 'month'; "
            "did you mean 'week'?",
        ),
        (lambda: Factory([Stage("A", "a")], window="-1d"), "window: expected a duration"),
        (lambda: Factory([Stage("A", "a")], goal=0), "goal: expected a positive number"),
        (lambda: Factory([Stage("A", "a")], segment_by=["*"]), "segment_by[0]: column name"),
        (
            lambda: Factory([Stage("A", "a")], segment_by=["c", "c"]),
            "segment_by[1]: column 'c' is listed twice",
        ),
        (lambda: Factory([{"name": "A"}]), "stages[0]: expected a Stage"),
        (lambda: Stage("", "a"), "name: a stage name must not be empty"),
        (lambda: Stage("  ", "a"), "name: a stage name must not be blank"),
        (lambda: Stage("A", 3), "match: expected a predicate such as event('signup')"),
        (lambda: Stage("A", "a", times=0), "times: expected a whole number of events, at least 1"),
        (lambda: Stage("A", "a", within=-3), "within: expected a duration like '14d', got -3"),
        (
            lambda: Stage("A", "a", target=40),
            "target: expected a conversion rate in (0, 1], got 40 (write 0.4 for 40%)",
        ),
        (lambda: Stage("A", "a", target=0), "target: expected a conversion rate in (0, 1], got 0"),
    ],
)
def test_invalid_specs_say_where_and_how_to_fix(build, message: str) -> None:
    with pytest.raises(SpecError) as err:
        build()
    assert str(err.value).startswith(message)


# ----------------------------------------------------------------------------- editing


def test_editing_returns_a_changed_copy() -> None:
    f = five_stages()
    g = f.replace(window="7d", period="day")
    assert (g.window, g.period) == (timedelta(days=7), "day")
    assert (f.window, f.period) == (timedelta(days=30), "week")


def test_replace_suggests_the_field_meant() -> None:
    with pytest.raises(SpecError, match=r"Factory has no field 'windw'.*did you mean 'window'"):
        five_stages().replace(windw="7d")
    with pytest.raises(SpecError, match=r"stages\[1\]\.witin: Stage has no field"):
        five_stages().with_stage(1, witin="7d")


def test_with_stage_by_name_or_index() -> None:
    f = five_stages()
    g = f.with_stage("Activation", within="7d", target=None)
    assert g.stages[1].within == timedelta(days=7)
    assert g.stages[1].target is None
    assert g.stages[1].match == f.stages[1].match
    h = f.with_stage(-1, Stage("Referral", event("share")))
    assert h.stages[4].match == event("share")
    assert f.stages[4].match == event("invite_sent")


def test_errors_in_a_stage_edit_name_the_stage() -> None:
    with pytest.raises(SpecError) as err:
        five_stages().with_stage("Activation", within="-2d")
    assert err.value.path == "stages[1].within"


def test_renaming_the_happy_stage_keeps_it_happy() -> None:
    f = five_stages().replace(happy="Revenue")
    g = f.with_stage("Revenue", name="Paying")
    assert g.happy == "Paying"
    assert g.happy_index == 3


def test_add_remove_and_move_stages() -> None:
    f = five_stages()
    assert f.add_stage(Stage("Upsell", "upgrade")).stage_names[-1] == "Upsell"
    assert f.add_stage(Stage("Signup", "signup"), index=1).stage_names[:3] == (
        "Acquisition",
        "Signup",
        "Activation",
    )
    assert f.remove_stage("Retention").stage_names == (
        "Acquisition",
        "Activation",
        "Revenue",
        "Referral",
    )
    assert f.move_stage("Referral", 3).stage_names[3:] == ("Referral", "Revenue")
    assert f.move_stage(0, -1).stage_names[-1] == "Acquisition"
    assert f.stage_names[0] == "Acquisition"


def test_removing_the_last_stage_makes_the_new_last_one_happy() -> None:
    f = five_stages().remove_stage("Referral")
    assert f.happy_stage.name == "Revenue"


def test_edits_that_would_break_the_spec_are_refused() -> None:
    with pytest.raises(SpecError, match="stage 'Revenue' is the happy stage"):
        five_stages().replace(happy="Revenue").remove_stage("Revenue")
    with pytest.raises(SpecError, match="at least one stage"):
        Factory([Stage("A", "a")]).remove_stage(0)
    with pytest.raises(SpecError, match=r"stages\[5\]\.name: stage name 'Revenue' is already used"):
        five_stages().add_stage(Stage("Revenue", "x"))
    with pytest.raises(SpecError, match="no stage at index 9; there are 5"):
        five_stages().with_stage(9, times=2)
    with pytest.raises(SpecError, match=r"no stage named 'Revenu'.*did you mean 'Revenue'"):
        five_stages().stage("Revenu")
    with pytest.raises(SpecError, match="cannot move a stage to 7"):
        five_stages().move_stage(0, 7)


# ----------------------------------------------------------------------------- text forms


def test_describe_reads_like_the_definition() -> None:
    f = five_stages().replace(name="Demo", segment_by=["channel"], goal=500, active="login")
    assert f.describe() == (
        "Demo: lifecycle factory, per week, window 30d\n"
        '  1. Acquisition: event = "visit"\n'
        '  2. Activation: event = "created_project", within 2w, target 40%\n'
        '  3. Retention: event = "login", at least 3 times\n'
        '  4. Revenue: event = "purchase" and amount > 0\n'
        '  5. Referral: event = "invite_sent"  (happy customers)\n'
        "  segment by channel\n"
        "  goal 500 happy customers per week\n"
        '  active means event = "login"'
    )


def test_to_python_rebuilds_the_same_factory() -> None:
    f = five_stages().replace(
        name="x'; DROP TABLE events; --",
        happy="Revenue",
        goal=12.5,
        active=~event("heartbeat") & (prop("since") >= dt.date(2024, 1, 1)),
    )
    namespace: dict[str, object] = {}
    exec(f.to_python(), namespace)
    assert namespace["factory"] == f
    assert "import datetime" in f.to_python()


def test_to_python_imports_only_what_it_uses() -> None:
    source = Factory([Stage("A", "a")]).to_python(variable="spec")
    assert source.splitlines()[0] == "from cfnb.spec import Factory, Stage, event"
    assert "spec = Factory(" in source
