"""Stages nobody reaches: null rates (never NaN), a sensible verdict, charts, the explorer.

A spec often names an event the log does not have (a typo, a step not instrumented yet),
and a first look at a new export may be one user. Every metric, every chart and the
explorer still work on them: a rate of no one (0 / 0) is null and shown as empty, a
stage nobody passes has a 0% rate, and no text says NaN.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl
import pytest

import cfnb
from cfnb import charts
from cfnb.analysis import FactoryRun
from cfnb.explorer import Explorer, explore
from cfnb.spec import Factory, Stage, event

#: The sample's chain with a Retention event that no row has (say, a typo'd name).
THIRD_UNREACHED = Factory(
    [
        Stage("Acquisition", "visit"),
        Stage("Activation", "created_project", within="14d"),
        Stage("Retention", "nobody_does_this", within="14d"),
        Stage("Revenue", "purchase", within="14d"),
    ],
    segment_by=["channel"],
    happy="Revenue",
    goal=100,
)
#: Nothing enters the factory: the acquisition event is not in the log.
FIRST_UNREACHED = THIRD_UNREACHED.with_stage(0, match=event("nobody_does_this")).with_stage(
    2, match=event("session")
)
NAN = re.compile(r"\bnan\b|\binf(inity)?\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def sample() -> pl.DataFrame:
    return cfnb.datasets.load_sample().events


@pytest.fixture(
    scope="module", params=["third stage unreached", "first stage unreached", "one user"]
)
def run(request: pytest.FixtureRequest, sample: pl.DataFrame) -> FactoryRun:
    if request.param == "third stage unreached":
        return THIRD_UNREACHED.run(sample)
    if request.param == "first stage unreached":
        return FIRST_UNREACHED.run(sample)
    # The sample's first user: 91 events over 6 months, with no invite (Referral unreached).
    one = sample.filter(pl.col("user_id") == sample["user_id"][0])
    return Factory.from_toml(cfnb.datasets.sample_path("spec")).run(one)


def float_columns_are_finite(frame: pl.DataFrame) -> bool:
    """No NaN and no infinity in any float column (nulls are fine: they are "no value")."""
    floats = [c for c, t in frame.schema.items() if t.is_float()]
    return all(frame[c].drop_nulls().is_finite().all() for c in floats)


# ---------------------------------------------------------------------------- metrics


def test_a_rate_of_no_one_is_null_and_a_stage_nobody_passes_is_zero(run: FactoryRun) -> None:
    table = run.funnel().table
    assert float_columns_are_finite(table)
    previous = None
    for row in table.iter_rows(named=True):
        if previous is None or previous == 0:
            assert row["rate"] is None, row  # 0 / 0: nobody could convert
        else:
            assert row["rate"] == row["users"] / previous
        previous = row["users"]
    json.dumps(run.to_dict(), allow_nan=False)


def test_the_unreached_funnels_in_numbers(sample: pl.DataFrame) -> None:
    third = THIRD_UNREACHED.run(sample).funnel().table.select("stage", "users", "rate")
    assert third["users"].to_list()[2:] == [0, 0]
    assert third["rate"].to_list()[2:] == [0.0, None]  # Activation → Retention: 0 of 2,025
    first = FIRST_UNREACHED.run(sample).funnel().table
    assert first["users"].to_list() == [0, 0, 0, 0]
    assert first["rate"].to_list() == [None] * 4
    assert first["overall_rate"].to_list() == [None] * 4


def test_the_constraint_says_what_is_missing(run: FactoryRun) -> None:
    c = run.constraint()
    assert c.summary
    assert not NAN.search(c.summary)
    assert float_columns_are_finite(c.links)
    json.dumps(c.to_dict(), allow_nan=False)
    if run.factory == THIRD_UNREACHED:
        # Without a target the best cohort's 0% is the bar, so no link is called out yet...
        assert "nobody has reached Retention" in c.summary
        # ...with one, the link nobody passes is the constraint.
        targeted = run.with_factory(THIRD_UNREACHED.with_stage("Retention", target=0.5))
        assert targeted.constraint().stage == "Retention"
        assert "nobody passes this link" in targeted.constraint().summary
    elif run.factory == FIRST_UNREACHED:
        assert (
            c.summary
            == "Constraint: Acquisition — no users in the factory yet; bring in raw material first"
        )
    else:
        assert c.status == "not yet repeatable"


def test_throughput_retention_and_the_rest_still_measure(run: FactoryRun) -> None:
    results: dict[str, Any] = {
        "throughput": run.throughput(),
        "business stage": run.business_stage(),
        "retention": run.retention(),
        "retention curve": run.retention_curve(),
        "funnel trend": run.funnel_trend(),
        "segments": run.constraint_by_segment(),
        "activation effect": run.activation_effect(),
        "revenue": run.revenue(),
        "referral": run.referral(),
    }
    assert not NAN.search(run.throughput().verdict)
    assert not NAN.search(run.summary())
    for name, result in results.items():
        data = result.to_dict() if hasattr(result, "to_dict") else result.to_dicts()
        text = json.dumps(data, allow_nan=False, default=str)
        assert not NAN.search(text), name
        for frame in (getattr(result, a, None) for a in ("table", "lines", "overall", "by_age")):
            if isinstance(frame, pl.DataFrame):
                assert float_columns_are_finite(frame), name


# ---------------------------------------------------------------------------- charts


def chart_builders(run: FactoryRun) -> dict[str, Callable[[], Any]]:
    return {
        "funnel": lambda: charts.funnel_chart(run.funnel()),
        "funnel by channel": lambda: charts.funnel_chart(run.funnel(by="channel")),
        "time to convert": lambda: charts.time_to_convert_chart(run.time_to_convert(2)),
        "chain": lambda: charts.chain_chart(run.constraint()),
        "retention heatmap": lambda: charts.retention_heatmap_chart(run.retention()),
        "retention curve": lambda: charts.retention_curve_chart(run.retention()),
        "throughput": lambda: charts.throughput_chart(run.throughput(), run.business_stage()),
        "segment": lambda: charts.segment_chart(run.constraint_by_segment()),
        "activation effect": lambda: charts.activation_effect_chart(run.activation_effect()),
        "activation candidates": lambda: charts.activation_candidates_chart(
            run.activation_candidates()
        ),
    }


def test_every_chart_builds_with_no_nan_in_its_spec(run: FactoryRun) -> None:
    for name, build in chart_builders(run).items():
        spec = json.dumps(build().to_dict())  # json writes NaN and Infinity when it meets them
        assert "NaN" not in spec, name
        assert "Infinity" not in spec, name


# ---------------------------------------------------------------------------- explorer


@pytest.fixture(scope="module")
def explorer(run: FactoryRun) -> Iterator[Explorer]:
    ex = explore(run.events, run.factory, debounce=0)
    yield ex
    ex.close()


def test_the_explorer_opens_on_it_and_says_no_nan(explorer: Explorer, run: FactoryRun) -> None:
    assert explorer.result.factory == run.factory
    assert explorer.summary.value.endswith(f"{html.escape(run.constraint().summary)}</div>")
    assert not NAN.search(explorer.summary.value)
    for name, widget in explorer.charts.items():
        text = json.dumps(widget.spec, default=str)
        assert "NaN" not in text, name
        assert "Infinity" not in text, name


def test_the_missing_event_is_named_beside_its_stage(explorer: Explorer, run: FactoryRun) -> None:
    missing = {
        i
        for i, stage in enumerate(run.factory.stages)
        if not (stage.match.event_names() or set()) & set(run.events["event"])
    }
    stages_in_error = {int(m[1]) for k in explorer.errors if (m := re.match(r"stages\[(\d+)\]", k))}
    assert stages_in_error == missing
    for i in missing:
        assert "no &#x27;" in explorer.stage_editors[i].error.value
