"""Reports and notebook charts that need no network.

* :func:`enable_charts` draws Altair charts offline: ``"static"`` (SVG + spec, for the
  committed notebooks) or ``"interactive"`` (vega-embed inlined, for reports).
* :func:`build_report` runs the report template notebook on an event log and a spec and
  writes one self-contained HTML file (``cfnb report`` on the command line).
"""

from cfnb.report.renderer import enable_charts
from cfnb.report.runner import ReportError, ReportResult, build_report

__all__ = ["ReportError", "ReportResult", "build_report", "enable_charts"]
