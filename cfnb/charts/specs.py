"""Chart specs in a millisecond: each layout drawn once by Altair, then filled in.

Building an Altair chart and calling ``to_dict`` costs 30-180 ms whatever the data's
size (deep copies, shorthand parsing, schema checks), too slow for the explorer, which
redraws four charts on every edit. A :class:`ChartSpecs` gives the very dict
``chart_fn(result).to_dict(validate=False)`` gives, but draws each *layout* (a chart's
:attr:`~cfnb.charts._parts.ChartParts.key`: which layers, a scale's kind, the kind of
split…; not the period or the segment's name, which are values) with Altair only once;
later results with that layout are written into a copy of it.

A layout is only reused once it has proved itself: the first time it is met, the chart
is drawn by Altair (that is the spec returned), and the template learnt from it must
fill back in to exactly that spec. Anything that does not fit is drawn by Altair.

Examples
--------
>>> import cfnb
>>> from cfnb import datasets
>>> from cfnb.charts import chain_chart
>>> factory = cfnb.Factory.from_dict(datasets.default_spec())
>>> specs = ChartSpecs()
>>> first = factory.run(datasets.generate(users=300, seed=1, weeks=8).events).constraint()
>>> second = factory.run(datasets.generate(users=300, seed=2, weeks=8).events).constraint()
>>> specs.chain(first) == chain_chart(first).to_dict(validate=False)   # drawn by Altair
True
>>> specs.chain(second) == chain_chart(second).to_dict(validate=False)  # filled in
True
>>> specs.stats
{'templated': 1, 'built': 1, 'refused': 0}
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import altair as alt

from cfnb.charts import chain, funnel, retention, throughput
from cfnb.charts._parts import ChartParts
from cfnb.charts._template import Template
from cfnb.metrics.constraint import ConstraintResult
from cfnb.metrics.funnel import FunnelResult
from cfnb.metrics.retention import RetentionResult
from cfnb.metrics.throughput import BusinessStage, ThroughputResult

__all__ = ["ChartSpecs"]

Draw = Callable[[ChartParts], alt.TopLevelMixin]


class ChartSpecs:
    """Vega-Lite specs of the explorer's charts, equal to their Altair charts' ``to_dict``.

    Each method takes the chart function's arguments and returns
    ``chart_fn(...).to_dict(validate=False)``: the same keys, values and dataset names.
    The object remembers the layouts it has seen (at most ``size``), so keep one per
    user of the specs (the explorer holds one).

    Attributes
    ----------
    stats : dict
        How many specs were ``templated`` (filled in), ``built`` (drawn by Altair), and
        how many layouts were ``refused`` as templates (always drawn by Altair).

    Examples
    --------
    >>> import cfnb
    >>> run = cfnb.Factory.from_dict(cfnb.datasets.default_spec()).run(
    ...     cfnb.datasets.generate(users=300, seed=1, weeks=8).events)
    >>> specs = ChartSpecs()
    >>> spec = specs.funnel(run.funnel(by="channel"))
    >>> spec == cfnb.charts.funnel_chart(run.funnel(by="channel")).to_dict(validate=False)
    True
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._templates: OrderedDict[Hashable, Template | None] = OrderedDict()
        self._lock = threading.Lock()  # the explorer's worker and its caller may both draw
        self.stats: dict[str, int] = {"templated": 0, "built": 0, "refused": 0}

    def chain(self, result: ConstraintResult, *, title: str | None = None) -> dict[str, Any]:
        """The spec of :func:`cfnb.charts.chain_chart` (same arguments)."""
        return self._spec("chain", chain.chain_parts(result, title=title), chain.draw_chain)

    def funnel(
        self, result: FunnelResult, *, by: str | None = None, width: int | None = None
    ) -> dict[str, Any]:
        """The spec of :func:`cfnb.charts.funnel_chart` (same arguments)."""
        parts = funnel.funnel_parts(result, by=by, width=width)
        return self._spec("funnel", parts, funnel.draw_funnel)

    def throughput(
        self,
        result: ThroughputResult,
        business_stage: BusinessStage | None = None,
        *,
        max_periods: int = throughput.MAX_PERIODS,
    ) -> dict[str, Any]:
        """The spec of :func:`cfnb.charts.throughput_chart` (same arguments)."""
        parts = throughput.throughput_parts(result, business_stage, max_periods=max_periods)
        return self._spec("throughput", parts, throughput.draw_throughput)

    def retention_heatmap(
        self,
        result: RetentionResult,
        *,
        max_cohorts: int = retention.MAX_COHORTS,
        max_periods: int = retention.MAX_PERIODS,
    ) -> dict[str, Any]:
        """The spec of :func:`cfnb.charts.retention_heatmap_chart` (same arguments)."""
        parts = retention.retention_heatmap_parts(
            result, max_cohorts=max_cohorts, max_periods=max_periods
        )
        return self._spec("retention_heatmap", parts, retention.draw_retention_heatmap)

    def _spec(self, chart: str, parts: ChartParts, draw: Draw) -> dict[str, Any]:
        # Altair's theme and data settings shape the spec too: a template per setting.
        settings = (
            alt.theme.active,
            alt.data_transformers.active,
            alt.data_transformers.consolidate_datasets,
        )
        key = (chart, parts.key, settings)
        with self._lock:
            known = key in self._templates
            template = self._templates.get(key)
            if known:
                self._templates.move_to_end(key)
        if template is not None:
            self.stats["templated"] += 1
            return template.fill(parts)
        spec = draw(parts).to_dict(validate=False)
        self.stats["built"] += 1
        if not known:
            learnt = Template.learn(draw, parts, spec)
            with self._lock:
                if learnt is None:
                    self.stats["refused"] += 1
                self._templates[key] = learnt
                while len(self._templates) > self._size:
                    self._templates.popitem(last=False)
        return spec
