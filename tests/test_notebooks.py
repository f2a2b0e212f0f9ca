"""The notebooks in ``notebooks/`` are the gallery: executed, committed, regression-tested.

``test_notebooks_rerun_to_the_same_outputs`` runs nbval exactly as a person would,

    pytest --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval-sanitize.cfg notebooks/

in a child process (nbval is a pytest plugin; a nested in-process ``pytest.main`` would
share this session's plugins and configuration), so the default ``pytest`` run checks the
notebooks too. Every cell is re-executed in a fresh kernel and its outputs compared with
the committed ones: text exactly, charts through their Vega-Lite spec (see the sanitize
file for the little that may differ between machines). To update the committed outputs
after a deliberate change: ``.venv/bin/python notebooks/refresh.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SANITIZE = NOTEBOOKS / "nbval-sanitize.cfg"
PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
MAX_BYTES = 1_000_000


def _read(path: Path) -> Any:
    return nbformat.read(path, as_version=4)


def test_the_four_notebooks_exist() -> None:
    assert [p.name for p in PATHS] == [
        "01-quickstart.ipynb",
        "02-customer-factory.ipynb",
        "03-find-the-constraint.ipynb",
        "04-bring-your-own-data.ipynb",
    ]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_is_executed_small_and_clean(path: Path) -> None:
    nb = _read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "no code cells"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), (
        "not executed top to bottom in one run: use notebooks/refresh.py"
    )
    assert all(o.output_type != "error" for c in code for o in c.outputs)
    assert "widgets" not in nb.metadata, "widget state committed: use notebooks/refresh.py"
    assert all("execution" not in c.metadata for c in code), "execution times committed"
    assert path.stat().st_size < MAX_BYTES
    assert any(c.cell_type == "markdown" for c in nb.cells)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_charts_are_drawn_offline(path: Path) -> None:
    """Every chart output is a static SVG plus its spec: no script, no CDN."""
    outputs = [o for c in _read(path).cells if c.cell_type == "code" for o in c.outputs]
    charts = [o for o in outputs if "application/vnd.vegalite.v6+json" in o.get("data", {})]
    assert charts
    for o in charts:
        assert o.data["image/svg+xml"].startswith("<svg")
        assert "text/html" not in o.data
    for o in outputs:
        html = o.get("data", {}).get("text/html", "")
        assert "cdn.jsdelivr" not in html
        assert "<script" not in html


@pytest.mark.slow
def test_notebooks_rerun_to_the_same_outputs() -> None:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval",
        "--nbval-current-env",
        "--nbval-sanitize-with",
        str(SANITIZE),
        "-p",
        "no:cacheprovider",
        "-q",
        *map(str, PATHS),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, f"nbval failed:\n{proc.stdout[-20000:]}\n{proc.stderr[-5000:]}"
