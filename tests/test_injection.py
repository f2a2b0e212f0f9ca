"""Event names, user ids, property values and column names are data, never SQL text.

Every hostile string below goes in as a user id, an event name, a property value and a
property column name, through CSV, Parquet, JSON Lines and a Polars frame; then into
spec predicates (``event``, ``==``, ``in``, ``contains``), stage names and
``segment_by``; then into the command line's column options. Each is matched literally
(the exact number of rows or users a Python comparison gives) and the DuckDB database
is untouched: the same tables as for a harmless log, every row in ``events``, and
``log.rejected`` readable.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import cfnb
from cfnb.cli import main
from cfnb.spec import Factory, SpecError, Stage, event, event_in, prop

HOSTILE: tuple[str, ...] = (
    # SQL
    "'; DROP TABLE events; --",
    '"; DROP TABLE events; --',
    '" OR 1=1',
    "' OR '1'='1",
    "x UNION SELECT * FROM events",
    "/* comment */",
    "-- comment",
    "select",
    "from",
    "order",
    "group",
    "events",
    "__rejected",
    "main.events",
    "NULL",
    # quotes and backslashes
    "\\",
    "back\\slash\\",
    "\\'",
    "it's",
    'say "hi"',
    '"""',
    "a,b",
    # control characters (every one but NUL)
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "crlf\r\nend",
    "\x01\x02\x1b[31mred\x1b[0m",
    "\x7f",
    "".join(chr(c) for c in range(1, 32)),
    # placeholders of SQL drivers and format strings
    "$1",
    "?",
    "%s",
    "%(name)s",
    "{}",
    "{0}",
    "{user_id}",
    "${HOME}",
    "`whoami`",
    "$(rm -rf /)",
    # patterns (LIKE, regex, glob)
    "%",
    "_",
    ".*",
    "[a-z]+",
    "*",
    "^.*$",
    # unicode
    "ü ñ 🚀 中文",
    "\u202eevil",
    "\ufeffbom",
    " padded ",
    "x" * 1000,
)
N = len(HOSTILE)
assert len(set(HOSTILE)) == N
assert not any("\x00" in h for h in HOSTILE)  # DuckDB and Arrow text hold no NUL

# Property column names: the hostile strings but those cfnb's own columns take
# (user_id, event, ts) or that only differ from another in case (DuckDB names are
# case-insensitive): "NULL" stays, there is no "null".
COLUMNS: tuple[str, ...] = tuple(h for h in HOSTILE if h.lower() not in ("user_id", "event", "ts"))
assert len({c.lower() for c in COLUMNS}) == len(COLUMNS)

T0 = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)


def hostile_frame() -> pl.DataFrame:
    """User ``HOSTILE[i]`` visits, then does event ``HOSTILE[i]``.

    Both rows carry ``note = HOSTILE[i]``, and column ``COLUMNS[k]`` holds
    ``COLUMNS[k]`` on user ``k``'s rows (null elsewhere).
    """
    rows: dict[str, list[Any]] = {"user_id": [], "event": [], "ts": [], "note": []}
    rows.update({c: [] for c in COLUMNS})
    for i, h in enumerate(HOSTILE):
        for offset, name in ((0, "visit"), (1, h)):
            rows["user_id"].append(h)
            rows["event"].append(name)
            rows["ts"].append(T0 + dt.timedelta(minutes=i, seconds=offset))
            rows["note"].append(h)
            for k, c in enumerate(COLUMNS):
                rows[c].append(c if k == i else None)
    return pl.DataFrame(
        rows, schema={c: pl.String for c in rows} | {"ts": pl.Datetime("us", "UTC")}
    )


FRAME = hostile_frame()


def _csv(frame: pl.DataFrame, folder: Path) -> Path:
    frame.write_csv(folder / "events.csv")
    return folder / "events.csv"


def _parquet(frame: pl.DataFrame, folder: Path) -> Path:
    frame.write_parquet(folder / "events.parquet")
    return folder / "events.parquet"


def _jsonl(frame: pl.DataFrame, folder: Path) -> Path:
    frame.write_ndjson(folder / "events.jsonl")
    return folder / "events.jsonl"


SOURCES: dict[str, Callable[[pl.DataFrame, Path], Any]] = {
    "csv": _csv,
    "parquet": _parquet,
    "json lines": _jsonl,
    "polars": lambda frame, _: frame,
}
HARMLESS = pl.DataFrame({"user_id": ["u1"], "event": ["visit"], "ts": [T0], "note": ["hi"]})


def tables(log: cfnb.EventLog) -> list[str]:
    con = log.connection
    return sorted(n for (n,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall())


def assert_untouched(log: cfnb.EventLog, harmless: cfnb.EventLog) -> None:
    """The tables of a harmless log of the same kind, and every row where it belongs."""
    assert tables(log) == tables(harmless)
    (count,) = log.connection.execute("SELECT count(*) FROM events").fetchall()[0]
    assert count == 2 * N == log.report.rows_loaded
    assert log.rejected.height == 0
    assert log.report.rows_read == log.report.rows_loaded + log.report.rows_rejected


@pytest.fixture(scope="module")
def log() -> cfnb.EventLog:
    return cfnb.load(FRAME)


@pytest.fixture(scope="module")
def harmless_log() -> cfnb.EventLog:
    return cfnb.load(HARMLESS)


# ------------------------------------------------------------------ loading


@pytest.mark.parametrize("make_source", SOURCES.values(), ids=SOURCES.keys())
def test_hostile_ids_names_values_and_column_names_load_literally(
    make_source: Callable[[pl.DataFrame, Path], Any], tmp_path: Path
) -> None:
    (tmp_path / "harmless").mkdir()
    harmless = cfnb.load(make_source(HARMLESS, tmp_path / "harmless"))
    source = make_source(FRAME, tmp_path)

    log = cfnb.load(source)

    events = log.events
    assert events["user_id"].to_list() == FRAME["user_id"].to_list()
    assert events["event"].to_list() == FRAME["event"].to_list()
    assert events["note"].to_list() == FRAME["note"].to_list()
    assert log.report.users == N
    assert dict(log.report.event_counts) == {"visit": N} | dict.fromkeys(HOSTILE, 1)
    # A CSV header loses the spaces around a name (tests/data/bad/header_with_spaces.csv).
    names = [c.strip(" ") if str(source).endswith(".csv") else c for c in COLUMNS]
    assert events.columns == ["user_id", "event", "ts", "note", *names]
    for k, name in enumerate(names):
        assert events[name].to_list()[2 * k : 2 * k + 2] == [COLUMNS[k]] * 2
        assert events[name].null_count() == 2 * (N - 1)
    assert_untouched(log, harmless)


@pytest.mark.parametrize("hostile", HOSTILE[:12], ids=lambda h: ascii(h)[:24])
def test_hostile_column_names_map_the_user_event_and_time(hostile: str, tmp_path: Path) -> None:
    user, name, time = hostile, f"{hostile} (event)", f"{hostile} (time)"
    frame = pl.DataFrame({user: ["u1", "u2"], name: ["visit", hostile], time: [T0, T0]})
    frame.write_parquet(tmp_path / "events.parquet")

    log = cfnb.load(tmp_path / "events.parquet", user=user, event=name, ts=time)

    assert log.events["user_id"].to_list() == ["u1", "u2"]
    assert log.events["event"].to_list() == ["visit", hostile]
    assert log.events.columns == ["user_id", "event", "ts"]
    assert dict(log.report.columns) == {"user": user, "event": name, "ts": time}


def test_hostile_load_options_are_bound_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user_id,ts\nu1,2026-01-05\n", encoding="utf-8")
    sql = "'; DROP TABLE events; --"

    # A constant event name is a bound value.
    assert cfnb.load(path, event_name=sql).events["event"].to_list() == [sql]
    # A format that matches nothing rejects every row; it does not run.
    with pytest.raises(cfnb.errors.NoUsableRowsError, match="unparseable timestamp: 1"):
        cfnb.load(path, event_name="visit", ts_format=sql)
    with pytest.raises(cfnb.errors.TimestampError, match="Unknown time zone"):
        cfnb.load(path, event_name="visit", tz=sql)
    with pytest.raises(cfnb.errors.LoadError, match="memory_limit must be a size such as '4GB'"):
        cfnb.load(path, event_name="visit", memory_limit=sql)
    with pytest.raises(cfnb.errors.ColumnNotFoundError, match="user column"):
        cfnb.load(path, event_name="visit", user=sql)


# ------------------------------------------------------------------ predicates


def count(log: cfnb.EventLog, predicate: Any) -> int:
    return log.events.filter(predicate.to_polars()).height


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda h: ascii(h)[:24])
def test_hostile_strings_are_matched_literally_by_predicates(
    hostile: str, log: cfnb.EventLog
) -> None:
    notes = FRAME["note"].to_list()

    assert count(log, event(hostile)) == 1
    assert count(log, event_in(hostile, "visit")) == N + 1
    assert count(log, prop("note") == hostile) == 2
    assert count(log, prop("note") != hostile) == 2 * N - 2
    assert count(log, prop("note").is_in([hostile])) == 2
    assert count(log, prop("note") >= hostile) == sum(n >= hostile for n in notes)
    # contains is a literal substring test: '%', '_', '.*' and '[a-z]+' are not patterns.
    assert count(log, prop("note").contains(hostile)) == sum(hostile in n for n in notes)

    factory = Factory(
        [Stage("Visit", "visit"), Stage(hostile, event(hostile) & (prop("note") == hostile))]
    )
    assert factory.run(log).funnel().table["users"].to_list() == [N, 1]


@pytest.mark.parametrize("column", COLUMNS, ids=lambda h: ascii(h)[:24])
def test_hostile_column_names_are_read_by_name(column: str, log: cfnb.EventLog) -> None:
    if column in ("*", "^.*$"):
        # Polars would read these as every column / a regex: refused, with the fix.
        with pytest.raises(SpecError, match="would be read by Polars as a pattern"):
            prop(column) == column  # noqa: B015
        return

    assert count(log, prop(column) == column) == 2
    assert count(log, prop(column).not_null()) == 2
    assert count(log, prop(column).is_null()) == 2 * N - 2

    factory = Factory(
        [Stage("Visit", "visit"), Stage("Hostile", prop(column).is_in([column]))],
        segment_by=[column],
    )
    run = factory.run(log)
    assert run.warnings == ()
    by = run.funnel(by=column).table.filter(pl.col("stage") == "Hostile")
    assert dict(zip(by[column].to_list(), by["users"].to_list(), strict=True)) == {
        column: 1,
        None: 0,
    }


def test_a_spec_made_of_hostile_strings_round_trips_and_counts_exactly(
    log: cfnb.EventLog, harmless_log: cfnb.EventLog
) -> None:
    sql, quote, slash = "'; DROP TABLE events; --", '" OR 1=1', "back\\slash\\"
    factory = Factory(
        [
            Stage("Visit", "visit"),
            Stage(sql, event_in(sql, quote, slash)),
            Stage(quote, event("visit") & prop(sql).not_null(), within="1d"),
        ],
        segment_by=[quote],
        name=slash,
    )

    assert Factory.from_toml(factory.to_toml()) == factory
    assert Factory.from_json(factory.to_json()) == factory
    # Only the first three users did one of the three events; a visit never follows it.
    assert factory.run(log).funnel().table["users"].to_list() == [N, 3, 0]
    assert_untouched(log, harmless_log)


# ------------------------------------------------------------------ command line

CLI_NAMES = ("'; DROP TABLE events; --", '" OR 1=1', "back\\slash\\", "$1", "%s", "{}")


@pytest.mark.parametrize("hostile", CLI_NAMES, ids=lambda h: ascii(h)[:24])
def test_check_maps_hostile_column_names(
    hostile: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.parquet"
    pl.DataFrame(
        {hostile: ["u1", "u2"], f"{hostile} event": ["visit", hostile], "t": [T0, T0]}
    ).write_parquet(path)

    code = main(
        [
            "check",
            str(path),
            "--user",
            hostile,
            "--event",
            f"{hostile} event",
            "--ts",
            "t",
            "--json",
        ]
    )

    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["columns"] == {"user": hostile, "event": f"{hostile} event", "ts": "t"}
    assert (report["rows_read"], report["rows_loaded"], report["users"]) == (2, 2, 2)
    assert report["events"] == sorted(
        [{"event": "visit", "count": 1}, {"event": hostile, "count": 1}],
        key=lambda e: e["event"],
    )


def test_check_names_a_hostile_column_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user_id,event,ts\nu1,visit,2026-01-05\n", encoding="utf-8")

    assert main(["check", str(path), "--user", "'; DROP TABLE events; --"]) == 2

    assert 'user column "\'; DROP TABLE events; --" is not in' in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == "user_id,event,ts\nu1,visit,2026-01-05\n"


def test_the_count_of_hostile_strings() -> None:
    # The figure quoted for issue 7: strings tried, and the roles each plays.
    assert (N, len(COLUMNS)) == (50, 50)
