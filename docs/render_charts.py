"""Render every cfnb chart of the bundled datasets to ``docs/img/<name>.png``.

Run from the repository root (no network needed; vl-convert renders offline)::

    .venv/bin/python docs/render_charts.py            # every chart
    .venv/bin/python docs/render_charts.py chain      # only names containing "chain"

The bundled sample (``cfnb.datasets.load_sample()`` with ``data/sample_factory.toml``)
gives every chart; ``chain_constraint`` is the chain of the sample's first 24 weeks (the
factory as it stood then, before the log's run-out weeks).
The CDNOW purchase log (``load_cdnow()`` with ``data/cdnow_factory.toml``) gives the
charts that fit purchase-only data: funnel, chain, retention, throughput and time to
convert.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import vl_convert as vlc

from cfnb import charts, datasets
from cfnb.journeys import build_journeys
from cfnb.metrics.activation import activation_candidates, activation_effect
from cfnb.metrics.constraint import constraint, constraint_by_segment
from cfnb.metrics.funnel import funnel, time_to_convert
from cfnb.metrics.retention import activity, retention
from cfnb.metrics.throughput import business_stage, throughput
from cfnb.spec import Factory

OUT = Path(__file__).resolve().parent / "img"
SCALE = 2


def sample_charts() -> dict[str, Callable[[], object]]:
    log = datasets.load_sample()
    factory = Factory.from_toml(datasets.sample_path("spec"))
    journeys = build_journeys(log.events, factory)
    act = activity(log.events, journeys)
    tp = throughput(journeys, complete_only=False)
    stage = business_stage(tp, factory.goal)
    cut = dt.datetime(2026, 1, 5, tzinfo=dt.UTC) + dt.timedelta(weeks=24)
    early = build_journeys(log.events.filter(pl.col("ts") < cut), factory)
    return {
        "chain": lambda: charts.chain_chart(constraint(journeys, factory)),
        "chain_constraint": lambda: charts.chain_chart(constraint(early, factory)),
        "funnel": lambda: charts.funnel_chart(funnel(journeys)),
        "funnel_by_channel": lambda: charts.funnel_chart(funnel(journeys, by="channel")),
        "funnel_by_cohort": lambda: charts.funnel_chart(funnel(journeys, by="cohort")),
        "time_to_convert": lambda: charts.time_to_convert_chart(
            time_to_convert(journeys, "Activation")
        ),
        "retention_heatmap": lambda: charts.retention_heatmap_chart(retention(journeys, act)),
        "retention_curve": lambda: charts.retention_curve_chart(retention(journeys, act)),
        "throughput": lambda: charts.throughput_chart(tp, stage),
        "activation_effect": lambda: charts.activation_effect_chart(
            activation_effect(journeys, factory, act)
        ),
        "activation_candidates": lambda: charts.activation_candidates_chart(
            activation_candidates(log.events, journeys, retained="Retention", factory=factory)
        ),
        "segment": lambda: charts.segment_chart(
            constraint_by_segment(journeys, factory, "channel")
        ),
    }


def cdnow_charts() -> dict[str, Callable[[], object]]:
    log = datasets.load_cdnow(orders="days")
    factory = Factory.from_toml(datasets.cdnow_path("spec"))
    journeys = build_journeys(log.events, factory)
    act = activity(log.events, journeys)
    tp = throughput(journeys)
    return {
        "cdnow_chain": lambda: charts.chain_chart(constraint(journeys, factory)),
        "cdnow_funnel": lambda: charts.funnel_chart(funnel(journeys)),
        "cdnow_time_to_convert": lambda: charts.time_to_convert_chart(
            time_to_convert(journeys, "Retention")
        ),
        "cdnow_retention_heatmap": lambda: charts.retention_heatmap_chart(
            retention(journeys, act, period="month")
        ),
        "cdnow_retention_curve": lambda: charts.retention_curve_chart(
            retention(journeys, act, period="month")
        ),
        "cdnow_throughput": lambda: charts.throughput_chart(tp, business_stage(tp, factory.goal)),
    }


def main(argv: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    wanted = argv[1:]
    todo = {**sample_charts(), **cdnow_charts()}
    for name, build in todo.items():
        if wanted and not any(w in name for w in wanted):
            continue
        start = time.perf_counter()
        chart = build()
        spec = chart.to_dict()  # type: ignore[attr-defined]
        png = vlc.vegalite_to_png(spec, scale=SCALE)
        (OUT / f"{name}.png").write_bytes(png)
        size = len(chart.to_json())  # type: ignore[attr-defined]
        took = time.perf_counter() - start
        print(f"{name:28s} {size / 1024:7.1f} KB spec  {len(png) / 1024:7.1f} KB png  {took:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
