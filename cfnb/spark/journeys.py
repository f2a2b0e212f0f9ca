"""Journeys whose events stay on Spark: edits of limits on the driver, of stages on Spark.

:class:`SparkJourneys` is an ordinary :class:`~cfnb.journeys.Journeys` (every metric and
chart takes it as is) whose engine state holds the raw chains the executors sent (see
:mod:`cfnb.spark._state`) and whose "events" are only the rows anchoring those chains.
:meth:`~SparkJourneys.update` therefore splits edits in two:

* ``window``, ``within``, ``period``, ``segment_by``, targets, goal, names, removing the
  last stages: answered on the driver by the engine's own update, from the stored
  chains, in milliseconds;
* a stage's condition or ``times``, an added stage, the mode: the chains move, so the
  journeys are rebuilt on Spark (one pass over the partitioned events).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from cfnb.journeys import FactoryLike, Journeys

if TYPE_CHECKING:
    from cfnb.spark.backend import SparkBackend

__all__ = ["SparkJourneys", "needs_events"]


def needs_events(old: FactoryLike, new: FactoryLike) -> bool:
    """Whether going from ``old`` to ``new`` moves the raw chains (a pass over the events).

    It does when the mode changes, or a stage's condition or ``times`` changes, or a
    stage is added; the same split as :meth:`cfnb.journeys.Journeys.update` makes.

    Examples
    --------
    >>> from cfnb.spec import Factory, Stage
    >>> f = Factory([Stage("Visit", "visit"), Stage("Signup", "signup")])
    >>> needs_events(f, f.replace(window="7d")), needs_events(f, f.with_stage(1, match="pay"))
    (False, True)
    """
    if new.mode != old.mode:
        return True
    after, before = list(new.stages), list(old.stages)
    changed = next(
        (
            i
            for i, (a, b) in enumerate(zip(after, before, strict=False))
            if a.match != b.match or a.times != b.times
        ),
        min(len(after), len(before)),
    )
    return changed < len(after)


@dataclass(frozen=True, eq=False)
class SparkJourneys(Journeys):
    """Journeys built on Spark executors; see the module docstring for how edits go."""

    _backend: SparkBackend | None = field(default=None, repr=False)

    def update(self, factory: FactoryLike) -> Journeys:
        """The journeys of an edited factory: on the driver when the chains stay, else on Spark."""
        if self._backend is not None and needs_events(self.factory, factory):
            return self._backend.journeys(factory)  # type: ignore[arg-type]
        return wrap(super().update(factory), self._backend)


def wrap(journeys: Journeys, backend: SparkBackend | None) -> SparkJourneys:
    """``journeys`` (assembled by the engine from imported chains) as :class:`SparkJourneys`."""
    values = {f.name: getattr(journeys, f.name) for f in fields(Journeys)}
    return SparkJourneys(**values, _backend=backend)
