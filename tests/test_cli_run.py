"""`cfnb run`: funnel, throughput and the constraint on the command line (a public JSON shape)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cfnb.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["run", *args, "--json"]) == 0
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


def test_run_json_has_the_public_keys(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(
        capsys, str(DATA / "sample_events.parquet"), "--stages", str(DATA / "sample_factory.toml")
    )
    assert {"report", "funnel", "constraint", "throughput"} <= set(out)
    report = out["report"]
    assert isinstance(report, dict)
    assert report["rows_read"] == report["rows_loaded"] + sum(report["rejected"].values())
    funnel = out["funnel"]
    assert isinstance(funnel, list)
    assert [row["stage"] for row in funnel] == [
        "Acquisition",
        "Activation",
        "Retention",
        "Revenue",
        "Referral",
    ]
    for row in funnel:
        assert {"stage", "users", "rate", "overall_rate", "median_seconds"} <= set(row)
    users = [row["users"] for row in funnel]
    assert users == sorted(users, reverse=True)
    assert users[0] == report["users"] or users[0] <= report["users"]
    constraint = out["constraint"]
    assert isinstance(constraint, dict)
    assert {"stage", "rate", "target", "gain_per_period", "summary"} <= set(constraint)
    throughput = out["throughput"]
    assert isinstance(throughput, dict)
    assert {"values", "centre", "lower_limit", "upper_limit", "predictable"} <= set(throughput)
    assert all({"period", "happy"} <= set(v) for v in throughput["values"])


def test_run_json_is_byte_identical_across_runs_and_formats(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = str(DATA / "sample_factory.toml")
    first = run_json(capsys, str(DATA / "sample_events.parquet"), "--stages", spec)
    again = run_json(capsys, str(DATA / "sample_events.parquet"), "--stages", spec)
    from_csv = run_json(capsys, str(DATA / "sample_events.csv"), "--stages", spec)
    assert json.dumps(first) == json.dumps(again)
    for key in ("funnel", "constraint", "throughput"):
        assert json.dumps(first[key]) == json.dumps(from_csv[key])


def test_run_json_does_not_depend_on_row_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sample with its rows shuffled, as Parquet and as CSV, gives the same output.

    The load report describes the file, so three fields legitimately differ and are set
    aside: ``source`` (its path), and for the CSV ``format`` and ``timestamps`` (how the
    file stores time). Everything else, the report's counts included, is compared as
    JSON text (parsed and dumped again, which keeps every float's exact digits).
    """
    spec = str(DATA / "sample_factory.toml")
    original = DATA / "sample_events.parquet"
    shuffled = pl.read_parquet(original).sample(fraction=1.0, shuffle=True, seed=7)
    shuffled.write_parquet(tmp_path / "shuffled.parquet")
    shuffled.write_csv(tmp_path / "shuffled.csv")

    def output(path: Path) -> dict[str, Any]:
        assert main(["run", str(path), "--stages", spec, "--json"]) == 0
        out: dict[str, Any] = json.loads(capsys.readouterr().out)
        return out

    def text(out: dict[str, Any], *describing: str) -> str:
        report = {**out["report"], **dict.fromkeys(("source", *describing))}
        return json.dumps({**out, "report": report}, indent=2)

    want = output(original)
    assert text(output(tmp_path / "shuffled.parquet")) == text(want)
    from_csv = output(tmp_path / "shuffled.csv")
    assert text(from_csv, "format", "timestamps") == text(want, "format", "timestamps")


def test_run_prints_a_readable_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["run", str(DATA / "sample_events.csv"), "--stages", str(DATA / "sample_factory.toml")]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Acquisition" in out
    assert "Throughput:" in out
    assert "median time" in out


def test_run_names_a_bad_spec_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('[[stages]]\nname = "A"\nevent = "visit"\nwitin = "3d"\n')
    assert main(["run", str(DATA / "sample_events.csv"), "--stages", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "stages[0].witin" in err
    assert "within" in err
