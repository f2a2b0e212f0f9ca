"""Deterministic synthetic event logs for the cfnb benchmark (1M, 10M, 50M events).

Each log holds about ten events per user: ``visit``, ``signup``, ``created_project``,
``session``, ``purchase`` and ``invite_sent``, with properties ``channel`` (on visits),
``device`` (on every row), ``amount`` (on purchases) and ``referrer`` (on the visits of
referred users). Users arrive uniformly over 26 ISO weeks from Monday 2024-01-01; the log
ends at the end of week 26 and events after it are cut, as in a real export. Rows are in
time order (ties by user), as exports usually are, so loaders and engines get no free
``(user, ts)`` order. Timestamps are whole seconds, so some events of one user tie.

The same size gives byte-identical arrays on every run (one ``numpy.random.default_rng``
stream, integer arithmetic only); ``bench/data/events-<size>.json`` records a SHA-256 of
the arrays, and files are reused when that manifest matches :data:`VERSION`.

Usage::

    .venv/bin/python bench/generate.py --sizes 1M,10M
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow.parquet as pq

VERSION = 1
SEED = 20240101
DATA_DIR = Path(__file__).resolve().parent / "data"

EVENTS = ("visit", "signup", "created_project", "session", "purchase", "invite_sent")
CHANNELS = ("organic", "ads", "social", "email", "referral")
CHANNEL_WEIGHTS = (0.35, 0.30, 0.15, 0.10, 0.10)
DEVICES = ("desktop", "mobile", "tablet")
DEVICE_WEIGHTS = (0.55, 0.38, 0.07)
# Probability of signing up, by channel (the factory's first link differs per segment).
SIGNUP_P = (0.60, 0.45, 0.50, 0.65, 0.70)
ACTIVATE_P = 0.60  # created_project, given signup
PURCHASE_P = 0.35  # given created_project
INVITE_P = 0.25  # given created_project

SECOND = 1_000_000
DAY = 86_400 * SECOND
WEEK = 7 * DAY
WEEKS = 26
START_US = 1_704_067_200 * SECOND  # 2024-01-01T00:00:00Z, a Monday
END_US = START_US + WEEKS * WEEK  # exclusive: the log's last instant is END_US - 1 s

_I64 = npt.NDArray[np.int64]
_WRITE_ROWS = 2_000_000  # rows per Parquet row-group batch / CSV chunk


def parse_size(text: str) -> int:
    """``"1M"`` → 1_000_000, ``"500k"`` → 500_000, ``"2500"`` → 2500."""
    t = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}.get(t[-1:], 1)
    number = t[:-1] if scale != 1 else t
    return int(float(number) * scale)


@dataclass(frozen=True)
class Paths:
    parquet: Path
    csv: Path
    manifest: Path


def paths(size: str, data_dir: Path = DATA_DIR) -> Paths:
    return Paths(
        data_dir / f"events-{size}.parquet",
        data_dir / f"events-{size}.csv",
        data_dir / f"events-{size}.json",
    )


def _choice(rng: np.random.Generator, weights: tuple[float, ...], n: int) -> _I64:
    cum = np.cumsum(np.asarray(weights) / sum(weights))
    return np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(weights) - 1)


def _offsets(rng: np.random.Generator, n: int, max_us: int) -> _I64:
    """Whole-second offsets in [1 s, max_us], skewed early (u² keeps integer-exact bounds)."""
    u = rng.random(n)
    secs = (u * u * (max_us // SECOND)).astype(np.int64)
    return np.maximum(secs, 1) * SECOND


def simulate(n_events: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """The log as NumPy arrays (user, event code, ts µs, channel, device, amount, referrer).

    Exactly the first users (by id) whose events add up to at most ``n_events`` are kept.
    """
    n_users = max(n_events // 8, 10)  # overshoot, then keep whole users up to n_events
    rng = np.random.default_rng(seed)
    t0 = START_US + rng.integers(0, WEEKS * WEEK // SECOND, n_users, dtype=np.int64) * SECOND
    channel = _choice(rng, CHANNEL_WEIGHTS, n_users)
    device = _choice(rng, DEVICE_WEIGHTS, n_users)
    extra_visits = rng.integers(0, 7, n_users)  # 0..6 more visits over 60 days
    signup = rng.random(n_users) < np.asarray(SIGNUP_P)[channel]
    activated = signup & (rng.random(n_users) < ACTIVATE_P)
    purchased = activated & (rng.random(n_users) < PURCHASE_P)
    invited = activated & (rng.random(n_users) < INVITE_P)
    sessions = np.where(signup, rng.integers(0, 25, n_users), 0)  # 0..24 over 20 weeks
    t_signup = t0 + _offsets(rng, n_users, 3 * DAY)
    t_created = t_signup + _offsets(rng, n_users, 10 * DAY)
    t_purchase = t_created + _offsets(rng, n_users, 21 * DAY)  # some beyond a 14-day window
    t_invite = t_created + _offsets(rng, n_users, 28 * DAY)
    referred = channel == CHANNELS.index("referral")
    referrer = np.where(referred, rng.integers(0, n_users, n_users), -1)

    users = np.arange(n_users, dtype=np.int64)
    parts_user = [users]
    parts_code = [np.zeros(n_users, dtype=np.int64)]
    parts_ts = [t0]
    # Extra visits, then sessions: repeated rows per user.
    v_user = np.repeat(users, extra_visits)
    parts_user.append(v_user)
    parts_code.append(np.zeros(v_user.size, dtype=np.int64))
    parts_ts.append(t0[v_user] + _offsets(rng, v_user.size, 60 * DAY))
    for mask, code, ts in (
        (signup, 1, t_signup),
        (activated, 2, t_created),
        (purchased, 4, t_purchase),
        (invited, 5, t_invite),
    ):
        parts_user.append(users[mask])
        parts_code.append(np.full(int(mask.sum()), code, dtype=np.int64))
        parts_ts.append(ts[mask])
    s_user = np.repeat(users, sessions)
    parts_user.append(s_user)
    parts_code.append(np.full(s_user.size, 3, dtype=np.int64))
    parts_ts.append(t_signup[s_user] + _offsets(rng, s_user.size, 20 * WEEK))

    user = np.concatenate(parts_user)
    code = np.concatenate(parts_code)
    ts = np.concatenate(parts_ts)
    keep = ts < END_US
    user, code, ts = user[keep], code[keep], ts[keep]
    # Keep whole users, lowest ids first, until n_events.
    per_user = np.bincount(user, minlength=n_users)
    kept_users = int(np.searchsorted(np.cumsum(per_user), n_events, side="right"))
    keep = user < kept_users
    user, code, ts = user[keep], code[keep], ts[keep]
    order = np.lexsort((code, user, ts))  # time order; ties by user, then event code
    user, code, ts = user[order], code[order], ts[order]
    amount = np.where(code == 4, (rng.integers(1, 50, user.size) * 10 - 0.01), np.nan)
    return {
        "user": user,
        "code": code,
        "ts": ts,
        "channel": np.where(code == 0, channel[user], -1),
        "device": device[user],
        "amount": amount,
        "referrer": np.where((code == 0) & referred[user], referrer[user], -1),
    }


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()


def _frame(a: dict[str, np.ndarray], lo: int, hi: int) -> pl.DataFrame:
    user = pl.Series("u", a["user"][lo:hi])
    channel = a["channel"][lo:hi]
    ref = a["referrer"][lo:hi]
    amount = a["amount"][lo:hi]
    return pl.DataFrame(
        {
            "user_id": "u" + user.cast(pl.String),
            "event": pl.Series(a["code"][lo:hi]).replace_strict(
                list(range(len(EVENTS))), list(EVENTS), return_dtype=pl.String
            ),
            "ts": pl.Series(a["ts"][lo:hi]).cast(pl.Datetime("us", "UTC")),
            "channel": pl.Series(channel).replace_strict(
                list(range(len(CHANNELS))), list(CHANNELS), default=None, return_dtype=pl.String
            ),
            "device": pl.Series(a["device"][lo:hi]).replace_strict(
                list(range(len(DEVICES))), list(DEVICES), return_dtype=pl.String
            ),
            "amount": pl.Series(amount).fill_nan(None),
            "referrer": pl.Series(ref),
        }
    ).with_columns(
        referrer=pl.when(pl.col("referrer") >= 0)
        .then(pl.lit("u") + pl.col("referrer").cast(pl.String))
        .otherwise(None)
    )


def write(size: str, *, data_dir: Path = DATA_DIR, force: bool = False) -> Paths:
    """Generate the log of ``size`` into ``data_dir`` unless a matching one is there."""
    p = paths(size, data_dir)
    if not force and _reusable(p, size):
        return p
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    arrays = simulate(parse_size(size))
    n = int(arrays["user"].size)
    tmp_pq, tmp_csv = p.parquet.with_suffix(".parquet.tmp"), p.csv.with_suffix(".csv.tmp")
    writer: pq.ParquetWriter | None = None
    with open(tmp_csv, "wb") as csv_out:
        for lo in range(0, n, _WRITE_ROWS):
            chunk = _frame(arrays, lo, min(lo + _WRITE_ROWS, n))
            table = chunk.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(tmp_pq, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=1_000_000)
            chunk.write_csv(csv_out, include_header=lo == 0, datetime_format="%Y-%m-%dT%H:%M:%SZ")
    assert writer is not None
    writer.close()
    os.replace(tmp_pq, p.parquet)
    os.replace(tmp_csv, p.csv)
    users = int(np.unique(arrays["user"]).size)
    manifest = {
        "version": VERSION,
        "seed": SEED,
        "size": size,
        "events": n,
        "users": users,
        "events_per_user": round(n / users, 2),
        "first_ts_us": int(arrays["ts"][0]),
        "last_ts_us": int(arrays["ts"][-1]),
        "sha256_arrays": _digest(arrays),
        "parquet_bytes": p.parquet.stat().st_size,
        "csv_bytes": p.csv.stat().st_size,
        "seconds": round(time.perf_counter() - started, 1),
    }
    p.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    return p


def _reusable(p: Paths, size: str) -> bool:
    if not (p.manifest.exists() and p.parquet.exists() and p.csv.exists()):
        return False
    try:
        m = json.loads(p.manifest.read_text())
    except ValueError:
        return False
    return bool(
        m.get("version") == VERSION
        and m.get("size") == size
        and m.get("parquet_bytes") == p.parquet.stat().st_size
        and m.get("csv_bytes") == p.csv.stat().st_size
    )


def manifest(size: str, data_dir: Path = DATA_DIR) -> dict[str, object]:
    result: dict[str, object] = json.loads(paths(size, data_dir).manifest.read_text())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1M", help="comma-separated, e.g. 1M,10M,50M")
    parser.add_argument("--force", action="store_true", help="regenerate even if present")
    parser.add_argument("--check", action="store_true", help="regenerate in memory, compare digest")
    args = parser.parse_args(argv)
    for size in args.sizes.split(","):
        if args.check:
            digest = _digest(simulate(parse_size(size)))
            ok = digest == manifest(size).get("sha256_arrays")
            print(f"{size}: {'same' if ok else 'DIFFERENT'} arrays ({digest[:12]})")
            continue
        p = write(size, force=args.force)
        m = manifest(size)
        print(f"{size}: {m['events']:,} events, {m['users']:,} users -> {p.parquet}, {p.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
