"""One pass over a Spark log: a Polars function (such as :func:`cfnb.spark.partition.compute`) on every partition.

The events are hash-partitioned by ``user_id`` once, at load time (and persisted), so
each pass is a ``mapInArrow`` with no shuffle: a task reads its partition as Arrow,
runs the journeys engine on it, and returns each wanted table as one Arrow IPC blob.
Only those blobs (per-user tables) travel to the driver.

Why ``mapInArrow`` over a user-partitioned frame rather than ``groupBy(...).applyInArrow``:
grouping by user would call Python once per user (millions of calls); grouping by a
bucket column would shuffle on every pass. A partition is simply many whole users, which
is what the vectorised engine wants.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame

__all__ = ["PartitionFunction", "quiet", "run_pass"]

_OUT = pa.schema([("want", pa.int64()), ("part", pa.int64()), ("payload", pa.binary())])
_OUT_DDL = "want long, part long, payload binary"


@contextmanager
def quiet() -> Iterator[None]:
    """Silence pyspark's notice about pandas 3: cfnb moves data as Arrow, never pandas."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        yield


PartitionFunction = Callable[[pl.DataFrame], list[pl.DataFrame]]
"""What a pass runs on each partition: its rows as Polars in, small tables out."""


def _task_function(
    function: PartitionFunction,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        collected = list(batches)
        if not collected or not sum(b.num_rows for b in collected):
            return  # an empty partition holds no user
        events = pl.from_arrow(pa.Table.from_batches(collected))
        assert isinstance(events, pl.DataFrame)
        context = TaskContext.get()
        part = context.partitionId() if context is not None else 0
        for i, table in enumerate(function(events)):
            buffer = io.BytesIO()
            table.write_ipc(buffer)
            yield pa.RecordBatch.from_pydict(
                {"want": [i], "part": [part], "payload": [buffer.getvalue()]}, schema=_OUT
            )

    return run


def run_pass(
    events: SparkDataFrame, function: PartitionFunction, outputs: int
) -> list[list[pl.DataFrame]]:
    """Per output of ``function``, its table from every non-empty partition, in partition order."""
    with quiet():
        blobs = events.mapInArrow(_task_function(function), _OUT_DDL).toArrow()
    rows = sorted(
        zip(
            blobs["want"].to_pylist(),
            blobs["part"].to_pylist(),
            blobs["payload"].to_pylist(),
            strict=True,
        ),
        key=lambda r: (r[0], r[1]),
    )
    out: list[list[pl.DataFrame]] = [[] for _ in range(outputs)]
    for want, _, payload in rows:
        out[want].append(pl.read_ipc(io.BytesIO(payload)))
    return out
