"""The live explorer in a real JupyterLab, driven by headless Chromium.

Starts a throw-away JupyterLab (127.0.0.1, a free port, a token) on a temp dir holding
``tests/browser/explorer.ipynb`` (its ``SPEC`` pointed at ``data/sample_factory.toml``),
opens the notebook in Chromium through Playwright, runs all cells and waits for the
explorer's four charts to draw. Then it does what an analyst does: opens the Activation
stage, types ``signup`` in its event picker instead of ``created_project`` and presses
Enter. The constraint summary must then read what Python computes for the edited spec,
and the chain chart must have been redrawn. No console or page error is allowed (except
those listed in ``HARMLESS``). Screenshots before and after the edit go to
``artifacts/explorer_before.png`` and ``artifacts/explorer_after.png`` (git-ignored).

Needs the ``playwright`` Python package and a Chromium: ``$CHROMIUM``, else
``/usr/bin/chromium`` (Debian's ``chromium``; Playwright's browser download is not used).
Skipped, with the reason, when either is missing. The server and its kernels are
stopped at the end whatever happens (see ``browser/lab.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest

import cfnb

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="playwright is not installed (pip install playwright; the browser is Debian's chromium)",
)

from browser import lab  # noqa: E402 (only once playwright is known to be there)

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
NOTEBOOK = Path(__file__).resolve().parent / "browser" / "explorer.ipynb"
SPEC = ROOT / "data" / "sample_factory.toml"
SPEC_LINE = 'SPEC = "../../data/sample_factory.toml"'

STAGE, OLD_EVENT, NEW_EVENT = "Activation", "created_project", "signup"
SUMMARY = ".cfnb-test-summary"  # classes the notebook adds to explorer.summary
CHAIN = ".cfnb-test-chain"  # and to explorer.charts["chain"]
TIMEOUT = 60.0  # seconds, for each wait
T = TypeVar("T")

# Console / page errors known to be harmless. None is seen with JupyterLab 4.6.6,
# ipywidgets 8.1.9, anywidget 0.11.0 and Chromium 156 (a fresh workspace through ?reset
# avoids "widget model not found" from restored tabs).
HARMLESS: tuple[str, ...] = ()

CHROMIUM = lab.chromium_path()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium found ($CHROMIUM or /usr/bin/chromium; apt-get install chromium)",
    ),
]

# Charts of the explorer drawn with content (an empty <svg class="marks"> does not count).
_DRAWN_JS = """(root) => [...root.querySelectorAll(
    '.vega-embed svg.marks, .vega-embed canvas.marks')].filter(e =>
    e.getBoundingClientRect().width > 0 &&
    (e.tagName === 'CANVAS' || e.querySelector('path, rect, line, text') !== null)).length"""


def _write_notebook(root: Path) -> None:
    """The test notebook with ``SPEC`` set to the absolute path of the sample spec."""
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    setup = notebook["cells"][1]
    source = "".join(setup["source"])
    assert SPEC_LINE in source, f"{NOTEBOOK.name}: its setup cell must hold {SPEC_LINE!r}"
    setup["source"] = source.replace(SPEC_LINE, f"SPEC = {json.dumps(str(SPEC))}")
    (root / NOTEBOOK.name).write_text(json.dumps(notebook, indent=1), encoding="utf-8")


def _expected_summaries() -> tuple[str, str]:
    """The constraint summaries Python gives for the spec, before and after the edit."""
    log = cfnb.datasets.load_sample()
    factory = cfnb.Factory.from_toml(SPEC)
    edited = factory.with_stage(STAGE, match=NEW_EVENT)
    return factory.run(log).constraint().summary, edited.run(log).constraint().summary


def _poll(check: Callable[[], T | None], what: str, timeout: float = TIMEOUT) -> T:
    """Call ``check()`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


def _settled(driver: lab.LabPage, selector: str, quiet: float = 1.0) -> str:
    """The fingerprint of ``selector``'s charts once it stays the same for ``quiet`` s."""
    last = driver.fingerprint(selector)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = driver.fingerprint(selector)
        if now == last:
            return now
        last = now
    pytest.fail(f"{selector} kept changing for {TIMEOUT:.0f} s")


def test_explorer_follows_an_event_edit_in_jupyterlab(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    root = tmp_path / "root"
    root.mkdir()
    _write_notebook(root)
    ARTIFACTS.mkdir(exist_ok=True)
    before_png, after_png = ARTIFACTS / "explorer_before.png", ARTIFACTS / "explorer_after.png"
    for png in (before_png, after_png):
        png.unlink(missing_ok=True)

    with ThreadPoolExecutor(max_workers=1) as pool:
        expected: Future[tuple[str, str]] = pool.submit(_expected_summaries)
        with lab.LabServer(root, tmp_path / "lab") as server, sync_api.sync_playwright() as p:
            context = lab.launch(p, CHROMIUM, tmp_path / "profile", viewport=(1600, 1250))
            try:
                page = context.new_page()
                driver = lab.LabPage(page, timeout=TIMEOUT)
                driver.open_notebook(server.notebook_url(NOTEBOOK.name))
                page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # room for charts
                assert driver.run_all(), f"a cell raised: {driver.output_errors()}"
                assert driver.output_errors() == []

                explorer = page.locator(".jp-OutputArea-output", has=page.locator(SUMMARY))
                summary = explorer.locator(SUMMARY)
                page.wait_for_function(
                    f"(root) => ({_DRAWN_JS})(root) === 4",
                    arg=explorer.element_handle(),
                    polling=250,
                )
                expected_before, expected_after = expected.result(timeout=TIMEOUT)
                text_before = summary.inner_text().strip()
                assert text_before == expected_before
                assert explorer.locator(CHAIN).evaluate(_DRAWN_JS) == 1, "chain chart not found"
                chain_before = driver.fingerprint(CHAIN)

                # Open the stage (one at a time in an accordion) and show it with the charts.
                stage = explorer.locator(
                    ".jupyter-widget-Collapse",
                    has=page.locator(".jupyter-widget-Collapse-header", has_text=f"2. {STAGE}:"),
                )
                header = stage.locator(".jupyter-widget-Collapse-header")
                assert f'event = "{OLD_EVENT}"' in header.inner_text()
                header.click()
                event = stage.get_by_label("event", exact=True)  # the stage's event Combobox
                event.wait_for(state="visible")
                assert event.input_value().startswith(OLD_EVENT)
                explorer.evaluate("e => e.scrollIntoView({block: 'start'})")
                page.wait_for_timeout(500)
                page.screenshot(path=before_png)

                event.fill(NEW_EVENT)
                event.press("Enter")  # continuous_update=False: the value is sent on Enter

                def new_summary() -> str | None:
                    text = summary.inner_text().strip()
                    return text if text != text_before else None

                text_after = _poll(new_summary, "the constraint summary to change")
                _poll(
                    lambda: driver.fingerprint(CHAIN) != chain_before,
                    "the chain chart to be redrawn",
                )
                assert text_after == expected_after
                assert f'event = "{NEW_EVENT}"' in header.inner_text()
                # Settled: no pending refresh, all four charts drawn, the chain chart still.
                explorer.get_by_text("Up to date").wait_for()
                assert explorer.locator(".cfnb-stale").count() == 0
                assert explorer.evaluate(_DRAWN_JS) == 4
                chain_after = _settled(driver, CHAIN)
                assert chain_after != chain_before
                explorer.evaluate("e => e.scrollIntoView({block: 'start'})")
                page.wait_for_timeout(300)
                page.screenshot(path=after_png)

                assert driver.output_errors() == []
                assert driver.errors_except(HARMLESS) == []
            finally:
                context.close()
    # Leaving the block stopped the server; its kernels must have gone with it.
    assert server.process is None
    assert server.leftovers == [], f"kernel processes outlived the server: {server.leftovers}"
    print(f"summary: {text_before!r} -> {text_after!r}; chain: {chain_before} -> {chain_after}")
