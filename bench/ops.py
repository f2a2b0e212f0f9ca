"""What the benchmark times: cfnb operations and their references (DuckDB, chdb, pandas).

A :class:`Group` is what one fresh child process runs: an untimed ``setup`` (load the log,
build a base run, ...) and then its :class:`Op` s in order. An op may have an untimed
``prepare`` (run before every timing, e.g. a fresh copy of the events frame so that no
per-frame cache survives from one repetition to the next) and a ``check`` that turns the
op's result into a small JSON payload the parent compares across engines.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import generate

WINDOW = "14d"
WINDOW_US = 14 * generate.DAY
WEEK_US = generate.WEEK
STEPS = ("visit", "signup", "created_project", "session", "purchase")
STAGE_NAMES = ("Acquisition", "Signup", "Activation", "Retention", "Revenue")
CHANGE_DATE = dt.date(2024, 4, 1)


@dataclass
class Ctx:
    """What every setup gets: the size and the data files."""

    size: str
    parquet: Path
    csv: Path
    events: int  # rows in the files (from the generator's manifest)
    memory_limit: str | None = None  # DuckDB's memory_limit for cfnb's loads


@dataclass(frozen=True)
class Op:
    id: str
    run: Callable[[Any], Any]
    prepare: Callable[[Any], Any] | None = None
    check: Callable[[Any, Any], Any] | None = None  # (state, result) -> JSON payload


@dataclass(frozen=True)
class Group:
    id: str
    setup: Callable[[Ctx], Any]
    ops: tuple[Op, ...] = field(default=())


# --------------------------------------------------------------------------- specs


def base_factory(mode: str = "lifecycle") -> Any:
    """The 5-step factory every cfnb operation measures (14-day window, weekly)."""
    from cfnb import Factory, Stage

    stages = [
        Stage(name, ev, target=0.6 if name == "Activation" else None)
        for name, ev in zip(STAGE_NAMES, STEPS, strict=True)
    ]
    return Factory(
        stages,
        mode=mode,  # type: ignore[arg-type]
        window=WINDOW,
        period="week",
        segment_by=["channel"],
        goal=2000,
        name="bench",
    )


def edits() -> dict[str, Any]:
    """The explorer's edits, from :func:`base_factory`."""
    from cfnb import event

    f = base_factory()
    return {
        "edit_window": f.replace(window="7d"),
        "edit_period": f.replace(period="day"),
        "edit_target": f.with_stage("Activation", target=0.7),
        "edit_segment": f.replace(segment_by=["device"]),
        "edit_last_stage": f.with_stage("Revenue", match=event("invite_sent")),
        "edit_second_stage": f.with_stage("Signup", match=event("session")),
    }


# --------------------------------------------------------------------------- cfnb


def _load_log(ctx: Ctx) -> dict[str, Any]:
    import cfnb

    return {"log": cfnb.load(str(ctx.parquet), memory_limit=ctx.memory_limit), "ctx": ctx}


def _fresh(state: dict[str, Any]) -> Any:
    # A log loaded again (untimed): its index is built, as loading builds it, but no
    # journeys, stage rows or metric caches exist yet, so every repetition is a *first*
    # run, as in a fresh session.
    import cfnb

    state.pop("log", None)
    ctx = state["ctx"]
    return cfnb.load(str(ctx.parquet), memory_limit=ctx.memory_limit)


def _funnel_payload(result: Any) -> dict[str, Any]:
    t = result.table
    return {"users": t["users"].to_list(), "median_seconds": t["median_seconds"].to_list()}


def _run_funnel(log: Any, mode: str) -> Any:
    from cfnb.journeys import build_journeys
    from cfnb.metrics.funnel import funnel

    return funnel(build_journeys(log, base_factory(mode)))


def _retention_payload(result: Any) -> list[list[Any]]:
    t = result.table.filter(result.table["eligible_users"] > 0)
    return [
        [str(c), int(k), int(e), int(a)]
        for c, k, e, a in t.select("cohort", "period", "eligible_users", "active_users").rows()
    ]


def _full_run(log: Any) -> Any:
    from cfnb import event

    run = base_factory().run(log)
    run.funnel()
    run.funnel(by="cohort")
    run.funnel(by="channel")
    run.funnel_trend()
    run.time_to_convert("Activation")
    run.retention()
    run.retention(mode="on_or_after")
    run.retention_curve()
    run.throughput()
    run.business_stage()
    run.constraint()
    run.constraint_by_segment()
    run.constraint_broken(CHANGE_DATE)
    run.activation_effect()
    run.activation_candidates()
    run.referral(invite=event("invite_sent"))
    run.revenue()
    return run


def _base_run(ctx: Ctx) -> dict[str, Any]:
    state = _load_log(ctx)
    run = base_factory().run(state["log"])
    state["run"] = run
    state["journeys"] = run.journeys
    return state


def _retention_from_events(log: Any) -> Any:
    from cfnb import Factory, Stage

    return Factory([Stage("Acquisition", "visit")], period="week").run(log).retention()


def _new_run(state: dict[str, Any]) -> Any:
    from cfnb.analysis import FactoryRun

    # The journeys are reused; nothing else (activity, metric caches) is.
    return FactoryRun(state["run"].factory, state["run"].backend, state["journeys"])


def _explorer_state(state: dict[str, Any]) -> dict[str, Any]:
    """The explorer's state before an edit (untimed): a new run of the base spec on the
    loaded log, its view drawn, and what the explorer prepares for edits after painting
    (``cfnb.explorer.state.prepare_edits``) done, as it is once the explorer is idle."""
    from cfnb.charts.specs import ChartSpecs
    from cfnb.explorer.state import compute_view, prepare_edits

    run = base_factory().run(state["log"])
    specs = ChartSpecs()
    view = compute_view(run, None, specs)
    prepare_edits(view, specs)
    return {"run": run, "view": view, "specs": specs, "log": state["log"], "state": state}


def _edit_op(name: str, factory: Any) -> Op:
    def run(explorer: dict[str, Any]) -> Any:
        from cfnb.explorer.state import compute_view

        t = time.perf_counter()
        new = explorer["run"].with_factory(factory)
        edited = time.perf_counter() - t
        # Exactly what the explorer computes and sends after an edit: funnel (by the
        # segment), constraint, throughput (with the business stage), retention and the
        # four chart specs, unchanged ones reused.
        view = compute_view(new, explorer["view"], explorer["specs"])
        explorer["state"].setdefault("_phases", []).append({"with_factory": edited, **view.seconds})
        return view

    def check(state: dict[str, Any], view: Any) -> dict[str, Any]:
        # The fast path must give what a run from scratch gives.
        new = view.run
        fresh = factory.run(state["log"])
        same = (
            new.funnel(by="channel").table.equals(fresh.funnel(by="channel").table)
            and new.funnel().table.equals(fresh.funnel().table)
            and new.throughput().table.equals(fresh.throughput().table)
            and new.constraint().summary == fresh.constraint().summary
            and new.retention().table.equals(fresh.retention().table)
        )
        return {"same_as_fresh_run": bool(same)}

    return Op(name, run, prepare=_explorer_state, check=check)


def _load_parquet(ctx: Ctx) -> Any:
    import cfnb

    return cfnb.load(str(ctx.parquet), memory_limit=ctx.memory_limit)


def _load_csv(ctx: Ctx) -> Any:
    import cfnb

    return cfnb.load(str(ctx.csv), memory_limit=ctx.memory_limit)


def _log_payload(_: Any, log: Any) -> dict[str, Any]:
    r = log.report
    return {"rows_loaded": r.rows_loaded, "rows_rejected": r.rows_rejected, "users": r.users}


def _warm_imports(ctx: Ctx) -> Ctx:
    import cfnb
    import cfnb.analysis

    # Import and connection start-up costs are paid once per process, not per load.
    cfnb.load(__import__("polars").DataFrame({"user_id": ["a"], "event": ["e"], "ts": [0]}))
    return ctx


# --------------------------------------------------------------------------- DuckDB


def _duck_ctas(kind: str) -> Callable[[Ctx], Any]:
    def run(ctx: Ctx) -> int:
        import duckdb

        con = duckdb.connect(":memory:")
        reader = "read_parquet" if kind == "parquet" else "read_csv"
        path = ctx.parquet if kind == "parquet" else ctx.csv
        con.execute(f"CREATE TABLE events AS SELECT * FROM {reader}(?)", [str(path)])  # noqa: S608
        n = int(con.execute("SELECT count(*) FROM events").fetchall()[0][0])
        con.close()
        return n

    return run


# --------------------------------------------------------------------------- chdb

CHDB_SCHEMA = (
    "user_id String, event String, ts DateTime64(6, 'UTC'), channel Nullable(String), "
    "device String, amount Nullable(Float64), referrer Nullable(String)"
)


def _chdb_setup(ctx: Ctx) -> dict[str, Any]:
    import chdb

    con = chdb.connect(":memory:")
    return {"con": con, "ctx": ctx}


def _chdb_load(state: dict[str, Any]) -> int:
    con = state["con"]
    path = str(state["ctx"].parquet).replace("'", "\\'")
    con.query("DROP TABLE IF EXISTS events")
    con.query(f"CREATE TABLE events ({CHDB_SCHEMA}) ENGINE = Memory")
    con.query(f"INSERT INTO events SELECT * FROM file('{path}', Parquet)")  # noqa: S608
    # The span of the log fixes how many retention periods there are (<= 32 conditions).
    first, last = (
        con.query(
            "SELECT toUnixTimestamp64Micro(min(ts)), toUnixTimestamp64Micro(max(ts)) FROM events",
            "CSV",
        )
        .data()
        .split(",")
    )
    state["periods"] = (int(last) - int(first)) // WEEK_US + 1
    return int(con.query("SELECT count() FROM events", "CSV").data())


def window_funnel_sql() -> str:
    conds = ", ".join(f"event = '{e}'" for e in STEPS)
    ts = "toUInt64(toUnixTimestamp64Micro(ts))"  # as PostHog calls it: no DateTime64
    inner = f"SELECT user_id, windowFunnel({WINDOW_US})({ts}, {conds}) AS level FROM events GROUP BY user_id"  # noqa: S608
    return f"SELECT level, count() AS users FROM ({inner}) GROUP BY level ORDER BY level"  # noqa: S608


def _chdb_window_funnel(state: dict[str, Any]) -> str:
    out: str = state["con"].query(window_funnel_sql(), "CSV").data()
    return out


def _levels_payload(_: Any, csv: str) -> dict[str, Any]:
    levels = {int(a): int(b) for a, b in (line.split(",") for line in csv.split())}
    n = len(STEPS)
    # users reaching stage i = users whose level is at least i + 1
    return {"users": [sum(v for k, v in levels.items() if k >= i + 1) for i in range(n)]}


def retention_sql(periods: int) -> str:
    """Weekly cohort retention with ClickHouse's ``retention`` (user-relative weeks).

    Same definition as cfnb's default: cohort = ISO week of the first ``visit``; active =
    any event at or after it; a cell counts users whose week ``k`` ended by the log's
    last timestamp. The first visit is joined back to the events (a window function
    ``minIf(ts, event = 'visit') OVER (PARTITION BY user_id)`` used ~15% more CPU).
    """
    conds = ", ".join(f"p = {k}" for k in range(periods))
    return f"""
        WITH (SELECT max(ts) FROM events) AS last_ts,
             firsts AS (SELECT user_id, min(ts) AS t0 FROM events WHERE event = 'visit' GROUP BY user_id)
        SELECT toString(toMonday(first_visit)) AS cohort, k,
               countIf(elapsed > k) AS eligible, sumIf(r[k + 1], elapsed > k) AS active
        FROM (
            SELECT user_id, min(t0) AS first_visit,
                   intDiv(toUnixTimestamp64Micro(last_ts) - toUnixTimestamp64Micro(first_visit), {WEEK_US}) AS elapsed,
                   retention({conds}) AS r
            FROM (
                SELECT e.user_id AS user_id, f.t0 AS t0,
                       intDiv(toUnixTimestamp64Micro(e.ts) - toUnixTimestamp64Micro(f.t0), {WEEK_US}) AS p
                FROM events AS e INNER JOIN firsts AS f ON e.user_id = f.user_id
                WHERE e.ts >= f.t0
            )
            GROUP BY user_id
        )
        ARRAY JOIN range({periods}) AS k
        GROUP BY cohort, k HAVING eligible > 0 ORDER BY cohort, k
    """  # noqa: S608


def _chdb_retention(state: dict[str, Any]) -> str:
    out: str = state["con"].query(retention_sql(state["periods"]), "CSV").data()
    return out


def _chdb_retention_payload(_: Any, csv: str) -> list[list[Any]]:
    rows = []
    for line in csv.split():
        c, k, e, a = line.split(",")
        rows.append([c.strip('"'), int(k), int(e), int(a)])
    return rows


# --------------------------------------------------------------------------- pandas


def _pandas_setup(ctx: Ctx) -> dict[str, Any]:
    return {"ctx": ctx}


def _pandas_read(state: dict[str, Any]) -> int:
    import pandas as pd

    state["df"] = pd.read_parquet(state["ctx"].parquet)
    return len(state["df"])


def pandas_funnel(df: Any) -> dict[str, Any]:
    """The lifecycle funnel as an analyst writes it today: one merge + groupby per step.

    Each user enters at their first visit; step i is their first step-i event at or after
    step i-1 (ties count), kept only within 14 days of the first visit.
    """
    import pandas as pd

    window = pd.Timedelta(WINDOW)
    cur = (
        df.loc[df["event"] == STEPS[0]]
        .groupby("user_id", as_index=False)["ts"]
        .min()
        .rename(columns={"ts": "reach_0"})
    )
    users, medians = [len(cur)], [None]
    for i, step in enumerate(STEPS[1:], start=1):
        prev = f"reach_{i - 1}"
        ev = df.loc[df["event"] == step, ["user_id", "ts"]]
        keep = ["user_id", "reach_0"] if i == 1 else ["user_id", "reach_0", prev]
        m = ev.merge(cur[keep], on="user_id")
        m = m[(m["ts"] >= m[prev]) & (m["ts"] - m["reach_0"] <= window)]
        first = m.groupby("user_id", as_index=False)["ts"].min()
        cur = cur.merge(first.rename(columns={"ts": f"reach_{i}"}), on="user_id")
        users.append(len(cur))
        gap = (cur[f"reach_{i}"] - cur[prev]).dt.total_seconds()
        medians.append(float(gap.median()) if len(gap) else None)
    return {"users": users, "median_seconds": medians}


# --------------------------------------------------------------------------- groups


def groups() -> dict[str, Group]:
    """Every group, in the order the runner runs them (each in its own process)."""
    found = [
        Group(
            "cfnb_load_parquet",
            _warm_imports,
            (Op("load_parquet", _load_parquet, check=_log_payload),),
        ),
        Group(
            "cfnb_events_frame",
            _warm_imports,
            (
                Op(
                    "events_frame",
                    lambda log: log.events.height,
                    prepare=_load_parquet,
                    check=lambda _, n: {"rows": n},
                ),
            ),
        ),
        Group("cfnb_load_csv", _warm_imports, (Op("load_csv", _load_csv, check=_log_payload),)),
        Group(
            "duckdb_ctas_parquet",
            lambda ctx: ctx,
            (Op("duckdb_ctas_parquet", _duck_ctas("parquet"), check=lambda _, n: {"rows": n}),),
        ),
        Group(
            "duckdb_ctas_csv",
            lambda ctx: ctx,
            (Op("duckdb_ctas_csv", _duck_ctas("csv"), check=lambda _, n: {"rows": n}),),
        ),
        Group(
            "cfnb_full_run",
            _load_log,
            (
                Op(
                    "full_run",
                    _full_run,
                    prepare=_fresh,
                    check=lambda _, r: _funnel_payload(r.funnel()),
                ),
            ),
        ),
        Group(
            "cfnb_funnel_lifecycle",
            _load_log,
            (
                Op(
                    "funnel_lifecycle",
                    lambda ev: _run_funnel(ev, "lifecycle"),
                    prepare=_fresh,
                    check=lambda _, r: _funnel_payload(r),
                ),
            ),
        ),
        Group(
            "cfnb_funnel_best_path",
            _load_log,
            (
                Op(
                    "funnel_best_path",
                    lambda ev: _run_funnel(ev, "best_path"),
                    prepare=_fresh,
                    check=lambda _, r: _funnel_payload(r),
                ),
            ),
        ),
        Group(
            "cfnb_retention_events",
            _load_log,
            (
                Op(
                    "retention_from_events",
                    _retention_from_events,
                    prepare=_fresh,
                    check=lambda _, r: _retention_payload(r),
                ),
            ),
        ),
        Group(
            "cfnb_metrics",
            _base_run,
            (
                Op(
                    "retention_matrix",
                    lambda run: run.retention(),
                    prepare=_new_run,
                    check=lambda _, r: _retention_payload(r),
                ),
                Op("throughput", lambda run: run.throughput(), prepare=_new_run),
            ),
        ),
        Group(
            "cfnb_edits",
            _load_log,
            tuple(_edit_op(name, f) for name, f in edits().items()),
        ),
        Group(
            "chdb",
            _chdb_setup,
            (
                Op("chdb_load", _chdb_load, check=lambda _, n: {"rows": n}),
                Op("chdb_window_funnel", _chdb_window_funnel, check=_levels_payload),
                Op("chdb_retention", _chdb_retention, check=_chdb_retention_payload),
            ),
        ),
        Group(
            "pandas",
            _pandas_setup,
            (
                Op("pandas_read_parquet", _pandas_read, check=lambda _, n: {"rows": n}),
                Op(
                    "pandas_funnel",
                    lambda state: pandas_funnel(state["df"]),
                    check=lambda _, r: r,
                ),
            ),
        ),
    ]
    return {g.id: g for g in found}
