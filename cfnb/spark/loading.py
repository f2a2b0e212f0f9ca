"""Load an event log from a PySpark DataFrame: the local loader's rules, run on Spark.

:func:`load_spark` is what :func:`cfnb.load` calls for a Spark DataFrame. It maps and
types the columns as :mod:`cfnb.loading` does, counts every row loaded or rejected (with
Spark aggregates: nothing is collected), hash-partitions the loaded events by user and
persists them, so every later pass over them is shuffle-free.

The rules are the local loader's, reused rather than rewritten:

* columns are picked by the same names and errors (:func:`cfnb.loading.map_columns`);
* a time column that is not already a Spark ``TIMESTAMP`` (an instant) is read by the
  very DuckDB expression the local loader would choose (:func:`cfnb.loading._ts_rule`),
  applied batch by batch on the executors. The choice needs statistics of the whole
  column (text or numbers? which epoch unit?): Spark computes them, and the rule is
  chosen on a stand-in table holding just the values that decide it;
* user and event values: blank text is null, integral floats are integer ids, as locally.

Differences: no row numbers (a Spark DataFrame has no order), so rejected rows carry
only their reason and values; ``duplicates="drop"`` counts the dropped copies but does
not list them; file options (``format``, ``delimiter``, ...) do not apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from cfnb import errors
from cfnb._duck import connect, ident
from cfnb.eventlog import LoadReport
from cfnb.loading import (
    _NUMBER_RE,
    _check_tz,
    _ts_rule,
    _TsRule,
    map_columns,
)
from cfnb.spark.eventlog import SparkEventLog
from cfnb.spark.passes import run_pass
from cfnb.spark.stats import combine, partition_stats

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame

__all__ = ["load_spark"]

_PRIVATE = "__cfnb_"
_TS, _REASON, _MISSING, _RAW = "__cfnb_ts", "__cfnb_reason", "__cfnb_ts_missing", "__cfnb_raw"
_SEQ = "__cfnb_seq"
_NUMBER = "^" + _NUMBER_RE + "$"  # DuckDB's regexp_full_match, as a Java find


def load_spark(
    source: SparkDataFrame,
    *,
    user: str | None = None,
    event: str | None = None,
    ts: str | None = None,
    tz: str = "UTC",
    ts_format: str | None = None,
    ts_unit: str | None = None,
    event_name: str | None = None,
    duplicates: str = "keep",
    partitions: int | None = None,
    persist: bool = True,
) -> SparkEventLog:
    """Load the events of a Spark DataFrame; see :func:`cfnb.load` for the common options.

    Parameters
    ----------
    partitions
        How many partitions of users the events are spread over (default
        ``spark.sql.shuffle.partitions``). Each task holds one partition in memory.
    persist
        Keep the partitioned events cached on the executors (memory, then disk), so the
        passes of later runs and edits skip the shuffle. ``log.unpersist()`` frees them.
    """
    if duplicates not in ("keep", "drop"):
        raise ValueError(f"duplicates must be 'keep' or 'drop', got {duplicates!r}")
    if ts_unit not in (None, "s", "ms", "us", "ns"):
        raise ValueError(f"ts_unit must be one of ['ms', 'ns', 's', 'us'], got {ts_unit!r}")
    _check_tz(tz)
    description = _describe(source)
    names = list(source.columns)
    for name in names:
        if name.startswith(_PRIVATE):
            raise errors.LoadError(
                f"Column {name!r} of {description} is reserved by cfnb (names starting with "
                f"{_PRIVATE!r} are its own); rename it before loading."
            )
    types = {f.name: f.dataType for f in source.schema.fields}
    user_col, event_col, ts_col, props = map_columns(
        names, user=user, event=event, ts=ts, event_name=event_name, where=description
    )

    typed, rule_text = _with_times(source, ts_col, types[ts_col], tz, ts_format, ts_unit)
    parsed = typed.select(
        _user(F.col(user_col), types[user_col]).alias("user_id"),
        (
            F.lit(event_name).cast("string")
            if event_col is None
            else _text(F.col(event_col), types[event_col])
        ).alias("event"),
        F.col(_TS).alias("ts"),
        *(F.col(p) for p in props),
        _missing(F.col(ts_col), types[ts_col]).alias(_MISSING),
        # The raw values are only ever read for rejected rows: only they pay for the JSON.
        F.to_json(F.struct(*(F.col(n) for n in names))).alias(_RAW),
        # Numbers rows in the source's order before the shuffle: ties of a user's first
        # instant go to the earliest row, as the local loader's row order does.
        F.monotonically_increasing_id().alias(_SEQ),
    ).withColumn(_REASON, _reason())
    parsed = parsed.withColumn(_RAW, F.when(F.col(_REASON).isNotNull(), F.col(_RAW)))
    public = ["user_id", "event", "ts", *props]
    spark = source.sparkSession
    n = partitions or int(spark.conf.get("spark.sql.shuffle.partitions") or 200)
    # Partitioned by user once, here: every later pass reads these partitions as they are.
    staged = parsed.drop(_MISSING).repartition(n, "user_id")
    if persist:
        staged = staged.persist(StorageLevel.MEMORY_AND_DISK)
    drop = duplicates == "drop"
    counted = run_pass(
        staged, partial(partition_stats, public=public, reason=_REASON, seq=_SEQ, drop=drop), 5
    )
    if not counted[0]:  # no partition held a row
        staged.unpersist()
        raise errors.EmptyFileError(f"The {description} has no rows: there are no events to load.")
    stats = combine(counted, _REASON)
    events = staged.where(F.col(_REASON).isNull()).select(*public)
    if drop:
        events = events.dropDuplicates(public)
    rejected = staged.where(F.col(_REASON).isNotNull()).select(
        F.lit(description).alias("file"),
        F.lit(None).cast("long").alias("row"),
        F.lit(None).cast("long").alias("line"),
        F.col(_REASON).alias("reason"),
        F.lit(None).cast("string").alias("detail"),
        F.col(_RAW).alias("raw"),
    )
    n_dup, names_table = stats.duplicates, stats.event_names
    rows_read = sum(stats.reasons.values())
    rejected_counts = {str(r): c for r, c in stats.reasons.items() if r is not None}
    if drop and n_dup:
        rejected_counts["duplicate"] = n_dup
    rejected_counts = dict(sorted(rejected_counts.items(), key=lambda kv: (-kv[1], kv[0])))
    n_loaded = int(names_table["events"].sum())
    if rows_read != n_loaded + sum(rejected_counts.values()):
        raise AssertionError(  # a bug in cfnb, never the data's fault
            f"cfnb lost rows loading {description}: {rows_read} read, {n_loaded} loaded, "
            f"{sum(rejected_counts.values())} rejected. Please report this."
        )
    warnings: list[str] = []
    if n_dup and duplicates == "keep":
        warnings.append(f"{n_dup} exact duplicate rows kept (pass duplicates='drop' to drop them)")
    report = LoadReport(
        source=description,
        format="spark",
        rows_read=rows_read,
        rows_loaded=n_loaded,
        rejected=rejected_counts,
        duplicates=n_dup,
        duplicate_policy=duplicates,
        duplicates_dropped=rejected_counts.get("duplicate", 0),
        users=stats.users,
        event_counts=tuple(
            (str(e), int(c)) for e, c in names_table.select("event", "events").rows()
        ),
        first_ts=stats.first_ts,
        last_ts=stats.last_ts,
        columns={
            "user": user_col,
            "event": event_col if event_col is not None else f"(constant {event_name!r})",
            "ts": ts_col,
        },
        timestamps=rule_text,
        tz=tz,
        warnings=tuple(warnings),
    )
    log = SparkEventLog(events, rejected, report, stats.schema, names_table, stats.first_events)
    if n_loaded == 0:
        summary = ", ".join(f"{k}: {v}" for k, v in report.rejected.items())
        raise errors.NoUsableRowsError(
            f"No usable rows in {description}: all {rows_read} rows were rejected ({summary}). "
            f"See err.rejected for the rows; check the column mapping (user={user_col!r}, "
            f"event={event_col!r}, ts={ts_col!r}) and the timestamp format.",
            report,
            log.rejected,
        )
    return log


# --------------------------------------------------------------------------- mapping


def _describe(source: SparkDataFrame) -> str:
    try:
        files = source.inputFiles()
    except Exception:  # some sources (JDBC, streams) cannot list files; the name is enough
        files = []
    if len(files) == 1:
        return f"Spark DataFrame ({files[0]})"
    if files:
        return f"Spark DataFrame ({len(files)} files, {files[0]}, …)"
    return "Spark DataFrame"


def _blank_is_null(text: Column) -> Column:
    return F.when(F.trim(text) == "", F.lit(None)).otherwise(text)


def _text(col: Column, typ: T.DataType) -> Column:
    return _blank_is_null(col if isinstance(typ, T.StringType) else col.cast("string"))


def _user(col: Column, typ: T.DataType) -> Column:
    if isinstance(typ, T.FloatType | T.DoubleType):
        # Integer ids in a float column (pandas makes them so when one is missing) read as
        # integers: 42.0 is user '42'. NaN is a missing id, as in pandas.
        finite = ~F.isnan(col) & (F.abs(col) != float("inf"))
        integral = (col == F.floor(col)) & (F.abs(col) < 9e15)
        return (
            F.when(~finite, F.lit(None))
            .when(integral, col.cast("long").cast("string"))
            .otherwise(col.cast("string"))
        )
    return _text(col, typ)


def _missing(col: Column, typ: T.DataType) -> Column:
    if isinstance(typ, T.StringType):
        return col.isNull() | (F.trim(col) == "")
    return col.isNull()


def _reason() -> Column:
    return (
        F.when(F.col("user_id").isNull(), "null user")
        .when(F.col("event").isNull(), "null event")
        .when(F.col(_MISSING), "null timestamp")
        .when(F.col("ts").isNull(), "unparseable timestamp")
    )


def _rows(frame: SparkDataFrame) -> list[tuple[Any, ...]]:
    table = frame.toArrow()
    return list(zip(*(table.column(i).to_pylist() for i in range(table.num_columns)), strict=True))


# --------------------------------------------------------------------------- times


def _duck_type(typ: T.DataType) -> str | None:
    """The DuckDB type the executors' DuckDB sees for this Spark type (through Arrow)."""
    simple = {
        T.StringType: "VARCHAR",
        T.ByteType: "TINYINT",
        T.ShortType: "SMALLINT",
        T.IntegerType: "INTEGER",
        T.LongType: "BIGINT",
        T.FloatType: "FLOAT",
        T.DoubleType: "DOUBLE",
        T.DateType: "DATE",
        T.TimestampNTZType: "TIMESTAMP",
        T.TimestampType: "TIMESTAMP WITH TIME ZONE",
    }
    for kind, name in simple.items():
        if isinstance(typ, kind):
            return name
    if isinstance(typ, T.DecimalType):
        return f"DECIMAL({typ.precision},{typ.scale})"
    return None


def _with_times(
    source: SparkDataFrame,
    col: str,
    typ: T.DataType,
    tz: str,
    ts_format: str | None,
    ts_unit: str | None,
) -> tuple[SparkDataFrame, str]:
    """``source`` plus ``__cfnb_ts`` (the instant, or null when unreadable) and the rule's text."""
    if isinstance(typ, T.TimestampType) and ts_format is None:
        # Spark's TIMESTAMP is an instant already (whatever the session's time zone).
        return source.withColumn(_TS, F.col(col)), "timestamps with time zone"
    duck = _duck_type(typ)
    if duck is None:
        raise errors.TimestampError(
            f"Column {col!r} has type {typ.simpleString()}, which cfnb cannot read as times. "
            "Convert it to timestamps, ISO-8601 text or epoch numbers, or pass ts_format='...'."
        )
    rule = _choose_rule(source, col, duck, typ, tz, ts_format, ts_unit)
    schema = T.StructType([*source.schema.fields, T.StructField(_TS, T.TimestampType())])
    return source.mapInArrow(_apply_rule(rule, col), schema), rule.text


def _choose_rule(
    source: SparkDataFrame,
    col: str,
    duck: str,
    typ: T.DataType,
    tz: str,
    ts_format: str | None,
    ts_unit: str | None,
) -> _TsRule:
    """The local loader's rule for this column, chosen on a stand-in for its values.

    ``_ts_rule`` decides from a few statistics of the whole column: how many text values
    look like numbers; and for numbers, the smallest and largest magnitude and whether
    any value is not a ``YYYYMMDD`` date. The stand-in holds the values carrying those
    statistics (one of the smallest, one of the largest, one non-date if any, or one
    non-number for text), so ``_ts_rule`` reads them off it exactly as off the column.
    """
    values: list[Any] = []
    if ts_format is None and duck not in ("DATE", "TIMESTAMP"):
        values = _deciding_values(source, col, typ)
    con = connect(threads=1)
    try:
        con.execute(f"CREATE TABLE __src ({ident(col)} {duck})")
        if values:
            con.executemany("INSERT INTO __src VALUES (?)", [[v] for v in values])
        return _ts_rule(con, col, duck, tz=tz, ts_format=ts_format, ts_unit=ts_unit)
    finally:
        con.close()


def _deciding_values(source: SparkDataFrame, col: str, typ: T.DataType) -> list[Any]:
    c = F.col(col)
    if isinstance(typ, T.StringType):
        value = F.when(F.trim(c) != "", F.trim(c))
        looks = value.rlike(_NUMBER)
        text = F.when(value.isNotNull() & ~looks, value)
        stats = source.agg(
            F.count(value).alias("n_text"),
            F.count(F.when(looks, value)).alias("n_num"),
            F.first(text, ignorenulls=True).alias("word"),
        )
        n_text, n_num, word = _rows(stats)[0]
        if not (n_num > 0 and 2 * n_num > n_text):
            return [word if word is not None else "x"]
        num = F.when(looks, value.cast("double"))
        keep = value
    else:
        number = c.cast("double")
        num = F.when(~F.isnan(number) & (F.abs(number) != float("inf")), number)
        keep = c
    bad = (num != F.floor(num)) | (num < 19000101) | (num > 21001231)
    stats = source.agg(
        F.min_by(keep, F.abs(num)).alias("lo"),
        F.max_by(keep, F.abs(num)).alias("hi"),
        F.first(F.when(bad, keep), ignorenulls=True).alias("bad"),
    )
    return [v for v in _rows(stats)[0] if v is not None]


def _apply_rule(rule: _TsRule, col: str) -> Any:
    """The executor function reading ``col`` with ``rule``, batch by batch, in DuckDB."""
    fast = rule.fast or "NULL::TIMESTAMPTZ"
    sql = (
        f"SELECT CASE WHEN __fast IS NOT NULL THEN __fast ELSE {rule.sql} END AS {ident(_TS)} "
        f"FROM (SELECT *, {fast} AS __fast FROM __batch)"
    )
    params = list(rule.params)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # One thread: Spark runs a task per core already. Insertion order is kept, so the
        # times line up with the batch's rows.
        con = connect(threads=1)
        for batch in batches:
            con.register("__batch", pa.Table.from_batches([batch]))
            result = con.execute(sql, params).to_arrow_table()
            assert result is not None
            parsed = result.column(0)
            con.unregister("__batch")
            times = parsed.cast(pa.timestamp("us", tz="UTC")).combine_chunks()
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, times], names=[*batch.schema.names, _TS]
            )
        con.close()

    return run
