"""`factory.run(log)`: every metric from one journeys table, and edits that reuse it."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import cfnb
from cfnb.analysis import FactoryRun


@pytest.fixture(scope="module")
def log() -> cfnb.EventLog:
    return cfnb.datasets.load_sample()


@pytest.fixture(scope="module")
def factory() -> cfnb.Factory:
    return cfnb.Factory.from_toml(cfnb.datasets.data_dir() / "sample_factory.toml")


@pytest.fixture(scope="module")
def result(factory: cfnb.Factory, log: cfnb.EventLog) -> FactoryRun:
    return factory.run(log)


def test_every_metric_answers_on_the_sample(result: FactoryRun) -> None:
    assert result.funnel().table["stage"].to_list() == list(result.factory.stage_names)
    assert result.funnel(by="channel").table.height > 0
    assert result.funnel_trend().table.height > 0
    assert result.time_to_convert("Activation").table.height > 0
    assert result.retention().table.height > 0
    assert result.retention_curve().table.height > 0
    assert result.throughput().table.height > 0
    assert result.business_stage().goal == result.factory.goal
    assert result.constraint().summary
    assert result.constraint_by_segment().table.height > 0
    assert result.constraint_broken(dt.date(2026, 4, 6)).summary
    assert result.activation_effect().table.height > 0
    assert result.activation_candidates().table.height > 0
    assert result.referral().table.height > 0
    assert result.revenue().table.height > 0


def test_results_are_cached_by_their_arguments(result: FactoryRun) -> None:
    assert result.funnel() is result.funnel()
    assert result.retention(period="day") is not result.retention(period="week")


@pytest.mark.parametrize(
    "edit",
    [
        lambda f: f.replace(window="3w"),
        lambda f: f.replace(period="month"),
        lambda f: f.with_stage("Retention", within="3d"),
        lambda f: f.with_stage("Revenue", match=cfnb.event("session")),
        lambda f: f.with_stage("Activation", match=cfnb.event("signup")),
        lambda f: f.remove_stage("Referral"),
        lambda f: f.replace(mode="best_path"),
    ],
    ids=["window", "period", "within", "late stage", "early stage", "remove", "mode"],
)
def test_an_edited_run_equals_a_fresh_run(result: FactoryRun, log: cfnb.EventLog, edit) -> None:  # type: ignore[no-untyped-def]
    edited = edit(result.factory)
    fast = result.with_factory(edited)
    fresh = edited.run(log)
    key = ["user_id"]
    assert_frame_equal(fast.journeys.table.sort(key), fresh.journeys.table.sort(key))
    assert_frame_equal(fast.funnel().table, fresh.funnel().table)
    assert fast.constraint().summary == fresh.constraint().summary
    assert_frame_equal(fast.throughput().table, fresh.throughput().table)


def test_an_unchanged_spec_returns_the_same_run(result: FactoryRun) -> None:
    assert result.with_factory(result.factory) is result


def test_run_takes_an_events_frame_too(factory: cfnb.Factory, log: cfnb.EventLog) -> None:
    from_frame = factory.run(log.events.sample(fraction=1.0, shuffle=True, seed=3))
    assert_frame_equal(from_frame.funnel().table, factory.run(log).funnel().table)


@pytest.mark.parametrize(
    "metric",
    [
        lambda r: r.funnel(by="channel"),
        lambda r: r.time_to_convert("Activation"),
        lambda r: r.retention(mode="on_or_after"),
        lambda r: r.activation_effect(),
        lambda r: r.activation_candidates(retained=cfnb.event("session")),
        lambda r: r.referral(invite=cfnb.event("invite_sent")),
        lambda r: r.revenue(),
        lambda r: r.constraint_by_segment(),
    ],
    ids=["by channel", "ttc", "retention", "effect", "candidates", "referral", "revenue", "by seg"],
)
def test_a_loaded_log_and_its_frame_give_the_same_metrics(  # type: ignore[no-untyped-def]
    factory: cfnb.Factory, log: cfnb.EventLog, metric
) -> None:
    # A log's metrics read reduced inputs from its DuckDB table and its index; a frame's
    # read the frame itself: the answers must not differ by a bit.
    frame = log.events.sample(fraction=1.0, shuffle=True, seed=5)
    from_log, from_frame = metric(factory.run(log)), metric(factory.run(frame))
    if hasattr(from_log, "to_dict"):
        assert from_log.to_dict() == from_frame.to_dict()
    assert_frame_equal(from_log.table, from_frame.table)


def test_unknown_event_names_are_warnings_not_errors(log: cfnb.EventLog) -> None:
    f = cfnb.Factory(
        [cfnb.Stage("Visit", cfnb.event("visit")), cfnb.Stage("Pay", cfnb.event("purchse"))]
    )
    r = f.run(log)
    assert any("purchase" in w for w in r.warnings)
    assert r.funnel().table["users"].to_list()[1] == 0


def test_to_dict_is_json_ready(result: FactoryRun) -> None:
    import json

    data = result.to_dict()
    text = json.dumps(data)
    assert "NaN" not in text
    assert data["funnel"][0]["stage"] == "Acquisition"
    assert isinstance(data["throughput"]["values"], list)


def test_summary_and_html(result: FactoryRun) -> None:
    assert "Acquisition" in result.summary()
    assert "<b>" in result._repr_html_()
    assert isinstance(result.events, pl.DataFrame)


def test_every_metric_answers_on_the_cdnow_purchase_log() -> None:
    log = cfnb.datasets.load_cdnow()
    result = cfnb.Factory.from_toml(cfnb.datasets.data_dir() / "cdnow_factory.toml").run(log)
    users = result.funnel().table["users"].to_list()
    assert users[0] == 23_570
    assert users == sorted(users, reverse=True)
    assert result.retention(period="month").table.height > 0
    assert result.throughput().table.height > 0
    assert result.constraint().summary
    assert result.activation_effect().table.height > 0
    assert result.revenue(amount="dollar_value").revenue > 0
    with pytest.raises(cfnb.errors.MetricError, match="referrer"):
        result.referral()
