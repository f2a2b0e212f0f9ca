"""Re-execute the notebooks in place, so their committed outputs are current.

    .venv/bin/python notebooks/refresh.py                 # all of them
    .venv/bin/python notebooks/refresh.py 03-find-the-constraint.ipynb

Each notebook runs top to bottom in a fresh kernel of this Python, from this folder,
with no execution times recorded; the widget state nbclient saves (megabytes of chart
specs and JavaScript, not needed by nbval or by readers) is dropped. nbval
(``tests/test_notebooks.py``) then checks that a new run gives the same outputs.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

from cfnb.report.runner import kernel_manager_class

HERE = Path(__file__).resolve().parent


def refresh(path: Path) -> None:
    nb: Any = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cfnb-nb-") as sockets:
        NotebookClient(
            nb,
            kernel_manager_class=kernel_manager_class(Path(sockets)),
            kernel_name="python3",
            timeout=600,
            record_timing=False,
            resources={"metadata": {"path": str(HERE)}},
        ).execute()
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    size = path.stat().st_size
    print(f"{path.name}: {time.perf_counter() - start:.1f} s, {size / 1e6:.2f} MB", flush=True)


def main(names: list[str]) -> int:
    paths = [HERE / n for n in names] if names else sorted(HERE.glob("[0-9][0-9]-*.ipynb"))
    for path in paths:
        refresh(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
