"""Run cfnb where the events are: a Spark backend for logs that outgrow one machine.

``cfnb.load(spark_dataframe)`` returns a :class:`SparkEventLog`; the same spec, runs,
metrics, charts and explorer then work on it. The journeys engine runs on the executors,
one partition of users at a time, and only per-user tables come back to the driver
(``docs/spark.md`` has the design, the cluster settings and the costs).

Importing this package does not import pyspark: that happens only when a Spark
DataFrame is loaded, so cfnb works without pyspark installed.

>>> from cfnb.spark import is_spark_dataframe
>>> is_spark_dataframe([1, 2, 3])
False
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cfnb.spark.eventlog import EventsOnSparkError, SparkEventLog

__all__ = ["EventsOnSparkError", "SparkEventLog", "is_spark_dataframe", "load"]


def is_spark_dataframe(source: object) -> bool:
    """Whether ``source`` is a PySpark DataFrame (classic or Spark Connect), without importing pyspark."""
    for cls in type(source).__mro__:
        if cls.__name__ == "DataFrame" and cls.__module__.startswith("pyspark.sql"):
            return True
    return False


def load(source: Any, **options: Any) -> SparkEventLog:
    """Load a PySpark DataFrame; :func:`cfnb.load` calls this for one (same options).

    Spark-only options: ``partitions`` (partitions of users, default
    ``spark.sql.shuffle.partitions``) and ``persist`` (cache the partitioned events on
    the executors, default ``True``). See :func:`cfnb.spark.loading.load_spark`.
    """
    from cfnb.spark.loading import load_spark

    return load_spark(source, **options)


def __getattr__(name: str) -> object:
    # The classes import nothing of pyspark either, but keep this module featherweight.
    if name in ("SparkEventLog", "EventsOnSparkError"):
        from cfnb.spark import eventlog

        return getattr(eventlog, name)
    raise AttributeError(f"module 'cfnb.spark' has no attribute {name!r}")
