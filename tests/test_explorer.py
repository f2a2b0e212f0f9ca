"""The live explorer, driven from Python as a person would drive it in JupyterLab.

Widget values are set from Python (what the browser does through the comm), then the
spec, the one-line verdict and the chart data are checked. ``debounce=0`` makes every
edit recompute synchronously; the debounced mode is tested with ``flush()``.

One explorer on the sample serves the module (opening one costs a second or two of
chart building); after each test it is reset to the sample spec, which it has kept
the view of, so every test starts from the same painted state.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import altair as alt
import pytest

import cfnb
from cfnb.analysis import FactoryRun
from cfnb.eventlog import EventLog
from cfnb.explorer import ChartOutput, Explorer, View, explore
from cfnb.spec import Factory, event, prop

SPEC_PATH = "data/sample_factory.toml"


@pytest.fixture(scope="module")
def log() -> EventLog:
    return cfnb.datasets.load_sample()


@pytest.fixture(scope="module")
def spec() -> Factory:
    return Factory.from_toml(cfnb.datasets.sample_path("spec"))


@pytest.fixture(scope="module")
def opened(log: EventLog, spec: Factory) -> Iterator[Explorer]:
    ex = explore(log, spec, debounce=0)
    yield ex
    ex.close()


@pytest.fixture
def explorer(opened: Explorer, spec: Factory) -> Iterator[Explorer]:
    assert opened.factory == spec
    assert opened.result.factory == spec
    assert opened.errors == {}
    yield opened
    opened.debounce = 0
    opened.reset()
    opened.flush()


def datasets(ex: Explorer, name: str) -> str:
    """The data a chart widget shows (its spec's datasets), as comparable text."""
    spec = ex.charts[name].spec
    return json.dumps(spec.get("datasets", spec), sort_keys=True, default=str)


def shown(ex: Explorer) -> dict[str, dict[str, Any]]:
    """The spec each chart widget shows."""
    return {name: w.spec for name, w in ex.charts.items()}


# ---------------------------------------------------------------------------- opening


def test_opens_on_the_sample_with_its_spec(explorer: Explorer, spec: Factory) -> None:
    assert explorer.result.factory == spec
    assert explorer.summary.value.endswith(f"{explorer.result.constraint().summary}</div>")
    assert "Constraint: Activation" in explorer.summary.value
    assert set(explorer.charts) == {"chain", "funnel", "throughput", "retention"}
    for name, widget in explorer.charts.items():  # the spec shown is the Altair chart's
        assert widget.spec == explorer.chart(name).to_dict(validate=False)
    assert [e.name.value for e in explorer.stage_editors] == list(spec.stage_names)
    assert not explorer.pending
    assert "Up to date" in explorer.status.value


def test_event_picker_lists_the_log_events_with_counts(explorer: Explorer, log: EventLog) -> None:
    names = log.event_names()
    counts = dict(zip(names["event"], names["events"], strict=True))
    picker = explorer.stage_editors[1].event
    assert picker.options[0] == f"{names['event'][0]} ({names['events'][0]:,})"
    assert f"created_project ({counts['created_project']:,})" in picker.options
    assert picker.value == f"created_project ({counts['created_project']:,})"


def test_opens_with_a_default_spec_from_the_log(log: EventLog) -> None:
    ex = explore(log, debounce=0)
    try:
        # Acquisition: the event most often a user's first; Activation: the event most
        # users do among the rest, leaving out page views (every user has one).
        assert ex.factory.stage_names == ("Acquisition", "Activation")
        assert ex.factory.stages[0].match == event("visit")
        assert ex.factory.stages[1].match == event("signup")
        assert "Constraint" in ex.summary.value
        assert ex.errors == {}
    finally:
        ex.close()


# ---------------------------------------------------------------------------- live edits


def test_activation_event_edit_changes_spec_verdict_and_charts(explorer: Explorer) -> None:
    names = ("funnel", "chain", "retention")
    before_summary = explorer.summary.value
    before = {name: datasets(explorer, name) for name in names}
    explorer.stage_editors[1].event.value = "signup"  # typed, not picked from the list
    assert explorer.factory.stages[1].match == event("signup")
    assert explorer.result.factory == explorer.factory
    assert explorer.summary.value != before_summary
    after = {name: datasets(explorer, name) for name in names}
    assert after["funnel"] != before["funnel"]
    assert after["chain"] != before["chain"]
    assert after["retention"] == before["retention"]  # acquisition unchanged


def test_window_edit_updates_the_chart_widgets_in_place(explorer: Explorer) -> None:
    before_summary, before = explorer.summary.value, datasets(explorer, "funnel")
    widgets = dict(explorer.charts)
    outputs = {name: getattr(w, "outputs", None) for name, w in widgets.items()}
    specs = shown(explorer)
    explorer.controls.window.value = "3w"
    assert explorer.factory.window == timedelta(weeks=3)
    assert explorer.summary.value != before_summary
    assert datasets(explorer, "funnel") != before
    assert explorer.charts == widgets  # the same widgets, their chart replaced
    funnel = explorer.charts["funnel"]
    assert funnel.spec == explorer.chart("funnel").to_dict()  # valid, and Altair's spec
    assert funnel.spec != specs["funnel"]
    if isinstance(funnel, ChartOutput):  # no anywidget: the Output is filled kernel-side
        assert len(funnel.outputs) == 1
        assert funnel.outputs != outputs["funnel"]
    assert explorer.charts["retention"].spec is specs["retention"]  # same input: reused


def test_edits_fill_the_chart_specs_in_without_altair(
    explorer: Explorer, monkeypatch: pytest.MonkeyPatch, altair_objects: Callable[[], list[str]]
) -> None:
    # Opening drew each chart's layout with Altair once; an edit only writes its values.
    built = altair_objects()
    templated = explorer.specs.stats["templated"]
    explorer.controls.window.value = "5w"
    explorer.stage_editors[2].target.value = "70%"
    assert explorer.result.factory == explorer.factory
    assert explorer.specs.stats["templated"] > templated
    assert built == []
    assert set(explorer.timings) == {"metrics", "charts", "paint", "total"}
    monkeypatch.undo()
    for name, widget in explorer.charts.items():
        assert widget.spec == explorer.chart(name).to_dict(validate=False)


def test_without_anywidget_charts_are_outputs_filled_from_the_kernel(
    log: EventLog, spec: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cfnb.explorer.layout

    monkeypatch.setattr(cfnb.explorer.layout, "find_spec", lambda name: None)
    ex = explore(log, spec, debounce=0)
    try:
        assert all(isinstance(w, ChartOutput) for w in ex.charts.values())
        before = {name: w.outputs for name, w in ex.charts.items()}
        assert all(len(outputs) == 1 for outputs in before.values())
        ex.controls.window.value = "3w"
        funnel = ex.charts["funnel"]
        assert funnel.spec == ex.chart("funnel").to_dict(validate=False)
        assert len(funnel.outputs) == 1
        assert funnel.outputs != before["funnel"]
        assert ex.charts["retention"].outputs is before["retention"]  # same input: reused
    finally:
        ex.close()


def test_a_chart_output_shows_an_altair_chart_or_a_spec() -> None:
    chart = alt.Chart(alt.InlineData(values=[{"x": 1}])).mark_point().encode(x="x:Q")
    out = ChartOutput(chart)
    assert out.spec == chart.to_dict(validate=False)
    first = out.outputs
    assert len(first) == 1
    spec = out.spec
    out.spec = chart.properties(width=100).to_dict(validate=False)
    assert out.outputs != first
    out.spec = spec  # shown before: its outputs are reused, not rendered anew (new ids)
    assert out.outputs == first
    out.chart = None
    assert out.spec is None
    assert out.outputs == ()


def test_period_edit(explorer: Explorer) -> None:
    before_summary = explorer.summary.value
    before = {name: datasets(explorer, name) for name in ("throughput", "retention")}
    explorer.controls.period.value = "month"
    assert explorer.factory.period == "month"
    assert "/month" in explorer.summary.value
    assert explorer.summary.value != before_summary
    assert datasets(explorer, "throughput") != before["throughput"]
    assert datasets(explorer, "retention") != before["retention"]


def test_target_edit_redraws_only_the_chain(explorer: Explorer) -> None:
    before_summary, before = explorer.summary.value, datasets(explorer, "chain")
    funnel_spec = explorer.charts["funnel"].spec
    explorer.stage_editors[1].target.value = "80%"
    assert explorer.factory.stages[1].target == 0.8
    assert "target 80%" in explorer.summary.value
    assert explorer.summary.value != before_summary
    assert datasets(explorer, "chain") != before
    assert explorer.charts["funnel"].spec is funnel_spec


def test_property_condition_editor(explorer: Explorer) -> None:
    explorer.debounce = 60  # edits only: nothing is recomputed until flush()
    revenue = explorer.stage_editors[3]
    revenue.column.value = "amount"
    assert "stages[3].match" in explorer.errors  # no value typed yet: not applied
    revenue.op.value = ">"
    revenue.value.value = "30"
    assert explorer.factory.stages[3].match == event("purchase") & (prop("amount") > 30)
    assert "stages[3].match" not in explorer.errors
    revenue.column.value = "plan"
    revenue.op.value = "in"
    revenue.value.value = "pro, team"
    assert explorer.factory.stages[3].match == event("purchase") & prop("plan").is_in(
        ["pro", "team"]
    )
    revenue.op.value = "is null"
    assert revenue.value.disabled
    assert explorer.factory.stages[3].match == event("purchase") & prop("plan").is_null()
    revenue.column.value = ""
    assert explorer.factory.stages[3].match == event("purchase")
    revenue.event.value = ""
    revenue.column.value = "plan"
    revenue.op.value = "=="
    revenue.value.value = "pro"
    assert explorer.factory.stages[3].match == (prop("plan") == "pro")
    assert explorer.result.factory.stages[3].match == event("purchase")  # not computed yet


def test_stage_settings_and_spec_wide_controls(explorer: Explorer) -> None:
    explorer.debounce = 60
    acquisition, activation = explorer.stage_editors[0], explorer.stage_editors[1]
    activation.times.value = 2
    activation.within.value = "7d"
    activation.name.value = "Activated"
    c = explorer.controls
    c.mode.value = "best_path"
    c.segment.value = ""
    c.happy.value = "Retention"
    c.goal.value = "250"
    f = explorer.factory
    assert (f.stages[1].name, f.stages[1].times, f.stages[1].within) == (
        "Activated",
        2,
        timedelta(days=7),
    )
    assert (f.mode, f.segment_by, f.happy, f.goal) == ("best_path", (), "Retention", 250.0)
    assert acquisition.within.disabled
    assert acquisition.target.disabled
    assert "Activated" in [v for _, v in c.happy.options]
    assert explorer.stage_editors[2].title.value.endswith("<i>(happy)</i>")
    explorer.flush()
    assert explorer.result.factory == f


def test_add_move_remove_stages(explorer: Explorer, log: EventLog) -> None:
    explorer.debounce = 60
    explorer.add_button.click()
    f = explorer.factory
    assert len(f.stages) == 6 == len(explorer.stage_editors)
    used = {"visit", "created_project", "session", "purchase", "invite_sent"}
    most_frequent_unused = next(e for e in log.event_names()["event"] if e not in used)
    assert f.stages[5] == cfnb.Stage("Stage 6", event(most_frequent_unused))
    explorer.stage_editors[5].up.click()
    assert explorer.factory.stage_names[4:] == ("Stage 6", "Referral")
    assert [e.name.value for e in explorer.stage_editors][4:] == ["Stage 6", "Referral"]
    explorer.stage_editors[4].remove.click()
    assert explorer.factory.stage_names == (
        "Acquisition",
        "Activation",
        "Retention",
        "Revenue",
        "Referral",
    )
    # The happy stage cannot go: the refusal says what to do, beside that stage.
    explorer.stage_editors[3].remove.click()
    assert "Revenue" in explorer.factory.stage_names
    assert "happy" in explorer.stage_editors[3].error.value
    assert explorer.stage_editors[0].up.disabled
    assert explorer.stage_editors[4].down.disabled
    explorer.stage_editors[4].up.click()  # Referral before Revenue
    explorer.flush()
    assert explorer.result.factory.stage_names[3:] == ("Referral", "Revenue")


# ---------------------------------------------------------------------------- errors


def test_unknown_event_is_shown_inline_and_keeps_the_last_good_charts(explorer: Explorer) -> None:
    charts = shown(explorer)
    summary, factory = explorer.summary.value, explorer.factory
    editor = explorer.stage_editors[1]
    editor.event.value = "creatd_project"
    assert explorer.factory == factory
    assert "no 'creatd_project' events" in explorer.errors["stages[1].match"]
    assert "did you mean &#x27;created_project&#x27;?" in editor.error.value
    assert editor.event.value == "creatd_project"  # what was typed stays, beside its error
    assert all(explorer.charts[name].spec is spec for name, spec in charts.items())
    assert explorer.summary.value == summary
    assert "not applied" in explorer.status.value
    explorer.debounce = 60
    editor.event.value = "signup"
    assert explorer.errors == {}
    assert editor.error.value == ""
    assert explorer.factory.stages[1].match == event("signup")


@pytest.mark.parametrize(
    ("control", "text", "key", "words"),
    [
        ("event", "", "stages[1].match", "empty stage"),
        ("within", "14x", "stages[1].within", "unknown unit 'x'"),
        ("target", "150%", "stages[1].target", "rate in (0, 1]"),
        ("name", "Revenue", "stages[1].name", "already used"),
        ("window", "soon", "window", "expected a duration like '14d'"),
        ("goal", "-3", "goal", "positive number"),
    ],
)
def test_definition_errors_are_inline(
    explorer: Explorer, control: str, text: str, key: str, words: str
) -> None:
    charts = shown(explorer)
    factory, computed = explorer.factory, explorer.stats["computed"]
    owner: Any = explorer.controls if key in ("window", "goal") else explorer.stage_editors[1]
    getattr(owner, control).value = text
    assert words in explorer.errors[key]
    assert explorer.errors[key].startswith(key.split(".")[0])  # the message names the field
    assert words.replace("'", "&#x27;") in owner.error.value
    assert explorer.factory == factory
    assert explorer.stats["computed"] == computed
    assert all(explorer.charts[name].spec is spec for name, spec in charts.items())


def test_bad_value_for_the_column_type(explorer: Explorer) -> None:
    revenue = explorer.stage_editors[3]
    revenue.column.value = "amount"
    revenue.op.value = ">="
    revenue.value.value = "ten"
    assert "holds numbers" in explorer.errors["stages[3].match"]
    assert "stages[3].where[0].value" in explorer.errors["stages[3].match"]
    assert explorer.factory.stages[3].match == event("purchase")


# ---------------------------------------------------------------------------- debounce


def test_rapid_edits_end_on_the_last_spec(explorer: Explorer) -> None:
    explorer.debounce = 0.05
    computed = explorer.stats["computed"]
    for k in range(100):
        explorer.controls.window.value = f"{k % 9 + 2}w"
        explorer.stage_editors[1].target.value = f"{30 + k % 40}%"
    explorer.flush()
    assert explorer.factory.window == timedelta(weeks=(99 % 9) + 2)
    assert explorer.factory.stages[1].target == pytest.approx((30 + 99 % 40) / 100)
    assert explorer.result.factory == explorer.factory
    assert not explorer.pending
    assert explorer.errors == {}
    assert explorer.summary.value.endswith(f"{explorer.result.constraint().summary}</div>")
    assert explorer.stats["computed"] - computed < 20  # a handful of refreshes, not 200


def typing(explorer: Explorer, seed: str, n: int = 100) -> list[tuple[Any, str, str, bool]]:
    """``n`` edits as a person makes them: half-typed values among the finished ones.

    Returns ``(control, text, key, valid)``; ``key`` names the control in ``explorer.errors``.
    """
    rng = random.Random(seed)
    activation = explorer.stage_editors[1]
    ok, bad = True, False
    texts = {
        (explorer.controls.window, "window"): {
            "3": bad, "3w": ok, "3q": bad, "10w": ok, "": ok, "-2d": bad,
        },
        (activation.target, "stages[1].target"): {
            "4": bad, "45%": ok, "450%": bad, "-": bad, "": ok,
        },
        (activation.event, "stages[1].match"): {
            "sig": bad, "signup": ok, "created_pro": bad, "created_project": ok,
        },
        (explorer.controls.goal, "goal"): {"-3": bad, "50": ok, "5O": bad, "": ok},
    }  # fmt: skip
    edits = []
    for _ in range(n):
        (control, key), choices = rng.choice(list(texts.items()))
        text = rng.choice(list(choices))
        edits.append((control, text, key, choices[text]))
    return edits


def test_rapid_edits_through_invalid_states_end_on_the_last_valid_spec(
    explorer: Explorer, spec: Factory
) -> None:
    explorer.debounce = 0.05
    for control, text, key, valid in typing(explorer, "through invalid states"):
        control.value = text
        # Refused or not is decided (and shown beside the control) at once, not debounced.
        owner: Any = explorer.controls if key in ("window", "goal") else explorer.stage_editors[1]
        assert (key not in explorer.errors) == valid, (key, text)
        if not valid:  # the message names its field: "window: …", "stages[1].target: …"
            assert key.split(".")[0] in owner.error.value
    # The last word on every control is a finished value.
    explorer.controls.window.value = "6w"
    explorer.stage_editors[1].target.value = "40%"
    explorer.stage_editors[1].event.value = "signup"
    explorer.controls.goal.value = "50"
    explorer.flush()
    want = spec.replace(window="6w", goal=50).with_stage(1, match=event("signup"), target=0.4)
    assert explorer.factory == want
    assert explorer.result.factory == want
    assert explorer.errors == {}
    assert not explorer.pending
    assert explorer.controls.error.value == ""
    assert all(e.error.value == "" for e in explorer.stage_editors)
    assert explorer.summary.value.endswith(f"{explorer.result.constraint().summary}</div>")


def test_rapid_edits_ending_on_an_invalid_value_keep_the_last_valid_spec(
    explorer: Explorer,
) -> None:
    explorer.debounce = 0.05
    for control, text, _, _ in typing(explorer, "ending invalid"):
        control.value = text
    explorer.controls.window.value = "5w"
    explorer.controls.window.value = "5q"  # the typist stopped here
    explorer.flush()
    assert explorer.factory.window == timedelta(weeks=5)
    assert explorer.result.factory == explorer.factory  # the charts show the spec in force
    assert "unknown unit 'q'" in explorer.errors["window"]
    assert "unknown unit &#x27;q&#x27;" in explorer.controls.error.value
    assert explorer.controls.window.value == "5q"  # what was typed stays beside its error
    assert "not applied" in explorer.status.value


def test_a_slow_stale_computation_is_never_painted(
    explorer: Explorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    explorer.debounce = 0.01
    started, release = threading.Event(), threading.Event()
    painted: list[Factory] = []
    compute, paint = explorer._compute, explorer._paint

    def slow_compute(run: FactoryRun, previous: View | None) -> View:
        if run.factory.window == timedelta(weeks=11):
            started.set()
            release.wait(10)
        return compute(run, previous)

    def recording_paint(view: View) -> None:
        painted.append(view.run.factory)
        paint(view)

    monkeypatch.setattr(explorer, "_compute", slow_compute)
    monkeypatch.setattr(explorer, "_paint", recording_paint)
    dropped = explorer.stats["dropped"]
    try:
        explorer.controls.window.value = "11w"  # A: its computation blocks
        assert started.wait(10)
        explorer.controls.window.value = "13w"  # B: newer, made while A computes
        release.set()
        explorer.flush()
    finally:
        release.set()
    assert [f.window for f in painted] == [timedelta(weeks=13)]
    assert explorer.result.factory.window == timedelta(weeks=13)
    assert explorer.stats["dropped"] > dropped


def test_pending_edit_is_marked_until_painted(explorer: Explorer) -> None:
    explorer.debounce = 60  # the timer does not fire within the test
    explorer.stage_editors[2].target.value = "90%"
    assert explorer.factory.stages[2].target == 0.9
    assert explorer.pending
    assert explorer.result.factory.stages[2].target == 0.65
    assert "Updating" in explorer.status.value
    assert "cfnb-stale" in explorer.chart_box._dom_classes
    explorer.flush()
    painted = explorer.result
    assert painted.factory.stages[2].target == 0.9
    assert "Up to date" in explorer.status.value
    assert "cfnb-stale" not in explorer.chart_box._dom_classes


# ---------------------------------------------------------------------------- state and export


def test_factory_is_the_one_state(explorer: Explorer, spec: Factory) -> None:
    explorer.debounce = 60
    seen: list[Factory] = []

    def record(change: dict[str, Any]) -> None:
        seen.append(change["new"])

    explorer.observe(record, "factory")
    other = spec.with_stage("Activation", match=event("signup"), within="3d")
    other = other.replace(window="6w", goal=None)
    explorer.factory = other
    explorer.unobserve(record, "factory")
    assert seen == [other]
    assert explorer.stage_editors[1].within.value == "3d"
    assert explorer.stage_editors[1].event.value.startswith("signup (")
    assert explorer.controls.window.value == "6w"
    assert explorer.controls.goal.value == ""
    with pytest.raises(cfnb.errors.CfnbError, match="unknown column"):
        explorer.factory = spec.with_stage("Revenue", match=prop("amout") > 1)
    assert explorer.factory == other
    explorer.flush()
    assert explorer.result.factory == other


def test_export_gives_toml_and_python_that_rebuild_the_spec(explorer: Explorer) -> None:
    explorer.debounce = 60
    explorer.stage_editors[1].within.value = "36h"
    explorer.controls.window.value = "30d"
    explorer.export_button.click()
    assert explorer.export_box.layout.display != "none"
    assert Factory.from_toml(explorer.export_toml.value) == explorer.factory
    namespace: dict[str, Any] = {}
    exec(explorer.export_python.value, namespace)
    assert namespace["factory"] == explorer.factory
    explorer.controls.period.value = "month"  # an open export follows the spec
    assert Factory.from_toml(explorer.export_toml.value).period == "month"
    assert explorer.export() == (explorer.factory.to_toml(), explorer.factory.to_python())
