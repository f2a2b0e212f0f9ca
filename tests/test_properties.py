"""Properties of cfnb end to end: any small log and any spec, measured through ``Factory.run``.

Hypothesis draws small logs (a few users over ~10 weeks on an hour grid, so ties, period
boundaries and events before acquisition come up often) and specs (1-5 stages, both
modes, ``times``, ``within``, targets, a window, a segment). Each test states one
property in its docstring.

Properties that live next to their module, and are not repeated here:

* the loader's exact counts per reason on structured malformed CSV
  (``test_load_accounting.py``);
* the journeys table under row order, user renaming, unrelated events and time shifts,
  and the funnel never growing down the chain with its rates in [0, 1], both modes
  (``test_journeys_reference.py``);
* retention against a brute-force reference with rates in [0, 1], and whole-week shifts
  relabelling its cohorts (``test_retention.py``);
* a finite constraint verdict on any hand-built journeys (``test_constraint.py``);
* throughput against a calendar walk, XmR limits under shift and scale
  (``test_throughput.py``); period arithmetic (``test_periods.py``); interval estimates
  (``test_stats.py``);
* the spec's TOML, JSON and Python round trips (``test_spec_toml.py``);
* best_path against ClickHouse ``windowFunnel`` on 240 seeded logs
  (``test_journeys_clickhouse.py``; the hypothesis version below shrinks a failure).

Here: the same invariances for every *metric* (not only the journeys table), the rates
of every metric, the funnel per segment and cohort, the explorer's incremental run, and
the loader on CSV text with quotes, embedded newlines and ragged rows.

Every test is derandomized (the same examples on every run, so CI never flakes) and has
no deadline (a first DuckDB or chdb call takes a second).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import window_funnel_levels

import cfnb
from cfnb.analysis import FactoryRun
from cfnb.errors import EmptyFileError, NoUsableRowsError
from cfnb.journeys import build_journeys
from cfnb.spec import Factory, Predicate, Stage, event, event_in, prop

PROPERTY = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)  # a Monday: ISO week 2024-W01 starts here
HOUR = dt.timedelta(hours=1)
EVENTS = ("visit", "signup", "use", "pay", "invite")
LATER_STAGES = ("Activation", "Retention", "Revenue", "Referral")
SCHEMA: dict[str, Any] = {
    "user_id": pl.String,
    "event": pl.String,
    "ts": pl.Datetime("us", "UTC"),
    "channel": pl.String,
    "amount": pl.Float64,
    "referrer": pl.String,
}


# ------------------------------------------------------------------------- strategies


@st.composite
def logs(draw: st.DrawFn) -> pl.DataFrame:
    """1-8 users, each arriving with a visit in the first 9 weeks, then 0-8 more events.

    Offsets of 0 h, 1 h, a day and a week are drawn often (ties and period boundaries), and
    negative ones put events before acquisition. ``referrer`` names another user or nobody.
    """
    n = draw(st.integers(1, 8))
    rows = []
    for u in range(n):
        start = draw(st.integers(0, 24 * 7 * 9))
        offsets = [
            0,
            *draw(
                st.lists(st.sampled_from([0, 1, 24, 168]) | st.integers(-48, 24 * 28), max_size=8)
            ),
        ]
        for k, offset in enumerate(offsets):
            rows.append(
                {
                    "user_id": f"u{u}",
                    "event": "visit" if k == 0 else draw(st.sampled_from(EVENTS)),
                    "ts": T0 + (start + offset) * HOUR,
                    "channel": draw(st.sampled_from(["ads", "seo", None])),
                    "amount": draw(st.sampled_from([None, 0.0, 9.5, 20.0])),
                    "referrer": draw(st.none() | st.integers(0, n - 1).map(lambda r: f"u{r}")),
                }
            )
    return pl.DataFrame(rows, schema=SCHEMA)


MATCHES: st.SearchStrategy[Predicate] = st.one_of(
    st.sampled_from(EVENTS).map(event),
    st.lists(st.sampled_from(EVENTS), min_size=2, max_size=2, unique=True).map(
        lambda names: event_in(*names)
    ),
    st.just(event("pay") & (prop("amount") > 5)),
)


@st.composite
def factories(draw: st.DrawFn, periods: tuple[str, ...] = ("day", "week", "month")) -> Factory:
    """Acquisition, then any of Activation, Retention, Revenue, Referral (in that order)."""
    later = [name for name in LATER_STAGES if draw(st.booleans())]
    stages = [
        Stage("Acquisition", draw(st.sampled_from([event("visit"), event_in("visit", "signup")])))
    ]
    stages += [
        Stage(
            name,
            draw(MATCHES),
            times=draw(st.integers(1, 2)),
            within=draw(st.sampled_from([None, None, "1d", "14d"])),
            target=draw(st.sampled_from([None, 0.3, 0.8])),
        )
        for name in later
    ]
    return Factory(
        stages,
        mode=draw(st.sampled_from(["lifecycle", "best_path"])),
        window=draw(st.sampled_from([None, "3w"])),
        period=draw(st.sampled_from(periods)),
        happy=draw(st.none() | st.sampled_from([s.name for s in stages])),
        segment_by=["channel"],
        active=draw(st.sampled_from([None, "use"])),
    )


# ------------------------------------------------------------------------- helpers


def results(run: FactoryRun) -> dict[str, Any]:
    """Every metric of ``run`` that applies to its spec.

    Activation needs a second stage, and its candidates a third (the default outcome).
    """
    out: dict[str, Any] = {
        "funnel": run.funnel(),
        "funnel by channel": run.funnel(by="channel"),
        "funnel by cohort": run.funnel(by="cohort"),
        "funnel trend": run.funnel_trend(),
        "retention": run.retention(),
        "retention on or after": run.retention(mode="on_or_after"),
        "retention curve": run.retention_curve(),
        "throughput": run.throughput(),
        "constraint": run.constraint(),
        "segments": run.constraint_by_segment(),
        "revenue": run.revenue(),
        "referral": run.referral(),
    }
    if len(run.factory.stages) > 1:
        out["time to convert"] = run.time_to_convert(1)
        out["activation effect"] = run.activation_effect()
    if len(run.factory.stages) > 2:
        out["activation candidates"] = run.activation_candidates(min_support=1)
    return out


def as_json(run: FactoryRun, *, leave_out: tuple[str, ...] = ()) -> dict[str, str]:
    """Each metric's public JSON (what ``cfnb run --json`` and reports are made of)."""
    out = {"run": json.dumps(run.to_dict(), allow_nan=False)}
    for name, result in results(run).items():
        if name not in leave_out:
            data = result.to_dict() if hasattr(result, "to_dict") else result.to_dicts()
            out[name] = json.dumps(data, allow_nan=False, default=str)
    return out


def frames(result: object) -> dict[str, pl.DataFrame]:
    """The tables a result holds (``table``, and ``links``/``cohorts``/``overall``/``by_age``)."""
    names = ("table", "links", "cohorts", "overall", "by_age")
    return {
        n: getattr(result, n) for n in names if isinstance(getattr(result, n, None), pl.DataFrame)
    }


def share_columns(name: str, frame: pl.DataFrame) -> list[pl.Series]:
    """The columns of ``frame`` that hold a share of users (a rate), by their documented names."""
    shares = {
        "rate",
        "overall_rate",
        "share",
        "target",
        "happy_rate",
        "rest_happy_rate",
        "retention_with",
        "retention_without",
        "support",
        "inviter_share",
        "referrer_share",
        "referred_in_share",
        "paying_share",
    }
    columns = [frame[c] for c in frame.columns if c in shares]
    if name == "activation effect":  # a rate except for revenue per user (a mean amount)
        rates = frame.filter(pl.col("outcome") != "revenue per user")
        columns += [rates["activated_value"], rates["other_value"]]
    return columns


def shift_dates(frame: pl.DataFrame, delta: dt.timedelta) -> pl.DataFrame:
    return frame.with_columns(
        pl.col(c) + delta for c, t in frame.schema.items() if t in (pl.Date, pl.Datetime)
    )


# ------------------------------------------------------------------------- loader


CSV_USERS = ["u1", "u2", "007", "", "  ", '"u,3"', '"a ""quoted"" user"', "ü✓", '"multi{NL}line"']
CSV_EVENTS = ["visit", "signup", "", '"a,b"', '"say ""hi"""', "a;b", "x\ty", "🙂", '"two{NL}lines"']
CSV_TIMES = [
    "2026-01-05T09:00:00Z",
    "2026-01-05",
    "2026-01-05 09:00:00+02:00",
    "",
    "not a time",
    "1767600000",
    "2026-13-45",
    '"2026-01-05T09:00:00Z"',
]
CSV_PLANS = ["free", "", '"p,ro"', "1", "2.5", '"x{NL}y"']
REASONS = {"malformed line", "null user", "null event", "null timestamp", "unparseable timestamp"}

csv_record = st.tuples(
    st.sampled_from(CSV_USERS),
    st.sampled_from(CSV_EVENTS),
    st.sampled_from(CSV_TIMES),
    st.sampled_from(CSV_PLANS),
).map(list)
csv_line = st.one_of(  # (whole record?, text)
    csv_record.map(lambda r: (True, ",".join(r))),  # any field quoted, empty or odd
    csv_record.map(lambda r: (False, ",".join(r[:3]))),  # one field short
    csv_record.map(lambda r: (False, ",".join([*r, "extra"]))),  # one field too many
    st.text(alphabet='ab," ;', max_size=8).map(lambda t: (False, t)),  # a stray quote, spaces
)


@settings(PROPERTY, max_examples=40)
@given(
    tagged=st.lists(csv_line, max_size=10).filter(
        # Mostly whole records, as in a real export: DuckDB's sniffer takes the shape of
        # a file from its lines, so a file of mostly debris is another file.
        lambda ls: sum(not whole for whole, _ in ls) * 3 <= len(ls)
    ),
    newline=st.sampled_from(["\n", "\r\n"]),
    final_newline=st.booleans(),
)
def test_the_loader_accounts_for_every_record_of_any_csv(
    tagged: list[tuple[bool, str]], newline: str, final_newline: bool, tmp_path: Path
) -> None:
    """rows_read == rows_loaded + rows_rejected, each rejected row once, with a known reason.

    Quoted values may hold the delimiter, doubled quotes and the file's own line break.
    (A CRLF file whose quoted value holds a bare LF is the pinned failure below.)
    """
    lines = [text for _, text in tagged]
    body = newline.join(
        [line.replace("{NL}", newline) for line in ["user_id,event,ts,plan", *lines]]
    )
    path = tmp_path / "events.csv"
    path.write_bytes((body + (newline if final_newline else "")).encode())

    try:
        log = cfnb.load(path)
        report, rejected, loaded = log.report, log.rejected, log.events.height
    except NoUsableRowsError as err:
        report, rejected, loaded = err.report, err.rejected, 0
    except EmptyFileError:
        assert all(not line.strip() for line in lines)  # only a header and blank lines
        return

    assert report.rows_read == report.rows_loaded + report.rows_rejected
    assert loaded == report.rows_loaded
    assert rejected.height == report.rows_rejected
    assert dict(report.rejected) == dict(rejected.group_by("reason").len().iter_rows())
    assert set(rejected["reason"]) <= REASONS
    assert rejected["row"].is_unique().all()
    # Not asserted here yet: 1 <= row <= rows_read and `line` (see the pinned failures).


# Shrunk counterexamples of the property above, in cfnb/loading.py's handling of malformed
# CSV lines; strict xfails, so fixing the loader turns them into a reminder to un-pin them.


@pytest.mark.xfail(strict=True, reason="loader: malformed-line numbers ignore quoted newlines")
def test_a_malformed_line_after_multi_line_values_keeps_its_row_and_line(tmp_path: Path) -> None:
    """Rows are records (blank lines excluded); ``line`` is the physical line (cfnb/loading.py)."""
    path = tmp_path / "events.csv"
    path.write_text(
        'user_id,event,ts\nu1,"x\ny",2026-01-05\nu2,"x\ny",2026-01-05\n\nu3,visit\n',
        encoding="utf-8",
    )
    log = cfnb.load(path)
    assert log.report.rows_read == 3
    # today: (4, 5, ...): row 4 of 3 rows read, and line 5 where the line is 7
    assert log.rejected.select("row", "line", "reason").rows() == [(3, 7, "malformed line")]


@pytest.mark.xfail(strict=True, reason="loader: CRLF file with a bare LF in a quoted value")
def test_an_excel_style_csv_with_a_ragged_row_loads(tmp_path: Path) -> None:
    """Excel writes CRLF between rows and a bare LF inside a cell; one ragged row is rejected.

    Without the ragged row this file loads; with it, today's loader raises "Could not read
    ... as CSV: The CSV Parser state machine reached an invalid state" (no row, no fix).
    """
    path = tmp_path / "events.csv"
    path.write_bytes(
        b'user_id,event,ts,plan\r\nu1,"a\nb",2026-01-05,x\r\nu2,visit,2026-01-05,x,extra\r\n'
    )
    log = cfnb.load(path)
    assert log.report.rows_loaded == 1
    assert log.rejected.select("row", "reason").rows() == [(2, "malformed line")]


# ------------------------------------------------------------------------- funnel


@settings(PROPERTY, max_examples=40)
@given(events=logs(), factory=factories())
def test_the_funnel_never_grows_down_the_chain_in_any_segment_or_cohort(
    events: pl.DataFrame, factory: Factory
) -> None:
    """Per channel and per cohort, in both modes, users per stage never increase with the step."""
    run = factory.run(events)
    for by in ("channel", "cohort"):
        table = run.funnel(by=by).table
        for (group,), rows in table.group_by(by, maintain_order=True):
            users = rows.sort("step")["users"].to_list()
            assert users == sorted(users, reverse=True), (by, group, users)


# ------------------------------------------------------------------------- rates


@settings(PROPERTY, max_examples=30)
@given(events=logs(), factory=factories())
def test_every_rate_of_every_metric_is_a_share_or_null(
    events: pl.DataFrame, factory: Factory
) -> None:
    """Every rate is in [0, 1] or null: funnel, retention, constraint links, segments,
    activation, referral and revenue.

    A rate of no users (0 / 0) is null, never NaN (NaN is neither <= 1 nor >= 0, so fails).
    """
    for name, result in results(factory.run(events)).items():
        for part, frame in frames(result).items():
            for column in share_columns(name, frame):
                bad = [v for v in column.to_list() if v is not None and not 0 <= v <= 1]
                assert not bad, (name, part, column.name, bad)


@settings(PROPERTY, max_examples=30)
@given(events=logs(), factory=factories())
def test_no_metric_holds_nan_or_infinity(events: pl.DataFrame, factory: Factory) -> None:
    """Every float of every result table is finite or null, and every to_dict() is strict JSON."""
    run = factory.run(events)
    for name, result in results(run).items():
        for part, frame in frames(result).items():
            for c, dtype in frame.schema.items():
                if dtype.is_float():
                    values = frame[c].drop_nulls().to_list()
                    assert all(math.isfinite(v) for v in values), (name, part, c, values)
    as_json(run)  # json.dumps(..., allow_nan=False) raises on NaN or infinity


# ------------------------------------------------------------------------- invariances


@settings(PROPERTY, max_examples=20)
@given(events=logs(), factory=factories(), seed=st.integers(0, 2**32 - 1))
def test_every_metric_ignores_row_order(events: pl.DataFrame, factory: Factory, seed: int) -> None:
    """Shuffling the rows of the log changes no metric's JSON, byte for byte."""
    shuffled = events.sample(fraction=1.0, shuffle=True, seed=seed)
    assert as_json(factory.run(shuffled)) == as_json(factory.run(events))


@settings(PROPERTY, max_examples=20)
@given(
    events=logs(),
    factory=factories(),
    names=st.lists(
        st.text("abxyz019ü-", min_size=1, max_size=4), min_size=8, max_size=8, unique=True
    ),
)
def test_every_metric_ignores_user_names(
    events: pl.DataFrame, factory: Factory, names: list[str]
) -> None:
    """Renaming users by a bijection (in user_id and referrer alike) changes no metric.

    The new names sort in another order than u0…u7, so any tie broken by user id shows.
    The one tie broken by id on purpose: two referrers on one acquisition instant (the
    smallest wins, cfnb/metrics/referral.py), so here each user keeps one referrer.
    """
    events = events.with_columns(pl.col("referrer").first().over("user_id"))
    rename = {f"u{i}": name for i, name in enumerate(names)}
    renamed = events.with_columns(
        pl.col("user_id", "referrer").replace_strict(rename, default=None)
    )
    assert as_json(factory.run(renamed)) == as_json(factory.run(events))


@settings(PROPERTY, max_examples=20)
@given(
    events=logs(),
    factory=factories(),
    noise=st.lists(
        st.tuples(
            st.integers(0, 9),
            st.sampled_from(["page_view", "settings_opened"]),
            st.integers(0, 10**6),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_events_no_stage_uses_change_no_metric(
    events: pl.DataFrame, factory: Factory, noise: list[tuple[int, str, int]]
) -> None:
    """Adding events whose names no stage (nor ``active``) uses changes no metric.

    Noise goes to existing users and to users with nothing else (u8, u9), at any time
    between the log's first and last event: a later last event would legitimately
    complete more periods. Left out: the spec's warnings, which list the log's most
    frequent events, and activation candidates, which rank every event name by design.
    """
    if factory.active == cfnb.any_event():
        factory = factory.replace(active="use")  # any event is active: noise would count
    first, last = events["ts"].min(), events["ts"].max()
    span = int((last - first) / HOUR)  # type: ignore[operator]
    extra = pl.DataFrame(
        [
            {
                "user_id": f"u{u}",
                "event": name,
                "ts": first + (h % (span + 1)) * HOUR,
                "channel": "ads",
            }
            for u, name, h in noise
        ],
        schema={k: SCHEMA[k] for k in ("user_id", "event", "ts", "channel")},
    )
    noisy = pl.concat([events, extra], how="diagonal")
    leave_out = ("activation candidates",)
    got, want = (
        as_json(factory.run(noisy), leave_out=leave_out),
        as_json(factory.run(events), leave_out=leave_out),
    )
    for data in (got, want):
        data["run"] = json.dumps({**json.loads(data["run"]), "warnings": None})
    assert got == want


@settings(PROPERTY, max_examples=20)
@given(events=logs(), factory=factories(periods=("day", "week")), weeks=st.integers(-200, 200))
def test_a_whole_week_time_shift_only_relabels_cohorts_and_periods(
    events: pl.DataFrame, factory: Factory, weeks: int
) -> None:
    """Moving every timestamp by k weeks moves every cohort and period by k weeks; counts stay.

    Daily and weekly periods only (a month is not a whole number of weeks).
    """
    delta = dt.timedelta(weeks=weeks)
    before = results(factory.run(events))
    after = results(factory.run(events.with_columns(pl.col("ts") + delta)))
    assert before.keys() == after.keys()
    for name in before:
        for part, frame in frames(after[name]).items():
            moved_back = shift_dates(frame, -delta)
            assert moved_back.equals(frames(before[name])[part]), (name, part)
    for name in ("constraint", "referral", "revenue"):
        assert after[name].summary == before[name].summary
    assert after["throughput"].verdict == before["throughput"].verdict


# ------------------------------------------------------------------------- the explorer


Edit = Callable[[Factory], Factory]


def stage_edit(i: int, **changes: Any) -> Edit:
    """Edit stage ``i`` (the last stage when there are fewer); the first has no ``within``."""

    def edit(f: Factory) -> Factory:
        k = min(i, len(f.stages) - 1)
        return f if k == 0 and "within" in changes else f.with_stage(k, **changes)

    return edit


def drop_last_stage(f: Factory) -> Factory:
    # The explorer asks for another happy stage before removing this one; so does this edit.
    return f if len(f.stages) < 2 else f.replace(happy=None).remove_stage(len(f.stages) - 1)


EDITS: st.SearchStrategy[Edit] = st.one_of(
    st.sampled_from([None, "1w", "5w"]).map(lambda w: lambda f: f.replace(window=w)),
    st.sampled_from(["day", "week", "month"]).map(lambda p: lambda f: f.replace(period=p)),
    st.sampled_from(["lifecycle", "best_path"]).map(lambda m: lambda f: f.replace(mode=m)),
    st.builds(stage_edit, st.integers(0, 4), match=MATCHES),
    st.builds(stage_edit, st.integers(1, 4), within=st.sampled_from([None, "2h", "3d"])),
    st.just(drop_last_stage),
)


@settings(PROPERTY, max_examples=12)
@given(events=logs(), factory=factories(), chain=st.lists(EDITS, min_size=1, max_size=2))
def test_an_edited_run_measures_what_a_fresh_run_measures(
    events: pl.DataFrame, factory: Factory, chain: list[Edit]
) -> None:
    """``run.with_factory(edited)`` (reused journeys and activity) equals ``edited.run(events)``.

    Edits are chained, as the explorer chains them.
    """
    run = factory.run(events)
    results(run)  # fill the caches an edited run may reuse
    for edit in chain:
        edited = edit(run.factory)
        run = run.with_factory(edited)
        assert as_json(run) == as_json(edited.run(events))


# ------------------------------------------------------------------------- ClickHouse


@st.composite
def window_funnel_cases(draw: st.DrawFn) -> tuple[pl.DataFrame, list[list[str]], int]:
    """A tie-heavy log over 8 seconds, 1-4 stages of disjoint event names, a window."""
    names = draw(st.permutations("abcdefg"))
    sets, rest = [], list(names)
    for _ in range(draw(st.integers(1, 4))):
        size = draw(st.integers(1, 2))
        sets.append(sorted(rest[:size]))
        rest = rest[size:]
    rows = draw(
        st.lists(
            st.tuples(st.integers(0, 4), st.sampled_from("abcdefg"), st.integers(0, 7)), max_size=40
        )
    )
    events = pl.DataFrame(
        {
            "user_id": [f"u{u}" for u, _, _ in rows],
            "event": [e for _, e, _ in rows],
            "ts": [T0 + dt.timedelta(seconds=s) for _, _, s in rows],
        },
        schema={k: SCHEMA[k] for k in ("user_id", "event", "ts")},
    )
    return events, sets, draw(st.sampled_from([1, 2, 3, 5]))


@pytest.mark.skipif(importlib.util.find_spec("chdb") is None, reason="chdb is not installed")
@settings(PROPERTY, max_examples=150)
@given(case=window_funnel_cases())
def test_best_path_reaches_the_level_of_clickhouse_window_funnel(
    case: tuple[pl.DataFrame, list[list[str]], int],
) -> None:
    """Per user, the number of stages best_path reaches is ClickHouse's windowFunnel level.

    Stages of disjoint event names: where one row matches two stages, the two differ by
    design (``test_journeys_clickhouse.py`` shows how).
    """
    events, sets, window = case
    factory = Factory(
        [Stage(f"s{k}", event_in(*names)) for k, names in enumerate(sets)],
        mode="best_path",
        window=window,
    )
    table = build_journeys(events, factory).table
    ours = {
        row["user_id"]: sum(row[f"reach_{k}"] is not None for k in range(len(sets)))
        for row in table.to_dicts()
    }
    assert ours == window_funnel_levels(events, sets, dt.timedelta(seconds=window))
