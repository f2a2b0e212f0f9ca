"""One factory spec measured on one event log: every metric, from one journeys table.

``factory.run(log)`` (or :func:`run`) builds the journeys table once and answers each
metric from it with the pure functions of :mod:`cfnb.metrics`; results are cached by
their arguments, since the log and the spec never change. :meth:`FactoryRun.with_factory`
gives the run of an edited spec, recomputing only what the edit touches (the explorer's
fast path).

Which events feed revenue and referral? Unless given, revenue is paid by the events of
the stage named ``Revenue`` (any case) with amounts in the ``amount`` column, and
referral comes from the events of the stage named ``Referral`` with the ``referrer``
column linking referred users to their referrer.

Examples
--------
>>> import cfnb
>>> log = cfnb.datasets.load_sample()
>>> result = cfnb.Factory.from_toml(cfnb.datasets.sample_path("toml")).run(log)  # doctest: +SKIP
>>> result.constraint().summary  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from cfnb.backend import (
    Backend,
    EarlyEvents,
    Invites,
    LocalBackend,
    Payments,
    Referrers,
    backend_for,
)
from cfnb.journeys import Journeys
from cfnb.metrics import activation as _activation
from cfnb.metrics import constraint as _constraint
from cfnb.metrics import funnel as _funnel
from cfnb.metrics import referral as _referral
from cfnb.metrics import retention as _retention
from cfnb.metrics import revenue as _revenue
from cfnb.metrics import throughput as _throughput

if TYPE_CHECKING:
    from cfnb.eventlog import EventLog
    from cfnb.spec import Factory, Predicate

__all__ = ["FactoryRun", "run"]

_T = TypeVar("_T")


def run(factory: Factory, log: EventLog | pl.DataFrame) -> FactoryRun:
    """Measure ``factory`` on ``log``: build the journeys table and return the run.

    ``log`` is an :class:`~cfnb.eventlog.EventLog` (from :func:`cfnb.load`) or an
    events frame with ``user_id``, ``event``, ``ts`` (UTC) and property columns.
    Unknown columns are an error and unknown event names a warning (see
    :meth:`Factory.validate`); the warnings are kept in :attr:`FactoryRun.warnings`.
    """
    # The backend knows where the events live (in memory, or on Spark); see cfnb.backend.
    backend = backend_for(log)
    warnings = tuple(factory.validate(dict(backend.schema), backend.event_counts()))
    return FactoryRun(factory, backend, backend.journeys(factory), warnings, _source_of(log))


def _source_of(log: object) -> str:
    # An EventLog names its source without making its report (which counts every row).
    source = getattr(log, "source", None)
    if isinstance(source, str):
        return source
    report = getattr(log, "report", None)
    return str(getattr(report, "source", "events frame"))


@dataclass(frozen=True, eq=False)
class FactoryRun:
    """The Customer Factory measured: one method per metric, each a small frozen result.

    Made by :func:`run` / ``Factory.run``. Every method is a pure function of the
    journeys table (plus, for retention, revenue and referral, a per-user precompute of
    the events), and caches its result by its arguments.

    Attributes
    ----------
    factory
        The spec measured.
    backend
        Where the events live and how journeys and per-user inputs are computed there
        (:mod:`cfnb.backend`).
    events
        The events table it was measured on (a log on Spark raises: its events stay there).
    journeys
        One row per acquired user with the reach time of every stage.
    warnings
        What :meth:`Factory.validate` said about the spec against this log.
    source
        Where the events came from (the load report's source).
    """

    factory: Factory
    backend: Backend = field(repr=False)
    journeys: Journeys = field(repr=False)
    warnings: tuple[str, ...] = ()
    source: str = "events frame"
    _cache: dict[Hashable, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Before the backend seam the second field was the events frame; a frame given
        # there (bench/ops.py builds runs that way) still means "the local backend".
        if isinstance(self.backend, pl.DataFrame):
            object.__setattr__(self, "backend", LocalBackend(self.backend))

    @property
    def events(self) -> pl.DataFrame:
        """The events table the run was measured on."""
        return self.backend.events

    # ------------------------------------------------------------------ plumbing

    def _cached(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        if key not in self._cache:
            self._cache[key] = compute()
        value: _T = self._cache[key]
        return value

    def with_factory(self, factory: Factory) -> FactoryRun:
        """The run of an edited spec, reusing every journey the edit leaves unchanged.

        Window, ``within``, period, segment and target edits reuse the computed chains;
        editing stage ``i`` recomputes stages ``i`` and after only.
        """
        if factory == self.factory:
            return self
        counts = self._event_counts
        warnings = tuple(factory.validate(dict(self.backend.schema), counts))
        new = FactoryRun(
            factory, self.backend, self.journeys.update(factory), warnings, self.source
        )
        # Activity depends only on reach_0 and the `active` condition: keep it when neither moved.
        if (
            "activity" in self.__dict__
            and _same_retention_basis(self.factory, factory)
            and _same_reach0(self.journeys, new.journeys)
        ):
            new.__dict__["activity"] = self.__dict__["activity"]
        return new

    @cached_property
    def _event_counts(self) -> dict[str, int]:
        return self.backend.event_counts()

    @cached_property
    def activity(self) -> _retention.Activity:
        """Per-user times of "active" events after acquisition (the spec's ``active``)."""
        return self.backend.activity(self.journeys, self.factory.active)

    def _stage_named(self, name: str) -> Predicate | None:
        for stage in self.factory.stages:
            if stage.name.lower() == name:
                return stage.match
        return None

    # ------------------------------------------------------------------ metrics

    def funnel(self, *, by: str | None = None) -> _funnel.FunnelResult:
        """Users per stage with step and overall rates and times between stages.

        ``by="cohort"`` or a ``segment_by`` column splits it. See :func:`cfnb.metrics.funnel.funnel`.
        """
        return self._cached(("funnel", by), lambda: _funnel.funnel(self.journeys, by=by))

    def funnel_trend(self) -> _funnel.FunnelTrendResult:
        """The funnel per cohort period, for complete cohorts."""
        return self._cached(("funnel_trend",), lambda: _funnel.funnel_trend(self.journeys))

    def time_to_convert(
        self, stage: int | str, *, since: str = "previous"
    ) -> _funnel.TimeToConvertResult:
        """Distribution (fixed human bins) of the time to reach ``stage``."""
        return self._cached(
            ("ttc", stage, since),
            lambda: _funnel.time_to_convert(self.journeys, stage, since=since),  # type: ignore[arg-type]
        )

    def retention(
        self,
        *,
        period: str | None = None,
        mode: str = "on",
        cohort_by: str | int = "acquisition",
        max_periods: int | None = None,
    ) -> _retention.RetentionResult:
        """Cohort retention matrix (user-relative periods; unelapsed cells are null)."""
        return self._cached(
            ("retention", period, mode, cohort_by, max_periods),
            lambda: _retention.retention(
                self.journeys,
                self.activity,
                period=period,
                mode=mode,
                cohort_by=cohort_by,
                max_periods=max_periods,
            ),
        )

    def retention_curve(
        self,
        *,
        period: str | None = None,
        mode: str = "on",
        cohort_by: str | int = "acquisition",
        max_periods: int | None = None,
    ) -> _retention.RetentionCurve:
        """Retention per period k, all cohorts pooled (from the cached matrix)."""
        matrix = self.retention(
            period=period, mode=mode, cohort_by=cohort_by, max_periods=max_periods
        )
        return self._cached(("retention_curve", period, mode, cohort_by, max_periods), matrix.curve)

    def throughput(
        self, *, stage: int | str | None = None, complete_only: bool = True
    ) -> _throughput.ThroughputResult:
        """Happy customers per period, with XmR limits, signals and the repeatability verdict."""
        return self._cached(
            ("throughput", stage, complete_only),
            lambda: _throughput.throughput(self.journeys, stage=stage, complete_only=complete_only),
        )

    def business_stage(self, goal: float | None = None) -> _throughput.BusinessStage:
        """Problem/Solution fit, Product/Market fit or Scale, from the spec's ``goal`` (10x rule)."""
        g = self.factory.goal if goal is None else goal
        return self._cached(
            ("business_stage", g), lambda: _throughput.business_stage(self.throughput(), g)
        )

    def constraint(self, **options: Any) -> _constraint.ConstraintResult:
        """The weakest link against its target, and what breaking it is worth."""
        key = ("constraint", tuple(sorted(options.items())))
        return self._cached(
            key, lambda: _constraint.constraint(self.journeys, self.factory, **options)
        )

    def constraint_by_segment(
        self, segment: str | None = None, **options: Any
    ) -> _constraint.SegmentConstraints:
        """The constraint per value of a segment column, low-quality feeders flagged."""
        seg = segment if segment is not None else _first_segment(self.factory)
        key = ("constraint_by_segment", seg, tuple(sorted(options.items())))
        return self._cached(
            key,
            lambda: _constraint.constraint_by_segment(self.journeys, self.factory, seg, **options),
        )

    def constraint_broken(
        self, change_date: dt.date | dt.datetime, **options: Any
    ) -> _constraint.ConstraintBreak:
        """Did a change on ``change_date`` break the constraint? Throughput vs earlier limits."""
        key = ("constraint_broken", change_date, tuple(sorted(options.items())))
        return self._cached(
            key,
            lambda: _constraint.constraint_broken(
                self.journeys, self.factory, change_date, **options
            ),
        )

    def activation_effect(self, **options: Any) -> _activation.ActivationEffect:
        """Retention, revenue and referral of activated vs not, with ratios and 95% intervals."""
        key = (
            "activation_effect",
            tuple(sorted((k, v) for k, v in options.items() if k not in ("events", "activity"))),
        )

        def compute() -> _activation.ActivationEffect:
            # The events only serve the referral outcome, which needs a referrer column.
            referrer = options.get("referrer", "referrer")
            if referrer in self.backend.schema and "events" not in options:
                events, overrides = self.backend.inputs(Referrers(referrer), self.journeys)
                options.update(events=events, **overrides)
            options.setdefault("activity", self.activity)
            return _activation.activation_effect(self.journeys, self.factory, **options)

        return self._cached(key, compute)

    def activation_candidates(self, **options: Any) -> _activation.ActivationCandidates:
        """Events in a user's first days ranked by how well they separate retained from churned."""
        options.setdefault("factory", self.factory)
        key = (
            "activation_candidates",
            tuple(sorted((k, v) for k, v in options.items() if k != "factory")),
        )

        def compute() -> _activation.ActivationCandidates:
            need = EarlyEvents(tuple(sorted((k, v) for k, v in options.items() if k != "factory")))
            events, overrides = self.backend.inputs(need, self.journeys)
            return _activation.activation_candidates(
                events, self.journeys, **{**options, **overrides}
            )

        return self._cached(key, compute)

    def referral(
        self, *, invite: Predicate | None = None, referrer: str = "referrer"
    ) -> _referral.ReferralResult:
        """Share of users who refer, referred users and the viral coefficient."""
        pred = invite if invite is not None else self._stage_named("referral")

        def compute() -> _referral.ReferralResult:
            events, overrides = self.backend.inputs(Invites(pred, referrer), self.journeys)
            kwargs: dict[str, Any] = {"invite": pred, "referrer": referrer, **overrides}
            return _referral.referral(self.journeys, events, **kwargs)

        return self._cached(("referral", pred, referrer), compute)

    def revenue(
        self, *, paid: Predicate | None = None, amount: str = "amount"
    ) -> _revenue.RevenueResult:
        """Paying share, revenue and ARPU per cohort, cumulative revenue per user by age."""
        pred = paid if paid is not None else self._stage_named("revenue")

        def compute() -> _revenue.RevenueResult:
            events, overrides = self.backend.inputs(Payments(pred, amount), self.journeys)
            kwargs: dict[str, Any] = {"paid": pred, "amount": amount, **overrides}
            return _revenue.revenue(self.journeys, events, **kwargs)

        return self._cached(("revenue", pred, amount), compute)

    # ------------------------------------------------------------------ output

    def to_dict(self) -> dict[str, Any]:
        """Funnel, constraint and throughput as JSON-ready data (``cfnb run --json``).

        ``funnel`` rows carry ``stage``, ``users``, ``rate``, ``overall_rate`` and
        ``median_seconds``; ``constraint`` carries ``stage``, ``rate``, ``target`` and
        ``gain_per_period``; ``throughput`` carries ``values`` (per period), ``centre``,
        ``lower_limit``, ``upper_limit`` and ``predictable``.
        """
        tp = self.throughput()
        c = self.constraint()
        return {
            "spec": self.factory.to_dict(),
            "warnings": list(self.warnings),
            "funnel": _json_rows(self.funnel().table),
            "constraint": {
                "status": c.status,
                "stage": c.stage,
                "rate": c.rate,
                "target": c.target,
                "target_source": c.target_source,
                "gain_per_period": c.gain_per_period,
                "period": c.period,
                "summary": c.summary,
                "links": _json_rows(c.links),
            },
            "throughput": {
                "period": self.factory.period,
                "stage": self.factory.happy_stage.name,
                "values": _json_rows(tp.table.select("period", "happy", "complete", "signal")),
                "centre": tp.centre,
                "lower_limit": tp.lower_limit,
                "upper_limit": tp.upper_limit,
                "predictable": tp.predictable,
                "verdict": tp.verdict,
            },
        }

    def summary(self) -> str:
        """The factory in a few lines: funnel, throughput and the constraint."""
        f = self.funnel().table
        chain = " → ".join(f"{s} {u:,}" for s, u in zip(f["stage"], f["users"], strict=True))
        return "\n".join([chain, self.throughput().verdict, self.constraint().summary])

    def _repr_html_(self) -> str:
        lines = "".join(f"<div>{html.escape(line)}</div>" for line in self.summary().split("\n"))
        return f"<div><b>{html.escape(self.factory.name or 'Customer Factory')}</b>{lines}</div>"

    def __repr__(self) -> str:
        return f"<FactoryRun {self.factory.name or ''} on {self.source}: {self.journeys.table.height:,} acquired users>"


def _first_segment(factory: Factory) -> str:
    if not factory.segment_by:
        from cfnb.spec import SpecError

        raise SpecError(
            "segment_by",
            "no segment to split by: pass segment='channel' or set segment_by in the spec",
        )
    return factory.segment_by[0]


def _same_retention_basis(a: Factory, b: Factory) -> bool:
    return a.active == b.active and a.stages[0] == b.stages[0] and a.mode == b.mode


def _same_reach0(a: Journeys, b: Journeys) -> bool:
    return a.same_users(b)


def _json_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.iter_rows(named=True):
        out.append({k: _json_value(v) for k, v in row.items()})
    return out


def _json_value(v: object) -> object:
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if v.tzinfo else v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v != v:  # NaN never leaves cfnb
        return None
    return v
