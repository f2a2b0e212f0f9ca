"""cfnb.datasets: the generator with known truth, the bundled sample, CDNOW."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import runpy
import sys
import tomllib
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from cfnb import datasets
from cfnb.datasets import CHANNELS, EVENTS, LINKS, generate
from cfnb.journeys import build_journeys
from cfnb.metrics.constraint import constraint
from cfnb.metrics.throughput import business_stage, throughput
from cfnb.spec import Factory

REPO = Path(__file__).resolve().parent.parent
CDNOW_SHA256 = "08372bb3b2f61aecf3bb876b17522794e110f76f489dc85c822d00065227f7b5"


# --------------------------------------------------------------------------- helpers


def duration(text: str) -> dt.timedelta:
    units = {"d": "days", "w": "weeks", "h": "hours"}
    return dt.timedelta(**{units[text[-1]]: int(text[:-1])})


def as_float(value: object) -> float:
    """A Polars scalar (a count, a sum, a mean) as a float, for typed comparisons."""
    assert isinstance(value, int | float), value
    return float(value)


def as_datetime(value: object) -> dt.datetime:
    """A Polars datetime scalar (a min or max of ``ts``), typed."""
    assert isinstance(value, dt.datetime), value
    return value


def lifecycle(events: pl.DataFrame, spec: dict[str, Any]) -> pl.DataFrame:
    """Reach times under the spec, computed the plain way: one join per stage.

    A user enters at their first visit; stage i is the first matching event at or after
    stage i-1, counted if within the stage's ``within`` and the spec's ``window``.
    Columns: ``user_id``, ``channel`` (of the first visit), ``reach_0`` … ``reach_4``.
    """
    window = duration(spec["window"])
    first, *later = spec["stages"]
    reach = (
        events.filter(pl.col("event") == first["event"])
        .sort("ts")
        .group_by("user_id")
        .agg(pl.col("ts").first().alias("reach_0"), pl.col("channel").first())
    )
    for i, stage in enumerate(later, start=1):
        prev = f"reach_{i - 1}"
        candidates = (
            events.filter(pl.col("event") == stage["event"])
            .join(reach.select("user_id", prev), on="user_id")
            .filter(pl.col("ts") >= pl.col(prev))
            .group_by("user_id")
            .agg(pl.col("ts").min().alias("first"))
        )
        reach = (
            reach.join(candidates, on="user_id", how="left")
            .with_columns(
                pl.when(
                    (pl.col("first") - pl.col(prev) <= duration(stage["within"]))
                    & (pl.col("first") - pl.col("reach_0") <= window)
                )
                .then(pl.col("first"))
                .alias(f"reach_{i}")
            )
            .drop("first")
        )
    return reach


def link_counts(reach: pl.DataFrame) -> pl.DataFrame:
    """Users at the start and end of each link, overall and per channel."""
    rows = []
    for i, link in enumerate(LINKS, start=1):
        for channel in ("overall", *CHANNELS):
            group = reach if channel == "overall" else reach.filter(pl.col("channel") == channel)
            rows.append(
                {
                    "link": link,
                    "channel": channel,
                    "entered": group[f"reach_{i - 1}"].is_not_null().sum(),
                    "reached": group[f"reach_{i}"].is_not_null().sum(),
                }
            )
    return pl.DataFrame(rows)


def true_rate(log: datasets.GeneratedLog, link: str, channel: str) -> float:
    truth = log.truth[link]
    value = truth.overall if channel == "overall" else truth.by_channel[channel]
    assert value is not None
    return value


def complete(reach: pl.DataFrame, log: datasets.GeneratedLog) -> pl.DataFrame:
    """The complete cohorts: users first seen at least the horizon before the last event.

    The log ends while users still arrive, so the last arrivals' journeys are cut; only
    users with the full ``HORIZON`` (sum of the ``within``s, also the window) inside the
    log can be compared with the truth.
    """
    return reach.filter(pl.col("reach_0") <= log.complete_before)


def expected_rate(
    counts: pl.DataFrame, log: datasets.GeneratedLog, link: str, channel: str
) -> float:
    """The true rate of one row of ``link_counts``, given who entered the link.

    Per channel, the truth. Overall, the per-channel truth weighted by each channel's
    users at the link's entry. (``truth.overall`` weights by the expected channel mix; the
    complete cohorts hold slightly fewer referred users, who need an invite to answer and
    so are rare in the first weeks.)
    """
    if channel != "overall":
        return true_rate(log, link, channel)
    rows = counts.filter(pl.col("link") == link, pl.col("channel") != "overall")
    reached = math.fsum(
        r["entered"] * true_rate(log, link, r["channel"]) for r in rows.iter_rows(named=True)
    )
    return reached / as_float(rows["entered"].sum())


@pytest.fixture(scope="module")
def big() -> datasets.GeneratedLog:
    return generate(users=30_000, seed=3)


@pytest.fixture(scope="module")
def sample() -> datasets.GeneratedLog:
    return generate(**datasets.SAMPLE_ARGS)


# --------------------------------------------------------------------------- the generator


def test_same_arguments_give_the_same_frame() -> None:
    first = generate(users=800, seed=5, weeks=6)
    again = generate(users=800, seed=5, weeks=6)
    assert_frame_equal(first.events, again.events)
    assert first.truth == again.truth
    assert not generate(users=800, seed=6, weeks=6).events.equals(first.events)


def test_columns_and_dtypes(sample: datasets.GeneratedLog) -> None:
    events = sample.events
    assert events.schema == pl.Schema(
        {
            "user_id": pl.String(),
            "event": pl.String(),
            "ts": pl.Datetime("us", "UTC"),
            "channel": pl.String(),
            "plan": pl.String(),
            "amount": pl.Float64(),
            "referrer": pl.String(),
        }
    )
    assert events["user_id"].str.contains(r"^u\d{6}$").all()
    assert events["user_id"].n_unique() == datasets.SAMPLE_ARGS["users"]
    assert set(events["event"].unique()) == set(EVENTS)
    visits = events.filter(pl.col("event") == "visit")
    purchases = events.filter(pl.col("event") == "purchase")
    others = events.filter(~pl.col("event").is_in(["visit", "purchase"]))
    assert visits["channel"].null_count() == 0
    assert set(visits["channel"].unique()) == set(CHANNELS)
    assert purchases["plan"].null_count() == 0
    assert purchases["amount"].null_count() == 0
    assert set(purchases["plan"].unique()) == {"basic", "pro", "team"}
    assert (purchases["amount"] > 0).all()
    for column in ("channel", "plan", "amount", "referrer"):  # properties only where they belong
        assert others[column].null_count() == others.height, column
    assert purchases["referrer"].null_count() == purchases.height


def test_users_arrive_until_the_end_of_the_log(sample: datasets.GeneratedLog) -> None:
    first_visits = (
        sample.events.filter(pl.col("event") == "visit").group_by("user_id").agg(pl.col("ts").min())
    )
    assert first_visits.height == sample.users  # every user is acquired
    assert sample.start == dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    assert sample.end == sample.start + dt.timedelta(weeks=26)  # no run-out tail
    assert as_datetime(first_visits["ts"].min()) >= sample.start
    assert as_datetime(first_visits["ts"].max()) >= sample.end - dt.timedelta(days=1)
    assert sample.last_ts == sample.events["ts"].max()
    assert sample.end - dt.timedelta(hours=1) <= sample.last_ts < sample.end
    weekly = first_visits.group_by(pl.col("ts").dt.truncate("1w")).len().sort("ts")["len"]
    assert weekly.len() == 26
    first_8, last_8 = as_float(weekly.head(8).mean()), as_float(weekly.tail(8).mean())
    assert as_float(weekly.min()) > 0.7 * as_float(weekly.mean())  # arrivals up to the end
    assert 1.05 * first_8 < last_8 < 1.5 * first_8  # growing slightly


def test_the_end_of_the_log_cuts_the_last_journeys(sample: datasets.GeneratedLog) -> None:
    assert dt.timedelta(days=56) == datasets.HORIZON
    assert sample.complete_before == sample.last_ts - datasets.HORIZON
    reach = lifecycle(sample.events, sample.spec())
    done = complete(reach, sample)
    assert 0.6 * reach.height < done.height < 0.75 * reach.height  # 18 of 26 weeks
    last_week = reach.filter(pl.col("reach_0") >= sample.end - dt.timedelta(weeks=1))
    paid = {
        name: as_float(group["reach_3"].is_not_null().sum()) / group.height
        for name, group in (("complete", done), ("last week", last_week))
    }
    # Users of the last week have not had the time to pay: their journeys are cut.
    assert paid["last week"] < 0.5 * paid["complete"]


def test_the_log_is_noisy_like_a_real_one(sample: datasets.GeneratedLog) -> None:
    events = sample.events
    duplicates = events.height - events.unique().height
    assert 0.005 * events.height < duplicates < 0.03 * events.height
    assert not events["ts"].is_sorted()
    ties = events.unique().group_by("user_id", "ts").agg(pl.col("event").n_unique().alias("kinds"))
    assert (ties["kinds"] > 1).sum() > 1000  # e.g. a landing page_view in the visit's instant
    per_user = events.group_by("user_id").agg(pl.col("event").unique())
    visit_only = per_user.filter(
        pl.col("event").list.set_difference(["visit", "page_view"]).list.len() == 0
    )
    assert visit_only.height > 100  # users who never pass acquisition
    repeat_visitors = events.filter(pl.col("event") == "visit").group_by("user_id").len()
    assert (repeat_visitors["len"] > 1).sum() > 500


def test_noise_false_gives_a_clean_sorted_log() -> None:
    clean = generate(users=500, weeks=4, noise=False)
    assert clean.events["ts"].is_sorted()
    assert clean.events.height == clean.events.unique().height
    noisy = generate(users=500, weeks=4)
    assert_frame_equal(noisy.events.unique().sort(pl.all()), clean.events.sort(pl.all()))


def test_referred_users_point_to_an_earlier_inviter(sample: datasets.GeneratedLog) -> None:
    events = sample.events
    first_visit = lifecycle(events, sample.spec()).select("user_id", "channel", "reach_0")
    referred = events.filter(pl.col("referrer").is_not_null())
    assert (referred["event"] == "visit").all()
    assert (referred["channel"] == "referral").all()
    referred_users = first_visit.filter(pl.col("channel") == "referral")
    assert sample.untracked_referrals == 0
    assert set(referred["user_id"]) == set(referred_users["user_id"])
    links = referred.select("user_id", "referrer").unique()
    assert links["user_id"].is_unique().all()  # one inviter per referred user
    invites = events.filter(pl.col("event") == "invite_sent").select(
        referrer="user_id", invited_at="ts"
    )
    answered = (
        links.join(first_visit, on="user_id")
        .join(invites, on="referrer")
        .filter(pl.col("invited_at") < pl.col("reach_0"))
    )
    assert answered["user_id"].n_unique() == links.height


def test_true_rates_are_recovered_from_the_complete_cohorts(
    big: datasets.GeneratedLog,
) -> None:
    counts = link_counts(complete(lifecycle(big.events, big.spec()), big))
    misses = []
    for row in counts.iter_rows(named=True):
        p = expected_rate(counts, big, row["link"], row["channel"])
        observed = row["reached"] / row["entered"]
        se = math.sqrt(p * (1 - p) / row["entered"])
        if abs(observed - p) > 4 * se:
            misses.append(
                f"{row['link']}/{row['channel']}: {observed:.4f} vs truth {p:.4f} (se {se:.4f})"
            )
        if row["channel"] == "overall":  # the channel mix is close to the expected one
            assert p == pytest.approx(true_rate(big, row["link"], "overall"), abs=0.01)
    assert as_float(counts["entered"].min()) > 75
    assert not misses, misses


def test_late_comers_count_only_when_within_is_longer(sample: datasets.GeneratedLog) -> None:
    spec = sample.spec()
    patient = {
        **spec,
        "window": "52w",
        "stages": [
            spec["stages"][0],
            *({**stage, "within": "60d"} for stage in spec["stages"][1:]),
        ],
    }
    strict = link_counts(lifecycle(sample.events, spec)).filter(pl.col("channel") == "overall")
    lenient = link_counts(lifecycle(sample.events, patient)).filter(pl.col("channel") == "overall")
    # Some users activate, return, pay or invite only after `within`: not counted by the
    # default spec, counted by a more patient one.
    assert (lenient["reached"] > strict["reached"]).all()


def test_channels_differ_in_quality(sample: datasets.GeneratedLog) -> None:
    activation = sample.truth["activation"].by_channel
    assert min(activation, key=activation.__getitem__) == "ads"
    assert activation["ads"] < 0.5 * activation["organic"]
    assert sample.channel_mix["ads"] > sample.channel_mix["partner"]  # many low-quality leads
    counts = link_counts(complete(lifecycle(sample.events, sample.spec()), sample)).filter(
        pl.col("link") == "activation"
    )
    rate = dict(zip(counts["channel"], counts["reached"] / counts["entered"], strict=True))
    assert rate["ads"] < rate["organic"] < rate["referral"]


def test_activation_is_the_causal_step(sample: datasets.GeneratedLog) -> None:
    reach = complete(lifecycle(sample.events, sample.spec()), sample).select(
        "user_id", activated=pl.col("reach_1").is_not_null()
    )
    did = sample.events.group_by("user_id").agg(
        [
            (pl.col("event") == name).any().alias(name)
            for name in ("session", "purchase", "invite_sent")
        ]
    )
    share = (
        reach.join(did, on="user_id")
        .group_by("activated")
        .agg(pl.col("session", "purchase", "invite_sent").mean())
    )
    active = share.filter(pl.col("activated")).row(0, named=True)
    inactive = share.filter(~pl.col("activated")).row(0, named=True)
    for name in ("session", "purchase", "invite_sent"):
        assert active[name] > 5 * inactive[name], name


def test_weakening_a_link_makes_it_the_constraint() -> None:
    base = generate(users=3000, seed=11)
    weak = generate(users=3000, seed=11, rates={"revenue": 0.05})
    assert weak.truth["revenue"].overall == pytest.approx(0.05, abs=1e-9)
    by_channel = weak.truth["revenue"].by_channel
    assert sorted(by_channel, key=by_channel.__getitem__) == sorted(
        base.truth["revenue"].by_channel, key=base.truth["revenue"].by_channel.__getitem__
    )
    assert weak.truth["activation"] == base.truth["activation"]

    spec = weak.spec()
    base_reach = complete(lifecycle(base.events, spec), base)
    weak_reach = complete(lifecycle(weak.events, spec), weak)
    # Referred users arrive at other times (payers send the invites), so compare the users
    # complete in both logs: only the weakened link changes who gets where.
    both = base_reach.join(weak_reach, on="user_id", how="semi")["user_id"]
    assert both.len() > 0.9 * base_reach.height
    for i in (1, 2):
        reached = [
            set(
                r.filter(pl.col("user_id").is_in(both), pl.col(f"reach_{i}").is_not_null())[
                    "user_id"
                ]
            )
            for r in (base_reach, weak_reach)
        ]
        assert reached[0] == reached[1]
    counts = link_counts(weak_reach).filter(pl.col("channel") == "overall")
    rates = dict(zip(counts["link"], counts["reached"] / counts["entered"], strict=True))
    retained = counts.filter(pl.col("link") == "revenue")["entered"].item()
    assert rates["revenue"] == pytest.approx(0.05, abs=4 * math.sqrt(0.05 * 0.95 / retained))
    # The constraint: the link whose rise to target would multiply throughput most.
    targets = {link: stage["target"] for link, stage in zip(LINKS, spec["stages"][1:], strict=True)}
    gains = {link: targets[link] / rates[link] for link in ("activation", "retention", "revenue")}
    assert max(gains, key=gains.__getitem__) == "revenue"


def test_rates_can_be_set_per_channel() -> None:
    log = generate(users=300, weeks=4, rates={"activation": {"ads": 0.02}})
    assert log.truth["activation"].by_channel == {
        **datasets.DEFAULT_RATES["activation"],
        "ads": 0.02,
    }
    weaker, default = (
        log.truth["activation"].overall,
        generate(users=300, weeks=4).truth["activation"].overall,
    )
    assert weaker is not None
    assert default is not None
    assert weaker < default


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rates": {"revenu": 0.1}}, "Did you mean 'revenue'"),
        ({"rates": {"revenue": 1.5}}, "between 0 and 1"),
        ({"rates": {"activation": {"add": 0.1}}}, "Did you mean 'ads'"),
        ({"channel_mix": {"organik": 1.0}}, "Did you mean 'organic'"),
        ({"users": 0}, "users must be a whole number >= 1"),
        ({"start": "next monday"}, "ISO date"),
    ],
)
def test_bad_arguments_are_named_with_the_fix(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(**kwargs)


def test_default_spec_round_trips_through_toml(sample: datasets.GeneratedLog) -> None:
    spec = sample.spec()
    assert tomllib.loads(sample.spec_toml()) == spec
    assert [stage["event"] for stage in spec["stages"]] == [
        "visit",
        "created_project",
        "session",
        "purchase",
        "invite_sent",
    ]
    assert spec["happy"] in [stage["name"] for stage in spec["stages"]]


# --------------------------------------------------------------------------- bundled files


def test_sample_files_are_regenerated_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["make_sample.py", str(tmp_path)])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "data" / "make_sample.py"), run_name="__main__")
    assert done.value.code == 0
    for name in (
        "sample_events.parquet",
        "sample_events.csv",
        "sample_truth.json",
        "sample_factory.toml",
    ):
        assert (tmp_path / name).read_bytes() == (REPO / "data" / name).read_bytes(), name


def test_sample_truth_and_spec_describe_the_sample(sample: datasets.GeneratedLog) -> None:
    assert datasets.sample_truth() == dict(sample.truth)
    spec = tomllib.loads(datasets.sample_path("spec").read_text())
    assert spec == {**sample.spec(), "name": "Sample SaaS factory"}
    header, first_row = datasets.sample_path("csv").read_text().splitlines()[:2]
    assert header == "user_id,event,ts,channel,plan,amount,referrer"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", first_row.split(",")[2])


def test_load_sample_reads_the_same_events_from_parquet_and_csv(
    sample: datasets.GeneratedLog,
) -> None:
    parquet = datasets.load_sample()
    csv = datasets.load_sample("csv")
    assert parquet.report.rows_loaded == csv.report.rows_loaded == sample.events.height
    assert parquet.report.users == datasets.SAMPLE_ARGS["users"]
    assert_frame_equal(parquet.events.sort(pl.all()), sample.events.sort(pl.all()))
    assert_frame_equal(csv.events.sort(pl.all()), sample.events.sort(pl.all()))


def test_cfnb_journeys_on_the_sample_agree_with_the_plain_computation(
    sample: datasets.GeneratedLog,
) -> None:
    factory = Factory.from_toml(datasets.sample_path("spec"))
    journeys = build_journeys(datasets.load_sample().events, factory)
    expected = link_counts(lifecycle(sample.events, sample.spec()))
    assert_frame_equal(link_counts(journeys.table), expected)


def test_the_sample_is_a_repeatable_factory_whose_constraint_is_activation() -> None:
    # The demo: weekly throughput (paying customers by the week they paid) is predictable
    # over the complete weeks, so the constraint can be named, and it is Activation (ads
    # brings many visitors who rarely activate).
    factory = Factory.from_toml(datasets.sample_path("spec"))
    journeys = build_journeys(datasets.load_sample().events, factory)
    weekly = throughput(journeys)
    assert weekly.complete_periods == 25  # the week of the last event is still running
    assert weekly.predictable is True, weekly.verdict
    assert weekly.table["signal"].null_count() == weekly.table.height
    assert weekly.centre is not None
    assert 15 < weekly.centre < 25
    stage = business_stage(weekly, factory.goal)
    assert (stage.reached, stage.next_stage) == ("Product/Market fit", "Scale")
    result = constraint(journeys, factory)
    assert (result.status, result.stage) == ("constraint", "Activation"), result.summary
    assert result.summary.startswith("Constraint: Activation")


def test_unknown_sample_format_suggests_the_right_one() -> None:
    with pytest.raises(ValueError, match="Did you mean 'parquet'"):
        datasets.load_sample("parqet")  # type: ignore[arg-type]


def test_cdnow_copy_is_the_published_file() -> None:
    assert hashlib.sha256(datasets.cdnow_path().read_bytes()).hexdigest() == CDNOW_SHA256


def test_load_cdnow_reads_every_purchase() -> None:
    log = datasets.load_cdnow()
    assert log.report.rows_read == log.report.rows_loaded == 69_659
    assert log.report.users == 23_570
    assert log.events["event"].unique().to_list() == ["purchase"]
    assert log.schema["number_of_cds"] == pl.Int64
    assert log.schema["dollar_value"] == pl.Float64
    assert log.time_range == (
        dt.datetime(1997, 1, 1, tzinfo=dt.UTC),
        dt.datetime(1998, 6, 30, tzinfo=dt.UTC),
    )
    first = log.events.group_by("user_id").agg(pl.col("ts").min())
    assert as_datetime(first["ts"].max()) < dt.datetime(
        1997, 4, 1, tzinfo=dt.UTC
    )  # a Q1-1997 cohort

    by_day = datasets.load_cdnow(orders="days")
    assert by_day.report.rows_loaded == 67_591
    assert by_day.report.users == 23_570
    assert by_day.events["dollar_value"].sum() == pytest.approx(log.events["dollar_value"].sum())
    assert by_day.events["number_of_cds"].sum() == log.events["number_of_cds"].sum()


def test_cdnow_spec_fits_purchase_only_data() -> None:
    spec = tomllib.loads(datasets.cdnow_path("spec").read_text())
    assert {stage["event"] for stage in spec["stages"]} == {"purchase"}
    assert [stage.get("within") for stage in spec["stages"]] == [None, "90d", "180d"]
    factory = Factory.from_toml(datasets.cdnow_path("spec"))
    assert factory.happy == "Retention"
    assert [stage.name for stage in factory.stages] == ["Acquisition", "Retention", "Loyalty"]
