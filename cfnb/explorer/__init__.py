"""The live explorer: edit a Customer Factory spec with widgets, see the charts follow.

>>> import cfnb
>>> from cfnb.explorer import explore
>>> log = cfnb.datasets.load_sample()                              # doctest: +SKIP
>>> explorer = explore(log, cfnb.Factory.from_toml("data/sample_factory.toml"))  # doctest: +SKIP
>>> explorer                                    # in JupyterLab: the widget  # doctest: +SKIP
>>> explorer.factory.to_toml()                  # the spec as edited          # doctest: +SKIP
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING

from cfnb.explorer.editors import LogInfo, SpecControls, StageEditor
from cfnb.explorer.layout import ChartOutput, Explorer, chart_widget
from cfnb.explorer.state import View, compute_view, default_factory
from cfnb.spec import Factory

if TYPE_CHECKING:
    import polars as pl

    from cfnb.eventlog import EventLog

__all__ = [
    "ChartOutput",
    "Explorer",
    "LogInfo",
    "SpecControls",
    "StageEditor",
    "View",
    "chart_widget",
    "compute_view",
    "default_factory",
    "explore",
]


def explore(
    log: EventLog | pl.DataFrame,
    spec: Factory | str | PathLike[str] | None = None,
    *,
    debounce: float = 0.15,
    prepare: bool = True,
) -> Explorer:
    """Open the live explorer on ``log``: stage editors, settings, charts and the verdict.

    Parameters
    ----------
    log
        The event log (:func:`cfnb.load`, :func:`cfnb.datasets.load_sample`) or an events
        frame with ``user_id``, ``event``, ``ts`` and property columns.
    spec
        The spec to start from: a :class:`~cfnb.spec.Factory`, TOML text or a ``.toml``
        path. ``None`` suggests one from the log (see
        :func:`cfnb.explorer.state.default_factory`).
    debounce
        Seconds to wait after an edit before recomputing (a newer edit restarts the
        wait). ``0`` recomputes synchronously inside each edit.
    prepare
        After painting, compute ahead on a background thread what the next edits need
        (segment values, sorted step times, other periods' cohorts and retention: see
        :func:`cfnb.explorer.state.prepare_edits`), so that they answer at once.

    Returns
    -------
    Explorer
        The widget. ``explorer.factory`` is the spec as edited; ``explorer.flush()``
        applies a pending edit now; ``explorer.export()`` gives TOML and Python.

    Raises
    ------
    SpecError
        If ``spec`` cannot run on ``log`` (an unknown column, a value of the wrong type).
    """
    if spec is None:
        factory = default_factory(log)
    elif isinstance(spec, Factory):
        factory = spec
    else:
        factory = Factory.from_toml(spec)
    return Explorer(log, factory, debounce=debounce, prepare=prepare)
