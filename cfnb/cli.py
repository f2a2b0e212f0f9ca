"""The ``cfnb`` command line.

``cfnb check FILE`` loads an event log and prints its load report (``--json`` for the
machine-readable shape documented in the README). Exit status: 0 when rows were
loaded, 1 when no row was usable (the report is still printed), 2 when the file could
not be read at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from cfnb import errors
from cfnb.eventlog import EventLog, LoadReport
from cfnb.loading import load

__all__ = ["main"]

EXIT_OK, EXIT_NO_ROWS, EXIT_ERROR = 0, 1, 2


def _add_load_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file", help="event log: CSV/TSV (.gz), Parquet, JSON Lines, or a directory/glob of them"
    )
    g = p.add_argument_group("column mapping and parsing")
    g.add_argument("--user", help="the user id column (default: detected)")
    g.add_argument("--event", help="the event name column (default: detected)")
    g.add_argument("--ts", help="the timestamp column (default: detected)")
    g.add_argument(
        "--tz",
        default="UTC",
        help="time zone of timestamps written without an offset (default UTC)",
    )
    g.add_argument(
        "--ts-format", help="strftime format of the timestamps, e.g. '%%d/%%m/%%Y %%H:%%M'"
    )
    g.add_argument(
        "--ts-unit", choices=["s", "ms", "us", "ns"], help="unit of epoch-number timestamps"
    )
    g.add_argument("--event-name", help="a constant event name, for logs without an event column")
    g.add_argument(
        "--format",
        choices=["csv", "parquet", "jsonl"],
        help="file format when the name does not say",
    )
    g.add_argument(
        "--delimiter",
        help="CSV delimiter (detected by default); 'whitespace' for space-aligned text",
    )
    g.add_argument("--encoding", help="text encoding when not UTF-8, e.g. latin-1")
    g.add_argument(
        "--duplicates",
        choices=["keep", "drop"],
        default="keep",
        help="exact duplicate rows (default keep)",
    )
    g.add_argument(
        "--memory-limit", help="DuckDB memory limit, e.g. 4GB (larger loads spill to disk)"
    )


def _load_from_args(args: argparse.Namespace) -> EventLog:
    return load(
        args.file,
        user=args.user,
        event=args.event,
        ts=args.ts,
        tz=args.tz,
        ts_format=args.ts_format,
        ts_unit=args.ts_unit,
        event_name=args.event_name,
        format=args.format,
        delimiter=args.delimiter,
        encoding=args.encoding,
        duplicates=args.duplicates,
        memory_limit=args.memory_limit,
    )


def _print_report(report: LoadReport, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        # `cfnb check --json` prints the report itself at the top level (a public contract).
        print(json.dumps({**report.to_dict(), **(extra or {})}, indent=2, ensure_ascii=False))
    else:
        print(report)


def _check(args: argparse.Namespace) -> int:
    try:
        log = _load_from_args(args)
    except errors.NoUsableRowsError as err:
        _print_report(err.report, args.json, {"error": str(err)})
        if not args.json:
            print(f"\nerror: {err}", file=sys.stderr)
        return EXIT_NO_ROWS
    _print_report(log.report, args.json)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cfnb",
        description="The Customer Factory in a notebook: load event logs, see funnels, throughput and the constraint.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help="load an event log and print its load report")
    _add_load_options(check)
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(func=_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except errors.CfnbError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
