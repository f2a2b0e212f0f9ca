"""cfnb benchmark: time cfnb against DuckDB, chdb (ClickHouse) and pandas on one machine, in one run.

Usage (from the repository root, after ``make setup``)::

    .venv/bin/python bench/run.py --sizes 1M,10M            # all operations, median of 3
    .venv/bin/python bench/run.py --sizes 1M --only funnel  # the groups (child processes) running an op whose id contains "funnel"
    .venv/bin/python bench/run.py --sizes 10M --profile     # cProfile of the cfnb hot paths

Every group of operations (see ``ops.py``) runs in its own fresh child process, one after
another. In the child, each operation runs once as a warm-up and then ``--repeat`` times
(at least 7 when one run takes under 0.2 s); the table shows the median of the timed
runs. Peak RSS is read from ``/proc/self/status``: ``VmHWM`` is reset (``echo 5 >
/proc/self/clear_refs``) right before each run and read right after it, so "peak RSS (op)"
is the largest resident size of the process *during* the operation (including what the
setup left resident, e.g. the loaded log), and "peak RSS (proc)" the largest of the whole
child, setup included. Results go to ``bench/results/<date>-<size>.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import hashlib
import io
import json
import linecache
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import generate
import ops

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
README = BENCH / "README.md"
MIN_FAST_REPEAT = 7
FAST_SECONDS = 0.2


# --------------------------------------------------------------------------- memory


def _status_bytes(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


class Peak:
    """Peak RSS per operation via VmHWM, which ``clear_refs`` resets (Linux >= 4.0)."""

    def __init__(self) -> None:
        self.process_peak = 0
        self.resettable = True

    def reset(self) -> None:
        self.process_peak = max(self.process_peak, _status_bytes("VmHWM"))
        if self.resettable:
            try:
                with open("/proc/self/clear_refs", "w") as fh:
                    fh.write("5")
            except OSError:
                self.resettable = False  # then "op" peaks are process peaks so far

    def read(self) -> int:
        hwm = _status_bytes("VmHWM")
        self.process_peak = max(self.process_peak, hwm)
        return hwm


# --------------------------------------------------------------------------- child side


def _ctx(size: str, memory_limit: str | None = None) -> ops.Ctx:
    p = generate.paths(size)
    m = generate.manifest(size)
    events = int(str(m["events"]))
    return ops.Ctx(
        size=size, parquet=p.parquet, csv=p.csv, events=events, memory_limit=memory_limit
    )


def cfnb_source_digest() -> str:
    """SHA-256 of cfnb's Python sources: shows whether the code changed during a run."""
    import cfnb

    root = Path(cfnb.__file__).parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def child(group_id: str, size: str, repeat: int, out: Path, memory_limit: str | None) -> None:
    group = ops.groups()[group_id]
    source = cfnb_source_digest()
    peak = Peak()
    peak.reset()
    started = time.perf_counter()
    state = group.setup(_ctx(size, memory_limit))
    setup_seconds = time.perf_counter() - started
    results = []
    for op in group.ops:
        runs: list[dict[str, float]] = []
        payload: Any = None
        phases: list[dict[str, float]] = []
        n = 1 + repeat
        i = 0
        while i < n:
            arg = op.prepare(state) if op.prepare is not None else state
            gc.collect()
            base = _status_bytes("VmRSS")
            peak.reset()
            w0, c0 = time.perf_counter(), time.process_time()
            result = op.run(arg)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            hwm = peak.read()
            if i == 0:
                if op.check is not None:
                    payload = op.check(state, result)
                if wall < FAST_SECONDS and repeat > 0:
                    n = 1 + max(repeat, MIN_FAST_REPEAT)
            del result, arg
            if isinstance(state, dict) and "_phases" in state and i > 0:
                phases.extend(state["_phases"])
            if isinstance(state, dict):
                state.pop("_phases", None)
            runs.append({"wall": wall, "cpu": cpu, "base_rss": base, "peak_rss": hwm})
            i += 1
        timed = runs[1:] or runs  # --once: the single, cold run
        walls = [r["wall"] for r in timed]
        results.append(
            {
                "op": op.id,
                "group": group_id,
                "median_s": statistics.median(walls),
                "min_s": min(walls),
                "max_s": max(walls),
                "first_s": runs[0]["wall"],
                "runs_s": walls,
                "cpu_median_s": statistics.median(r["cpu"] for r in timed),
                "repeat": len(timed),
                "base_rss": runs[0]["base_rss"],
                "peak_rss": max(r["peak_rss"] for r in runs),
                "payload": payload,
                "phases_median_s": {
                    k: statistics.median(p[k] for p in phases)
                    for k in (phases[0] if phases else {})
                },
            }
        )
    out.write_text(
        json.dumps(
            {
                "group": group_id,
                "cfnb_source": source,
                "setup_s": setup_seconds,
                "process_peak_rss": max(peak.process_peak, _status_bytes("VmHWM")),
                "peak_method": "VmHWM reset per run" if peak.resettable else "VmHWM (no reset)",
                "ops": results,
            },
            default=str,
        )
    )


# --------------------------------------------------------------------------- profiling

PROFILED = {
    # op id -> group whose setup it needs
    "load_parquet": "cfnb_load_parquet",
    "funnel_lifecycle": "cfnb_funnel_lifecycle",
    "funnel_best_path": "cfnb_funnel_best_path",
    "retention_from_events": "cfnb_retention_events",
    "retention_matrix": "cfnb_metrics",
    "edit_second_stage": "cfnb_edits",
    "edit_last_stage": "cfnb_edits",
    "edit_window": "cfnb_edits",
}


class _TimedConnection:
    """A DuckDB connection that records how long each statement takes (load profile)."""

    def __init__(self, con: Any, log: list[tuple[float, str]]) -> None:
        self._con, self._log = con, log

    def execute(self, sql: str, *args: Any) -> Any:
        t = time.perf_counter()
        out = self._con.execute(sql, *args)
        self._log.append((time.perf_counter() - t, " ".join(sql.split())))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


class _Sampler:
    """Where the main thread is, every ~2 ms: the innermost ``cfnb/`` source line.

    cProfile sees a Polars or DuckDB call as one opaque C function; sampling the Python
    line that is waiting on it says *which* of the many such calls costs the time.
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.samples: dict[str, int] = {}
        self.total = 0
        self._stop = threading.Event()
        self._main = threading.main_thread().ident

    def _where(self, frame: Any) -> str:
        innermost = f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} {frame.f_code.co_name}"
        while frame is not None:
            if "/cfnb/" in frame.f_code.co_filename:
                path = frame.f_code.co_filename.split("/cfnb/", 1)[1]
                code = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
                return f"cfnb/{path}:{frame.f_lineno} {frame.f_code.co_name}: {code[:90]}"
            frame = frame.f_back
        return innermost

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            frame = sys._current_frames().get(self._main)
            if frame is not None:
                key = self._where(frame)
                self.samples[key] = self.samples.get(key, 0) + 1
                self.total += 1

    def __enter__(self) -> _Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self, wall: float, top: int = 15) -> str:
        lines = []
        for key, n in sorted(self.samples.items(), key=lambda kv: -kv[1])[:top]:
            lines.append(
                f"{n / max(self.total, 1) * wall:8.3f} s {n / max(self.total, 1):6.1%}  {key}"
            )
        return "\n".join(lines) + "\n"


def child_profile(op_id: str, size: str, out: Path) -> None:
    group = ops.groups()[PROFILED[op_id]]
    op = next(o for o in group.ops if o.id == op_id)
    state = group.setup(_ctx(size))
    arg = op.prepare(state) if op.prepare is not None else state
    op.run(arg)  # warm-up: imports and one-time caches outside the profile
    statements: list[tuple[float, str]] = []
    if op_id.startswith("load"):
        import cfnb.loading

        real = cfnb.loading.connect
        cfnb.loading.connect = lambda **kw: _TimedConnection(real(**kw), statements)  # type: ignore[assignment]
    text = io.StringIO()
    # 1. line samples, without cProfile's overhead
    arg = op.prepare(state) if op.prepare is not None else state
    gc.collect()
    t = time.perf_counter()
    with _Sampler() as sampler:
        op.run(arg)
    wall = time.perf_counter() - t
    text.write(
        f"== {op_id} at {size}: {wall:.3f} s wall (sampled run; cfnb source {cfnb_source_digest()})\n"
    )
    if statements:
        text.write("-- DuckDB statements of that run, slowest first (seconds, SQL)\n")
        for secs, sql in sorted(statements, reverse=True)[:10]:
            text.write(f"{secs:8.3f}  {sql[:160]}\n")
    text.write("-- innermost cfnb line of the main thread (2 ms samples)\n")
    text.write(sampler.report(wall))
    # 2. cProfile of another run
    arg = op.prepare(state) if op.prepare is not None else state
    gc.collect()
    profiler = cProfile.Profile()
    t = time.perf_counter()
    profiler.enable()
    op.run(arg)
    profiler.disable()
    text.write(f"-- cProfile run: {time.perf_counter() - t:.3f} s wall\n")
    for key in ("tottime", "cumulative"):
        text.write(f"-- top functions by {key}\n")
        stats = pstats.Stats(profiler, stream=text)
        stats.strip_dirs().sort_stats(key).print_stats(12)
    out.write_text(text.getvalue())


# --------------------------------------------------------------------------- parent side

# (row label, cfnb op, reference op, reference name)
ROWS: tuple[tuple[str, str | None, str | None, str], ...] = (
    ("load Parquet → EventLog", "load_parquet", "duckdb_ctas_parquet", "DuckDB CTAS"),
    ("EventLog.events (DuckDB → Polars)", "events_frame", None, ""),
    ("load CSV → EventLog", "load_csv", "duckdb_ctas_csv", "DuckDB CTAS"),
    ("full spec run (journeys + all metrics)", "full_run", None, ""),
    ("funnel lifecycle, 5 steps, 14 d", "funnel_lifecycle", "pandas_funnel", "pandas"),
    (
        "funnel best_path, 5 steps, 14 d",
        "funnel_best_path",
        "chdb_window_funnel",
        "chdb windowFunnel",
    ),
    (
        "retention from events (1-stage run + matrix)",
        "retention_from_events",
        "chdb_retention",
        "chdb retention",
    ),
    ("retention matrix, journeys ready", "retention_matrix", "chdb_retention", "chdb retention"),
    ("throughput + XmR", "throughput", None, ""),
    ("edit: window 14d → 7d", "edit_window", None, ""),
    ("edit: period week → day", "edit_period", None, ""),
    ("edit: Activation target 0.6 → 0.7", "edit_target", None, ""),
    ("edit: segment channel → device", "edit_segment", None, ""),
    ("edit: last stage event → invite_sent", "edit_last_stage", None, ""),
    ("edit: 2nd stage event → session", "edit_second_stage", None, ""),
    ("(reference) chdb: load Parquet → Memory table", None, "chdb_load", "chdb"),
    ("(reference) pandas.read_parquet", None, "pandas_read_parquet", "pandas"),
)


def _close(a: list[Any] | None, b: list[Any] | None) -> bool:
    if a is None or b is None or len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if (x is None) != (y is None):
            return False
        if x is not None and abs(float(x) - float(y)) > 1e-6 * max(1.0, abs(float(x))):
            return False
    return True


def checks(by_op: dict[str, dict[str, Any]], events: int) -> dict[str, dict[str, Any]]:
    """Agreement checks, keyed by the cfnb (or reference) op they belong to."""

    def payload(op: str) -> Any:
        return by_op.get(op, {}).get("payload")

    out: dict[str, dict[str, Any]] = {}

    def put(op: str, ok: bool | None, what: str) -> None:
        if op in by_op:
            out[op] = {"ok": ok, "what": what}

    lp, dp = payload("load_parquet"), payload("duckdb_ctas_parquet")
    if lp:
        same = lp["rows_loaded"] == events and lp["rows_rejected"] == 0
        if dp:
            same = same and dp["rows"] == events
        put("load_parquet", same, f"rows loaded {lp['rows_loaded']:,} == {events:,}, 0 rejected")
    if payload("events_frame"):
        put("events_frame", payload("events_frame")["rows"] == events, "rows == events")
    lc, dc = payload("load_csv"), payload("duckdb_ctas_csv")
    if lc:
        same = lc["rows_loaded"] == events and lc["rows_rejected"] == 0
        if dc:
            same = same and dc["rows"] == events
        put("load_csv", same, f"rows loaded {lc['rows_loaded']:,} == {events:,}, 0 rejected")
    life, pan = payload("funnel_lifecycle"), payload("pandas_funnel")
    if life and pan:
        ok = life["users"] == pan["users"] and _close(life["median_seconds"], pan["median_seconds"])
        put(
            "funnel_lifecycle", ok, f"users/stage {life['users']} vs pandas {pan['users']}; medians"
        )
    full = payload("full_run")
    if full and life:
        put("full_run", full["users"] == life["users"], "funnel users == lifecycle funnel op")
    best, wf = payload("funnel_best_path"), payload("chdb_window_funnel")
    if best and wf:
        put(
            "funnel_best_path",
            best["users"] == wf["users"],
            f"users/level {best['users']} vs windowFunnel {wf['users']}",
        )
    chr_ = payload("chdb_retention")
    for op in ("retention_from_events", "retention_matrix"):
        mine = payload(op)
        if mine is not None and chr_ is not None:
            same = sorted(map(tuple, mine)) == sorted(map(tuple, chr_))
            put(op, same, f"{len(mine)} cells (eligible, active) vs chdb {len(chr_)} cells")
    for op, p in ((o, payload(o)) for o in by_op):
        if op.startswith("edit_") and p is not None:
            put(op, p["same_as_fresh_run"], "funnel, throughput, constraint == fresh run")
    for op in ("chdb_load", "pandas_read_parquet"):
        if payload(op):
            put(op, payload(op)["rows"] == events, "rows == events")
    return out


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 1:
        return f"{x * 1000:.0f} ms" if x >= 0.01 else f"{x * 1000:.1f} ms"
    return f"{x:.2f} s"


def _fmt_mb(x: int | None) -> str:
    return "—" if not x else f"{x / 2**20:,.0f} MB"


def _wall_cpu(x: dict[str, Any] | None) -> str:
    if not x:
        return "—"
    once = " (1 run)" if x["repeat"] == 1 else ""
    return f"{_fmt_s(x['median_s'])} / {_fmt_s(x['cpu_median_s'])}{once}"


def _mem(x: dict[str, Any] | None) -> str:
    return "—" if not x else f"{_fmt_mb(x['peak_rss'])} / {_fmt_mb(x['process_peak_rss'])}"


def _ratio(m: dict[str, Any] | None, r: dict[str, Any] | None) -> str:
    if not (m and r and r["median_s"] and r["cpu_median_s"]):
        return "—"
    return f"{m['median_s'] / r['median_s']:.2f}x / {m['cpu_median_s'] / r['cpu_median_s']:.2f}x"


def table(size: str, by_op: dict[str, dict[str, Any]], ok: dict[str, dict[str, Any]]) -> str:
    """The markdown table: medians (wall / process CPU), ratios, peak RSS, agreement."""
    head = (
        "| operation | size | cfnb wall / cpu | reference | ref wall / cpu | cfnb/ref wall / cpu "
        "| peak RSS cfnb op / proc | peak RSS ref op / proc | agree |\n"
        "|---|---|---:|---|---:|---:|---:|---:|:-:|\n"
    )
    lines = []
    for label, mine, ref, ref_name in ROWS:
        m = by_op.get(mine) if mine else None
        r = by_op.get(ref) if ref else None
        if (m is None and r is None) or (mine and m is None):
            continue
        verdict = ok.get(mine or ref or "", {}).get("ok")
        mark = "—" if verdict is None else ("✓" if verdict else "✗")
        lines.append(
            f"| {label} | {size} | {_wall_cpu(m)} | {ref_name or '—'} | {_wall_cpu(r)} "
            f"| {_ratio(m, r)} | {_mem(m)} | {_mem(r)} | {mark} |"
        )
    return head + "\n".join(lines) + "\n"


PHASES = ("with_factory", "metrics", "charts")


def phase_table(size: str, by_op: dict[str, dict[str, Any]]) -> str:
    """Where an edit's time goes (median wall per part)."""
    rows = [
        (label, by_op[op])
        for label, op, _, _ in ROWS
        if op and op in by_op and by_op[op].get("phases_median_s")
    ]
    if not rows:
        return ""
    head = (
        f"| edit ({size}) | "
        + " | ".join(PHASES)
        + " | total w/o charts |\n|---|"
        + "---:|" * (len(PHASES) + 1)
        + "\n"
    )
    lines = []
    for label, op in rows:
        ph = op["phases_median_s"]
        core = sum(ph.get(k, 0.0) for k in PHASES[:2])
        cells = " | ".join(_fmt_s(ph.get(k)) for k in PHASES)
        lines.append(f"| {label.removeprefix('edit: ')} | {cells} | {_fmt_s(core)} |")
    return head + "\n".join(lines) + "\n"


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=BENCH.parent, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("cfnb", "duckdb", "polars", "numpy", "pyarrow", "pandas", "chdb"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out


def _spawn(args: list[str], timeout: float) -> int:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    return subprocess.run(cmd, timeout=timeout, check=False).returncode


def run_size(size: str, args: argparse.Namespace) -> dict[str, Any]:
    only = [o for o in args.only.split(",") if o] if args.only else []
    t = time.perf_counter()
    generate.write(size)
    manifest = generate.manifest(size)
    print(
        f"[{size}] data ready ({time.perf_counter() - t:.1f} s): {manifest['events']:,} events",
        file=sys.stderr,
    )
    by_op: dict[str, dict[str, Any]] = {}
    groups_meta = []
    for gid, group in ops.groups().items():
        if only and not any(o in gid or any(o in op.id for op in group.ops) for o in only):
            continue
        if args.skip_csv and "csv" in gid:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "result.json"
            load0 = os.getloadavg()[0]
            t = time.perf_counter()
            code = _spawn(
                [
                    "--child",
                    gid,
                    "--size",
                    size,
                    "--repeat",
                    str(0 if args.once else args.repeat),
                    "--out",
                    str(out),
                    *(["--memory-limit", args.memory_limit] if args.memory_limit else []),
                ],
                args.timeout,
            )
            took = time.perf_counter() - t
            if code != 0 or not out.exists():
                print(f"[{size}] {gid}: FAILED (exit {code})", file=sys.stderr)
                groups_meta.append({"group": gid, "failed": code})
                continue
            result = json.loads(out.read_text())
        result["loadavg_before"] = load0
        result["loadavg_after"] = os.getloadavg()[0]
        result["wall_s"] = took
        for op in result["ops"]:
            op["process_peak_rss"] = result["process_peak_rss"]
            by_op[op["op"]] = op
            print(
                f"[{size}] {op['op']:<24} median {_fmt_s(op['median_s']):>9}  "
                f"(min {_fmt_s(op['min_s'])}, first {_fmt_s(op['first_s'])}, n={op['repeat']}) "
                f"peak {_fmt_mb(op['peak_rss'])}",
                file=sys.stderr,
            )
        groups_meta.append({k: v for k, v in result.items() if k != "ops"})
    ok = checks(by_op, int(str(manifest["events"])))
    for op in by_op.values():  # keep the JSON small: long payloads as a digest
        p = op.get("payload")
        if isinstance(p, list) and len(p) > 20:
            blob = json.dumps(sorted(map(tuple, p))).encode()
            op["payload"] = {"items": len(p), "sha256": hashlib.sha256(blob).hexdigest()[:16]}
    sources = sorted({str(g["cfnb_source"]) for g in groups_meta if "cfnb_source" in g})
    if len(sources) > 1:
        print(
            f"[{size}] WARNING: cfnb's sources changed during the run: {sources}", file=sys.stderr
        )
    return {
        "size": size,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": manifest,
        "repeat": 0 if args.once else args.repeat,
        "once": args.once,
        "memory_limit": args.memory_limit,
        "machine": {
            "cpus": os.cpu_count(),
            "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "platform": platform.platform(),
        },
        "versions": _versions(),
        "git": _git(),
        "peak_rss_method": "VmHWM from /proc/self/status, reset via /proc/self/clear_refs before each run",
        "cfnb_sources": sources,
        "groups": groups_meta,
        "ops": by_op,
        "checks": ok,
        "table": table(size, by_op, ok),
        "phase_table": phase_table(size, by_op),
    }


def _size_key(path: Path) -> tuple[int, str]:
    size = path.stem.split("-", 3)[-1]
    return generate.parse_size(size), path.name


def update_readme() -> None:
    """Rewrite the README's results section from the latest JSON of every size."""
    latest: dict[str, Path] = {}
    for path in sorted(RESULTS.glob("*.json")):
        size = path.stem.split("-", 3)[-1]  # <yyyy>-<mm>-<dd>-<size>
        if not size[:1].isdigit() or "-" in size:
            continue  # another suite's results (e.g. <size>-spark.json)
        latest[size] = path  # sorted by name, so the last one is the latest date
    parts = []
    for path in sorted(latest.values(), key=_size_key):
        r = json.loads(path.read_text())
        parts.append(
            f"### {r['size']} events ({r['data']['users']:,} users), {r['date']} "
            f"(`results/{path.name}`)\n\n{r['table']}\n{r.get('phase_table', '')}"
        )
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    body = README.read_text()
    if start in body and end in body:
        before, rest = body.split(start, 1)
        _, after = rest.split(end, 1)
        README.write_text(f"{before}{start}\n" + "\n".join(parts) + f"{end}{after}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="cfnb benchmark (see bench/README.md)")
    parser.add_argument("--sizes", default="1M", help="comma-separated: 1M,10M,50M")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after the warm-up (>= 3)")
    parser.add_argument("--only", default="", help="comma-separated substrings of group/op ids")
    parser.add_argument(
        "--once",
        action="store_true",
        help="one cold run per op, no repeats (for peak memory on big logs; times are not medians)",
    )
    parser.add_argument("--skip-csv", action="store_true", help="skip the CSV loads")
    parser.add_argument(
        "--memory-limit",
        help="cfnb.load(..., memory_limit=) for cfnb's loads, e.g. 512MB (DuckDB's share of RAM)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the cfnb hot paths")
    parser.add_argument(
        "--readme",
        action="store_true",
        help="rewrite bench/README.md's results from the latest JSON of every size",
    )
    parser.add_argument(
        "--readme-only", action="store_true", help="only rewrite the README from existing JSON"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per child process")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--profile-op", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.size, args.repeat, Path(args.out), args.memory_limit)
        return 0
    if args.profile_op:
        child_profile(args.profile_op, args.size, Path(args.out))
        return 0
    if args.readme_only:
        update_readme()
        return 0
    if args.repeat < 3 and not args.once:
        parser.error("--repeat must be at least 3 (the median of fewer runs is not robust)")
    RESULTS.mkdir(exist_ok=True)
    sizes = [s for s in args.sizes.split(",") if s]
    today = dt.date.today().isoformat()
    if args.profile:
        for size in sizes:
            generate.write(size)
            texts = []
            for op_id in PROFILED:
                if args.only and not any(o in op_id for o in args.only.split(",")):
                    continue
                with tempfile.TemporaryDirectory() as tmp:
                    out = Path(tmp) / "profile.txt"
                    print(f"[{size}] profiling {op_id}", file=sys.stderr)
                    if (
                        _spawn(
                            ["--profile-op", op_id, "--size", size, "--out", str(out)], args.timeout
                        )
                        == 0
                    ):
                        texts.append(out.read_text())
            path = RESULTS / f"{today}-{size}-profile.txt"
            path.write_text("\n".join(texts))
            print(f"profile written to {path}", file=sys.stderr)
        return 0
    tables = []
    for size in sizes:
        result = run_size(size, args)
        path = RESULTS / f"{today}-{size}.json"
        path.write_text(json.dumps(result, indent=1, default=str) + "\n")
        print(f"[{size}] results written to {path}", file=sys.stderr)
        tables.append(
            f"### {size} events ({result['data']['users']:,} users), {result['date']}\n\n"
            f"{result['table']}\n{result['phase_table']}"
        )
        print(tables[-1])
        failed = [op for op, c in result["checks"].items() if c["ok"] is False]
        for op in failed:
            print(f"CHECK FAILED {op}: {result['checks'][op]['what']}", file=sys.stderr)
    if args.readme:
        update_readme()
    return 0


if __name__ == "__main__":
    sys.exit(main())
