"""Regenerate the bundled sample: ``python data/make_sample.py [FOLDER]``.

Writes ``sample_events.parquet``, ``sample_events.csv``, ``sample_truth.json`` and
``sample_factory.toml`` into FOLDER (default: this script's folder, ``data/``). The output
is byte-identical on every run (``tests/test_datasets.py`` checks it against the
committed files), so a diff in these files always means the generator changed.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from cfnb.datasets import write_sample


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else Path(__file__).resolve().parent
    for kind, path in write_sample(folder).items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        print(f"{kind:8s} {path}  sha256:{digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
