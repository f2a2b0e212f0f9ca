"""Charts of cfnb results: Altair charts with one theme, drawn from results, never events.

Every function takes a result object and returns an Altair chart, themed by
:mod:`cfnb.charts.theme` through its own configuration (no global Altair state). Specs
are deterministic (the same result gives byte-identical ``chart.to_json()``) and small
(aggregated results only, with row caps: under 200 KB whatever the log's size).

=================================  ==================================================
:func:`chain_chart`                the stages as a chain, the constraint the broken link
:func:`funnel_chart`               users per stage, step and overall rates, drop-off
:func:`time_to_convert_chart`      how long users took to reach a stage
:func:`retention_heatmap_chart`    cohort x period retention, unelapsed cells empty
:func:`retention_curve_chart`      a retention curve per cohort, and all pooled
:func:`throughput_chart`           the XmR chart of happy customers per period
:func:`activation_effect_chart`    activated vs other users, ratios with intervals
:func:`activation_candidates_chart`  early behaviours by odds ratio, with support
:func:`segment_chart`              per-segment happy rate and link rates
=================================  ==================================================

For the explorer's live path, :class:`cfnb.charts.specs.ChartSpecs` gives the specs of
the chain, funnel, throughput and retention heatmap charts (their ``to_dict``) in about
a millisecond, once each chart's layout has been drawn by Altair.
"""

from cfnb.charts import theme
from cfnb.charts.activation import activation_candidates_chart, activation_effect_chart
from cfnb.charts.chain import chain_chart
from cfnb.charts.funnel import funnel_chart, time_to_convert_chart
from cfnb.charts.retention import retention_curve_chart, retention_heatmap_chart
from cfnb.charts.segment import segment_chart
from cfnb.charts.throughput import throughput_chart

__all__ = [
    "activation_candidates_chart",
    "activation_effect_chart",
    "chain_chart",
    "funnel_chart",
    "retention_curve_chart",
    "retention_heatmap_chart",
    "segment_chart",
    "theme",
    "throughput_chart",
    "time_to_convert_chart",
]
