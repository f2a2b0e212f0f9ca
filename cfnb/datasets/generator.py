"""A deterministic SaaS event log whose true conversion rates are known.

:func:`generate` simulates the visitors of a small SaaS product through the five macro
steps of the Customer Factory and writes the raw event log they would leave behind:

============  ===================  =====================================================
step          event                notes
============  ===================  =====================================================
acquisition   ``visit``            property ``channel``; referred users also ``referrer``
activation    ``created_project``  after a ``signup``
retention     ``session``          a return visit to the product
revenue       ``purchase``         properties ``plan`` and ``amount``; monthly renewals
referral      ``invite_sent``      accepted invites bring new users (channel referral)
============  ===================  =====================================================

plus ``page_view`` and ``settings_opened`` events, exact duplicate rows, ties, and rows
out of time order, as in a real log.

How the truth stays recoverable
-------------------------------
Every user draws one outcome per link of the default spec (:func:`default_spec`): a user
of channel ``c`` activates with probability ``activation[c]``; an activated user retains
with probability ``retention[c]``; and so on. The event that realises a link is placed
strictly inside that stage's ``within`` (and the whole journey inside the spec's
``window``), while every *other* event of the same name is placed where the lifecycle
definition cannot pick it up: before the previous stage was reached, or after ``within``
has run out. So a user's link outcomes are all settled within :data:`HORIZON` of their
first visit (the sum of the stages' ``within``, which is also the ``window``).

Like a real export, the log does not stop acquiring users before it ends: visitors arrive
during all of ``weeks`` weeks, the log ends at the end of the last week, and the events
of late arrivals that would fall after that are not in the log (their journeys are cut).
On the *complete cohorts* (users whose first visit is at least :data:`HORIZON` before the
log's last timestamp, :attr:`GeneratedLog.complete_before`), the default spec's
lifecycle link rates equal :attr:`GeneratedLog.truth` in expectation, per channel and
(weighted by the channels' users at each link) overall.

Determinism
-----------
The same arguments give the same frame on every run and machine (with the pinned numpy
and polars): randomness comes from ``numpy.random.default_rng`` streams, one per concern,
so that overriding one link's rate leaves every user's channel and other outcomes as they
were. Only uniform draws are used, turned into times and counts with exact integer and
IEEE arithmetic (no ``log``/``exp``, whose last bit may differ between platforms).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import polars as pl

from cfnb.errors import did_you_mean

__all__ = [
    "CHANNELS",
    "DEFAULT_CHANNEL_MIX",
    "DEFAULT_RATES",
    "EVENTS",
    "HORIZON",
    "LINKS",
    "GeneratedLog",
    "LinkTruth",
    "default_spec",
    "generate",
    "spec_toml",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_SECOND: Final = 1_000_000
_MINUTE: Final = 60 * _SECOND
_HOUR: Final = 60 * _MINUTE
_DAY: Final = 24 * _HOUR
_WEEK: Final = 7 * _DAY

CHANNELS: Final = ("organic", "ads", "partner", "referral")
"""Acquisition channels, in the order used by every per-channel table."""

LINKS: Final = ("activation", "retention", "revenue", "referral")
"""The links of the default five-stage chain, each named after the stage it reaches."""

EVENTS: Final = (
    "visit",
    "page_view",
    "signup",
    "created_project",
    "session",
    "settings_opened",
    "purchase",
    "invite_sent",
)
"""Every event name :func:`generate` writes."""

DEFAULT_CHANNEL_MIX: Final[Mapping[str, float]] = {
    "organic": 0.38,
    "ads": 0.36,
    "partner": 0.14,
    "referral": 0.12,
}
"""Expected share of users arriving through each channel."""

# Ads buys many visitors who rarely activate (the manifesto's low-quality leads); partners
# and referrals bring fewer, better ones. The chain's weakest link is activation.
DEFAULT_RATES: Final[Mapping[str, Mapping[str, float]]] = {
    "activation": {"organic": 0.42, "ads": 0.14, "partner": 0.50, "referral": 0.55},
    "retention": {"organic": 0.62, "ads": 0.45, "partner": 0.70, "referral": 0.66},
    "revenue": {"organic": 0.36, "ads": 0.22, "partner": 0.52, "referral": 0.40},
    "referral": {"organic": 0.30, "ads": 0.15, "partner": 0.22, "referral": 0.38},
}
"""Per-channel probability of each link (reaching the stage given the previous one)."""

# The default spec: (stage name, event, within in days, target). Generation below is
# built around these numbers; tests check the generator's delays fit inside them.
_STAGES: Final = (
    ("Acquisition", "visit", None, None),
    ("Activation", "created_project", 14, 0.45),
    ("Retention", "session", 14, 0.65),
    ("Revenue", "purchase", 14, 0.40),
    ("Referral", "invite_sent", 14, 0.35),
)
_WINDOW_DAYS: Final = 56
_GOAL: Final = 100

HORIZON: Final = dt.timedelta(
    days=min(_WINDOW_DAYS, sum(days for _, _, days, _ in _STAGES if days is not None))
)
"""How long after their first visit a user's every link is settled under the default
spec: the sum of the stages' ``within`` capped by the ``window`` (56 days). A user whose
first visit is at least this long before the log's last timestamp is *complete*."""

# Delay profiles: piecewise-uniform densities, (low, high, weight) with high exclusive.
# Their upper ends are the generator's guarantee that `within` is never hit.
Profile = tuple[tuple[int, int, float], ...]
_SIGNUP: Final[Profile] = (
    (30 * _SECOND, 10 * _MINUTE, 0.5),
    (10 * _MINUTE, 2 * _HOUR, 0.3),
    (2 * _HOUR, _DAY, 0.2),
)
_ACTIVATE: Final[Profile] = (
    (_MINUTE, _HOUR, 0.35),
    (_HOUR, _DAY, 0.30),
    (_DAY, 3 * _DAY, 0.20),
    (3 * _DAY, 6 * _DAY, 0.15),
)
_RETURN: Final[Profile] = (
    (2 * _HOUR, _DAY, 0.30),
    (_DAY, 3 * _DAY, 0.35),
    (3 * _DAY, 7 * _DAY, 0.25),
    (7 * _DAY, 14 * _DAY, 0.10),
)
_PAY: Final[Profile] = (
    (0, _HOUR, 0.10),
    (_HOUR, _DAY, 0.25),
    (_DAY, 7 * _DAY, 0.40),
    (7 * _DAY, 14 * _DAY, 0.25),
)
# A share of first invites goes out in the same instant as the purchase (the checkout
# page offers it), so "at or after" is exercised with exact ties.
_REFER: Final[Profile] = (
    (0, 1, 0.12),
    (_SECOND, _DAY, 0.25),
    (_DAY, 7 * _DAY, 0.38),
    (7 * _DAY, 14 * _DAY, 0.25),
)
_LATE: Final[Profile] = ((_DAY, 30 * _DAY, 1.0),)  # after `within` has run out (plus a day)
_VISIT_GAP: Final[Profile] = (
    (10 * _MINUTE, _DAY, 0.35),
    (_DAY, 7 * _DAY, 0.40),
    (7 * _DAY, 21 * _DAY, 0.25),
)
_SESSION_GAP: Final[Profile] = (
    (3 * _HOUR, _DAY, 0.35),
    (_DAY, 3 * _DAY, 0.40),
    (3 * _DAY, 8 * _DAY, 0.25),
)
_SOON: Final[Profile] = ((_HOUR, _DAY, 0.4), (_DAY, 20 * _DAY, 0.6))
_CLICK: Final[Profile] = ((5 * _SECOND, 30 * _MINUTE, 1.0),)
_INVITE_TO_VISIT: Final[Profile] = ((10 * _MINUTE, _DAY, 0.7), (_DAY, 3 * _DAY, 0.3))

_PLANS: Final = ("basic", "pro", "team")
_PRICES: Final = (12.0, 29.0, 79.0)
_PLAN_MIX: Final = {  # by channel, in CHANNELS order
    "organic": (0.45, 0.45, 0.10),
    "ads": (0.60, 0.35, 0.05),
    "partner": (0.20, 0.40, 0.40),
    "referral": (0.40, 0.45, 0.15),
}
_ADS_FIRST_MONTH: Final = 0.75  # ads visitors get a promo price on their first month
_RENEWAL_EVERY: Final = 30 * _DAY

_DAY_OF_WEEK: Final = (1.0, 1.05, 1.05, 1.0, 0.9, 0.6, 0.55)  # Monday first
_HOUR_OF_DAY: Final = (
    0.3, 0.2, 0.15, 0.15, 0.2, 0.3, 0.5, 0.8, 1.1, 1.3, 1.4, 1.4,
    1.3, 1.4, 1.5, 1.5, 1.4, 1.3, 1.2, 1.1, 1.0, 0.8, 0.6, 0.4,
)  # fmt: skip

# One stream per concern, so that a change in one (a rate override) leaves the others.
# Append new names at the end: earlier streams keep their numbers.
_STREAMS: Final = (
    "channel",
    "arrival",
    "activation",
    "retention",
    "revenue",
    "referral",
    "behaviour",
    "timing",
    "chains",
    "links",
    "clicks",
    "noise",
)

_DUPLICATE_SHARE: Final = 0.012
_LATE_ROW_SHARE: Final = 0.03
_LATE_ROW_LAG: Final[Profile] = ((_MINUTE, _HOUR, 0.5), (_HOUR, 2 * _DAY, 0.5))
_LINK_ATTEMPTS: Final = 16


@dataclass(frozen=True)
class LinkTruth:
    """The true probability of one link, overall and per acquisition channel.

    Attributes
    ----------
    overall
        Probability that a user who reached the previous stage reaches this one, over the
        channel mix; ``None`` when no user can reach the previous stage.
    by_channel
        The same probability for users of each channel (keys: :data:`CHANNELS`).
    """

    overall: float | None
    by_channel: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Return the truth as plain JSON-ready data.

        Examples
        --------
        >>> LinkTruth(0.5, {"ads": 0.5}).to_dict()
        {'overall': 0.5, 'by_channel': {'ads': 0.5}}
        """
        return {"overall": self.overall, "by_channel": dict(self.by_channel)}


@dataclass(frozen=True)
class GeneratedLog:
    """An event log made by :func:`generate`, with the truth it was made from.

    Visitors arrive until the end of the log, so the users of the last weeks have not had
    the time to pass every link: their journeys are cut by the end of the log. Compare
    link rates with :attr:`truth` on the **complete cohorts** only: the users whose first
    visit is at or before :attr:`complete_before`, i.e. at least :data:`HORIZON` (the
    sum of the stages' ``within``, which is also the ``window``) before the log's last
    timestamp. On them the default spec's lifecycle link rates equal the truth in
    expectation, per channel. Overall, ``truth[link].overall`` weights the channels by
    :attr:`channel_mix`, while the complete cohorts hold slightly fewer referred users (a
    referred user needs an invite to answer, so the first weeks have few): the exact
    expectation of an overall rate is the per-channel truth weighted by each channel's
    users at the link, within about 0.01 of ``overall``.

    Attributes
    ----------
    events
        The raw log: ``user_id``, ``event``, ``ts`` (``Datetime("us", "UTC")``),
        ``channel``, ``plan``, ``amount``, ``referrer``; deliberately not sorted by time.
    truth
        :class:`LinkTruth` for each of :data:`LINKS`, under :func:`default_spec`.
    channel_mix
        The expected share of users of each channel.
    users, seed, weeks, growth
        As passed to :func:`generate`.
    start, end
        Users arrive in ``[start, end)``, ``weeks`` weeks; no event is at or after
        ``end``, so the journeys of the last arrivals are cut, as in a real export.
    untracked_referrals
        Users of channel ``referral`` with no ``referrer``: they arrived when no invite
        was open to answer. 0 in logs of a couple of months or more with default rates;
        more in very short logs, or when ``rates`` starve the referral loop.
    """

    events: pl.DataFrame = field(repr=False)
    truth: Mapping[str, LinkTruth] = field(repr=False)
    channel_mix: Mapping[str, float] = field(repr=False)
    users: int
    seed: int
    weeks: int
    growth: float
    start: dt.datetime
    end: dt.datetime
    untracked_referrals: int = 0

    @property
    def last_ts(self) -> dt.datetime:
        """The time of the log's last event (before :attr:`end`)."""
        return cast(dt.datetime, self.events["ts"].max())

    @property
    def complete_before(self) -> dt.datetime:
        """Users who first visit at or before this time are complete: :attr:`last_ts`
        minus :data:`HORIZON`.

        Examples
        --------
        >>> log = generate(users=300, weeks=12)
        >>> log.last_ts - log.complete_before == HORIZON
        True
        """
        return self.last_ts - HORIZON

    def spec(self) -> dict[str, Any]:
        """Return the default spec for this log (see :func:`default_spec`)."""
        return default_spec(name=f"Generated SaaS log (seed {self.seed}, {self.users} users)")

    def spec_toml(self) -> str:
        """Return :meth:`spec` as TOML text, the format ``cfnb run --stages`` reads."""
        return spec_toml(self.spec())

    def truth_dict(self) -> dict[str, Any]:
        """Return the truth and the arguments that made the log, as JSON-ready data.

        Examples
        --------
        >>> log = generate(users=200, weeks=4)
        >>> sorted(log.truth_dict()["links"])
        ['activation', 'referral', 'retention', 'revenue']
        """
        return {
            "generator": {
                "function": "cfnb.datasets.generate",
                "users": self.users,
                "seed": self.seed,
                "start": _iso(self.start),
                "weeks": self.weeks,
                "growth": self.growth,
                "end": _iso(self.end),
            },
            "channel_mix": dict(self.channel_mix),
            "links": {name: link.to_dict() for name, link in self.truth.items()},
        }

    def truth_json(self) -> str:
        """Return :meth:`truth_dict` as indented JSON text (ends with a newline)."""
        return json.dumps(self.truth_dict(), indent=2) + "\n"


def default_spec(name: str = "Sample SaaS factory") -> dict[str, Any]:
    """Return the default five-stage Customer Factory spec for generated logs.

    The spec is plain data in the public TOML shape (``tomli_w.dumps`` writes it):
    Acquisition (``visit``), Activation (``created_project`` within 14 days), Retention
    (``session`` within 14 days), Revenue (``purchase`` within 14 days) and Referral
    (``invite_sent`` within 14 days), each later stage with a target rate; a happy
    customer is a paying one (``happy = "Revenue"``), the window is 8 weeks, periods are
    weeks, users are segmented by ``channel`` and the goal at Scale is 100 happy
    customers a week.

    Parameters
    ----------
    name
        The spec's ``name``.

    Examples
    --------
    >>> spec = default_spec()
    >>> [(s["name"], s["event"]) for s in spec["stages"]][:2]
    [('Acquisition', 'visit'), ('Activation', 'created_project')]
    >>> spec["happy"], spec["window"]
    ('Revenue', '8w')
    """
    stages: list[dict[str, Any]] = []
    for stage_name, event, within, target in _STAGES:
        stage: dict[str, Any] = {"name": stage_name, "event": event}
        if within is not None:
            stage["within"] = f"{within}d"
        if target is not None:
            stage["target"] = target
        stages.append(stage)
    return {
        "name": name,
        "mode": "lifecycle",
        "window": f"{_WINDOW_DAYS // 7}w",
        "period": "week",
        "happy": "Revenue",
        "segment_by": ["channel"],
        "goal": _GOAL,
        "stages": stages,
    }


def spec_toml(spec: Mapping[str, Any], header: str = "") -> str:
    """Write a spec in the public TOML shape: top-level keys, then ``[[stages]]`` tables.

    Parameters
    ----------
    spec
        A spec as plain data (strings, numbers, lists of strings; ``stages`` a list of
        tables), such as :func:`default_spec` returns.
    header
        Comment lines to put first (each written with a leading ``# ``).

    Examples
    --------
    >>> print(spec_toml({"name": "demo", "stages": [{"name": "Acquisition", "event": "visit"}]}))
    name = "demo"
    <BLANKLINE>
    [[stages]]
    name = "Acquisition"
    event = "visit"
    <BLANKLINE>
    """
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    if lines:
        lines.append("")
    lines += [f"{key} = {_toml_value(value)}" for key, value in spec.items() if key != "stages"]
    for stage in spec.get("stages", ()):
        lines += ["", "[[stages]]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in stage.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"Cannot write {value!r} ({type(value).__name__}) as a spec value.")


def generate(
    users: int = 3000,
    seed: int = 0,
    start: str | dt.date | dt.datetime = "2026-01-05",
    weeks: int = 26,
    rates: Mapping[str, float | Mapping[str, float]] | None = None,
    *,
    channel_mix: Mapping[str, float] | None = None,
    growth: float = 0.01,
    noise: bool = True,
) -> GeneratedLog:
    """Generate a deterministic SaaS event log with known true link rates.

    Parameters
    ----------
    users
        Number of users; each has at least one ``visit``.
    seed
        Seed of ``numpy.random.default_rng``; the same arguments give the same frame.
    start
        First day of arrivals (ISO date or datetime, or a ``date``/``datetime``; naive
        values are UTC).
    weeks
        Length of the log in weeks. Users arrive during all of it, at a weekly rate that
        grows by ``growth`` each week; the log ends at the end of the last week, and
        events that would come later are not in it (the journeys of the last arrivals
        are cut, as in a real export; see :class:`GeneratedLog` on complete cohorts).
    rates
        Overrides of link probabilities, by link name (:data:`LINKS`). A number sets the
        link's overall probability: every channel's odds are scaled by one factor, so
        channels keep their order of quality. A mapping ``{channel: probability}`` sets
        those channels only. Example: ``{"revenue": 0.05}``.
    channel_mix
        Expected share of users per channel (:data:`CHANNELS`; missing channels get 0,
        shares are normalised). Default :data:`DEFAULT_CHANNEL_MIX`.
    growth
        Relative growth of the weekly arrival rate: ``0.01`` (default) for 1 % a week,
        ``0.0`` for a steady rate.
    noise
        When true (default), add exact duplicate rows and late-arriving rows, so the
        frame is not sorted by time. When false, no duplicates and rows sorted by time.

    Returns
    -------
    GeneratedLog
        ``.events`` (the frame) and ``.truth`` (the true link probabilities).

    Examples
    --------
    >>> log = generate(users=500, seed=1, weeks=8)
    >>> log.events.columns
    ['user_id', 'event', 'ts', 'channel', 'plan', 'amount', 'referrer']
    >>> log.events["user_id"].n_unique()
    500
    >>> round(log.truth["activation"].by_channel["ads"], 2)
    0.14
    >>> generate(users=500, seed=1, weeks=8).events.equals(log.events)
    True
    >>> weak = generate(users=500, seed=1, weeks=8, rates={"revenue": 0.05})
    >>> round(weak.truth["revenue"].overall, 6)
    0.05
    """
    _check_int("users", users, minimum=1)
    _check_int("seed", seed, minimum=0)
    _check_int("weeks", weeks, minimum=1)
    if not isinstance(growth, int | float) or isinstance(growth, bool) or not -0.5 < growth < 1.0:
        raise ValueError(
            f"growth must be a number between -0.5 and 1.0 (0.03 = 3 % a week), got {growth!r}."
        )
    start_dt = _parse_start(start)
    mix = _channel_mix(channel_mix)
    probs = _link_probabilities(rates, mix)
    truth = _truth(probs, mix)

    start_us = _to_us(start_dt)
    end_us = start_us + weeks * _WEEK
    sim = _Simulation(users, seed, probs, mix)
    rows, ts, referrer, untracked = sim.run(start_us, weeks, growth, end_us, start_dt.weekday())
    events = _frame(rows, ts, referrer, users, sim.streams["noise"], noise)
    return GeneratedLog(
        events=events,
        truth=truth,
        channel_mix=dict(zip(CHANNELS, mix, strict=True)),
        users=users,
        seed=seed,
        weeks=weeks,
        growth=float(growth),
        start=start_dt,
        end=_from_us(end_us),
        untracked_referrals=untracked,
    )


# --------------------------------------------------------------------------- arguments


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}.")


def _parse_start(value: str | dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, str):
        try:
            parsed: dt.date | dt.datetime = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"start must be an ISO date or datetime such as '2026-01-05', got {value!r}."
            ) from None
        value = parsed
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    raise ValueError(f"start must be an ISO date string, a date or a datetime, got {value!r}.")


def _channel_mix(mix: Mapping[str, float] | None) -> tuple[float, ...]:
    if mix is None:
        return tuple(DEFAULT_CHANNEL_MIX[c] for c in CHANNELS)
    for name, share in mix.items():
        if name not in CHANNELS:
            raise ValueError(
                f"Unknown channel {name!r} in channel_mix; channels are {', '.join(CHANNELS)}."
                + did_you_mean(name, CHANNELS)
            )
        if not isinstance(share, int | float) or isinstance(share, bool) or share < 0:
            raise ValueError(f"channel_mix[{name!r}] must be a share >= 0, got {share!r}.")
    total = 0.0
    for c in CHANNELS:
        total += float(mix.get(c, 0.0))
    if total <= 0:
        raise ValueError("channel_mix must give at least one channel a positive share.")
    return tuple(float(mix.get(c, 0.0)) / total for c in CHANNELS)


def _link_probabilities(
    rates: Mapping[str, float | Mapping[str, float]] | None, mix: Sequence[float]
) -> dict[str, tuple[float, ...]]:
    probs = {link: tuple(DEFAULT_RATES[link][c] for c in CHANNELS) for link in LINKS}
    if not rates:
        return probs
    for link, value in rates.items():
        if link not in LINKS:
            raise ValueError(
                f"Unknown link {link!r} in rates; links are {', '.join(LINKS)} (each the "
                "probability of reaching that stage from the previous one)."
                + did_you_mean(link, LINKS)
            )
        values = value.values() if isinstance(value, Mapping) else [value]
        for v in values:
            if not isinstance(v, int | float) or isinstance(v, bool) or not 0.0 <= v <= 1.0:
                raise ValueError(
                    f"rates[{link!r}] must be a probability between 0 and 1, got {v!r}."
                )
        if isinstance(value, Mapping):
            for name in value:
                if name not in CHANNELS:
                    raise ValueError(
                        f"Unknown channel {name!r} in rates[{link!r}]; channels are "
                        f"{', '.join(CHANNELS)}." + did_you_mean(name, CHANNELS)
                    )
    # In chain order: the weight of a channel in a link's overall rate is its share of
    # the users who reached the previous stage, which depends on the upstream links.
    for i, link in enumerate(LINKS):
        if link not in rates:
            continue
        value = rates[link]
        if isinstance(value, Mapping):
            probs[link] = tuple(
                float(value.get(c, p)) for c, p in zip(CHANNELS, probs[link], strict=True)
            )
        else:
            weights = _upstream_weights(probs, mix, LINKS[:i])
            probs[link] = _scale_odds(probs[link], weights, float(value), link)
    return probs


def _upstream_weights(
    probs: Mapping[str, tuple[float, ...]], mix: Sequence[float], upstream: Sequence[str]
) -> list[float]:
    weights = list(mix)
    for link in upstream:
        weights = [w * p for w, p in zip(weights, probs[link], strict=True)]
    return weights


def _weighted_mean(values: Sequence[float], weights: Sequence[float]) -> float | None:
    total = 0.0
    acc = 0.0
    for v, w in zip(values, weights, strict=True):
        total += w
        acc += w * v
    return None if total <= 0 else acc / total


def _odds_scaled(p: float, k: float) -> float:
    return k * p / (1.0 - p + k * p) if p < 1.0 else 1.0


def _scale_odds(
    probs: tuple[float, ...], weights: Sequence[float], target: float, link: str
) -> tuple[float, ...]:
    if sum(weights) <= 0:
        return tuple(target for _ in probs)  # nobody reaches this link; any value is true
    if target in (0.0, 1.0):
        return tuple(target for _ in probs)
    lowest = _weighted_mean([1.0 if p >= 1.0 else 0.0 for p in probs], weights)
    highest = _weighted_mean([1.0 if p > 0.0 else 0.0 for p in probs], weights)
    assert lowest is not None
    assert highest is not None
    if not lowest < target < highest:
        raise ValueError(
            f"rates[{link!r}] = {target} cannot be reached by scaling the channels' odds "
            f"(possible: {lowest:.3f} to {highest:.3f}); give per-channel rates instead, "
            f"e.g. rates={{{link!r}: {{'ads': {target}}}}}."
        )
    lo, hi = 0.0, 1.0  # bisection on t, with odds factor k = t / (1 - t)
    for _ in range(200):
        mid = (lo + hi) / 2
        k = mid / (1.0 - mid)
        mean = _weighted_mean([_odds_scaled(p, k) for p in probs], weights)
        assert mean is not None
        if mean < target:
            lo = mid
        else:
            hi = mid
    k = ((lo + hi) / 2) / (1.0 - (lo + hi) / 2)
    return tuple(_odds_scaled(p, k) for p in probs)


def _truth(probs: Mapping[str, tuple[float, ...]], mix: Sequence[float]) -> dict[str, LinkTruth]:
    truth = {}
    for i, link in enumerate(LINKS):
        weights = _upstream_weights(probs, mix, LINKS[:i])
        truth[link] = LinkTruth(
            overall=_weighted_mean(probs[link], weights),
            by_channel=dict(zip(CHANNELS, probs[link], strict=True)),
        )
    return truth


# --------------------------------------------------------------------------- time


def _to_us(value: dt.datetime) -> int:
    return (value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def _from_us(value: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=value)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- sampling


def _choice(u: FloatArray, weights: Sequence[float]) -> IntArray:
    """Index drawn from ``weights`` (need not sum to 1) for each uniform in ``u``."""
    cum = np.cumsum(np.asarray(weights, dtype=np.float64))
    idx: IntArray = np.minimum(np.searchsorted(cum, u * cum[-1], side="right"), len(weights) - 1)
    return idx.astype(np.int64)


def _draw(rng: np.random.Generator, profile: Profile, shape: int | tuple[int, ...]) -> IntArray:
    """Microsecond delays from a piecewise-uniform profile (always below its top)."""
    bucket = _choice(rng.random(shape), [w for _, _, w in profile])
    low = np.asarray([lo for lo, _, _ in profile], dtype=np.int64)[bucket]
    width = np.asarray([hi - lo for lo, hi, _ in profile], dtype=np.int64)[bucket]
    pos = np.floor(rng.random(shape) * width).astype(np.int64)
    return low + np.minimum(pos, width - 1)  # u * width can round up to width


def _strictly_between(u: FloatArray, low: IntArray, high: IntArray) -> IntArray:
    """A time in ``(low, high)`` for each pair (callers ensure ``high - low >= 2``)."""
    room = high - low - 1
    pos = np.floor(u * room).astype(np.int64)
    return low + 1 + np.clip(pos, 0, np.maximum(room - 1, 0))


def _leading_successes(u: FloatArray, keep: FloatArray) -> IntArray:
    """How many of each row's uniforms, from the left, fall below the row's ``keep``."""
    alive: BoolArray = np.logical_and.accumulate(u < keep[:, None], axis=1)
    count: IntArray = alive.sum(axis=1).astype(np.int64)
    return count


# --------------------------------------------------------------------------- simulation


@dataclass
class _Rows:
    """Columns of event rows under construction; times are offsets from first visit."""

    user: list[IntArray] = field(default_factory=list)
    offset: list[IntArray] = field(default_factory=list)
    event: list[IntArray] = field(default_factory=list)
    channel: list[IntArray] = field(default_factory=list)
    plan: list[IntArray] = field(default_factory=list)
    amount: list[FloatArray] = field(default_factory=list)

    def add(
        self,
        event: str,
        user: IntArray,
        offset: IntArray,
        *,
        channel: IntArray | None = None,
        plan: IntArray | None = None,
        amount: FloatArray | None = None,
    ) -> None:
        n = len(user)
        self.user.append(user.astype(np.int64))
        self.offset.append(offset.astype(np.int64))
        self.event.append(np.full(n, EVENTS.index(event), dtype=np.int64))
        self.channel.append(channel if channel is not None else np.full(n, -1, dtype=np.int64))
        self.plan.append(plan if plan is not None else np.full(n, -1, dtype=np.int64))
        self.amount.append(amount if amount is not None else np.full(n, np.nan))

    def concat(self) -> dict[str, npt.NDArray[Any]]:
        return {
            "user": np.concatenate(self.user),
            "offset": np.concatenate(self.offset),
            "event": np.concatenate(self.event),
            "channel": np.concatenate(self.channel),
            "plan": np.concatenate(self.plan),
            "amount": np.concatenate(self.amount),
        }


class _Simulation:
    """One run of the generator: draws, journeys, arrivals and the referral links."""

    def __init__(
        self, users: int, seed: int, probs: Mapping[str, tuple[float, ...]], mix: Sequence[float]
    ) -> None:
        children = np.random.SeedSequence(seed).spawn(len(_STREAMS))
        self.streams = {
            name: np.random.default_rng(child)
            for name, child in zip(_STREAMS, children, strict=True)
        }
        self.n = users
        self.probs = probs
        self.mix = mix

    def run(
        self, start_us: int, weeks: int, growth: float, end_us: int, weekday: int
    ) -> tuple[dict[str, npt.NDArray[Any]], IntArray, IntArray, int]:
        n = self.n
        s = self.streams
        channel = _choice(s["channel"].random(n), self.mix)
        p = {link: np.asarray(self.probs[link], dtype=np.float64)[channel] for link in LINKS}
        activated = s["activation"].random(n) < p["activation"]
        retained = activated & (s["retention"].random(n) < p["retention"])
        paid = retained & (s["revenue"].random(n) < p["revenue"])
        referring = paid & (s["referral"].random(n) < p["referral"])

        rows = _Rows()
        idx = np.arange(n, dtype=np.int64)
        b = s["behaviour"].random((n, 24))
        t = s["timing"]

        # Offsets of each user's journey from their first visit. Drawn for every user,
        # used by some: the draws do not depend on outcomes, so overriding one link's
        # rate changes nothing else.
        signup = _draw(t, _SIGNUP, n)
        o1 = signup + _draw(t, _ACTIVATE, n)
        o2 = o1 + _draw(t, _RETURN, n)
        o3 = o2 + _draw(t, _PAY, n)
        o4 = o3 + _draw(t, _REFER, n)
        late = {name: _draw(t, _LATE, n) for name in ("project", "session", "purchase", "invite")}
        soon = {name: _draw(t, _SOON, n) for name in ("session", "purchase", "invite")}
        within = {event: days * _DAY for _, event, days, _ in _STAGES if days is not None}

        # acquisition: the first visit carries the channel; some users come back later
        rows.add("visit", idx, np.zeros(n, dtype=np.int64), channel=channel)
        returns = _choice(b[:, 0], (0.62, 0.22, 0.10, 0.06))
        gaps = _draw(t, _VISIT_GAP, (n, 3))
        rv_users, rv_offsets = _series(idx, gaps[:, 0], gaps[:, 1:], returns)
        direct = b[:, 1] < 0.6  # most return visits come straight back, not via the channel
        as_direct = direct[rv_users] & (channel[rv_users] != CHANNELS.index("referral"))
        rv_channel = np.where(as_direct, CHANNELS.index("organic"), channel[rv_users])
        rows.add("visit", rv_users, rv_offsets, channel=rv_channel)

        # activation: signup, then created_project strictly inside `within`
        signed_up = activated | (b[:, 2] < 0.45)
        rows.add("signup", idx[signed_up], signup[signed_up])
        rows.add("created_project", idx[activated], o1[activated])
        more = _choice(b[:, 3], (0.5, 0.3, 0.15, 0.05))
        extra_gaps = _draw(t, _SESSION_GAP, (n, 3))
        act = idx[activated]
        mp_users, mp_offsets = _series(
            act, o1[act] + extra_gaps[act, 0], extra_gaps[act, 1:], more[act]
        )
        rows.add("created_project", mp_users, mp_offsets)
        late_activator = signed_up & ~activated & (b[:, 4] < 0.08)
        late_project = signup + within["created_project"] + late["project"]
        rows.add("created_project", idx[late_activator], late_project[late_activator])

        # retention: sessions. Pre-activation sessions fall strictly before activation;
        # a non-retained user's comeback comes after `within` has run out.
        pre = activated & (b[:, 5] < 0.3) & (o1 - signup >= 2)
        rows.add("session", idx[pre], _strictly_between(b[:, 6], signup, o1)[pre])
        comeback = activated & ~retained & (b[:, 7] < 0.15)
        dabbler = signed_up & ~activated & (b[:, 8] < 0.15)
        chain_start = np.where(
            retained,
            o2,
            np.where(comeback, o1 + within["session"] + late["session"], signup + soon["session"]),
        )
        has_chain = retained | comeback | dabbler
        keep = np.where(paid, 0.97, np.where(retained, 0.93, 0.6))
        chains = self.streams["chains"]
        session_gaps = _draw(chains, _SESSION_GAP, (n, 80))
        sessions = 1 + _leading_successes(chains.random((n, 80)), keep)
        s_users, s_offsets = _series(
            idx[has_chain], chain_start[has_chain], session_gaps[has_chain], sessions[has_chain]
        )
        rows.add("session", s_users, s_offsets)

        settings_tie = activated & (b[:, 9] < 0.2)
        rows.add("settings_opened", idx[settings_tie], o1[settings_tie])
        settings = _choice(b[:, 10], (0.5, 0.3, 0.2))
        st_gaps = _draw(t, _SOON, (n, 2))
        st_users, st_offsets = _series(
            act, o1[act] + st_gaps[act, 0], st_gaps[act, 1:], settings[act]
        )
        rows.add("settings_opened", st_users, st_offsets)

        # revenue: a subscription with monthly renewals. Retained non-payers who buy do
        # so after `within`; users never retained may buy any time (it cannot count).
        plan = np.zeros(n, dtype=np.int64)
        for c, name in enumerate(CHANNELS):
            mask = channel == c
            plan[mask] = _choice(b[mask, 11], _PLAN_MIX[name])
        late_payer = retained & ~paid & (b[:, 12] < 0.10)
        casual_payer = ((activated & ~retained) & (b[:, 13] < 0.03)) | (
            signed_up & ~activated & (b[:, 13] < 0.01)
        )
        sub_start = np.where(
            paid,
            o3,
            np.where(
                late_payer, o2 + within["purchase"] + late["purchase"], signup + soon["purchase"]
            ),
        )
        has_sub = paid | late_payer | casual_payer
        renewals = _leading_successes(chains.random((n, 12)), np.full(n, 0.9))
        price = np.asarray(_PRICES)[plan]
        first_price = np.where(channel == CHANNELS.index("ads"), price * _ADS_FIRST_MONTH, price)
        rows.add(
            "purchase",
            idx[has_sub],
            sub_start[has_sub],
            plan=plan[has_sub],
            amount=first_price[has_sub],
        )
        month = np.arange(1, 13, dtype=np.int64)[None, :]
        renewal_at = sub_start[:, None] + month * _RENEWAL_EVERY
        renewal_mask = has_sub[:, None] & (month <= renewals[:, None])
        r_users = np.broadcast_to(idx[:, None], renewal_at.shape)[renewal_mask]
        rows.add(
            "purchase", r_users, renewal_at[renewal_mask], plan=plan[r_users], amount=price[r_users]
        )

        # referral: invites. A payer's invites before paying fall strictly before it;
        # a non-referring payer's later invite comes after `within`.
        invites = _Rows()
        more_invites = _choice(b[:, 14], (0.3, 0.3, 0.2, 0.1, 0.1))
        inv_gaps = _draw(t, _SOON, (n, 5))
        invites.add("invite_sent", idx[referring], o4[referring])
        eu, eo = _independent(
            idx[referring], o4[referring], inv_gaps[referring], more_invites[referring]
        )
        invites.add("invite_sent", eu, eo)
        before_pay = paid & (b[:, 15] < 0.12) & (o3 - o1 >= 2)
        invites.add("invite_sent", idx[before_pay], _strictly_between(b[:, 16], o1, o3)[before_pay])
        late_referrer = paid & ~referring & (b[:, 17] < 0.10)
        late_invite = o3 + within["invite_sent"] + late["invite"]
        invites.add("invite_sent", idx[late_referrer], late_invite[late_referrer])
        team = activated & ~paid & (b[:, 18] < 0.30)
        team_size = 1 + _choice(b[:, 19], (0.4, 0.3, 0.2, 0.1))
        tu, to = _independent(idx[team], o1[team], inv_gaps[team, 1:], team_size[team])
        invites.add("invite_sent", tu, to)
        stray = signed_up & ~activated & (b[:, 20] < 0.02)
        invites.add("invite_sent", idx[stray], (signup + soon["invite"])[stray])
        inv = invites.concat()

        t0, referrer, untracked = self._arrivals(
            channel, inv, start_us, weeks, growth, end_us, weekday
        )
        for key in ("user", "offset", "event", "channel", "plan", "amount"):
            getattr(rows, key).append(inv[key])
        data = rows.concat()
        self._clicks(data)
        ts = t0[data["user"]] + data["offset"]
        inside = ts < end_us  # the end of the log cuts what comes later, as in an export
        data = {key: col[inside] for key, col in data.items()}
        return data, ts[inside], referrer, untracked

    def _arrivals(
        self,
        channel: IntArray,
        inv: Mapping[str, npt.NDArray[Any]],
        start_us: int,
        weeks: int,
        growth: float,
        end_us: int,
        weekday: int,
    ) -> tuple[IntArray, IntArray, int]:
        """First-visit times: a growing weekly rate; referred users answer an open invite."""
        n = self.n
        rng = self.streams["arrival"]
        week_weight = [1.0]
        for _ in range(weeks - 1):
            week_weight.append(week_weight[-1] * (1.0 + growth))
        slots = np.asarray(
            [
                week_weight[d // 7] * _DAY_OF_WEEK[(weekday + d) % 7] * h
                for d in range(weeks * 7)
                for h in _HOUR_OF_DAY
            ]
        )
        slot = _choice(rng.random(n), slots.tolist())
        within_hour = np.minimum(np.floor(rng.random(n) * _HOUR).astype(np.int64), _HOUR - 1)
        arrival = start_us + slot * _HOUR + within_hour

        referral = CHANNELS.index("referral")
        t0 = np.empty(n, dtype=np.int64)
        base = channel != referral
        t0[base] = np.sort(arrival[base])  # user ids rise with arrival time among the rest
        referrer = np.full(n, -1, dtype=np.int64)

        # Each referred user answers one open invite, chosen at random, arriving shortly
        # after it; then their own invites open. An invite is answered at most once.
        order = np.argsort(inv["user"], kind="stable")
        inv_user = inv["user"][order]
        inv_offset = inv["offset"][order]
        first = np.searchsorted(inv_user, np.arange(n + 1))
        pool_ts: list[int] = []
        pool_user: list[int] = []

        def open_invites(u: int) -> None:
            times = t0[u] + inv_offset[first[u] : first[u + 1]]
            for at in times[times < end_us].tolist():
                pool_ts.append(at)
                pool_user.append(u)

        for u in np.flatnonzero(base).tolist():
            open_invites(u)
        links = self.streams["links"]
        referred = np.flatnonzero(~base)
        pick = links.random((len(referred), _LINK_ATTEMPTS))
        delay = _draw(links, _INVITE_TO_VISIT, (len(referred), _LINK_ATTEMPTS))
        untracked = 0
        for k, u in enumerate(referred.tolist()):
            for a in range(_LINK_ATTEMPTS):
                m = len(pool_ts)
                if m == 0:
                    break
                j = min(int(pick[k, a] * m), m - 1)
                at = pool_ts[j] + int(delay[k, a])
                if at < end_us:
                    t0[u] = at
                    referrer[u] = pool_user[j]
                    pool_ts[j], pool_user[j] = pool_ts[-1], pool_user[-1]
                    pool_ts.pop()
                    pool_user.pop()
                    break
            if referrer[u] < 0:
                t0[u] = arrival[u]  # no open invite: word of mouth nobody tracked
                untracked += 1
            open_invites(u)
        return t0, referrer, untracked

    def _clicks(self, data: dict[str, npt.NDArray[Any]]) -> None:
        """Add page views: one in the same instant as each visit (a tie), more after."""
        rng = self.streams["clicks"]
        for event, weights in (("visit", (0.5, 0.3, 0.2)), ("session", (0.45, 0.35, 0.2))):
            at = data["event"] == EVENTS.index(event)
            users = data["user"][at]
            offsets = data["offset"][at]
            m = len(users)
            extra = _choice(rng.random(m), weights)
            gaps = _draw(rng, _CLICK, (m, 2))
            if event == "visit":  # the landing page, in the same microsecond as the visit
                pv_users, pv_offsets = _series(users, offsets, gaps, 1 + extra)
            else:
                pv_users, pv_offsets = _series(users, offsets + gaps[:, 0], gaps[:, 1:], extra)
            n_new = len(pv_users)
            for key, values in (
                ("user", pv_users),
                ("offset", pv_offsets),
                ("event", np.full(n_new, EVENTS.index("page_view"), dtype=np.int64)),
                ("channel", np.full(n_new, -1, dtype=np.int64)),
                ("plan", np.full(n_new, -1, dtype=np.int64)),
                ("amount", np.full(n_new, np.nan)),
            ):
                data[key] = np.concatenate([data[key], values])


def _series(
    user: IntArray, starts: IntArray, gaps: IntArray, counts: IntArray
) -> tuple[IntArray, IntArray]:
    """``counts[i]`` times per user: ``starts[i]``, then one after each of ``gaps[i]``."""
    k = gaps.shape[1] + 1
    times = np.concatenate([starts[:, None], starts[:, None] + np.cumsum(gaps, axis=1)], axis=1)
    mask = np.arange(k)[None, :] < np.minimum(counts, k)[:, None]
    return np.broadcast_to(user[:, None], times.shape)[mask], times[mask]


def _independent(
    user: IntArray, base: IntArray, delays: IntArray, counts: IntArray
) -> tuple[IntArray, IntArray]:
    """``counts[i]`` times per user, each ``base[i]`` plus its own delay."""
    k = delays.shape[1]
    mask = np.arange(k)[None, :] < np.minimum(counts, k)[:, None]
    times = base[:, None] + delays
    return np.broadcast_to(user[:, None], times.shape)[mask], times[mask]


# --------------------------------------------------------------------------- frame


def _frame(
    data: Mapping[str, npt.NDArray[Any]],
    ts: IntArray,
    referrer: IntArray,
    users: int,
    rng: np.random.Generator,
    noise: bool,
) -> pl.DataFrame:
    user = data["user"]
    event = data["event"]
    is_visit = event == EVENTS.index("visit")
    ref = np.where(is_visit, referrer[user], -1)
    columns = {
        "user": user,
        "event": event,
        "ts": ts,
        "channel": data["channel"],
        "plan": data["plan"],
        "amount": data["amount"],
        "ref": ref,
    }
    m = len(ts)
    if noise:
        dup = np.flatnonzero(rng.random(m) < _DUPLICATE_SHARE)
        columns = {key: np.concatenate([col, col[dup]]) for key, col in columns.items()}
        m = len(columns["ts"])
        # Rows reach the log in the order they were sent, and some are sent late.
        lag = np.where(rng.random(m) < _LATE_ROW_SHARE, _draw(rng, _LATE_ROW_LAG, m), 0)
        order = np.lexsort((np.arange(m), columns["ts"] + lag))
    else:
        order = np.lexsort((np.arange(m), columns["event"], columns["user"], columns["ts"]))
    columns = {key: col[order] for key, col in columns.items()}

    width = max(6, len(str(users)))
    ids = pl.Series("id", [f"u{i + 1:0{width}d}" for i in range(users)], dtype=pl.String)

    def names(codes: IntArray, labels: Sequence[str]) -> pl.Series:
        index = pl.Series(codes, dtype=pl.Int64)
        index = pl.select(pl.when(index >= 0).then(index)).to_series()
        return pl.Series(list(labels), dtype=pl.String).gather(index)

    def user_ids(codes: IntArray) -> pl.Series:
        index = pl.Series(codes, dtype=pl.Int64)
        return ids.gather(pl.select(pl.when(index >= 0).then(index)).to_series())

    return pl.DataFrame(
        {
            "user_id": user_ids(columns["user"]),
            "event": names(columns["event"], EVENTS),
            "ts": pl.Series(columns["ts"], dtype=pl.Int64)
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC"),
            "channel": names(columns["channel"], CHANNELS),
            "plan": names(columns["plan"], _PLANS),
            "amount": pl.Series(columns["amount"], dtype=pl.Float64, nan_to_null=True),
            "referrer": user_ids(columns["ref"]),
        }
    )
