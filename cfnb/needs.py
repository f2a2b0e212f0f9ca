"""What a metric needs from the events beyond the journeys: the backends' requests.

A :class:`~cfnb.analysis.FactoryRun` asks its backend (:mod:`cfnb.backend`) for the
events behind revenue, referral and the activation candidates by one of these values;
the backend answers with a frame holding the rows that metric reads (the whole events
frame, or a reduced one: :mod:`cfnb.reduced`, :mod:`cfnb.spark.inputs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = ["EarlyEvents", "Invites", "Need", "Payments", "Referrers"]


@dataclass(frozen=True)
class Payments:
    """The events :func:`cfnb.metrics.revenue.revenue` reads: payments and their amounts."""

    paid: Any
    amount: str


@dataclass(frozen=True)
class Invites:
    """The events :func:`cfnb.metrics.referral.referral` reads: invites and referrers."""

    invite: Any
    referrer: str


@dataclass(frozen=True)
class Referrers:
    """The events the referral outcome of the activation effect reads: referrers."""

    referrer: str


@dataclass(frozen=True)
class EarlyEvents:
    """The events :func:`cfnb.metrics.activation.activation_candidates` reads.

    ``options`` are the keyword arguments of the call (as sorted pairs, so it hashes).
    """

    options: tuple[tuple[str, Any], ...]


Need: TypeAlias = Payments | Invites | Referrers | EarlyEvents
"""What a metric needs from the events, beyond the journeys."""
