"""cfnb: the Customer Factory in a notebook.

Load a product's raw event log, define the factory's stages, and see funnels, cohort
retention, throughput and the constraint (the weakest link of the chain).

>>> import cfnb
>>> log = cfnb.datasets.load_sample()          # doctest: +SKIP
>>> log.report.rows_loaded                      # doctest: +SKIP
"""

from cfnb import charts, datasets, errors
from cfnb.analysis import FactoryRun
from cfnb.charts import (
    activation_candidates_chart,
    activation_effect_chart,
    chain_chart,
    funnel_chart,
    retention_curve_chart,
    retention_heatmap_chart,
    segment_chart,
    throughput_chart,
    time_to_convert_chart,
)
from cfnb.eventlog import EventLog, LoadReport
from cfnb.loading import load
from cfnb.spec import (
    Factory,
    Predicate,
    Stage,
    all_of,
    any_event,
    any_of,
    event,
    event_in,
    format_duration,
    not_,
    parse_duration,
    prop,
)

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The explorer pulls in ipywidgets; only notebooks that open it should pay for that.
    if name == "explore":
        from cfnb.explorer import explore

        return explore
    raise AttributeError(f"module 'cfnb' has no attribute {name!r}")


__all__ = [
    "EventLog",
    "Factory",
    "FactoryRun",
    "LoadReport",
    "Predicate",
    "Stage",
    "activation_candidates_chart",
    "activation_effect_chart",
    "all_of",
    "any_event",
    "any_of",
    "chain_chart",
    "charts",
    "datasets",
    "errors",
    "event",
    "event_in",
    "explore",
    "format_duration",
    "funnel_chart",
    "load",
    "not_",
    "parse_duration",
    "prop",
    "retention_curve_chart",
    "retention_heatmap_chart",
    "segment_chart",
    "throughput_chart",
    "time_to_convert_chart",
]
