"""cfnb: the Customer Factory in a notebook.

Load a product's raw event log, define the factory's stages, and see funnels, cohort
retention, throughput and the constraint (the weakest link of the chain).

>>> import cfnb
>>> log = cfnb.datasets.load_sample()          # doctest: +SKIP
>>> log.report.rows_loaded                      # doctest: +SKIP
"""

from cfnb import datasets, errors
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

__all__ = [
    "EventLog",
    "Factory",
    "LoadReport",
    "Predicate",
    "Stage",
    "all_of",
    "any_event",
    "any_of",
    "datasets",
    "errors",
    "event",
    "event_in",
    "format_duration",
    "load",
    "not_",
    "parse_duration",
    "prop",
]
