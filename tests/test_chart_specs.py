"""ChartSpecs: the explorer's chart specs, equal to the Altair charts', without Altair.

For varied results (seeds, day/week/month periods, window edits, segment and goal on and
off, stages nobody reaches, every constraint status, best_path mode, empty throughput,
2 to 6 stages), ``ChartSpecs`` gives exactly ``chart_fn(result).to_dict(validate=False)``:
on the first call of a layout (drawn by Altair, then learnt) and on every later one
(filled in, no Altair object built). An edit that changes only a chart's words (the
period, the retention mode or cohort, the segment column) fills in the layout learnt
before it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import altair as alt
import pytest

from cfnb import charts, datasets
from cfnb.analysis import FactoryRun
from cfnb.charts.specs import ChartSpecs
from cfnb.spec import Factory, Stage, event

SAMPLE = Factory.from_dict(datasets.default_spec())

#: Spec edits, as a person makes them in the explorer.
VARIANTS: dict[str, Factory] = {
    "sample": SAMPLE,
    "daily": SAMPLE.replace(period="day"),
    "monthly": SAMPLE.replace(period="month"),
    "window 3w": SAMPLE.replace(window="3w"),
    "no segment": SAMPLE.replace(segment_by=[]),
    "no goal": SAMPLE.replace(goal=None),
    "far goal (log scale)": SAMPLE.replace(goal=100_000),
    "best_path": SAMPLE.replace(mode="best_path"),
    "third stage unreached": SAMPLE.with_stage(2, match=event("nobody_does_this")),
    "nobody acquired": SAMPLE.with_stage(0, match=event("nobody_does_this")),
    "two stages": Factory(
        [Stage("Acquisition", "visit"), Stage("Activation", "signup", within="14d", target=0.5)]
    ),
    "three stages by plan": Factory(
        [
            Stage("Acquisition", "visit"),
            Stage("Activation", "signup", within="14d"),
            Stage("Retention", "session", within="14d", target=0.9),
        ],
        segment_by=["plan"],
        goal=3,
    ),
    "six stages": SAMPLE.add_stage(Stage("Settings", event("settings_opened"), target=0.2)),
}

#: Generated logs: two seeds over weeks, one with a weak activation, and one week only.
LOGS: dict[str, dict[str, Any]] = {
    "seed 0": {"users": 800, "seed": 0, "weeks": 12},
    "seed 3, weak activation": {
        "users": 600,
        "seed": 3,
        "weeks": 10,
        "rates": {"activation": 0.05},
    },
    "one week": {"users": 40, "seed": 5, "weeks": 1},
}

#: Each chart: the ChartSpecs method and the Altair chart function it stands for.
CHARTS: dict[str, tuple[Callable[..., dict[str, Any]], Callable[..., Any]]] = {
    "chain": (ChartSpecs.chain, charts.chain_chart),
    "funnel": (ChartSpecs.funnel, charts.funnel_chart),
    "throughput": (ChartSpecs.throughput, charts.throughput_chart),
    "retention": (ChartSpecs.retention_heatmap, charts.retention_heatmap_chart),
}

Case = tuple[str, tuple[Any, ...]]  # a label, and the chart function's arguments


def explorer_inputs(run: FactoryRun) -> dict[str, tuple[Any, ...]]:
    """What the explorer draws of a run (cfnb.explorer.state.chart_inputs)."""
    f = run.factory
    return {
        "chain": (run.constraint(),),
        "funnel": (run.funnel(by=f.segment_by[0] if f.segment_by else None),),
        "throughput": (run.throughput(), run.business_stage() if f.goal is not None else None),
        "retention": (run.retention(),),
    }


def more_inputs(run: FactoryRun) -> Iterator[tuple[str, str, tuple[Any, ...]]]:
    """Inputs the explorer does not draw but the charts take: other splits and modes."""
    yield "funnel", "unsplit", (run.funnel(),)
    yield "funnel", "by cohort", (run.funnel(by="cohort"),)
    yield "throughput", "running period", (run.throughput(complete_only=False), None)
    staged = (run.throughput(complete_only=False), run.business_stage())
    yield "throughput", "running period, stages", staged
    yield "retention", "on or after", (run.retention(mode="on_or_after"),)


@pytest.fixture(scope="module")
def cases() -> dict[str, list[Case]]:
    out: dict[str, list[Case]] = {name: [] for name in CHARTS}
    for log_name, kwargs in LOGS.items():
        events = datasets.generate(**kwargs).events
        for variant, factory in VARIANTS.items():
            run = factory.run(events)
            for chart, args in explorer_inputs(run).items():
                out[chart].append((f"{log_name} / {variant}", args))
            if variant == "sample":
                for chart, what, args in more_inputs(run):
                    out[chart].append((f"{log_name} / {what}", args))
    return out


@pytest.fixture(scope="module")
def expected(cases: dict[str, list[Case]]) -> dict[str, list[str]]:
    """Every case's Altair spec, as sorted JSON."""
    return {
        chart: [text(CHARTS[chart][1](*args).to_dict(validate=False)) for _, args in chart_cases]
        for chart, chart_cases in cases.items()
    }


def text(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True)


def test_the_cases_are_varied(cases: dict[str, list[Case]]) -> None:
    statuses = {args[0].status for _, args in cases["chain"]}
    assert statuses == {"constraint", "raw material", "not yet repeatable"}
    assert any(args[0].table.height == 0 for _, args in cases["throughput"])
    assert any(args[0].table.height == 0 for _, args in cases["retention"])
    assert {args[0].by for _, args in cases["funnel"]} == {None, "channel", "plan", "cohort"}
    assert {args[0].period for _, args in cases["throughput"]} == {"day", "week", "month"}
    assert {len(args[0].links) for _, args in cases["chain"]} == {1, 2, 4, 5}  # 2 to 6 stages


@pytest.mark.parametrize("chart", CHARTS)
def test_specs_equal_the_altair_charts_first_and_later(
    chart: str, cases: dict[str, list[Case]], expected: dict[str, list[str]]
) -> None:
    spec_of = CHARTS[chart][0]
    specs = ChartSpecs()
    # First pass: each layout's first result is drawn by Altair, the rest filled in.
    for (label, args), want in zip(cases[chart], expected[chart], strict=True):
        assert text(spec_of(specs, *args)) == want, label
    layouts = specs.stats["built"]
    assert specs.stats["templated"] == len(cases[chart]) - layouts > layouts
    # Second pass: every layout is known, every spec is filled in.
    for (label, args), want in zip(cases[chart], expected[chart], strict=True):
        assert text(spec_of(specs, *args)) == want, label
    assert specs.stats["built"] == layouts
    assert specs.stats["refused"] == 0  # every layout could be templated


def test_a_known_layout_is_filled_in_without_building_altair_objects(
    cases: dict[str, list[Case]], altair_objects: Callable[[], list[str]]
) -> None:
    specs = ChartSpecs()
    for chart, chart_cases in cases.items():
        for _, args in chart_cases:
            CHARTS[chart][0](specs, *args)  # learns every layout
    built = altair_objects()
    for chart, chart_cases in cases.items():
        for _, args in chart_cases:
            CHARTS[chart][0](specs, *args)
    assert built == []
    # The count does see Altair at work: a chart function builds dozens of objects.
    charts.chain_chart(*cases["chain"][0][1])
    assert len(built) > 20


def test_a_first_layout_is_drawn_by_altair_and_remembered() -> None:
    runs = [SAMPLE.run(datasets.generate(users=300, seed=s, weeks=8).events) for s in (1, 2)]
    specs = ChartSpecs()
    first = specs.chain(runs[0].constraint())
    assert specs.stats == {"templated": 0, "built": 1, "refused": 0}
    second = specs.chain(runs[1].constraint())
    assert specs.stats == {"templated": 1, "built": 1, "refused": 0}
    assert first != second
    assert second == charts.chain_chart(runs[1].constraint()).to_dict(validate=False)
    # A spec is the caller's to keep: changing one changes no later spec.
    second["title"]["text"] = "changed"
    second["datasets"].clear()
    assert specs.chain(runs[1].constraint()) == charts.chain_chart(runs[1].constraint()).to_dict(
        validate=False
    )


@pytest.fixture(scope="module")
def settings() -> dict[str, dict[str, tuple[Any, ...]]]:
    """The explorer's inputs of one log under several settings, each chart's by name."""
    events = datasets.generate(**LOGS["seed 0"]).events
    out = {p: explorer_inputs(SAMPLE.replace(period=p).run(events)) for p in PERIODS}
    run = SAMPLE.run(events)
    out["on or after"] = {"retention": (run.retention(mode="on_or_after"),)}
    out["activation cohorts"] = {"retention": (run.retention(cohort_by="activation"),)}
    by_plan = SAMPLE.replace(segment_by=["plan"]).run(events)
    out["by plan"] = explorer_inputs(by_plan)
    return out


PERIODS = ("week", "day", "month")

#: Edits that change a chart's words (titles, tooltips, date labels), not its layers:
#: the chart, the setting whose layout is learnt, and the setting edited to.
WORD_EDITS = [
    ("throughput", "week", "day"),
    ("throughput", "week", "month"),
    ("throughput", "month", "day"),
    ("retention", "week", "month"),
    ("retention", "week", "on or after"),
    ("retention", "week", "activation cohorts"),
    ("retention", "on or after", "activation cohorts"),
    ("funnel", "week", "by plan"),
    ("funnel", "by plan", "week"),
    ("chain", "week", "day"),
]


@pytest.mark.parametrize(("chart", "before", "after"), WORD_EDITS)
def test_an_edit_of_words_fills_in_the_layout_learnt_before_it(
    chart: str,
    before: str,
    after: str,
    settings: dict[str, dict[str, tuple[Any, ...]]],
    altair_objects: Callable[[], list[str]],
) -> None:
    spec_of, chart_fn = CHARTS[chart]
    first, then = settings[before][chart], settings[after][chart]
    specs = ChartSpecs()
    learnt = spec_of(specs, *first)  # the only layout this ChartSpecs has seen
    built = altair_objects()
    spec = spec_of(specs, *then)
    assert built == []  # filled in: no Altair drawing for the edit
    assert specs.stats == {"templated": 1, "built": 1, "refused": 0}
    assert text(spec) == text(chart_fn(*then).to_dict(validate=False))
    assert spec != learnt  # the edit did change the chart


def test_a_period_edit_changes_the_words_it_should(
    settings: dict[str, dict[str, tuple[Any, ...]]],
) -> None:
    specs = ChartSpecs()
    for period in PERIODS:  # week first: day and month are filled in
        throughput = specs.throughput(*settings[period]["throughput"])
        retention = specs.retention_heatmap(*settings[period]["retention"])
        y_title = f"happy customers per {period} (log scale)"  # the goal is far: log scale
        assert throughput["layer"][0]["encoding"]["y"]["title"] == y_title
        assert retention["layer"][0]["encoding"]["x"]["title"] == f"{period}s since Acquisition (k)"
    # Only the daily heatmap is drawn: too many cells to label, so a layer fewer.
    assert specs.stats == {"templated": 3, "built": 3, "refused": 0}


@pytest.mark.parametrize(
    ("chart", "label"),
    [
        ("chain", "seed 0 / sample"),
        ("funnel", "seed 0 / sample"),
        ("funnel", "seed 0 / no segment"),
        ("throughput", "seed 0 / far goal (log scale)"),
        ("throughput", "seed 0 / running period, stages"),
        ("retention", "seed 0 / daily"),
        ("retention", "one week / nobody acquired"),
    ],
)
def test_filled_in_specs_are_valid_vega_lite(
    chart: str, label: str, cases: dict[str, list[Case]]
) -> None:
    specs = ChartSpecs()
    args = dict(cases[chart])[label]
    CHARTS[chart][0](specs, *args)  # learns the layout
    spec = CHARTS[chart][0](specs, *args)
    assert specs.stats["templated"] == 1
    alt.Chart.from_dict(spec, validate=True)  # raises if the schema refuses it


def test_charts_refuse_anything_but_their_result() -> None:
    specs = ChartSpecs()
    with pytest.raises(TypeError, match="chain_chart takes a ConstraintResult"):
        specs.chain("links")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="split by None, not 'channel'"):
        specs.funnel(SAMPLE.run(datasets.generate(users=50, weeks=2).events).funnel(), by="channel")
