"""The ``cfnb`` command line.

``cfnb check FILE`` loads an event log and prints its load report; ``cfnb run FILE
--stages SPEC.toml`` measures the factory: funnel, throughput and the constraint;
``cfnb report FILE --stages SPEC.toml -o report.html`` writes a one-file HTML report
(``--input-format`` is its name for the load option ``--format``, which there names the
output format).
``--json`` gives the machine-readable shapes documented in the README (a public
contract). Exit status: 0 on success, 1 when no row was usable (the report is still
printed), 2 when the file or the spec could not be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cfnb import errors
from cfnb.eventlog import EventLog, LoadReport
from cfnb.loading import load

if TYPE_CHECKING:
    from cfnb.analysis import FactoryRun

__all__ = ["main"]

EXIT_OK, EXIT_NO_ROWS, EXIT_ERROR = 0, 1, 2


def _add_load_options(p: argparse.ArgumentParser, *, format_option: str = "--format") -> None:
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
        format_option,
        dest="format",
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


def _load_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "user": args.user,
        "event": args.event,
        "ts": args.ts,
        "tz": args.tz,
        "ts_format": args.ts_format,
        "ts_unit": args.ts_unit,
        "event_name": args.event_name,
        "format": args.format,
        "delimiter": args.delimiter,
        "encoding": args.encoding,
        "duplicates": args.duplicates,
        "memory_limit": args.memory_limit,
    }


def _load_from_args(args: argparse.Namespace) -> EventLog:
    # At a terminal a long load shows how far it is; piped or captured output stays clean.
    interactive = sys.stderr.isatty()
    log = load(args.file, **_load_options(args), progress=interactive)
    if interactive:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    return log


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


def _run(args: argparse.Namespace) -> int:
    from cfnb.spec import Factory

    factory = Factory.from_toml(Path(args.stages))
    try:
        log = _load_from_args(args)
    except errors.NoUsableRowsError as err:
        _print_report(err.report, args.json, {"error": str(err)})
        return EXIT_NO_ROWS
    result = factory.run(log)
    if args.json:
        print(
            json.dumps(
                {"report": log.report.to_dict(), **result.to_dict()}, indent=2, ensure_ascii=False
            )
        )
        return EXIT_OK
    print(_run_text(log, result))
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from cfnb.report import build_report

    fmt: Literal["html", "ipynb"] = args.output_format or (
        "ipynb" if args.output.endswith(".ipynb") else "html"
    )
    result = build_report(
        args.file,
        Path(args.stages),
        args.output,
        title=args.title or "",
        format=fmt,
        load_options=_load_options(args),
    )
    if result.status != "ok":
        print(f"error: {result.status}; the report shows the load report", file=sys.stderr)
        return EXIT_NO_ROWS
    return EXIT_OK


def _run_text(log: EventLog, result: FactoryRun) -> str:
    r = log.report
    lines = [
        f"{result.factory.name or 'Customer Factory'} — {r.source}",
        f"{r.rows_loaded:,} events loaded of {r.rows_read:,} read ({r.rows_rejected:,} rejected), "
        f"{r.users:,} users, last event {r.to_dict()['last_ts']}",
        "",
        f"{'stage':<20} {'users':>9} {'step':>7} {'overall':>8} {'median time':>12}",
    ]
    for row in result.funnel().table.iter_rows(named=True):
        lines.append(
            f"{row['stage']:<20} {row['users']:>9,} {_pct(row['rate']):>7} {_pct(row['overall_rate']):>8} "
            f"{_duration(row['median_seconds']):>12}"
        )
    lines += ["", f"Throughput: {result.throughput().verdict}", result.constraint().summary]
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.1%}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


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

    run = sub.add_parser("run", help="measure the factory: funnel, throughput and the constraint")
    _add_load_options(run)
    run.add_argument(
        "--stages", required=True, help="the factory spec (TOML), e.g. data/sample_factory.toml"
    )
    run.add_argument(
        "--json",
        action="store_true",
        help="print load report, funnel, constraint and throughput as JSON",
    )
    run.set_defaults(func=_run)

    report = sub.add_parser(
        "report",
        help="write a one-file HTML report (no network needed to view it) of the factory",
    )
    _add_load_options(report, format_option="--input-format")
    report.add_argument("--stages", required=True, help="the factory spec (TOML)")
    report.add_argument("-o", "--output", required=True, help="the file to write, e.g. report.html")
    report.add_argument("--title", help="the report's title (default: the spec's name)")
    report.add_argument(
        "--format",
        dest="output_format",
        choices=["html", "ipynb"],
        help="html (default) or ipynb, the executed notebook (default: from the -o suffix)",
    )
    report.set_defaults(func=_report)
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
