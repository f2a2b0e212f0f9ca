"""``cfnb report`` and :mod:`cfnb.report`: one self-contained, deterministic HTML file.

The kernel runs are the slow part (a fresh kernel each, 10-30 s), so they happen once per
module in fixtures and the tests read what they wrote. The browser check of the same
report is ``tests/test_report_browser.py``.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import altair as alt
import nbformat
import polars as pl
import pytest

import cfnb
from cfnb.cli import main
from cfnb.report import ReportError, build_report, enable_charts, renderer, sections
from cfnb.report.runner import render_html

SPEC = cfnb.datasets.sample_path("spec")
MINIMAL_SPEC = """
name = "Visits to purchases"
period = "week"

[[stages]]
name = "Acquisition"
event = "visit"

[[stages]]
name = "Purchase"
event = "purchase"
within = "4w"
"""
EXTERNAL = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I
)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated log as CSV: 1,200 users over 12 weeks, known to cfnb's sample spec."""
    path = tmp_path_factory.mktemp("data") / "events.csv"
    cfnb.datasets.generate(users=1200, weeks=12, seed=3).events.write_csv(path)
    return path


@pytest.fixture(scope="module")
def cli_html(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``cfnb report`` to HTML, with its exit status and stderr."""
    out = tmp_path_factory.mktemp("html") / "report.html"
    capture = _Capture()
    with capture:
        code = main(
            ["report", str(data), "--stages", str(SPEC), "-o", str(out), "--title", "Small SaaS"]
        )
    return {
        "code": code,
        "path": out,
        "stderr": capture.err,
        "html": out.read_text(encoding="utf-8"),
    }


@pytest.fixture(scope="module")
def cli_ipynb(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same report as an executed notebook (``--format ipynb``)."""
    out = tmp_path_factory.mktemp("ipynb") / "report.ipynb"
    code = main(
        [
            "report",
            str(data),
            "--stages",
            str(SPEC),
            "-o",
            str(out),
            "--title",
            "Small SaaS",
            "--format",
            "ipynb",
        ]
    )
    return {"code": code, "path": out, "nb": nbformat.read(out, as_version=4)}


class _Capture:
    """stderr of code run in this process (capsys cannot be used by a module fixture)."""

    def __enter__(self) -> None:
        import contextlib
        import io

        self._buf = io.StringIO()
        self._ctx = contextlib.redirect_stderr(self._buf)
        self._ctx.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(None, None, None)
        self.err = self._buf.getvalue()


# ---------------------------------------------------------------------------- the command


@pytest.mark.slow
def test_report_command_succeeds_with_progress_on_stderr(cli_html: dict[str, Any]) -> None:
    assert cli_html["code"] == 0
    lines = cli_html["stderr"].splitlines()
    assert lines[0] == "cfnb report: starting a kernel"
    steps = [line for line in lines if re.match(r"cfnb report: \[\d+/\d+\] ", line)]
    assert len(steps) == 9
    assert steps[0].endswith("[1/9] loading the event log and measuring the factory")
    assert lines[-1].startswith(f"cfnb report: wrote {cli_html['path']}")
    assert all(line.startswith("cfnb report: ") for line in lines), "stray output on stderr"


@pytest.mark.slow
def test_report_is_one_self_contained_file(cli_html: dict[str, Any]) -> None:
    html = cli_html["html"]
    assert html.startswith("<!DOCTYPE html>")
    assert EXTERNAL.search(html) is None, EXTERNAL.search(html)
    for cdn in ("cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com", "require.js"):
        assert cdn not in html
    assert html.count("window.vegaEmbed(el, spec, opt)") == html.count('class="cfnb-chart"')
    assert html.count("if (window.vegaEmbed) return;") == 1  # the bundle, inlined once
    assert "<title>Small SaaS</title>" in html


@pytest.mark.slow
def test_report_states_source_spec_load_report_and_last_event(
    cli_html: dict[str, Any], data: Path
) -> None:
    html = cli_html["html"]
    assert str(data) in html  # the data source
    assert "Last event" in html
    log = cfnb.load(data)
    last = log.report.last_ts
    assert last is not None
    assert last.strftime("%Y-%m-%d %H:%M UTC") in html
    assert "rows read" in html  # the load report
    assert "rows loaded" in html
    toml = cfnb.Factory.from_toml(SPEC).to_toml()
    assert toml in html  # the spec used, as TOML
    assert "Constraint:" in html


@pytest.mark.slow
def test_report_has_every_chart(cli_html: dict[str, Any]) -> None:
    assert cli_html["html"].count('class="cfnb-chart"') == 9


@pytest.mark.slow
def test_same_data_and_spec_give_the_same_html(
    cli_html: dict[str, Any], cli_ipynb: dict[str, Any]
) -> None:
    """Two runs in two kernels: the second run's notebook renders to the first run's bytes."""
    assert cli_ipynb["code"] == 0
    assert render_html(cli_ipynb["nb"]) == cli_html["html"]


@pytest.mark.slow
def test_the_same_rows_in_another_order_give_the_same_html(
    cli_html: dict[str, Any], data: Path, tmp_path: Path
) -> None:
    """The log with its rows shuffled reports the same bytes, but for the path it names.

    The data source is stated twice (the header's "Data" row and the load report); the
    shuffled file lives elsewhere, so its path is put back before comparing.
    """
    header, *rows = data.read_text(encoding="utf-8").splitlines(keepends=True)
    random.Random(11).shuffle(rows)  # the very same lines (no value spans two)
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text(header + "".join(rows), encoding="utf-8")
    out = tmp_path / "report.html"
    args = ["report", str(shuffled), "--stages", str(SPEC), "-o", str(out), "--title", "Small SaaS"]
    with _Capture():
        assert main(args) == 0
    html = out.read_text(encoding="utf-8")
    assert html.count(str(shuffled)) == 2
    assert html.replace(str(shuffled), str(data)) == cli_html["html"]


@pytest.mark.slow
def test_ipynb_format_is_the_executed_notebook(cli_ipynb: dict[str, Any]) -> None:
    nb = cli_ipynb["nb"]
    ids = [c.id for c in nb.cells]
    assert ids[:3] == ["parameters", "injected-parameters", "setup"]
    assert "status" not in ids
    assert all(c.execution_count is not None for c in nb.cells if c.cell_type == "code")
    assert "widgets" not in nb.metadata
    injected = nb.cells[1].source
    assert "spec_toml = " in injected
    assert "title = 'Small SaaS'" in injected


# ---------------------------------------------------------------------------- other inputs


@pytest.mark.slow
def test_a_spec_without_activation_or_segments_still_reports(data: Path, tmp_path: Path) -> None:
    result = build_report(data, MINIMAL_SPEC, tmp_path / "r.html", progress=None)
    assert result.status == "ok"
    assert result.unavailable == ("Activation effect", "Activation candidates", "Segments")
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert html.count('class="cfnb-chart"') == result.charts
    assert "Activation effect: the spec has no stage named Activation" in html
    assert "Activation candidates: not available for this log and spec — retained=" in html
    assert "the spec has no segment_by column" in html


@pytest.mark.slow
def test_no_usable_rows_writes_the_load_report_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,event,ts\n,visit,2026-01-05\nu1,visit,not a date\n", encoding="utf-8")
    out = tmp_path / "r.html"
    assert main(["report", str(bad), "--stages", str(SPEC), "-o", str(out)]) == 1
    html = out.read_text(encoding="utf-8")
    assert "rows rejected 2" in html
    assert "not measured" in html
    assert 'class="cfnb-chart"' not in html
    assert "no usable rows" in capsys.readouterr().err


def test_a_missing_spec_exits_2_before_starting_a_kernel(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "report",
            str(data),
            "--stages",
            str(tmp_path / "nope.toml"),
            "-o",
            str(tmp_path / "r.html"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "nope.toml" in err
    assert "starting a kernel" not in err


@pytest.mark.slow
def test_a_missing_data_file_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.csv"
    code = main(["report", str(missing), "--stages", str(SPEC), "-o", str(tmp_path / "r.html")])
    assert code == 2
    err = capsys.readouterr().err
    assert "SourceNotFoundError" in err
    assert "missing.csv" in err
    assert "Traceback" not in err  # bad input, not a bug: no traceback
    assert not (tmp_path / "r.html").exists()


def test_unknown_format_is_refused(data: Path, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="choose 'html' or 'ipynb'"):
        build_report(data, SPEC, tmp_path / "r.pdf", format="pdf", progress=None)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- renderers


def _chart() -> alt.Chart:
    return alt.Chart(pl.DataFrame({"x": [1, 2]}), title="Two points").mark_point().encode(x="x:Q")


def test_static_charts_carry_svg_and_the_exact_spec() -> None:
    bundle = renderer._static(_chart().to_dict())
    assert set(bundle) == {"image/svg+xml", renderer.SPEC_MIME, "text/plain"}
    assert bundle["image/svg+xml"].startswith("<svg")
    assert bundle[renderer.SPEC_MIME] == _chart().to_dict()
    assert bundle["text/plain"].startswith("Chart: Two points")


def test_interactive_charts_send_the_bundle_once_with_counted_ids() -> None:
    previous = alt.renderers.active
    try:
        enable_charts("interactive")
        first = _chart()._repr_mimebundle_()
        second = _chart()._repr_mimebundle_()
        enable_charts("interactive")  # a new report starts again at 1
        again = _chart()._repr_mimebundle_()
    finally:
        alt.renderers.enable(previous)
    html = [
        b[0]["text/html"] if isinstance(b, tuple) else b["text/html"]
        for b in (first, second, again)
    ]
    assert "if (window.vegaEmbed) return;" in html[0]
    assert "if (window.vegaEmbed) return;" not in html[1]
    assert 'id="cfnb-chart-1"' in html[0]
    assert 'id="cfnb-chart-2"' in html[1]
    assert html[2] == html[0]
    assert "</script" not in html[1].split("<script", 2)[1].rsplit("</script>", 1)[0]


def test_enable_charts_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="'static' or 'interactive'"):
        enable_charts("png")  # type: ignore[arg-type]


def test_chart_title_finds_nested_titles() -> None:
    spec = {"hconcat": [{"mark": "bar"}, {"title": {"text": "Right"}}]}
    assert renderer.chart_title(spec) == "Right"
    assert renderer.chart_title({"title": ["A", "B"]}) == "A B"
    assert renderer.chart_title({}) == ""


# ---------------------------------------------------------------------------- sections


def test_sections_display_in_process(monkeypatch: pytest.MonkeyPatch, data: Path) -> None:
    shown: list[object] = []
    monkeypatch.setattr(sections, "_display", shown.append)
    rep = sections.open_report(str(data), SPEC.read_text(encoding="utf-8"), {}, "T")
    sections.header(rep)
    sections.verdict(rep)
    sections.status(rep)
    text = " ".join(o.data for o in shown if isinstance(getattr(o, "data", None), str))
    assert "<h1" in text
    assert "Last event" in text
    assert "Constraint:" in text
    assert rep.charts == 1
    assert any(isinstance(o, alt.TopLevelMixin) for o in shown)


def test_status_line_is_json(capsys: pytest.CaptureFixture[str], data: Path) -> None:
    rep = sections.open_report(str(data), MINIMAL_SPEC, {"duplicates": "drop"})
    sections.status(rep)
    status = json.loads(capsys.readouterr().out)
    assert status == {"status": "ok", "charts": 0, "unavailable": [], "error": None}
    assert rep.title == "Visits to purchases"
