"""The report in a real browser: headless Chromium, every network request blocked.

Opens the HTML written by ``cfnb report`` from a ``file://`` URL with the browser offline
and every non-file request aborted, then checks that every chart drew (one non-empty
SVG or canvas per chart container), that tooltips show, and that the page logged no
error and asked for nothing on the network. A full-page screenshot is saved as
``artifacts/report.png`` (git-ignored) for a person to look at.

Needs the ``playwright`` Python package and a Chromium: ``$CHROMIUM``, else
``/usr/bin/chromium`` (Debian's ``chromium`` package, ``make browser``), else ``chromium`` or
``chromium-browser`` on the PATH; Playwright's own browser download is not used. Skipped,
with the reason, when either is missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from browser.lab import CHROMIUM_ARGS  # one list of the flags Chromium needs here

import cfnb
from cfnb.report import ReportResult, build_report

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="playwright is not installed (pip install playwright; the browser is Debian's chromium)",
)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHART = ".cfnb-chart"
DRAWN = ".cfnb-chart svg.marks, .cfnb-chart canvas.marks"


def _chromium() -> str | None:
    candidates = (
        os.environ.get("CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    )
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


CHROMIUM = _chromium()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium found ($CHROMIUM or /usr/bin/chromium; apt-get install chromium)",
    ),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    out = tmp_path_factory.mktemp("report") / "sample.html"
    return build_report(
        cfnb.datasets.sample_path("parquet"),
        cfnb.datasets.sample_path("spec"),
        out,
        progress=None,
    )


@pytest.fixture(scope="module")
def page_log(report: ReportResult) -> dict[str, Any]:
    """Open the report offline; return what the page did and drew."""
    log: dict[str, Any] = {"console_errors": [], "page_errors": [], "blocked": []}
    with sync_api.sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": 1280, "height": 1000},
        )
        try:
            ctx.set_offline(True)

            def route(r: Any) -> None:
                url = r.request.url
                if url.startswith(("file:", "data:", "blob:", "about:")):
                    r.continue_()
                else:
                    log["blocked"].append(url[:200])
                    r.abort()

            ctx.route("**/*", route)
            page = ctx.new_page()
            page.on(
                "console",
                lambda m: m.type == "error" and log["console_errors"].append(m.text[:300]),
            )
            page.on("pageerror", lambda e: log["page_errors"].append(str(e)[:300]))
            page.goto(report.path.resolve().as_uri(), wait_until="load")
            log["containers"] = _count(page, CHART)
            log["drawn"] = _wait_for(page, DRAWN, log["containers"], timeout_s=90)
            log["empty"] = page.evaluate(
                """(s) => [...document.querySelectorAll(s)].filter(e => {
                       const r = e.getBoundingClientRect();
                       const marks = e.tagName === 'CANVAS' ? 1 : e.querySelectorAll('path, rect, text, line, symbol').length;
                       return r.width < 20 || r.height < 20 || marks === 0;
                   }).length""",
                DRAWN,
            )
            log["tooltip"] = _hover_tooltip(page)
            page.mouse.move(0, 0)
            page.wait_for_timeout(300)
            ARTIFACTS.mkdir(exist_ok=True)
            page.evaluate("() => window.scrollTo(0, 0)")
            page.screenshot(path=str(ARTIFACTS / "report-top.png"))  # the first screen
            shot = ARTIFACTS / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            log["screenshot"] = shot
            log["text"] = page.inner_text("body")
        finally:
            ctx.close()
    return log


def _count(page: Any, selector: str) -> int:
    n: int = page.evaluate("(s) => document.querySelectorAll(s).length", selector)
    return n


def _wait_for(page: Any, selector: str, expected: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    n = _count(page, selector)
    while n < expected and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        n = _count(page, selector)
    page.wait_for_timeout(500)  # vega may still be laying out the last chart
    return _count(page, selector)


def _hover_tooltip(page: Any) -> str:
    """Hover the bars of the funnel chart until vega-tooltip shows; return its text."""
    marks = page.locator(
        ".cfnb-chart svg.marks [role='graphics-symbol'], .cfnb-chart svg.marks path"
    )
    for i in range(min(marks.count(), 200)):
        mark = marks.nth(i)
        box = mark.bounding_box()
        if not box or box["width"] < 4 or box["height"] < 4:
            continue
        mark.scroll_into_view_if_needed()
        mark.hover(force=True)
        page.wait_for_timeout(150)
        visible = page.evaluate(
            """() => { const t = document.getElementById('vg-tooltip-element');
                       return t && t.classList.contains('visible') ? t.innerText : ''; }"""
        )
        if visible:
            return str(visible)
    return ""


def test_report_has_one_chart_container_per_chart(
    report: ReportResult, page_log: dict[str, Any]
) -> None:
    assert report.status == "ok"
    assert report.charts >= 9
    assert page_log["containers"] == report.charts


def test_every_chart_draws_offline(report: ReportResult, page_log: dict[str, Any]) -> None:
    assert page_log["drawn"] == report.charts, page_log
    assert page_log["empty"] == 0


def test_nothing_is_fetched_and_nothing_fails(page_log: dict[str, Any]) -> None:
    assert page_log["blocked"] == []
    assert page_log["console_errors"] == []
    assert page_log["page_errors"] == []


def test_tooltips_show(page_log: dict[str, Any]) -> None:
    assert page_log["tooltip"].strip() != ""


def test_report_states_source_spec_and_last_event(page_log: dict[str, Any]) -> None:
    text = page_log["text"]
    assert "sample_events.parquet" in text
    assert "Last event" in text
    assert "2026-07-05" in text  # the sample's last event
    assert "Load report" in text
    assert "[[stages]]" in text  # the spec, as TOML
    assert "Constraint: Activation" in text


def test_screenshot_saved(page_log: dict[str, Any]) -> None:
    shot: Path = page_log["screenshot"]
    assert shot.is_file()
    assert shot.stat().st_size > 10_000
