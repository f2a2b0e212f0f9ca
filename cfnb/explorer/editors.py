"""The explorer's controls: one editor per stage, and the spec-wide settings.

Editors are thin. Each shows values derived from the current :class:`~cfnb.spec.Factory`
(:meth:`StageEditor.show`, :meth:`SpecControls.show`) and turns a change a person makes
into an *edit*: a control key (``"stages[1].within"``) and a function from the current
factory to the edited one, handed to the explorer's ``propose``. The explorer decides
whether the edit is valid, and shows the error under the control if it is not.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import polars as pl

from cfnb.explorer.state import (
    OPERATORS,
    PredicateParts,
    describe_errors,
    format_goal,
    format_optional_duration,
    format_target,
    match_from_parts,
    parse_goal,
    parse_optional_duration,
    parse_target,
    parts_from_match,
    property_columns,
    segment_columns,
)
from cfnb.periods import PERIODS
from cfnb.spec import MODES, Factory, SpecError, Stage

__all__ = ["Edit", "LogInfo", "Propose", "SpecControls", "StageEditor"]

Edit = Callable[[Factory], Factory]
"""An edit: the current factory in, the edited factory out (may raise ``SpecError``)."""

Propose = Callable[[str, Edit], bool]
"""The explorer's entry point for edits: ``propose(control_key, edit)`` → accepted?"""

_NO_COLUMN = "(none)"
_STYLE = {"description_width": "52px"}


@dataclass(frozen=True)
class LogInfo:
    """What the editors need to know about the log: event names with counts, columns."""

    events: tuple[str, ...]
    counts: Mapping[str, int]
    labels: Mapping[str, str]
    schema: Mapping[str, pl.DataType]
    columns: tuple[str, ...]
    segments: tuple[str, ...]

    @classmethod
    def from_table(cls, table: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> LogInfo:
        """From ``EventLog.event_names()`` and ``EventLog.schema``."""
        events = tuple(str(e) for e in table["event"])
        counts = {str(e): int(n) for e, n in zip(table["event"], table["events"], strict=True)}
        labels = {e: f"{e} ({counts[e]:,})" for e in events}
        return cls(
            events,
            counts,
            labels,
            dict(schema),
            tuple(property_columns(schema)),
            tuple(segment_columns(schema)),
        )

    def event_label(self, name: str) -> str:
        """``created_project (3,691)`` for an event of the log, the bare name otherwise."""
        return self.labels.get(name, name)

    def event_name(self, text: str) -> str:
        """The event name behind what the picker holds (a label or a typed name)."""
        text = text.strip()
        for name, label in self.labels.items():
            if label == text:
                return name
        return text


class StageEditor(widgets.VBox):  # type: ignore[misc]
    """The editor of stage ``index``: name, condition, times, within, target; move and remove."""

    def __init__(self, index: int, info: LogInfo, propose: Propose, **kwargs: Any) -> None:
        self.index = index
        self._info = info
        self._propose = propose
        self._showing = False
        self.title = widgets.HTML()
        self.name = widgets.Text(
            placeholder="stage name", continuous_update=False, layout=widgets.Layout(width="170px")
        )
        self.up = widgets.Button(icon="arrow-up", tooltip="move up", layout=_button())
        self.down = widgets.Button(icon="arrow-down", tooltip="move down", layout=_button())
        self.remove = widgets.Button(icon="trash", tooltip="remove this stage", layout=_button())
        self.event = widgets.Combobox(
            description="event",
            placeholder="any event (type or pick)",
            options=[info.event_label(e) for e in info.events],
            ensure_option=False,
            continuous_update=False,
            style=_STYLE,
            layout=widgets.Layout(width="330px"),
        )
        self.column = widgets.Dropdown(
            description="where",
            options=[(_NO_COLUMN, ""), *[(c, c) for c in info.columns]],
            style=_STYLE,
            layout=widgets.Layout(width="200px"),
        )
        self.op = widgets.Dropdown(options=OPERATORS, layout=widgets.Layout(width="86px"))
        self.value = widgets.Text(
            placeholder="value", continuous_update=False, layout=widgets.Layout(width="120px")
        )
        self.condition = widgets.HTML()
        self.times = widgets.BoundedIntText(
            description="times",
            min=1,
            max=1_000_000,
            style=_STYLE,
            layout=widgets.Layout(width="118px"),
        )
        self.within = widgets.Text(
            description="within",
            placeholder="e.g. 14d",
            continuous_update=False,
            style=_STYLE,
            layout=widgets.Layout(width="128px"),
        )
        self.target = widgets.Text(
            description="target",
            placeholder="e.g. 40%",
            continuous_update=False,
            style=_STYLE,
            layout=widgets.Layout(width="128px"),
        )
        self.error = widgets.HTML()
        super().__init__(
            [
                widgets.HBox([self.title, self.name, self.up, self.down, self.remove]),
                self.event,
                widgets.HBox([self.column, self.op, self.value]),
                self.condition,
                widgets.HBox([self.times, self.within, self.target]),
                self.error,
            ],
            layout=widgets.Layout(
                border="1px solid #ddd", padding="4px", margin="0 0 6px 0", width="auto"
            ),
            **kwargs,
        )
        self.name.observe(self._on_name, "value")
        for control in (self.event, self.column, self.op, self.value):
            control.observe(self._on_match, "value")
        self.times.observe(self._on_times, "value")
        self.within.observe(self._on_within, "value")
        self.target.observe(self._on_target, "value")
        self.up.on_click(lambda _: self._move(-1))
        self.down.on_click(lambda _: self._move(+1))
        self.remove.on_click(lambda _: self._remove())

    # ------------------------------------------------------------------ factory → widgets

    def show(self, factory: Factory, keep: frozenset[str] = frozenset()) -> None:
        """Show stage ``index`` of ``factory``; controls named in ``keep`` keep what they hold.

        ``keep`` holds the keys of controls with a rejected edit, so the text a person
        typed stays beside its error until they fix it.
        """
        i, n = self.index, len(factory.stages)
        stage = factory.stages[i]
        base = f"stages[{i}]"
        happy = " <i>(happy)</i>" if i == factory.happy_index else ""
        self._showing = True
        try:
            self.title.value = f"<b>{i + 1}.</b>{happy}"
            if f"{base}.name" not in keep:
                self.name.value = stage.name
            if f"{base}.match" not in keep:
                self._show_match(stage)
            self.times.value = stage.times
            if f"{base}.within" not in keep:
                self.within.value = format_optional_duration(stage.within)
            if f"{base}.target" not in keep:
                self.target.value = format_target(stage.target)
            self.within.disabled = i == 0
            self.target.disabled = i == 0
            self.up.disabled = i == 0
            self.down.disabled = i == n - 1
            self.remove.disabled = n == 1
        finally:
            self._showing = False

    def _show_match(self, stage: Stage) -> None:
        parts = parts_from_match(stage.match)
        editable = parts.editable
        for control in (self.event, self.column, self.op, self.value):
            control.disabled = not editable
        if not editable:
            self.condition.value = (
                f"<code>{html.escape(stage.match.describe())}</code> "
                "<small>(edit this condition in Python: export, change, re-open)</small>"
            )
            return
        self.condition.value = ""
        self.event.value = self._info.event_label(parts.event) if parts.event else ""
        options = {value for _, value in self.column.options}
        if parts.column and parts.column not in options:
            self.column.options = [*self.column.options, (parts.column, parts.column)]
        self.column.value = parts.column
        self.op.value = parts.op
        self.value.value = parts.value
        self._enable_condition()

    def show_errors(self, messages: list[str]) -> None:
        """Show this stage's errors (red, under the editor), or none."""
        self.error.value = describe_errors(messages)

    # ------------------------------------------------------------------ widgets → edits

    def _enable_condition(self) -> None:
        if self.event.disabled:
            return
        has_column = bool(self.column.value)
        self.op.disabled = not has_column
        self.value.disabled = not has_column or self.op.value in ("is null", "not null")

    def parts(self) -> PredicateParts:
        """The condition as the widgets hold it now."""
        return PredicateParts(
            event=self._info.event_name(self.event.value),
            column=self.column.value or "",
            op=self.op.value,
            value=self.value.value,
        )

    def _on_name(self, change: dict[str, Any]) -> None:
        if not self._showing:
            new, key = str(change["new"]), self._key("name")
            self._propose(key, lambda f: _renamed(f, self.index, new, key))

    def _on_match(self, change: dict[str, Any]) -> None:
        if self._showing:
            return
        self._enable_condition()
        parts = self.parts()
        schema, base = self._info.schema, f"stages[{self.index}]"
        self._propose(
            self._key("match"),
            lambda f: f.with_stage(self.index, match=match_from_parts(parts, schema, base)),
        )

    def _on_times(self, change: dict[str, Any]) -> None:
        if not self._showing:
            times = int(change["new"])
            self._propose(self._key("times"), lambda f: f.with_stage(self.index, times=times))

    def _on_within(self, change: dict[str, Any]) -> None:
        if not self._showing:
            text, key = str(change["new"]), self._key("within")
            self._propose(
                key, lambda f: f.with_stage(self.index, within=parse_optional_duration(text, key))
            )

    def _on_target(self, change: dict[str, Any]) -> None:
        if not self._showing:
            text, key = str(change["new"]), self._key("target")
            self._propose(key, lambda f: f.with_stage(self.index, target=parse_target(text, key)))

    def _move(self, step: int) -> None:
        self._propose(
            f"stages[{self.index}]", lambda f: f.move_stage(self.index, self.index + step)
        )

    def _remove(self) -> None:
        self._propose(f"stages[{self.index}]", lambda f: f.remove_stage(self.index))

    def _key(self, name: str) -> str:
        return f"stages[{self.index}].{name}"


class SpecControls(widgets.VBox):  # type: ignore[misc]
    """The spec-wide settings: window, period, mode, segment, happy stage and goal."""

    def __init__(self, info: LogInfo, propose: Propose, **kwargs: Any) -> None:
        self._propose = propose
        self._showing = False
        style = {"description_width": "64px"}
        self.window = widgets.Text(
            description="window",
            placeholder="none, e.g. 30d",
            continuous_update=False,
            style=style,
            layout=widgets.Layout(width="200px"),
        )
        self.period = widgets.ToggleButtons(
            description="period", options=PERIODS, style={**style, "button_width": "64px"}
        )
        self.mode = widgets.ToggleButtons(
            description="mode", options=MODES, style={**style, "button_width": "90px"}
        )
        self.segment = widgets.Dropdown(
            description="segment",
            options=[("(none)", ""), *[(c, c) for c in info.segments]],
            style=style,
            layout=widgets.Layout(width="220px"),
        )
        self.happy = widgets.Dropdown(
            description="happy", style=style, layout=widgets.Layout(width="220px")
        )
        self.goal = widgets.Text(
            description="goal",
            placeholder="happy/period at Scale",
            continuous_update=False,
            style=style,
            layout=widgets.Layout(width="220px"),
        )
        self.error = widgets.HTML()
        super().__init__(
            [
                widgets.HBox([self.window, self.segment]),
                self.period,
                self.mode,
                widgets.HBox([self.happy, self.goal]),
                self.error,
            ],
            **kwargs,
        )
        self.window.observe(
            self._on("window", lambda v: {"window": parse_optional_duration(v, "window")}), "value"
        )
        self.period.observe(self._on("period", lambda v: {"period": v}), "value")
        self.mode.observe(self._on("mode", lambda v: {"mode": v}), "value")
        self.segment.observe(
            self._on("segment_by", lambda v: {"segment_by": (v,) if v else ()}), "value"
        )
        self.happy.observe(self._on("happy", lambda v: {"happy": v or None}), "value")
        self.goal.observe(self._on("goal", lambda v: {"goal": parse_goal(v)}), "value")

    def _on(
        self, key: str, changes: Callable[[str], dict[str, Any]]
    ) -> Callable[[dict[str, Any]], None]:
        def handler(change: dict[str, Any]) -> None:
            if self._showing:
                return
            text = str(change["new"]) if change["new"] is not None else ""
            self._propose(key, lambda f: f.replace(**changes(text)))

        return handler

    def show(self, factory: Factory, keep: frozenset[str] = frozenset()) -> None:
        """Show ``factory``'s settings; controls named in ``keep`` keep what they hold."""
        self._showing = True
        try:
            if "window" not in keep:
                self.window.value = format_optional_duration(factory.window)
            self.period.value = factory.period
            self.mode.value = factory.mode
            segment = factory.segment_by[0] if factory.segment_by else ""
            if segment and segment not in {v for _, v in self.segment.options}:
                self.segment.options = [*self.segment.options, (segment, segment)]
            self.segment.value = segment
            last = factory.stages[-1].name
            options = [(f"last stage ({last})", ""), *[(n, n) for n in factory.stage_names]]
            if list(self.happy.options) != options:
                self.happy.options = options
            self.happy.value = factory.happy or ""
            if "goal" not in keep:
                self.goal.value = format_goal(factory.goal)
        finally:
            self._showing = False

    def show_errors(self, messages: list[str]) -> None:
        """Show the spec-wide errors (red, under the controls), or none."""
        self.error.value = describe_errors(messages)


def _renamed(factory: Factory, index: int, name: str, path: str) -> Factory:
    """``factory`` with stage ``index`` renamed; a taken name is an error about *this* stage."""
    names = factory.stage_names
    if name in names and names.index(name) != index:
        j = names.index(name)
        raise SpecError(
            path,
            f"stage name {name!r} is already used by stage {j + 1}; stage names must be unique",
        )
    return factory.with_stage(index, name=name)


def _button() -> widgets.Layout:
    return widgets.Layout(width="34px")
