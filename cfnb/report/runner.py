"""Make a report: run the template notebook on an event log and a spec, write one file.

:func:`build_report` (``cfnb report`` on the command line) copies
``cfnb/report/template.ipynb``, injects the parameters in a cell after the one tagged
``parameters`` (as papermill does), executes it in a fresh kernel of the current Python,
and writes either one self-contained HTML file (code hidden; charts drawn by vega-embed
from a bundle inlined once, so nothing is fetched from the network; tooltips work) or the
executed notebook.

The output is deterministic: the same data, spec and options give the same bytes (cell
ids are fixed, chart ids come from a counter, no execution times are recorded, and the
report shows the date of the data's last event, not the date it was made).

Examples
--------
>>> from cfnb.report import build_report
>>> build_report("events.csv", "factory.toml", "report.html")  # doctest: +SKIP
ReportResult(path=PosixPath('report.html'), status='ok', charts=11, ...)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import nbformat as _nbformat

from cfnb.errors import CfnbError
from cfnb.spec import Factory

nbformat: Any = _nbformat  # untyped; NotebookNode is a dict with attribute access
Notebook = Any

__all__ = [
    "TEMPLATE",
    "ReportError",
    "ReportResult",
    "build_report",
    "kernel_manager_class",
    "render_html",
]

TEMPLATE: Final = Path(__file__).with_name("template.ipynb")
_TEMPLATES_DIR: Final = Path(__file__).with_name("templates")
_STATUS_TAG: Final = "cfnb-status"
_PARAMETERS_TAG: Final = "parameters"
_INJECTED_ID: Final = "injected-parameters"

Format = Literal["html", "ipynb"]
Progress = Callable[[str], None]


class ReportError(CfnbError, RuntimeError):
    """The report notebook could not be executed or written."""


@dataclass(frozen=True)
class ReportResult:
    """What :func:`build_report` wrote.

    Attributes
    ----------
    path
        The file written.
    status
        ``"ok"``, or ``"no usable rows"`` when no row of the data could be loaded (the
        report then shows the load report and the error only).
    charts
        The number of charts in the report.
    unavailable
        Sections that could not be computed for this log and spec (the report says why).
    seconds
        Wall time of the whole run.
    """

    path: Path
    status: str
    charts: int
    unavailable: tuple[str, ...] = field(default=())
    seconds: float = 0.0


def _stderr_progress(message: str) -> None:
    print(f"cfnb report: {message}", file=sys.stderr, flush=True)


def _spec_text(spec: Factory | str | os.PathLike[str]) -> tuple[str, Factory]:
    """The spec as TOML text, and the factory it reads as (errors raise SpecError)."""
    if isinstance(spec, Factory):
        return spec.to_toml(), spec
    if isinstance(spec, os.PathLike) or ("\n" not in spec and spec.endswith(".toml")):
        path = Path(spec)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ReportError(f"cannot read the spec {str(path)!r}: {err.strerror}") from err
    else:
        text = str(spec)
    return text, Factory.from_toml(text)


def _parameters_cell(
    data: str, spec_toml: str, load_options: Mapping[str, Any], title: str
) -> Notebook:
    source = "\n".join(
        [
            "# Parameters injected by cfnb report",
            f"data = {data!r}",
            f"spec_toml = {spec_toml!r}",
            f"load_options = {dict(load_options)!r}",
            f"title = {title!r}",
        ]
    )
    cell = nbformat.v4.new_code_cell(source)
    cell.id = _INJECTED_ID
    cell.metadata["tags"] = ["injected-parameters"]
    return cell


def _notebook(data: str, spec_toml: str, load_options: Mapping[str, Any], title: str) -> Notebook:
    nb = nbformat.read(TEMPLATE, as_version=4)
    at = next(
        (
            i
            for i, c in enumerate(nb.cells)
            if _PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])
        ),
        None,
    )
    if at is None:  # pragma: no cover - the template always has one
        raise ReportError(f"{TEMPLATE} has no cell tagged {_PARAMETERS_TAG!r}")
    nb.cells.insert(at + 1, _parameters_cell(data, spec_toml, load_options, title))
    return nb


def kernel_manager_class(socket_dir: Path) -> type[Any]:
    """A kernel manager that always starts ipykernel in this Python (never another env).

    The kernel talks over IPC sockets in ``socket_dir`` (a private temporary folder), not
    unencrypted TCP ports. nbclient creates it, so nbclient also shuts the kernel down.
    """
    from ipykernel.kernelspec import get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class _ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(resource_dir="", **get_kernel_dict())

    class _Manager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.update(
                kernel_spec_manager=_ThisPython(), transport="ipc", ip=str(socket_dir / "kernel")
            )
            super().__init__(**kwargs)

    return _Manager


def _execute(nb: Notebook, cwd: Path, timeout: int, progress: Progress) -> None:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    steps = [c for c in nb.cells if c.get("metadata", {}).get("cfnb", {}).get("step")]
    step_of = {id(c): (i + 1, c.metadata["cfnb"]["step"]) for i, c in enumerate(steps)}
    current = ["starting the kernel"]

    def on_cell_start(cell: Notebook, cell_index: int) -> None:
        if id(cell) in step_of:
            k, step = step_of[id(cell)]
            current[0] = step
            progress(f"[{k}/{len(steps)}] {step}")

    with tempfile.TemporaryDirectory(prefix="cfnb-report-") as sockets:
        client = NotebookClient(
            nb,
            kernel_manager_class=kernel_manager_class(Path(sockets)),
            kernel_name="python3",
            timeout=timeout,
            record_timing=False,
            allow_errors=False,
            resources={"metadata": {"path": str(cwd)}},
            on_cell_start=on_cell_start,
        )
        try:
            client.execute()
        except CellExecutionError as err:
            message = f"{current[0]}: {err.ename}: {err.evalue}"
            if err.ename not in _cfnb_error_names():  # a bug, not bad input: show where
                message += "\n" + _plain(err.traceback)
            raise ReportError(message) from err
        except CellTimeoutError as err:
            raise ReportError(f"{current[0]}: took more than {timeout} s") from err


def _cfnb_error_names() -> set[str]:
    """Names of every exception class cfnb raises on purpose (those imported so far)."""
    import cfnb.metrics.constraint
    import cfnb.metrics.throughput  # noqa: F401  (their errors join CfnbError's subclasses)

    names: set[str] = set()
    todo: list[type[BaseException]] = [CfnbError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _plain(text: str) -> str:
    """A traceback without its ANSI colours."""
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _pop_status(nb: Notebook) -> dict[str, Any]:
    for i, cell in enumerate(nb.cells):
        if _STATUS_TAG in cell.get("metadata", {}).get("tags", []):
            del nb.cells[i]
            text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            lines = [line for line in text.splitlines() if line.startswith("{")]
            if lines:
                status: dict[str, Any] = json.loads(lines[-1])
                return status
    raise ReportError("the report notebook did not say how it went (no status line)")


def render_html(nb: Notebook) -> str:
    """The executed report notebook as one HTML page: outputs only, no network needed."""
    from nbconvert import HTMLExporter as _HTMLExporter

    HTMLExporter: Any = _HTMLExporter

    kept = nbformat.v4.new_notebook(metadata=nb.metadata)
    kept.cells = [c for c in nb.cells if c.cell_type == "markdown" or c.get("outputs")]
    exporter = HTMLExporter(
        template_name="cfnb_report",
        extra_template_basedirs=[str(_TEMPLATES_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        anchor_link_text="",
    )
    body, _ = exporter.from_notebook_node(kept)
    return str(body)


def build_report(
    data: str | os.PathLike[str],
    spec: Factory | str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    title: str = "",
    format: Format = "html",
    load_options: Mapping[str, Any] | None = None,
    progress: Progress | None = _stderr_progress,
    timeout: int = 1800,
) -> ReportResult:
    """Run the report template on ``data`` and ``spec`` and write ``output``.

    Parameters
    ----------
    data
        The event log: any source :func:`cfnb.load` reads from a path (file, directory
        or glob). Relative paths are read from the current directory.
    spec
        The factory spec: a :class:`~cfnb.spec.Factory`, a ``.toml`` path, or TOML text.
    output
        The file to write (its folder is created).
    title
        The report's title; default the spec's ``name``.
    format
        ``"html"`` (one self-contained page) or ``"ipynb"`` (the executed notebook).
    load_options
        Keyword arguments of :func:`cfnb.load` (``user``, ``ts``, ``delimiter``, ...).
    progress
        Called with one line per step (default: printed to stderr); ``None`` for quiet.
    timeout
        Seconds allowed for one cell.

    Raises
    ------
    SpecError
        If the spec cannot be read.
    ReportError
        If the notebook fails or the output cannot be written.
    """
    if format not in ("html", "ipynb"):
        raise ReportError(f"Unknown report format {format!r}; choose 'html' or 'ipynb'.")
    start = time.perf_counter()
    say: Progress = progress if progress is not None else (lambda message: None)
    spec_toml, factory = _spec_text(spec)
    options = {k: v for k, v in dict(load_options or {}).items() if v is not None}
    nb = _notebook(os.fspath(data), spec_toml, options, title)
    nb.metadata["title"] = title or factory.name or "Customer Factory report"
    say("starting a kernel")
    _execute(nb, Path.cwd(), timeout, say)
    status = _pop_status(nb)
    out = Path(output)
    say(f"writing {out}")
    if format == "html":
        text = render_html(nb)
    else:
        nb.metadata.pop("widgets", None)
        text = nbformat.writes(nb)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8", newline="\n")
    except OSError as err:
        raise ReportError(f"cannot write the report {str(out)!r}: {err.strerror}") from err
    seconds = time.perf_counter() - start
    say(
        f"wrote {out} ({len(text.encode()) / 1e6:.1f} MB, {status['charts']} charts) "
        f"in {seconds:.1f} s"
    )
    return ReportResult(
        path=out,
        status=str(status["status"]),
        charts=int(status["charts"]),
        unavailable=tuple(status.get("unavailable", ())),
        seconds=seconds,
    )
