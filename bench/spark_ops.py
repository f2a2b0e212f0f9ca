"""The Spark backend next to the local one: load, full run, funnels, retention, edits.

Usage::

    .venv/bin/python bench/spark_ops.py --sizes 1M,10M [--repeat 3] [--partitions N]

For each size (the logs of ``bench/generate.py``, made on first use), one child process
per engine, one after the other, times the same operations on the same Parquet file:

* **local**: ``cfnb.load(path)`` until ``log.events`` is ready, then the operations of
  ``bench/ops.py`` (the same 5-step factory, the same full run);
* **spark**: a ``local[2]`` session (driver memory ``--driver-memory``, at most 4g
  here), ``cfnb.spark.load(spark.read.parquet(path), partitions=N)`` (parse, count,
  partition by user, persist), then the same operations through the Spark backend. By
  default N gives partitions of about 2.5M events, an even number (2 cores): each
  task has a fixed cost, so fewer, larger partitions are faster as long as they fit.

Each operation runs once as a warm-up, then ``--repeat`` times; the table shows the
median wall time (the JVM and its Python workers make process CPU time meaningless for
Spark). "First" runs are first: every Spark repetition starts from a new backend (no
cached journeys or per-user tables), every local one from a new events frame object.
The ``to driver`` column is the in-memory size of what the Spark passes sent back (the
per-user tables), the ``agree`` column compares funnel and retention payloads across
engines. Results go to ``bench/results/<date>-<size>-spark.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (bench/ is not a package)
import ops  # noqa: E402

RESULTS = HERE / "results"
OPS = (
    ("load", "load Parquet → ready to run"),
    ("full_run", "full spec run (journeys + all metrics)"),
    ("funnel_lifecycle", "funnel lifecycle, 5 steps, 14 d"),
    ("funnel_best_path", "funnel best_path, 5 steps, 14 d"),
    ("retention", "retention from events (1-stage run + matrix)"),
    ("edit_window", "edit: window 14d → 7d (funnel, constraint, throughput)"),
    ("edit_last_stage", "edit: last stage event → invite_sent (same)"),
)


# --------------------------------------------------------------------------- children


def _timed(run: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    run()  # warm-up
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return times, result


def _edit_outputs(run: Any) -> Any:
    run.funnel()
    run.constraint()
    run.throughput()
    return run


def _child(engine: str, size: str, repeat: int, partitions: int, memory: str) -> dict[str, Any]:
    import cfnb

    paths = generate.paths(size)
    out: dict[str, Any] = {"engine": engine, "ops": {}, "payloads": {}}
    session = None
    if engine == "spark":
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        from pyspark.sql import SparkSession

        start = time.perf_counter()
        session = (
            SparkSession.builder.master("local[2]")
            .appName("cfnb-bench")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.memory", memory)
            .config("spark.sql.shuffle.partitions", str(partitions))
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100000")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        out["session_start"] = time.perf_counter() - start
        state: dict[str, Any] = {}

        def load() -> Any:
            import cfnb.spark

            if "log" in state:
                state["log"].unpersist()
            frame = session.read.parquet(str(paths.parquet))
            state["log"] = cfnb.spark.load(frame, partitions=partitions)
            return state["log"]

        def fresh() -> Any:
            state["log"]._backend = None  # a new backend: no cached passes
            return state["log"]
    else:
        state = {}

        def load() -> Any:
            log = cfnb.load(str(paths.parquet))
            state["events"] = log.events
            return log

        def fresh() -> Any:
            return state["events"].clone()  # a new frame: the engine's index cache misses

    def measure(key: str, run: Callable[[], Any], shared: bool = False) -> Any:
        # A fresh backend per run counts one run's tables; a shared one counts them all.
        before = _collected(state) if shared else 0
        times, result = _timed(run, repeat)
        sent = (_collected(state) - before) / (repeat + 1) if shared else _collected(state)
        out["ops"][key] = {
            "median": statistics.median(times),
            "runs": times,
            # The load's pass sends back only the report's counts, not per-user tables.
            "to_driver": sent if engine == "spark" and key != "load" else None,
        }
        print(f"  {engine} {size} {key}: {statistics.median(times):.2f} s", file=sys.stderr)
        return result

    measure("load", load)
    measure("full_run", lambda: ops._full_run(fresh()))
    for mode in ("lifecycle", "best_path"):
        result = measure(
            f"funnel_{mode}", lambda mode=mode: ops.base_factory(mode).run(fresh()).funnel()
        )
        out["payloads"][f"funnel_{mode}"] = ops._funnel_payload(result)
    result = measure("retention", lambda: ops._retention_from_events(fresh()))
    out["payloads"]["retention"] = ops._retention_payload(result)
    base = ops.base_factory().run(fresh())
    base.funnel(), base.constraint(), base.throughput()
    for key, edit in (("edit_window", "edit_window"), ("edit_last_stage", "edit_last_stage")):
        factory = ops.edits()[edit]
        result = measure(
            key, lambda factory=factory: _edit_outputs(base.with_factory(factory)), shared=True
        )
        out["payloads"][key] = ops._funnel_payload(result.funnel())
    if session is not None:
        out["passes"] = state["log"].backend().passes
        session.stop()
    return out


def _collected(state: dict[str, Any]) -> int:
    log = state.get("log")
    backend = getattr(log, "_backend", None)
    return int(getattr(backend, "collected_bytes", 0))


# --------------------------------------------------------------------------- parent


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _mb(n: float | None) -> str:
    return "—" if n is None else f"{n / 1e6:,.1f} MB"


def table(size: str, results: dict[str, dict[str, Any]]) -> str:
    local, spark = results["local"], results["spark"]
    lines = [
        f"| operation ({size}) | local | Spark local[2] | Spark/local | to driver | agree |",
        "|---|---:|---:|---:|---:|:-:|",
    ]
    for key, label in OPS:
        a, b = local["ops"][key]["median"], spark["ops"][key]["median"]
        agree = "—"
        if key in local["payloads"]:
            agree = "✓" if local["payloads"][key] == spark["payloads"][key] else "✗"
        lines.append(
            f"| {label} | {_fmt(a)} | {_fmt(b)} | {b / a:.1f}x | "
            f"{_mb(spark['ops'][key]['to_driver'])} | {agree} |"
        )
    lines.append(
        f"| (Spark session start, once) | — | {_fmt(spark['session_start'])} | — | — | — |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1M")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--partitions", type=int, help="default: ~2.5M events each, even")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--child", choices=("local", "spark"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = _child(args.child, args.sizes, args.repeat, args.partitions, args.driver_memory)
        print(json.dumps(result))
        return 0
    RESULTS.mkdir(exist_ok=True)
    for size in args.sizes.split(","):
        generate.write(size)
        events = generate.parse_size(size)
        partitions = args.partitions or 2 * max(1, round(events / 5_000_000))
        results = {}
        for engine in ("local", "spark"):
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    engine,
                    "--sizes",
                    size,
                    "--repeat",
                    str(args.repeat),
                    "--partitions",
                    str(partitions),
                    "--driver-memory",
                    args.driver_memory,
                ],
                check=True,
                stdout=subprocess.PIPE,
                text=True,
            )
            results[engine] = json.loads(child.stdout.strip().splitlines()[-1])
        stamp = dt.datetime.now(dt.UTC)
        meta = {
            "size": size,
            "date": stamp.isoformat(timespec="seconds"),
            "repeat": args.repeat,
            "partitions": partitions,
            "driver_memory": args.driver_memory,
            "load_average": os.getloadavg(),
        }
        path = RESULTS / f"{stamp:%Y-%m-%d}-{size}-spark.json"
        path.write_text(json.dumps({**meta, **results}, indent=2) + "\n", encoding="utf-8")
        print(
            f"\n### {size} events, {partitions} partitions, {meta['date']} (`results/{path.name}`)\n"
        )
        print(table(size, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
