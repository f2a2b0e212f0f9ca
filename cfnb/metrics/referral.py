"""Referral: who brings whom, and the viral coefficient (DESIGN.md §5).

Semantics, exactly:

* **Referrer of a user**: the ``referrer`` value on the user's acquisition row. It is
  read from the journeys table when it is a segment column there (it then holds the
  value on the acquisition event); otherwise from the events at the user's ``reach_0``
  instant (the smallest non-null value when several events share that instant).
* **Referred user**: an acquired user whose referrer is a *known user* (another user of
  the journeys table; a user cannot refer themself). Unknown referrer values (campaign
  codes, deleted accounts) do not count.
* **Inviters** (when ``invite`` is given): acquired users with at least one event
  matching ``invite`` at or after their ``reach_0``; ``invites`` counts those events.
* **Referrers**: acquired users who brought at least one referred user.
* **Viral coefficient** ``k`` of a cohort: the referred users brought by the cohort's
  members divided by the cohort's acquired users, i.e. referred acquired users per
  acquired user, credited to the *referrer's* cohort. With invites it factors exactly as
  ``k = invites_per_user x invite_conversion`` (``invite_conversion`` = referred users /
  invites). Recent cohorts have had less time to refer, so their ``k`` is still growing.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from cfnb.errors import MetricError
from cfnb.metrics._inputs import (
    JourneysLike,
    PredicateLike,
    check_journeys,
    events_frame,
    filter_events,
    predicate_expr,
)
from cfnb.metrics._render import html_table, json_rows, pct
from cfnb.periods import UTC_US, period_start

__all__ = ["ReferralResult", "referral", "referred_pairs"]

_SCHEMA = {
    "cohort": pl.Date,
    "users": pl.Int64,
    "inviters": pl.Int64,
    "inviter_share": pl.Float64,
    "invites": pl.Int64,
    "invites_per_user": pl.Float64,
    "invite_conversion": pl.Float64,
    "referred": pl.Int64,
    "k": pl.Float64,
    "referrers": pl.Int64,
    "referrer_share": pl.Float64,
    "referred_in": pl.Int64,
    "referred_in_share": pl.Float64,
}


@dataclass(frozen=True)
class ReferralResult:
    """Referral per cohort and overall (semantics in the module docstring).

    ``table`` has one row per cohort (period of ``reach_0``) and ``overall`` one row for
    all users, both with: ``users`` (acquired), ``inviters``/``inviter_share``,
    ``invites``/``invites_per_user``, ``invite_conversion`` (referred per invite),
    ``referred`` (users brought by these users), ``k`` (referred per acquired user),
    ``referrers``/``referrer_share`` (users who brought someone), ``referred_in``/
    ``referred_in_share`` (these users who were themselves referred). Invite columns are
    null when no ``invite`` condition was given; a share of 0 users is null.

    Examples
    --------
    >>> result = referral(journeys, events, invite="invite_sent")  # doctest: +SKIP
    >>> result.k                                                    # doctest: +SKIP
    0.12
    """

    period: str
    table: pl.DataFrame
    overall: pl.DataFrame

    @property
    def k(self) -> float | None:
        """The overall viral coefficient (referred acquired users per acquired user)."""
        value = self.overall["k"].item() if self.overall.height else None
        return None if value is None else float(value)

    @property
    def referrer_share(self) -> float | None:
        """The overall share of acquired users who brought at least one referred user."""
        value = self.overall["referrer_share"].item() if self.overall.height else None
        return None if value is None else float(value)

    @property
    def summary(self) -> str:
        """The overall numbers in one sentence."""
        row = self.overall.row(0, named=True)
        if not row["users"]:
            return "Referral: no acquired users yet"
        text = (
            f"Viral coefficient k = {row['k']:.2f}: {row['referred']:,} referred "
            f"{'user' if row['referred'] == 1 else 'users'} from {row['users']:,} acquired; "
            f"{pct(row['referrer_share'])} of users brought someone"
        )
        if row["inviters"] is not None:
            conv = row["invite_conversion"]
            text += (
                f", {pct(row['inviter_share'])} sent an invite ({row['invites_per_user']:.2f} "
                f"invites per user x {pct(conv)} converted)"
            )
        return text

    def to_dict(self) -> dict[str, object]:
        """JSON-ready cohorts and overall row."""
        return {
            "period": self.period,
            "summary": self.summary,
            "overall": json_rows(self.overall)[0],
            "cohorts": json_rows(self.table),
        }

    def _repr_html_(self) -> str:
        return html_table(
            self.table,
            title="Referral",
            rates=("inviter_share", "invite_conversion", "referrer_share", "referred_in_share"),
            lead=self.summary,
        )

    def __str__(self) -> str:
        return self.summary


def _referrers(journeys: JourneysLike, frame: pl.DataFrame | None, column: str) -> pl.DataFrame:
    """``user_id, _referrer``: the referrer on each user's acquisition row (from the
    events: only for users with one)."""
    table = journeys.table
    if column in table.columns:
        return table.select("user_id", _referrer=pl.col(column).cast(pl.String))
    if frame is not None and column in frame.columns:
        at_reach = (
            # Rows with a referrer are few: keep only them before joining to the users.
            frame.filter(pl.col(column).is_not_null())
            .select("user_id", pl.col("ts").cast(UTC_US), pl.col(column).cast(pl.String))
            .join(table.select("user_id", "reach_0"), on="user_id")
            .filter(pl.col("ts") == pl.col("reach_0"))
            .group_by("user_id")
            .agg(_referrer=pl.col(column).min())
        )
        return at_reach  # users without a referrer refer nobody: no row
    have = sorted(set(table.columns) | set(frame.columns if frame is not None else []))
    raise MetricError(
        f"no referrer column {column!r} in the journeys or the events (columns: "
        f"{', '.join(have)}): pass referrer='<column>' naming the column that holds the "
        "referring user's id"
    )


def referred_pairs(
    journeys: JourneysLike, events: pl.DataFrame | None, referrer: str = "referrer"
) -> pl.DataFrame:
    """``user_id, _referrer`` for every referred user (a known, other user referred them).

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from types import SimpleNamespace as NS
    >>> t = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    >>> table = pl.DataFrame({"user_id": ["a", "b", "c"], "reach_0": [t] * 3,
    ...                       "referrer": ["b", "a", "x"]})
    >>> referred_pairs(NS(table=table), None).sort("user_id").rows()
    [('a', 'b'), ('b', 'a')]
    """
    refs = _referrers(journeys, events, referrer).filter(
        pl.col("_referrer").is_not_null(), pl.col("_referrer") != pl.col("user_id")
    )
    # Looked up in the few referrers, not the users in a hash of every user id.
    ids = journeys.table["user_id"]
    known = ids.filter(ids.is_in(refs["_referrer"].implode()))
    return refs.filter(pl.col("_referrer").is_in(known.implode()))


def _share(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num / den)


def referral(
    journeys: JourneysLike,
    events: object,
    *,
    invite: pl.Expr | PredicateLike | str | None = None,
    referrer: str = "referrer",
) -> ReferralResult:
    """Share of users who refer, referred users and the viral coefficient, per cohort.

    Parameters
    ----------
    journeys : Journeys
        One row per acquired user.
    events : pl.DataFrame or EventLog
        The events (for invites, and for the referrer when it is not a journeys column).
    invite : predicate, pl.Expr or str, optional
        Which events are invites (a string is an event name). Without it the invite
        columns are null and referring means "brought a referred user".
    referrer : str
        The column holding the referring user's id on the acquisition row.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from types import SimpleNamespace as NS
    >>> t = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    >>> table = pl.DataFrame({"user_id": ["a", "b", "c"], "reach_0": [t, t, t],
    ...                       "referrer": [None, "a", "nobody"]})
    >>> events = pl.DataFrame({"user_id": ["a", "a"], "event": ["invite", "invite"], "ts": [t, t]})
    >>> r = referral(NS(table=table, stages=("Acquisition",), period="week", last_ts=t),
    ...              events, invite="invite")
    >>> r.overall.select("users", "referred", "k", "invites", "invite_conversion").row(0)
    (3, 1, 0.3333333333333333, 2, 0.5)
    """
    check_journeys(journeys)
    frame = events_frame(events) if events is not None else None
    period = journeys.period
    table = journeys.table
    valid = referred_pairs(journeys, frame, referrer)

    brought = valid.group_by(pl.col("_referrer").alias("user_id")).agg(_brought=pl.len())
    referred = valid.select("user_id", _was_referred=pl.lit(True)).unique()
    extra = brought.join(referred, on="user_id", how="full", coalesce=True)
    if invite is not None:
        if frame is None:
            raise MetricError("invite= needs the events: pass them as the second argument")
        sent = (
            filter_events(frame, predicate_expr(invite, "invite"), "invite")
            .select("user_id", pl.col("ts").cast(UTC_US))
            .join(table.select("user_id", "reach_0"), on="user_id")
            .filter(pl.col("ts") >= pl.col("reach_0"))
            .group_by("user_id")
            .agg(_invites=pl.len())
        )
        extra = extra.join(sent, on="user_id", how="full", coalesce=True)
    else:
        extra = extra.with_columns(_invites=pl.lit(None, pl.Int64))
    # Every count is a sum over users, and a user who brought, was referred or invited
    # no one adds 0 to it: the few who did are summed apart from the head count.
    extra = extra.with_columns(
        pl.col("_brought").fill_null(0),
        pl.col("_was_referred").fill_null(False),
        pl.col("_invites").fill_null(0) if invite is not None else pl.col("_invites"),
    )
    cohorts = table.select("user_id", cohort=period_start(pl.col("reach_0"), period))
    found = extra.join(cohorts, on="user_id")

    counted = invite is not None
    sums: list[pl.Expr] = [
        ((pl.col("_invites") > 0).sum() if counted else pl.lit(None))
        .cast(pl.Int64)
        .alias("inviters"),
        (pl.col("_invites").sum() if counted else pl.lit(None)).cast(pl.Int64).alias("invites"),
        pl.col("_brought").sum().cast(pl.Int64).alias("referred"),
        (pl.col("_brought") > 0).sum().cast(pl.Int64).alias("referrers"),
        pl.col("_was_referred").sum().cast(pl.Int64).alias("referred_in"),
    ]
    zero = [pl.col(c).fill_null(0) for c in ("referred", "referrers", "referred_in")]
    if counted:
        zero += [pl.col(c).fill_null(0) for c in ("inviters", "invites")]
    ratios: list[pl.Expr] = [
        _share(pl.col("inviters"), pl.col("users")).alias("inviter_share"),
        _share(pl.col("invites"), pl.col("users")).alias("invites_per_user"),
        _share(pl.col("referred"), pl.col("invites")).alias("invite_conversion"),
        _share(pl.col("referred"), pl.col("users")).alias("k"),
        _share(pl.col("referrers"), pl.col("users")).alias("referrer_share"),
        _share(pl.col("referred_in"), pl.col("users")).alias("referred_in_share"),
    ]
    heads = cohorts.group_by("cohort").agg(pl.len().cast(pl.Int64).alias("users"))
    by_cohort = (
        heads.join(found.group_by("cohort").agg(sums), on="cohort", how="left")
        .with_columns(zero)
        .with_columns(ratios)
        .select(list(_SCHEMA))
        .sort("cohort")
    )
    overall_schema = {k: v for k, v in _SCHEMA.items() if k != "cohort"}
    overall = (
        found.select(sums)
        .with_columns(pl.lit(cohorts.height, pl.Int64).alias("users"))
        .with_columns(ratios)
        .select(list(overall_schema))
    )
    return ReferralResult(
        period=period,
        table=by_cohort.cast(pl.Schema(_SCHEMA)),
        overall=overall.cast(pl.Schema(overall_schema)),
    )
