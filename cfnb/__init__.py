"""cfnb: the Customer Factory in a notebook.

Load a product's raw event log, define the factory's stages, and see funnels, cohort
retention, throughput and the constraint (the weakest link of the chain).

>>> import cfnb
>>> log = cfnb.datasets.load_sample()          # doctest: +SKIP
>>> log.report.rows_loaded                      # doctest: +SKIP
"""

from cfnb import errors
from cfnb.eventlog import EventLog, LoadReport
from cfnb.loading import load

__version__ = "0.1.0"

__all__ = ["EventLog", "LoadReport", "errors", "load"]
