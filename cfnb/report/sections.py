"""The sections of a cfnb report, each a function that displays HTML and charts.

The report template notebook (``cfnb/report/template.ipynb``) is a list of one-line
cells calling these functions, so the notebook stays short and the code stays typed and
tested. Every section reads one :class:`Report`; a section that cannot be computed for
this spec or log (no ``Activation`` stage, no segment column, ...) says why in the
report instead of failing: only :class:`cfnb.errors.CfnbError` is caught, anything else
is a bug and stops the report.

Examples
--------
>>> from cfnb.report import sections
>>> rep = sections.open_report("data/sample_events.parquet", spec_toml)  # doctest: +SKIP
>>> sections.header(rep)                                                 # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from cfnb.errors import CfnbError, NoUsableRowsError
from cfnb.loading import load
from cfnb.spec import Factory

if TYPE_CHECKING:
    import altair as alt

    from cfnb.analysis import FactoryRun
    from cfnb.eventlog import EventLog, LoadReport

__all__ = [
    "Report",
    "activation",
    "appendix",
    "funnel",
    "header",
    "open_report",
    "retention",
    "revenue_and_referral",
    "segments",
    "status",
    "throughput",
    "verdict",
]

#: Rejected rows shown in the appendix (all are counted in the load report).
REJECTED_SHOWN = 20


@dataclass
class Report:
    """One report's inputs and results, shared by its sections.

    Attributes
    ----------
    title
        The report's title.
    factory
        The spec measured.
    report
        The load report (also when no row was usable).
    log, result
        The loaded log and the factory run; ``None`` when no row was usable.
    error
        Why the factory could not be measured, or ``None``.
    charts
        How many charts the sections have shown so far.
    """

    title: str
    factory: Factory
    report: LoadReport
    log: EventLog | None = None
    result: FactoryRun | None = None
    error: str | None = None
    charts: int = 0
    unavailable: list[str] = field(default_factory=list)


def open_report(
    data: str,
    spec_toml: str,
    load_options: Mapping[str, Any] | None = None,
    title: str = "",
) -> Report:
    """Load ``data`` with ``load_options``, read the spec and measure it.

    When no row is usable the report keeps the load report and the error, and the
    sections that need the factory say so.
    """
    factory = Factory.from_toml(spec_toml)
    name = title or factory.name or "Customer Factory report"
    try:
        log = load(data, **dict(load_options or {}))
    except NoUsableRowsError as err:
        return Report(name, factory, err.report, error=str(err))
    return Report(name, factory, log.report, log=log, result=factory.run(log))


# ---------------------------------------------------------------------------- output


def _display(obj: object) -> None:
    from IPython import display as ipd

    cast(Any, ipd).display(obj)


def _html(text: str) -> None:
    from IPython import display as ipd

    _display(cast(Any, ipd).HTML(text))


def _p(text: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{html.escape(text)}</p>"


def _h2(text: str) -> str:
    return f"<h2>{html.escape(text)}</h2>"


def _intro(text: str) -> str:
    return _p(text, "cfnb-intro")


def _chart(rep: Report, chart: alt.TopLevelMixin) -> None:
    rep.charts += 1
    _display(chart)


def _guard(rep: Report, what: str, body: Callable[[FactoryRun], None]) -> None:
    """Run ``body`` on the result; say why instead when it cannot be computed."""
    if rep.result is None:
        _html(_p(f"{what}: not measured — {rep.error}", "cfnb-na"))
        return
    try:
        body(rep.result)
    except CfnbError as err:
        rep.unavailable.append(what)
        _html(_p(f"{what}: not available for this log and spec — {err}", "cfnb-na"))


def _na(rep: Report, what: str, why: str) -> None:
    rep.unavailable.append(what)
    _html(_p(f"{what}: {why}", "cfnb-na"))


def _date(value: dt.datetime | None) -> str:
    return "—" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _stage_named(factory: Factory, name: str) -> str | None:
    for stage in factory.stages:
        if stage.name.lower() == name:
            return stage.name
    return None


# ---------------------------------------------------------------------------- sections


def header(rep: Report) -> None:
    """Title, data source, size and the date of the last event."""
    from cfnb import __version__

    r = rep.report
    facts = [
        ("Data", r.source),
        ("Last event", _date(r.last_ts)),
        ("First event", _date(r.first_ts)),
        (
            "Events",
            f"{r.rows_loaded:,} loaded of {r.rows_read:,} read ({r.rows_rejected:,} rejected)",
        ),
        ("Users", f"{r.users:,}"),
        ("Spec", rep.factory.name or "(unnamed)"),
        ("Period", rep.factory.period),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
    _html(
        f'<h1 class="cfnb-title">{html.escape(rep.title)}</h1>'
        f'<table class="cfnb-facts">{rows}</table>'
        f'<p class="cfnb-small">Made by cfnb {html.escape(__version__)} '
        "(<code>cfnb report</code>); the spec and the load report are at the end.</p>"
    )


def verdict(rep: Report) -> None:
    """The constraint, throughput and business stage verdicts, and the chain chart."""
    from cfnb.charts import chain_chart

    _html(
        _h2("Verdict")
        + _intro(
            "The factory turns acquired users into happy customers through a chain of "
            "links; the constraint is the link whose improvement to its target would add "
            "the most happy customers per period."
        )
    )

    def body(result: FactoryRun) -> None:
        c = result.constraint()
        lines = [_p(c.summary, "cfnb-verdict"), _p(f"Throughput: {result.throughput().verdict}")]
        if result.factory.goal is not None:
            lines.append(_p(f"Stage of the business: {result.business_stage().verdict}"))
        lines += [_p(f"Warning: {w}", "cfnb-warning") for w in result.warnings]
        _html("".join(lines))
        _chart(rep, chain_chart(c))

    _guard(rep, "Verdict", body)


def funnel(rep: Report) -> None:
    """Users per stage with step and overall rates, and the time into the constraint."""
    from cfnb.charts import funnel_chart, time_to_convert_chart

    _html(
        _h2("Funnel")
        + _intro("Users reaching each stage, and how long the link into the constraint takes.")
    )

    def body(result: FactoryRun) -> None:
        _chart(rep, funnel_chart(result.funnel()))
        stage = result.constraint().stage
        if stage is not None and result.factory.stage_index(stage) > 0:
            _chart(rep, time_to_convert_chart(result.time_to_convert(stage)))

    _guard(rep, "Funnel", body)


def throughput(rep: Report) -> None:
    """The XmR chart of happy customers per period, with the business stage lines."""
    from cfnb.charts import throughput_chart

    _html(
        _h2("Throughput and repeatability")
        + _intro(
            "Happy customers made per period, on an XmR chart: points inside the natural "
            "process limits with no long run on one side mean a repeatable factory. The "
            "dotted lines are the stages of the business from the spec's goal (10x rule)."
        )
    )

    def body(result: FactoryRun) -> None:
        stage = result.business_stage() if result.factory.goal is not None else None
        _chart(rep, throughput_chart(result.throughput(), stage))

    _guard(rep, "Throughput", body)


def retention(rep: Report) -> None:
    """The cohort retention triangle and the retention curves."""
    from cfnb.charts import retention_curve_chart, retention_heatmap_chart

    _html(
        _h2("Retention")
        + _intro(
            "Share of each cohort active k periods after acquisition; grey cells have not "
            "elapsed yet."
        )
    )

    def body(result: FactoryRun) -> None:
        res = result.retention()
        _chart(rep, retention_heatmap_chart(res))
        _chart(rep, retention_curve_chart(res))

    _guard(rep, "Retention", body)


def activation(rep: Report) -> None:
    """Activated vs other users, and the early behaviours that predict retention."""
    from cfnb.charts import activation_candidates_chart, activation_effect_chart

    _html(
        _h2("Activation")
        + _intro(
            "Activation is the causal step: activated users should retain, pay and refer "
            "far more often. Below, the early behaviours that best predict retention."
        )
    )

    def effect(result: FactoryRun) -> None:
        if _stage_named(result.factory, "activation") is None:
            _na(rep, "Activation effect", "the spec has no stage named Activation.")
            return
        _chart(rep, activation_effect_chart(result.activation_effect()))

    def candidates(result: FactoryRun) -> None:
        _chart(rep, activation_candidates_chart(result.activation_candidates()))

    _guard(rep, "Activation effect", effect)
    _guard(rep, "Activation candidates", candidates)


def segments(rep: Report) -> None:
    """The constraint per value of the spec's first segment column."""
    from cfnb.charts import segment_chart

    _html(
        _h2("Segments")
        + _intro("A channel that feeds many low-quality users lowers throughput (1 + 1 + 1 = -2).")
    )

    def body(result: FactoryRun) -> None:
        if not result.factory.segment_by:
            _na(rep, "Segments", "the spec has no segment_by column.")
            return
        by = result.constraint_by_segment()
        low = [str(v) for v in by.low_quality]
        if low:
            _html(_p(f"Feeding low-quality users: {', '.join(low)}.", "cfnb-warning"))
        _chart(rep, segment_chart(by))

    _guard(rep, "Segments", body)


def revenue_and_referral(rep: Report) -> None:
    """Revenue and referral in one line each (when the log has the columns)."""
    _html(_h2("Revenue and referral"))

    def revenue(result: FactoryRun) -> None:
        _html(_p(f"Revenue: {result.revenue().summary}"))

    def referral(result: FactoryRun) -> None:
        _html(_p(f"Referral: {result.referral().summary}"))

    _guard(rep, "Revenue", revenue)
    _guard(rep, "Referral", referral)


def appendix(rep: Report) -> None:
    """The load report, the first rejected rows and the spec as TOML."""
    _html(_h2("Appendix: the data and the spec"))
    parts = [
        "<h3>Load report</h3>",
        f'<pre class="cfnb-pre">{html.escape(str(rep.report))}</pre>',
    ]
    if rep.error is not None:
        parts.append(_p(f"Error: {rep.error}", "cfnb-warning"))
    _html("".join(parts))
    if rep.log is not None and rep.report.rows_rejected:
        rejected = rep.log.rejected
        _html(
            f"<h3>Rejected rows (first {min(REJECTED_SHOWN, rejected.height)} "
            f"of {rejected.height:,})</h3>"
        )
        import polars as pl

        shown = rejected.head(REJECTED_SHOWN)
        with pl.Config(tbl_rows=REJECTED_SHOWN, tbl_hide_dataframe_shape=True):
            _html(shown._repr_html_())
    _html(f'<h3>Spec (TOML)</h3><pre class="cfnb-pre">{html.escape(rep.factory.to_toml())}</pre>')


def status(rep: Report) -> None:
    """One JSON line for the report runner (the cell is removed from the report)."""
    print(
        json.dumps(
            {
                "status": "ok" if rep.result is not None else "no usable rows",
                "charts": rep.charts,
                "unavailable": rep.unavailable,
                "error": rep.error,
            }
        )
    )
