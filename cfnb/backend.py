"""Where a run gets its journeys and its per-user inputs: the backend seam.

A :class:`~cfnb.analysis.FactoryRun` never reads raw events itself. It asks its backend
for four things, and computes every metric on the driver from what comes back, with the
same pure functions of :mod:`cfnb.metrics` whatever the backend:

* the **journeys** of a spec (:meth:`Backend.journeys`; edits go through
  :meth:`cfnb.journeys.Journeys.update`);
* the **activity** behind retention (:meth:`Backend.activity`);
* the **events a metric reads** (:meth:`Backend.inputs`): payments for revenue, invites
  and referrers for referral, early events for the activation candidates;
* the log's **schema and event counts**, to validate a spec.

:class:`LocalBackend` answers all of them from the events frame in memory (DuckDB loads
it, NumPy and Polars compute). :mod:`cfnb.spark` answers them by running the very same
journeys engine on Spark executors, one partition of users at a time, and returns only
per-user tables; see ``docs/spark.md``.

Examples
--------
>>> import cfnb
>>> backend = backend_for(cfnb.datasets.load_sample())
>>> backend.event_counts()["visit"] > 0
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from cfnb.journeys import HasEvents, Journeys, build_journeys, event_source
from cfnb.metrics import retention as _retention
from cfnb.needs import EarlyEvents, Invites, Need, Payments, Referrers
from cfnb.reduced import reduced_inputs
from cfnb.sources import EventSource, FrameSource

if TYPE_CHECKING:
    from cfnb.spec import Factory

__all__ = [
    "Backend",
    "EarlyEvents",
    "Invites",
    "LocalBackend",
    "Need",
    "Payments",
    "Referrers",
    "backend_for",
]


class Backend(Protocol):
    """What a :class:`~cfnb.analysis.FactoryRun` needs from where the events live."""

    @property
    def schema(self) -> Mapping[str, pl.DataType]:
        """Column name → Polars dtype of the events (as :attr:`EventLog.schema`)."""
        ...

    @property
    def events(self) -> pl.DataFrame:
        """The events frame, when it lives in this process (a remote backend raises)."""
        ...

    def event_counts(self) -> dict[str, int]:
        """Event name → number of events."""
        ...

    def journeys(self, factory: Factory) -> Journeys:
        """The journeys of ``factory``; their ``update`` answers edits."""
        ...

    def activity(self, journeys: Journeys, active: Any) -> _retention.Activity:
        """Retention's per-user activity for these journeys and this ``active`` condition."""
        ...

    def inputs(self, need: Need, journeys: Journeys) -> tuple[pl.DataFrame, dict[str, Any]]:
        """The events frame a metric reads for ``need``, and keyword overrides for the call.

        The metric is then called with that frame and ``{**its_arguments, **overrides}``;
        a backend that hands over a reduced frame says so with an override (a condition
        it already applied, for instance).
        """
        ...


# --------------------------------------------------------------------------- local


@dataclass(frozen=True, eq=False)
class LocalBackend:
    """The events in this process: an events frame, or an EventLog's DuckDB table.

    Questions are answered through the log's event source (:mod:`cfnb.sources`): the
    journeys from its index, and the events a metric reads as a frame of only the rows
    and columns that metric needs (so a log's table is never copied into Polars whole).
    """

    origin: pl.DataFrame | HasEvents = field(repr=False)

    @cached_property
    def source(self) -> EventSource:
        """Where the engine reads the events (see :func:`cfnb.journeys.event_source`)."""
        return event_source(self.origin)

    @property
    def events(self) -> pl.DataFrame:
        return self.origin if isinstance(self.origin, pl.DataFrame) else self.origin.events

    @property
    def schema(self) -> Mapping[str, pl.DataType]:
        return dict(self.source.schema)

    def event_counts(self) -> dict[str, int]:
        return dict(self.source.index().event_counts)

    def journeys(self, factory: Factory) -> Journeys:
        return build_journeys(self.source, factory, origin=self.origin)

    def activity(self, journeys: Journeys, active: Any) -> _retention.Activity:
        return _retention.activity(self.origin, journeys, active)

    def inputs(self, need: Need, journeys: Journeys) -> tuple[pl.DataFrame, dict[str, Any]]:
        if isinstance(self.source, FrameSource):
            return self.source.events, {}
        return reduced_inputs(self.source, need, journeys)


def backend_for(log: object) -> Backend:
    """The backend of a log: its own (``log.backend()``), else the local one on its events.

    ``log`` is an :class:`~cfnb.eventlog.EventLog`, a Spark log from
    :func:`cfnb.load` (it brings its backend), or an events frame.
    """
    if isinstance(log, pl.DataFrame):
        return LocalBackend(log)
    make = getattr(log, "backend", None)
    if callable(make):
        backend: Backend = make()
        return backend
    if callable(getattr(log, "event_source", None)):
        return LocalBackend(log)  # type: ignore[arg-type]
    events = getattr(log, "events", None)
    if not isinstance(events, pl.DataFrame):
        from cfnb.errors import MetricError

        raise MetricError(
            f"cannot measure a {type(log).__name__}: pass an EventLog from cfnb.load() or an "
            "events frame with user_id, event and ts"
        )
    return LocalBackend(events)
