"""Charts: structure of the specs, the constraint highlighted, empty retention cells,
tooltips, determinism, size bound, and a vl-convert render of every chart."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import altair as alt
import polars as pl
import pytest
import vl_convert as vlc

from cfnb import charts, datasets
from cfnb.charts import theme
from cfnb.charts.chain import LINK_STATES
from cfnb.journeys import build_journeys
from cfnb.metrics.activation import activation_candidates, activation_effect
from cfnb.metrics.constraint import ConstraintResult, constraint, constraint_by_segment
from cfnb.metrics.funnel import funnel, time_to_convert
from cfnb.metrics.retention import RetentionResult, activity, retention
from cfnb.metrics.throughput import ThroughputResult, business_stage, throughput
from cfnb.spec import Factory

#: The documented bound on a chart's ``to_json()``, whatever the log's size.
SPEC_BOUND = 200 * 1024

Builders = dict[str, Callable[[], theme.AnyChart]]


def _builders(events: pl.DataFrame, factory: Factory) -> Builders:
    """Every chart function, each on a result computed once from ``events``."""
    j = build_journeys(events, factory)
    act = activity(events, j)
    ret = retention(j, act)
    tp = throughput(j, complete_only=False)
    stage = business_stage(tp, 100)
    con = constraint(j, factory)
    fun = funnel(j)
    by_channel = funnel(j, by="channel")
    by_cohort = funnel(j, by="cohort")
    ttc = time_to_convert(j, "Activation")
    effect = activation_effect(j, factory, act)
    cands = activation_candidates(events, j, retained="Retention", factory=factory)
    segs = constraint_by_segment(j, factory, "channel")
    return {
        "chain": lambda: charts.chain_chart(con),
        "funnel": lambda: charts.funnel_chart(fun),
        "funnel_by_channel": lambda: charts.funnel_chart(by_channel),
        "funnel_by_cohort": lambda: charts.funnel_chart(by_cohort),
        "time_to_convert": lambda: charts.time_to_convert_chart(ttc),
        "retention_heatmap": lambda: charts.retention_heatmap_chart(ret),
        "retention_curve": lambda: charts.retention_curve_chart(ret),
        "throughput": lambda: charts.throughput_chart(tp, stage),
        "activation_effect": lambda: charts.activation_effect_chart(effect),
        "activation_candidates": lambda: charts.activation_candidates_chart(cands),
        "segment": lambda: charts.segment_chart(segs),
    }


NAMES = [
    "chain",
    "funnel",
    "funnel_by_channel",
    "funnel_by_cohort",
    "time_to_convert",
    "retention_heatmap",
    "retention_curve",
    "throughput",
    "activation_effect",
    "activation_candidates",
    "segment",
]


@pytest.fixture(scope="module")
def factory() -> Factory:
    return Factory.from_toml(datasets.sample_path("spec"))


@pytest.fixture(scope="module")
def builders(factory: Factory) -> Builders:
    """Every chart on a small generated log (600 users over 10 weeks): quick to build."""
    log = datasets.generate(users=600, seed=2, weeks=10)
    return _builders(log.events, factory)


@pytest.fixture(scope="module")
def specs(builders: Builders) -> dict[str, str]:
    """Every chart, built once, as ``to_json()``."""
    return {name: build().to_json() for name, build in builders.items()}


def _units(
    spec: Any, inherited: dict[str, Any] | None = None
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Every unit spec (one with a mark) with its encoding merged with its parents'."""
    if isinstance(spec, dict):
        enc = {**(inherited or {}), **spec.get("encoding", {})}
        if "mark" in spec:
            yield spec, enc
        for key in ("layer", "hconcat", "vconcat", "concat"):
            for child in spec.get(key, []):
                yield from _units(child, enc if key == "layer" else None)


def _datasets(spec: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return list(spec.get("datasets", {}).values())


# ------------------------------------------------------------------ every chart


def test_the_package_exports_every_chart_function() -> None:
    names = {n for n in charts.__all__ if n.endswith("_chart")}
    assert names == {
        "chain_chart",
        "funnel_chart",
        "time_to_convert_chart",
        "retention_heatmap_chart",
        "retention_curve_chart",
        "throughput_chart",
        "activation_effect_chart",
        "activation_candidates_chart",
        "segment_chart",
    }


@pytest.mark.parametrize("name", NAMES)
def test_every_chart_is_themed_by_its_own_config(specs: dict[str, str], name: str) -> None:
    spec = json.loads(specs[name])
    assert spec["config"]["font"] == theme.FONT
    assert spec["config"]["view"]["stroke"] is None
    assert spec["title"]["text"]
    # No global state: the Altair theme registry is untouched.
    assert alt.theme.active == "default"


@pytest.mark.parametrize("name", NAMES)
def test_every_mark_has_a_tooltip(specs: dict[str, str], name: str) -> None:
    units = list(_units(json.loads(specs[name])))
    assert units
    for unit, encoding in units:
        assert "tooltip" in encoding, f"{name}: a {unit['mark']} mark has no tooltip"


@pytest.mark.parametrize("name", NAMES)
def test_specs_are_deterministic(builders: Builders, specs: dict[str, str], name: str) -> None:
    first, second = specs[name], builders[name]().to_json()
    assert first == second
    # Datasets are inlined under content-hash names, never random ids.
    spec = json.loads(first)
    assert all(key.startswith("data-") for key in spec.get("datasets", {}))


def test_charts_refuse_anything_but_their_result() -> None:
    with pytest.raises(TypeError, match=r"chain_chart takes a ConstraintResult.*not tables"):
        charts.chain_chart(pl.DataFrame({"x": [1]}))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="funnel_chart takes a FunnelResult"):
        charts.funnel_chart("events")  # type: ignore[arg-type]


# ------------------------------------------------------------------ the chain


def _constraint(status: str, stage: str | None, flagged: int | None) -> ConstraintResult:
    names = ["Acquisition", "Activation", "Retention", "Revenue", "Referral"]
    rates = [0.30, 0.60, 0.50, 0.20]
    targets = [0.45, 0.65, 0.40, 0.35]
    links = pl.DataFrame(
        {
            "link": [1, 2, 3, 4],
            "from_stage": names[:-1],
            "stage": names[1:],
            "users_in": [800, 240, 144, 72],
            "users_out": [240, 144, 72, 14],
            "rate": rates,
            "target": targets,
            "target_source": ["spec"] * 4,
            "gain_per_period": [5.0, 0.8, 0.0, None],
            "is_constraint": [i + 1 == flagged for i in range(4)],
            "cohorts": [8] * 4,
            "cv": [0.1, 0.3, 0.2, 0.5],
            "feeds_happy": [True, True, True, False],
        }
    )
    empty = pl.DataFrame()
    return ConstraintResult(
        status=status,
        stage=stage,
        rate=None,
        target=None,
        target_source=None,
        gain_per_period=None,
        period="week",
        summary=f"{status}: {stage}",
        throughput_per_period=9.0,
        complete_periods=10,
        predictable=True,
        centre=9.0,
        lower_limit=2.0,
        upper_limit=16.0,
        links=links,
        cohorts=empty,
        throughput=empty,
        period_over_period=empty,
    )


def _rings(chart: theme.AnyChart) -> list[dict[str, Any]]:
    spec = chart.to_dict()
    return [r for rows in _datasets(spec) for r in rows if r.get("part") == "ring"]


def test_the_constraint_is_the_broken_vermillion_link() -> None:
    chart = charts.chain_chart(_constraint("constraint", "Activation", flagged=1))
    rings = {r["stage"]: r for r in _rings(chart)}
    assert list(rings) == ["Acquisition", "Activation", "Retention", "Revenue", "Referral"]
    broken = rings["Activation"]
    assert broken["state"] == "constraint"
    assert broken["color"] == theme.CONSTRAINT
    assert broken["shape"] == "broken"
    assert broken["flag"] == "▼ CONSTRAINT"
    others = [r for name, r in rings.items() if name != "Activation"]
    assert all(r["color"] != theme.CONSTRAINT and r["shape"] == "ring" for r in others)
    assert rings["Revenue"]["state"] == "at target"
    assert rings["Retention"]["state"] == "below target"
    assert rings["Referral"]["state"] == "after happy stage"
    # Thickness is strength: the constraint (30% of 45%) is thinner than Retention (60/65).
    assert broken["w"] < rings["Retention"]["w"] < rings["Revenue"]["w"]
    # The labels: rate, target and the gain at target.
    assert (broken["rate_text"], broken["target_text"]) == ("30%", "target 45%")
    assert broken["gain_text"] == "+5 happy/week"
    spec = chart.to_dict()
    assert "the constraint is Activation" in spec["title"]["text"]


def test_raw_material_breaks_the_acquisition_link() -> None:
    chart = charts.chain_chart(_constraint("raw material", "Acquisition", flagged=None))
    rings = {r["stage"]: r for r in _rings(chart)}
    assert rings["Acquisition"]["state"] == "constraint"
    assert rings["Acquisition"]["shape"] == "broken"
    assert sum(r["state"] == "constraint" for r in rings.values()) == 1


def test_not_yet_repeatable_names_no_constraint() -> None:
    chart = charts.chain_chart(_constraint("not yet repeatable", "Retention", flagged=None))
    rings = {r["stage"]: r for r in _rings(chart)}
    assert not any(r["state"] == "constraint" for r in rings.values())
    assert rings["Retention"]["state"] == "varies most"
    assert rings["Retention"]["color"] == LINK_STATES["varies most"]
    assert rings["Retention"]["flag"] == "▼ VARIES MOST"
    assert "no constraint can be named yet" in chart.to_dict()["title"]["text"]


# ------------------------------------------------------------------ retention


def _retention_with_an_empty_cell() -> RetentionResult:
    table = pl.DataFrame(
        {
            "cohort": [dt.date(2024, 1, 1)] * 3 + [dt.date(2024, 1, 8)] * 3,
            "cohort_users": [10] * 3 + [5] * 3,
            "period": [0, 1, 2] * 2,
            "eligible_users": [10, 10, 10, 5, 5, 0],
            "active_users": [10, 0, 3, 5, 2, None],
            "rate": [1.0, 0.0, 0.3, 1.0, 0.4, None],
        }
    )
    return RetentionResult(table, "week", "on", "acquisition", "any event", None)


def _rect_fills(spec: dict[str, Any]) -> list[str]:
    fills: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("marktype") == "rect" and node.get("role") == "mark":
                fills.extend(i["fill"] for i in node.get("items", []) if "fill" in i)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(vlc.vegalite_to_scenegraph(spec))
    return fills


def test_unelapsed_retention_cells_are_null_not_zero() -> None:
    spec = charts.retention_heatmap_chart(_retention_with_an_empty_cell()).to_dict()
    (rows,) = _datasets(spec)
    late = next(r for r in rows if r["cohort"] == "2024-01-08")
    assert late["eligible"] == [5, 5, 0]
    assert late["active"] == [5, 2, None]  # null, not 0
    units = [u for u, _ in _units(spec)]
    coloured = [u for u in units if u["mark"]["type"] == "rect" and "color" in u["encoding"]]
    empty = [u for u in units if u["mark"]["type"] == "rect" and "color" not in u["encoding"]]
    assert {"filter": "isValid(datum.rate)"} in coloured[0]["transform"]
    assert {"filter": "!isValid(datum.rate)"} in empty[0]["transform"]
    assert empty[0]["mark"]["color"] == theme.EMPTY
    # Rendered: the one unelapsed cell is the empty grey, the 0% cell a real colour.
    fills = _rect_fills(spec)
    assert fills.count(theme.EMPTY) == 1
    assert len(fills) == 6
    assert all(f != theme.EMPTY for f in fills if f != theme.EMPTY)


def test_retention_curves_leave_out_unelapsed_periods() -> None:
    spec = charts.retention_curve_chart(_retention_with_an_empty_cell()).to_dict()
    cohort_rows = next(
        rows for rows in _datasets(spec) if any("k" in r and "users" in r for r in rows)
    )
    late = next(r for r in cohort_rows if r["cohort"] == "2024-01-08")
    assert late["k"] == [0, 1]
    lines = [u for u, _ in _units(spec) if u["mark"]["type"] == "line"]
    assert any({"filter": "isValid(datum.rate)"} in u.get("transform", []) for u in lines)


# ------------------------------------------------------------------ the others


def _throughput() -> ThroughputResult:
    happy = [5, 7, 6, 8, 30, 7, 6, 3]
    signal = [None, None, None, None, "outside limits", None, None, None]
    complete = [True] * 7 + [False]
    table = pl.DataFrame(
        {
            "period": [dt.date(2024, 1, 1) + dt.timedelta(weeks=i) for i in range(8)],
            "happy": happy,
            "complete": complete,
            "moving_range": [None, 2.0, 1.0, 2.0, 22.0, 23.0, 1.0, None],
            "centre": [9.857] * 8,
            "lower_limit": [0.0] * 8,
            "upper_limit": [28.9] * 8,
            "signal": signal,
        }
    )
    return ThroughputResult(
        table=table,
        stage="Revenue",
        period="week",
        centre=9.857,
        lower_limit=0.0,
        upper_limit=28.9,
        predictable=False,
        verdict="not yet repeatable: 1 week outside the limits",
        complete_periods=7,
        last_ts=None,
    )


def test_throughput_draws_limits_signals_the_running_period_and_stages() -> None:
    result = _throughput()
    spec = charts.throughput_chart(result, business_stage(result, 1000)).to_dict()
    rows = [r for data in _datasets(spec) for r in data]
    names = {r.get("name") for r in rows}
    assert {"centre", "upper limit", "lower limit"} <= names
    assert {"Problem/Solution fit", "Product/Market fit", "Scale"} <= names
    limits = [r for r in rows if r.get("name") in ("upper limit", "lower limit")]
    assert all(r["dash"] != [1, 0] for r in limits)  # dashed
    points = {r["period"]: r["kind"] for r in rows if "kind" in r}
    assert points["2024-01-29"] == "signal"
    assert points["2024-02-19"] == "running"
    assert list(points.values()).count("complete") == 6
    marks = {
        json.dumps(u.get("transform", [])): u["mark"] for u, _ in _units(spec) if "transform" in u
    }
    signal = next(m for t, m in marks.items() if "datum.kind == 'signal'" in t)
    running = next(m for t, m in marks.items() if "datum.kind == 'running'" in t)
    assert signal["color"] == theme.CONSTRAINT
    assert running["filled"] is False
    # Goal lines far above the data: a symmetric log scale keeps both readable.
    y_scales = [e["y"]["scale"] for _, e in _units(spec) if "y" in e and "scale" in e["y"]]
    assert any(sc.get("type") == "symlog" for sc in y_scales if sc)


def test_funnel_splits_by_the_results_own_column(specs: dict[str, str], factory: Factory) -> None:
    spec = json.loads(specs["funnel_by_channel"])
    (_, enc), *_ = list(_units(spec))
    assert enc["yOffset"]["field"] == "group"
    assert enc["y"]["field"] == "stage"
    log = datasets.generate(users=200, seed=1, weeks=4)
    result = funnel(build_journeys(log.events, factory), by="channel")
    with pytest.raises(ValueError, match=r"funnel\(journeys, by='cohort'\)"):
        charts.funnel_chart(result, by="cohort")


def test_the_funnel_shows_users_rates_and_drop_off(factory: Factory) -> None:
    t = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    events = pl.DataFrame(
        {
            "user_id": ["a", "a", "b", "b", "c", "d"],
            "event": ["visit", "created_project", "visit", "created_project", "visit", "visit"],
            "ts": [t, t + dt.timedelta(hours=2), t, t + dt.timedelta(hours=4), t, t],
        }
    )
    two = Factory([factory.stages[0], factory.stages[1]])
    spec = charts.funnel_chart(funnel(build_journeys(events, two))).to_dict()
    rows = [r for data in _datasets(spec) for r in data]
    bars = {r["stage"]: r for r in rows if "column" not in r}
    assert bars["Activation"]["users"] == 2
    assert bars["Activation"]["previous_users"] == 4  # the grey bar: users lost on the link
    texts = {(r["stage"], r["column"]): r["text"] for r in rows if "column" in r}
    assert texts["Activation", "step rate"] == "50.0%"
    assert texts["Activation", "dropped"] == "-2"
    assert texts["Activation", "median time"] == "3.0 h"


# ------------------------------------------------------------------ size and rendering


def test_specs_stay_small_on_a_200k_event_log() -> None:
    log = datasets.generate(users=17_000, seed=3, weeks=26)
    assert log.events.height >= 200_000
    # Daily periods: hundreds of cohorts and periods, so every cap is exercised.
    factory = Factory.from_toml(datasets.sample_path("spec")).replace(period="day")
    for name, build in _builders(log.events, factory).items():
        size = len(build().to_json())
        assert size < SPEC_BOUND, f"{name}: {size / 1024:.0f} KB"


@pytest.mark.parametrize("name", NAMES)
def test_vl_convert_renders_every_chart(specs: dict[str, str], name: str) -> None:
    png = vlc.vegalite_to_png(json.loads(specs[name]), scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 2_000
