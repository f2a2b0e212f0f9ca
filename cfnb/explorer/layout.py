"""The explorer widget: one Factory value, editors around it, charts that follow it.

State is one value, :attr:`Explorer.factory`. An edit made in a control becomes a new
factory through the spec's copy methods (or is refused, with the reason shown under the
control); every accepted factory bumps a *generation* number and schedules a refresh.

Refresh (debounced): after ``debounce`` seconds without a newer edit, one worker thread
computes ``result.with_factory(factory)`` (the fast path), the metrics and the chart
specs, and paints them, under a lock, only if its generation is still the newest. A
slow computation overtaken by a newer edit is dropped, never painted. ``debounce=0``
refreshes synchronously inside the edit (for tests and scripts); :meth:`Explorer.flush`
applies a pending edit now in either mode.
"""

from __future__ import annotations

import html
import itertools
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, cast

import altair as alt
import ipywidgets as widgets
import traitlets

from cfnb.charts.specs import ChartSpecs
from cfnb.explorer.editors import Edit, LogInfo, SpecControls, StageEditor
from cfnb.explorer.state import (
    CHART_NAMES,
    View,
    compute_view,
    draw,
    error_key,
    event_table,
    next_stage,
    prepare_edits,
    stage_of,
)
from cfnb.spec import Factory, SpecError

if TYPE_CHECKING:
    import polars as pl

    from cfnb.analysis import FactoryRun
    from cfnb.eventlog import EventLog

__all__ = ["ChartOutput", "Explorer", "chart_widget"]

_VIEWS_KEPT = 16
_OUTPUTS_KEPT = 8
_CSS = """<style>
.cfnb-stale { opacity: 0.45; transition: opacity 0.2s; }
</style>"""


class ChartOutput(widgets.Output):  # type: ignore[misc]
    """A chart shown in an ``Output`` filled from the kernel side, for kernels without anywidget.

    Same use as ``alt.JupyterChart``: assign ``.chart`` (an Altair chart) or ``.spec``
    (its Vega-Lite spec, a dict) and the output is replaced in place (no ``with out:``
    block, so it behaves under nbval too). The output is what the active Altair renderer
    makes of the spec (``alt.renderers.enable(...)``).
    """

    chart = traitlets.Instance(alt.TopLevelMixin, allow_none=True)
    spec = traitlets.Instance(dict, allow_none=True)

    def __init__(
        self,
        chart: alt.TopLevelMixin | None = None,
        *,
        spec: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Outputs of the last specs shown, by spec identity (the spec kept alive with
        # them), so showing a spec again costs nothing.
        self._shown: OrderedDict[int, tuple[dict[str, Any], tuple[dict[str, Any], ...]]] = (
            OrderedDict()
        )
        self.spec = spec
        self.chart = chart

    @traitlets.observe("chart")
    def _draw(self, change: dict[str, Any]) -> None:
        chart = change["new"]
        # The chart functions' own tests validate their specs against the Vega-Lite
        # schema; validating again here would double the time of every update.
        self.spec = (
            None
            if chart is None
            else chart.to_dict(validate=False, context={"pre_transform": False})
        )

    @traitlets.observe("spec")
    def _show(self, change: dict[str, Any]) -> None:
        spec = change["new"]
        self.outputs = () if spec is None else self._outputs(spec)

    def _outputs(self, spec: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        if id(spec) in self._shown:
            self._shown.move_to_end(id(spec))
            return self._shown[id(spec)][1]
        renderer = alt.renderers.get()
        bundle: Any = renderer(spec) if renderer is not None else {"application/json": spec}
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        outputs = ({"output_type": "display_data", "data": data, "metadata": metadata},)
        self._shown[id(spec)] = (spec, outputs)
        while len(self._shown) > _OUTPUTS_KEPT:
            self._shown.popitem(last=False)
        return outputs


def chart_widget(chart: alt.TopLevelMixin | dict[str, Any]) -> widgets.DOMWidget:
    """A widget showing ``chart`` (an Altair chart or its Vega-Lite spec, a dict).

    ``alt.JupyterChart`` when anywidget is installed, else a :class:`ChartOutput`. Given
    a spec, the widget holds it as its synced ``spec`` and has no ``chart``: assign the
    next spec to ``.spec`` (the explorer's charts have no selections or parameters,
    which are all ``JupyterChart`` reads from an Altair chart).
    """
    if find_spec("anywidget") is None:
        return ChartOutput(spec=chart) if isinstance(chart, dict) else ChartOutput(chart)
    if not isinstance(chart, dict):
        return alt.JupyterChart(cast("alt.TopLevelSpec", unvalidated(chart)))
    widget = alt.JupyterChart(cast("alt.TopLevelSpec", None))
    widget.spec = chart
    return widget


def unvalidated(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """``chart``, whose ``to_dict`` now skips the Vega-Lite schema validation by default.

    ``alt.JupyterChart`` calls ``to_dict()`` on every chart it is given, and validation
    is most of an update's cost (0.1-0.15 s per chart). The chart functions' own tests
    validate their specs, so the live path need not. (Altair keeps attributes in the
    spec, hence ``object.__setattr__``; copies of the chart validate as usual.)

    Examples
    --------
    >>> chart = alt.Chart(alt.InlineData(values=[{"x": 1}])).mark_point()
    >>> unvalidated(chart).to_dict() == chart.copy().to_dict(validate=True)
    True
    """
    to_dict = chart.to_dict
    if getattr(to_dict, "_cfnb_unvalidated", False):
        return chart

    def quick(validate: bool = False, **kwargs: Any) -> dict[str, Any]:
        return to_dict(validate=validate, **kwargs)

    quick._cfnb_unvalidated = True  # type: ignore[attr-defined]
    object.__setattr__(chart, "to_dict", quick)
    return chart


class Explorer(widgets.VBox):  # type: ignore[misc]
    """The live Customer Factory explorer. Make it with :func:`cfnb.explorer.explore`.

    Attributes
    ----------
    factory : Factory
        The current spec, the one state (an observable traitlet): widgets show it, edits
        replace it. Setting it from Python works too.
    result : FactoryRun
        The run the charts show (``result.factory == factory`` once painted).
    summary : ipywidgets.HTML
        The one-line verdict, ``result.constraint().summary``.
    charts : dict
        ``"chain"``, ``"funnel"``, ``"throughput"``, ``"retention"`` → chart widget
        (``alt.JupyterChart``, or :class:`ChartOutput` without anywidget), ``.spec``
        being the Vega-Lite spec shown: the Altair chart's ``to_dict()``, made without
        Altair on the live path. :meth:`chart` gives the Altair chart itself.
    specs : ChartSpecs
        Makes the charts' specs; ``specs.stats`` counts those filled in and those drawn.
    errors : dict
        Control key (``"stages[1].within"``, ``"window"``) → message, for every edit
        refused and every problem of the current spec against the log.
    stage_editors : list of StageEditor
        One editor per stage, in order.
    timings : dict
        Seconds spent by the last refresh: ``metrics``, ``charts``, ``paint``, ``total``.
    stats : dict
        Counts of ``edits`` accepted, ``refused``, ``computed``, ``painted`` and ``dropped``.
    """

    factory = traitlets.Instance(Factory)

    def __init__(
        self,
        log: EventLog | pl.DataFrame,
        factory: Factory,
        *,
        debounce: float = 0.15,
        prepare: bool = True,
    ) -> None:
        schema = dict(log.schema)
        self._info = LogInfo.from_table(event_table(log), schema)
        self.debounce = debounce
        self._views: OrderedDict[Factory, View] = OrderedDict()
        self._lock = threading.RLock()
        self._generation = 0
        self._painted_generation = 0
        self._wakeup = threading.Condition(self._lock)
        self._due = 0.0  # time.monotonic() at which the pending edit is computed
        self._next: tuple[int, Factory] | None = None  # the pending edit, if any
        self._waiter: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        # After each paint, what the next edits need is computed ahead, on a thread of
        # its own (prepare_edits); a stale preparation is simply dropped.
        self._prepare = prepare
        self._preparer: ThreadPoolExecutor | None = None
        self._refused: dict[str, str] = {}
        self._notes: dict[str, str] = {}
        self._initial = factory
        self.stats = dict.fromkeys(
            ("edits", "refused", "computed", "painted", "dropped", "prepared", "prepare_failed"), 0
        )
        self.timings: dict[str, float] = {}
        self.specs = ChartSpecs()

        start = time.perf_counter()
        run = factory.run(log)  # a spec that cannot run on this log raises here, as a call should
        view = self._compute(run, None)
        self._remember(view)
        self.result: FactoryRun = run
        self._view = view

        self.summary = widgets.HTML(_summary_html(view.summary))
        self.status = widgets.HTML()
        self.charts: dict[str, widgets.DOMWidget] = {
            name: chart_widget(view.charts[name]) for name in CHART_NAMES
        }
        self.controls = SpecControls(self._info, self._propose)
        self.stage_editors: list[StageEditor] = []
        # One stage open at a time: the titles say what each stage is, the open one edits it.
        self.stages_box = widgets.Accordion()
        self.add_button = widgets.Button(description="Add stage", icon="plus")
        self.export_button = widgets.Button(description="Export spec", icon="download")
        self.reset_button = widgets.Button(
            description="Reset", icon="undo", tooltip="back to the spec the explorer opened with"
        )
        self.export_toml = widgets.Textarea(
            description="TOML", layout=widgets.Layout(width="100%", height="220px")
        )
        self.export_python = widgets.Textarea(
            description="Python", layout=widgets.Layout(width="100%", height="220px")
        )
        self.export_box = widgets.VBox(
            [self.export_toml, self.export_python], layout=widgets.Layout(display="none")
        )
        self.chart_box = widgets.VBox(list(self.charts.values()))
        left = widgets.VBox(
            [
                self.controls,
                widgets.HTML("<b>Stages</b> <small>(in order; open one to edit it)</small>"),
                self.stages_box,
                widgets.HBox([self.add_button, self.export_button, self.reset_button]),
                self.export_box,
            ],
            layout=widgets.Layout(width="480px", min_width="480px"),
        )
        body = widgets.HBox(
            [left, self.chart_box],
            layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"),
        )
        title = html.escape(factory.name or "Customer Factory")
        source = html.escape(run.source)
        super().__init__(
            [
                widgets.HTML(_CSS),
                widgets.HTML(f"<b>{title}</b> <small>explorer on {source}</small>"),
                self.summary,
                self.status,
                body,
            ]
        )
        self.add_button.on_click(lambda _: self._propose("stages", self._add_stage))
        self.export_button.on_click(lambda _: self.export())
        self.reset_button.on_click(lambda _: self.reset())
        self.factory = factory
        self.observe(self._on_factory, "factory")
        self._notes = _notes(run.warnings)
        self._show_factory(None)
        self._painted_generation = self._generation
        self.timings = {**view.seconds, "total": time.perf_counter() - start}
        self._show_status()
        self._prepare_after(view)

    # ------------------------------------------------------------------ public

    @property
    def debounce(self) -> float:
        """Seconds to wait after an edit before recomputing; ``0`` recomputes inside the edit."""
        return self._debounce

    @debounce.setter
    def debounce(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
            raise ValueError(f"debounce is in seconds, 0 or more, got {seconds!r}")
        self._debounce = float(seconds)

    @property
    def errors(self) -> dict[str, str]:
        """Control key → message: refused edits, then the current spec's problems."""
        return {**self._notes, **self._refused}

    @property
    def pending(self) -> bool:
        """Whether an accepted edit is not painted yet."""
        return self._painted_generation != self._generation

    def flush(self) -> None:
        """Apply a pending edit now: compute and paint the current factory, then return."""
        self._cancel_wait()
        if self._pool is not None:
            self._pool.submit(lambda: None).result()  # the worker is idle after this
        if self.pending:
            self._refresh(self._generation, self.factory)

    def chart(self, name: str) -> alt.TopLevelMixin:
        """The Altair chart shown as ``charts[name]``, built now (to save or restyle it).

        ``explorer.chart(name).to_dict(validate=False) == explorer.charts[name].spec``.
        """
        if name not in CHART_NAMES:
            raise KeyError(f"no chart {name!r}; the explorer's charts are {', '.join(CHART_NAMES)}")
        return draw(name, self._view.inputs[name])

    def export(self) -> tuple[str, str]:
        """Show (and return) the current spec as TOML and as Python, to re-run the notebook."""
        toml, python = self.factory.to_toml(), self.factory.to_python()
        self.export_toml.value = toml
        self.export_python.value = python
        self.export_box.layout.display = "flex"
        return toml, python

    def reset(self) -> None:
        """Go back to the spec the explorer was opened with, dropping refused edits."""
        with self._lock:
            self._refused.clear()
            if self.factory != self._initial:
                self._propose("reset", lambda f: self._initial)
            self._show_factory(None)
            self._show_status()

    def close(self) -> None:
        """Stop the timer and the worker, then close every widget of the explorer."""
        with self._lock:
            self._generation += 1  # whatever is still running is now stale
        self._cancel_wait()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._preparer is not None:
            self._preparer.shutdown(wait=True)
            self._preparer = None
        for child in list(_descendants(self)):
            child.close()
        super().close()

    # ------------------------------------------------------------------ edits

    def _propose(self, key: str, edit: Edit) -> bool:
        """Apply ``edit`` made in control ``key`` if the result is a valid spec for this log.

        Runs under the explorer's lock, as does painting, so a paint from the worker
        thread never sees the errors or the controls half updated.
        """
        with self._lock:
            try:
                new = edit(self.factory)
                warnings = new.validate(self._info.schema, self._info.counts)
            except SpecError as err:
                return self._refuse(key, str(err))
            known = {_message(w) for w in self._notes.values()}
            fresh = [w for w in warnings if _message(w) not in known]
            if fresh:
                return self._refuse(key, "; ".join(fresh))
            self._refused.pop(key, None)
            if new == self.factory:
                self._show_errors()
                self._show_status()
                return True
            self.stats["edits"] += 1
            self.factory = new
            return True

    def _refuse(self, key: str, message: str) -> bool:
        self.stats["refused"] += 1
        self._refused[key] = message
        stage = stage_of(key)
        if stage is not None and stage < len(self.stage_editors):
            self.stages_box.selected_index = stage  # show the error where it is
        self._show_errors()
        self._show_status()
        return False

    def _add_stage(self, factory: Factory) -> Factory:
        return factory.add_stage(next_stage(factory, self._info.events))

    @traitlets.validate("factory")
    def _check_factory(self, proposal: dict[str, Any]) -> Factory:
        value = proposal["value"]
        if not isinstance(value, Factory):
            raise traitlets.TraitError(
                f"factory must be a cfnb.Factory, got {type(value).__name__}"
            )
        value.validate(self._info.schema, self._info.counts)  # raises SpecError
        return value

    def _on_factory(self, change: dict[str, Any]) -> None:
        old, new = change["old"], change["new"]
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._notes = _notes(new.validate(self._info.schema, self._info.counts))
            moved = sum(a != b for a, b in zip(old.stage_names, new.stage_names, strict=False))
            if len(old.stages) != len(new.stages) or moved > 1:  # added, removed or moved
                self._refused = {k: v for k, v in self._refused.items() if stage_of(k) is None}
                self._show_factory(None)
            else:
                self._show_factory(old)
            if self.export_box.layout.display != "none":
                self.export()
            self.chart_box.add_class("cfnb-stale")
            self.summary.add_class("cfnb-stale")
            self._show_status()
            self._schedule(generation, new)

    def _show_factory(self, old: Factory | None) -> None:
        """Show the factory in the controls: all of them, or those that differ from ``old``.

        Controls holding a refused edit keep their text unless everything is shown.
        """
        factory = self.factory
        n = len(factory.stages)
        if len(self.stage_editors) != n:
            while len(self.stage_editors) > n:
                self.stage_editors.pop().close()
            while len(self.stage_editors) < n:
                self.stage_editors.append(
                    StageEditor(len(self.stage_editors), self._info, self._propose)
                )
            self.stages_box.children = tuple(self.stage_editors)
        keep = frozenset(self._refused) if old is not None else frozenset()
        for i, editor in enumerate(self.stage_editors):
            if (
                old is None
                or old.stages[i] != factory.stages[i]
                or ((i == old.happy_index) != (i == factory.happy_index))
            ):
                editor.show(factory, keep)
        if old is None or _settings(old) != _settings(factory):
            self.controls.show(factory, keep)
        self._show_errors()

    def _show_errors(self) -> None:
        by_stage: dict[int, list[str]] = {}
        spec_wide: list[str] = []
        for key, message in self.errors.items():
            i = stage_of(key)
            if i is not None and i < len(self.stage_editors):
                by_stage.setdefault(i, []).append(message)
            else:
                spec_wide.append(message)
        for editor in self.stage_editors:
            editor.show_errors(by_stage.get(editor.index, []))
        self.controls.show_errors(spec_wide)
        titles = tuple(
            ("⚠ " if i in by_stage else "")
            + f"{i + 1}. {stage.describe()}"
            + (" (happy customers)" if i == self.factory.happy_index else "")
            for i, stage in enumerate(self.factory.stages)
        )
        if self.stages_box.titles != titles:
            self.stages_box.titles = titles

    # ------------------------------------------------------------------ refresh

    def _schedule(self, generation: int, factory: Factory) -> None:
        """Compute ``factory`` once ``debounce`` seconds pass without a newer edit."""
        if self._debounce <= 0:
            self._refresh(generation, factory)
            return
        with self._wakeup:
            self._next = (generation, factory)
            self._due = time.monotonic() + self._debounce
            if self._waiter is None:  # one thread per burst of edits, not one per edit
                self._waiter = threading.Thread(
                    target=self._wait, name="cfnb-explorer-debounce", daemon=True
                )
                self._waiter.start()

    def _wait(self) -> None:
        with self._wakeup:
            while self._next is not None and (left := self._due - time.monotonic()) > 0:
                self._wakeup.wait(left)  # a newer edit moves _due later; flush clears _next
            job, self._next, self._waiter = self._next, None, None
        if job is not None:
            self._submit(*job)

    def _cancel_wait(self) -> None:
        """Drop the pending wait (flush and close compute or drop the edit themselves)."""
        with self._wakeup:
            self._next = None
            waiter = self._waiter
            self._wakeup.notify_all()
        if waiter is not None and waiter is not threading.current_thread():
            waiter.join()

    def _submit(self, generation: int, factory: Factory) -> None:
        with self._lock:
            if generation != self._generation:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cfnb-explorer")
            pool = self._pool
        pool.submit(self._refresh, generation, factory)

    def _refresh(self, generation: int, factory: Factory) -> None:
        """Compute ``factory``'s view and paint it if ``generation`` is still the newest."""
        if generation != self._generation:
            self.stats["dropped"] += 1
            return
        start = time.perf_counter()
        try:
            view = self._views.get(factory)
            if view is None:
                view = self._compute(self.result.with_factory(factory), self._view)
                self.stats["computed"] += 1
        except Exception as err:  # shown beside the controls, never as a traceback
            with self._lock:
                if generation == self._generation:
                    self._refused["compute"] = f"could not compute this spec: {err}"
                    self._show_errors()
                    self._show_status()
            return
        with self._lock:
            self._remember(view)
            if generation != self._generation:
                self.stats["dropped"] += 1
                return
            painted = time.perf_counter()
            self._paint(view)
            self._painted_generation = generation
            end = time.perf_counter()
            self.timings = {**view.seconds, "paint": end - painted, "total": end - start}
            self._refused.pop("compute", None)
            self._show_errors()
            self._show_status()
        self._prepare_after(view)

    def _prepare_after(self, view: View) -> None:
        """Compute ahead, on the preparing thread, what the next edits of ``view`` need."""
        if not self._prepare:
            return
        with self._lock:
            generation = self._generation
            if self._preparer is None:
                self._preparer = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="cfnb-explorer-prepare"
                )
            preparer = self._preparer

        def run() -> None:
            if generation != self._generation:
                return  # an edit came first: prepare for its view instead
            try:
                prepare_edits(view, self.specs)
                self.stats["prepared"] += 1
            except Exception:
                self.stats["prepare_failed"] += 1

        preparer.submit(run)

    def _remember(self, view: View) -> None:
        """Keep the last views by spec, so going back to a spec (undo, reset) is instant."""
        self._views[view.run.factory] = view
        self._views.move_to_end(view.run.factory)
        while len(self._views) > _VIEWS_KEPT:
            self._views.popitem(last=False)

    def _compute(self, run: FactoryRun, previous: View | None) -> View:
        return compute_view(run, previous, self.specs)

    def _paint(self, view: View) -> None:
        for name, spec in view.charts.items():
            widget = self.charts[name]
            if widget.spec is not spec:  # an unchanged chart keeps its spec: nothing is sent
                widget.spec = spec
        self.summary.value = _summary_html(view.summary)
        self.result = view.run
        self._view = view
        self.chart_box.remove_class("cfnb-stale")
        self.summary.remove_class("cfnb-stale")
        self.stats["painted"] += 1

    def _show_status(self) -> None:
        if self._refused:
            n = len(self._refused)
            text = (
                f"⚠ {n} edit{'s' if n > 1 else ''} not applied (see the red message"
                f"{'s' if n > 1 else ''}); the charts show the last valid spec."
            )
            colour = "#b00020"
        elif self.pending:
            text, colour = "Updating…", "#666"
        else:
            total = self.timings.get("total")
            took = f" in {total:.2f} s" if total is not None else ""
            text, colour = f"Up to date (computed{took}).", "#666"
        self.status.value = f'<small style="color:{colour}">{html.escape(text)}</small>'


# ---------------------------------------------------------------------------- helpers


def _summary_html(summary: str) -> str:
    return f'<div style="font-size:1.15em;font-weight:600">{html.escape(summary)}</div>'


def _message(warning: str) -> str:
    """A warning without its leading path, to recognise it after a stage moves."""
    head, sep, rest = warning.partition(": ")
    return rest if sep and (head.startswith("stages") or head == "active") else warning


def _notes(warnings: tuple[str, ...] | list[str]) -> dict[str, str]:
    notes: dict[str, str] = {}
    for w in warnings:
        path = w.partition(": ")[0]
        key = error_key(path)
        notes[key] = f"{notes[key]}; {w}" if key in notes else w
    return notes


def _settings(factory: Factory) -> tuple[object, ...]:
    """What the spec-wide controls show of a factory."""
    f = factory
    return (f.window, f.period, f.mode, f.segment_by, f.happy, f.goal, f.stage_names)


def _descendants(widget: widgets.Widget) -> itertools.chain[widgets.Widget]:
    children = getattr(widget, "children", ())
    return itertools.chain(
        children, itertools.chain.from_iterable(_descendants(c) for c in children)
    )
