"""The bundled datasets: a generated SaaS sample and the CDNOW purchase log.

Both live in the repository's ``data/`` folder (described, with sizes, origins and
licences, in ``data/README.md``); a wheel ships the same files as ``cfnb/_bundled_data``.

============================  ===========================================================
``load_sample()``             6,000 generated users over 26 weekly cohorts (72,586 rows):
                              the five Customer Factory steps, with known true rates
                              (:func:`sample_truth`) and a default spec
                              (``sample_path("spec")``)
``load_cdnow()``              the CDNOW store's real purchases: 23,570 customers, 69,659
                              rows, Jan 1997 to Jun 1998, purchases only; its spec is
                              ``cdnow_path("spec")``
============================  ===========================================================
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, TypedDict

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from cfnb.datasets.generator import LinkTruth, generate, spec_toml
from cfnb.errors import did_you_mean

if TYPE_CHECKING:
    from cfnb.eventlog import EventLog

__all__ = [
    "SAMPLE_ARGS",
    "cdnow_path",
    "data_dir",
    "load_cdnow",
    "load_sample",
    "sample_path",
    "sample_truth",
    "write_sample",
]


class _SampleArgs(TypedDict):
    users: int
    seed: int
    start: str
    weeks: int
    growth: float


SAMPLE_ARGS: Final[_SampleArgs] = {
    "users": 6000,
    "seed": 0,
    "start": "2026-01-05",
    "weeks": 26,
    "growth": 0.01,
}
"""The :func:`~cfnb.datasets.generate` arguments of the bundled sample."""

_PACKAGE = Path(__file__).resolve().parent.parent
_SAMPLE_FILES: Final = {
    "parquet": "sample_events.parquet",
    "csv": "sample_events.csv",
    "truth": "sample_truth.json",
    "spec": "sample_factory.toml",
}
_CDNOW_FILES: Final = {"data": "cdnow_master.txt.gz", "spec": "cdnow_factory.toml"}
_CSV_TIME: Final = "%Y-%m-%dT%H:%M:%S%.6fZ"
_PARQUET_SCHEMA: Final = pa.schema(
    [
        ("user_id", pa.string()),
        ("event", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("channel", pa.string()),
        ("plan", pa.string()),
        ("amount", pa.float64()),
        ("referrer", pa.string()),
    ]
)
_SPEC_HEADER: Final = (
    "The default Customer Factory spec for data/sample_events.*.\n"
    "Written by data/make_sample.py (cfnb.datasets.write_sample); edit the generator, not this file."
)


def data_dir() -> Path:
    """Return the folder holding the bundled datasets.

    In a source checkout (an editable install) that is the repository's ``data/``; in an
    installed wheel, the copy shipped inside the package as ``cfnb/_bundled_data``.

    Raises
    ------
    FileNotFoundError
        When neither exists (a wheel built without the data).

    Examples
    --------
    >>> (data_dir() / "sample_events.parquet").is_file()
    True
    """
    repo_data = _PACKAGE.parent / "data"
    # A checkout has pyproject.toml beside the package; site-packages/data is not ours.
    if (_PACKAGE.parent / "pyproject.toml").is_file() and repo_data.is_dir():
        return repo_data
    bundled = _PACKAGE / "_bundled_data"
    if bundled.is_dir():
        return bundled
    raise FileNotFoundError(
        f"cfnb's bundled data is missing: looked in {repo_data} (source checkout) and "
        f"{bundled} (installed wheel). Reinstall cfnb, or regenerate the sample with "
        "cfnb.datasets.write_sample(folder)."
    )


def sample_path(what: Literal["parquet", "csv", "truth", "spec"] = "parquet") -> Path:
    """Return the path of one file of the bundled sample.

    Parameters
    ----------
    what
        ``"parquet"`` or ``"csv"`` (the events), ``"truth"`` (the true link rates, JSON)
        or ``"spec"`` (the default spec, TOML).

    Examples
    --------
    >>> sample_path("csv").name
    'sample_events.csv'
    """
    return data_dir() / _pick(what, _SAMPLE_FILES, "sample_path")


def cdnow_path(what: Literal["data", "spec"] = "data") -> Path:
    """Return the path of the CDNOW purchase log (``"data"``) or of its spec (``"spec"``).

    Examples
    --------
    >>> cdnow_path().name, cdnow_path("spec").name
    ('cdnow_master.txt.gz', 'cdnow_factory.toml')
    """
    return data_dir() / _pick(what, _CDNOW_FILES, "cdnow_path")


def load_sample(format: Literal["parquet", "csv"] = "parquet") -> EventLog:
    """Load the bundled generated SaaS event log.

    6,000 users of a made-up SaaS product arriving through four channels during the
    whole log, 26 weeks from 2026-01-05 to 2026-07-05 (the journeys of the last arrivals
    are cut by its end, as in a real export), with every Customer Factory step, noise
    included (duplicates, ties, rows out of order). Size: 72,586 rows; columns
    ``user_id``, ``event``, ``ts``, ``channel``, ``plan``, ``amount``, ``referrer``. Made
    by ``cfnb.datasets.generate(**SAMPLE_ARGS)``; the true link rates are
    :func:`sample_truth` (compare them with the complete cohorts, see
    :class:`~cfnb.datasets.GeneratedLog`), the default spec is ``sample_path("spec")``.

    Parameters
    ----------
    format
        Which copy to read: ``"parquet"`` (default) or ``"csv"``. Both load to the same
        events.

    Examples
    --------
    >>> log = load_sample()
    >>> log.report.rows_loaded, log.report.users
    (72586, 6000)
    """
    from cfnb.loading import load  # late: cfnb/__init__ imports this package

    fmt = _pick(format, {"parquet": "parquet", "csv": "csv"}, "load_sample format")
    return load(data_dir() / _SAMPLE_FILES[fmt], user="user_id", event="event", ts="ts")


def sample_truth() -> dict[str, LinkTruth]:
    """Return the true link probabilities of the bundled sample, by link.

    Examples
    --------
    >>> truth = sample_truth()
    >>> list(truth)
    ['activation', 'retention', 'revenue', 'referral']
    >>> truth["activation"].by_channel["ads"]
    0.14
    """
    data = json.loads(sample_path("truth").read_text(encoding="utf-8"))
    return {
        name: LinkTruth(overall=link["overall"], by_channel=link["by_channel"])
        for name, link in data["links"].items()
    }


def load_cdnow(*, orders: Literal["rows", "days"] = "rows") -> EventLog:
    """Load the CDNOW purchase log: real purchases of an online CD store, 1997-1998.

    Every purchase until the end of June 1998 by the 23,570 customers whose first-ever
    purchase at CDNOW was in January to March 1997. Size: 69,659 rows (255 of them exact
    duplicates); columns ``user_id`` (the 5-digit customer id, as text), ``event``
    (always ``purchase``: the file has no event column), ``ts`` (the purchase day,
    midnight UTC), ``number_of_cds`` and ``dollar_value``. Source: Fader & Hardie's CDNOW
    master file as shipped by the ``lifetimes`` package (MIT); see ``data/README.md``.

    Parameters
    ----------
    orders
        ``"rows"`` (default) keeps the file's rows as they are: a customer may have
        several rows on one day. ``"days"`` merges each customer's rows of one day into
        one purchase (summing CDs and dollars), the convention of repeat-buying models,
        so that a repeat purchase means a later day.

    Examples
    --------
    >>> log = load_cdnow()
    >>> log.report.rows_loaded, log.report.users
    (69659, 23570)
    >>> load_cdnow(orders="days").report.rows_loaded
    67591
    """
    from cfnb.loading import load  # late: cfnb/__init__ imports this package

    how = _pick(orders, {"rows": "rows", "days": "days"}, "load_cdnow orders")
    log = load(
        cdnow_path(),
        user="customer_id",
        ts="date",
        event_name="purchase",
        delimiter="whitespace",
        ts_format="%Y%m%d",
    )
    if how == "rows":
        return log
    by_day = (
        log.events.group_by("user_id", "event", "ts")
        .agg(pl.col("number_of_cds").sum(), pl.col("dollar_value").sum().round(2))
        .sort("user_id", "ts")
    )
    log.connection.close()
    return load(by_day, user="user_id", event="event", ts="ts")


def write_sample(directory: str | Path) -> dict[str, Path]:
    """Write the bundled sample's four files into ``directory``, byte for byte.

    ``sample_events.parquet`` and ``sample_events.csv`` (the events), ``sample_truth.json``
    (the truth) and ``sample_factory.toml`` (the default spec). The bytes depend only on
    :data:`SAMPLE_ARGS` and the pinned versions of numpy, polars and pyarrow, so
    ``data/make_sample.py`` reproduces the committed files exactly.

    Returns
    -------
    dict
        The written paths, by kind (``parquet``, ``csv``, ``truth``, ``spec``).
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    log = generate(**SAMPLE_ARGS)
    paths = {kind: folder / name for kind, name in _SAMPLE_FILES.items()}
    table = log.events.to_arrow().cast(_PARQUET_SCHEMA)
    # Fixed settings and no timestamps in the footer, so the bytes never change.
    pq.write_table(
        table,
        paths["parquet"],
        compression="zstd",
        compression_level=9,
        row_group_size=len(table),
        use_dictionary=True,
        write_statistics=True,
    )
    log.events.write_csv(paths["csv"], datetime_format=_CSV_TIME, line_terminator="\n")
    paths["truth"].write_text(log.truth_json(), encoding="utf-8", newline="\n")
    spec = log.spec()
    spec["name"] = "Sample SaaS factory"
    paths["spec"].write_text(spec_toml(spec, header=_SPEC_HEADER), encoding="utf-8", newline="\n")
    return paths


def _pick(value: str, choices: dict[str, str], what: str) -> str:
    if value not in choices:
        raise ValueError(
            f"Unknown {what} {value!r}; choose one of {', '.join(map(repr, choices))}."
            + did_you_mean(str(value), choices)
        )
    return choices[value]
