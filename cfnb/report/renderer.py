"""Altair renderers that draw cfnb charts with no network: static for notebooks, live for reports.

Two modes, one call (:func:`enable_charts`):

``"static"`` (the committed notebooks)
    Every chart is drawn by vl-convert into an SVG, in the notebook itself. The output
    bundle holds the SVG (shown by GitHub, nbviewer, VS Code, nbconvert, and by
    JupyterLab once the notebook is trusted or re-run), the chart's Vega-Lite spec as
    ``application/vnd.vegalite.v6+json`` (what nbval compares: every number of the
    chart, exactly, whatever the fonts of the machine), and a one-line ``text/plain``
    naming the chart. Small (no JavaScript) and byte-stable on one machine; the SVG's
    layout depends on the fonts installed, which is why nbval compares the spec.

``"interactive"`` (reports, and live use in JupyterLab)
    The Vega, Vega-Lite and vega-embed bundle shipped inside the vl-convert wheel is
    written once, into the first chart's output; every chart after that is a small
    ``<div>`` and a ``<script>`` calling ``vegaEmbed``. Tooltips and selections work,
    in JupyterLab and in an exported HTML file, with no CDN. Element ids come from a
    counter, not a random number, so the same charts give the same HTML.

Examples
--------
>>> from cfnb.report import enable_charts
>>> enable_charts("static")          # doctest: +SKIP
>>> enable_charts("interactive")     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import html
import json
from collections import OrderedDict
from typing import Any, ClassVar, Final, Literal

import altair as alt

__all__ = ["SPEC_MIME", "chart_title", "enable_charts", "interactive_html", "vega_bundle"]

Mode = Literal["static", "interactive"]

#: The mime type under which a static chart carries its Vega-Lite spec.
SPEC_MIME: Final = "application/vnd.vegalite.v6+json"
_NAMES: Final[dict[str, str]] = {"static": "cfnb_static", "interactive": "cfnb_interactive"}
_SVG_CACHE_SIZE: Final = 64


class _State:
    bundle_sent: ClassVar[bool] = False
    counter: ClassVar[int] = 0
    svg_cache: ClassVar[OrderedDict[str, str]] = OrderedDict()


def _vl_version() -> str | None:
    try:
        from altair.utils._importers import vl_version_for_vl_convert
    except ImportError:  # pragma: no cover - a future Altair without the helper
        return None
    version: str = vl_version_for_vl_convert()
    return version


def vega_bundle() -> str:
    """The Vega + Vega-Lite + vega-embed JavaScript bundle shipped inside vl-convert."""
    import vl_convert as vlc

    bundle: Any = vlc.javascript_bundle  # its stub wants a snippet; None means the default
    js: str = bundle(vl_version=_vl_version())
    return js


def chart_title(spec: dict[str, Any]) -> str:
    """The text of a chart spec's title (first line), or ``""``."""
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text", "")
    if isinstance(title, list):
        title = " ".join(str(t) for t in title)
    if not title:
        for key in ("vconcat", "hconcat", "layer", "concat"):
            parts = spec.get(key)
            if isinstance(parts, list):
                for part in parts:
                    found = chart_title(part) if isinstance(part, dict) else ""
                    if found:
                        return found
    return str(title or "")


def _svg(spec: dict[str, Any]) -> str:
    import vl_convert as vlc

    text = json.dumps(spec, sort_keys=True)
    key = hashlib.sha256(text.encode()).hexdigest()
    cache = _State.svg_cache
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    svg: str = vlc.vegalite_to_svg(text, vl_version=_vl_version())
    cache[key] = svg
    while len(cache) > _SVG_CACHE_SIZE:
        cache.popitem(last=False)
    return svg


def _static(spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    title = chart_title(spec)
    label = f"Chart: {title}" if title else "Chart"
    return {
        "image/svg+xml": _svg(spec),
        SPEC_MIME: spec,
        "text/plain": f"{label} (an SVG: trust the notebook or run the cell to see it)",
    }


def _script_json(value: object) -> str:
    """JSON safe inside a ``<script>`` element."""
    return (
        json.dumps(value, sort_keys=True)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def _bundle_script() -> str:
    js = vega_bundle().replace("</script", "<\\/script")
    # Inside a function: the bundle declares many top-level names; keep them off the page.
    return (
        '<script type="text/javascript">(function(){if (window.vegaEmbed) return;\n'
        + js
        + "\n})();</script>\n"
    )


def interactive_html(spec: dict[str, Any], element_id: str, *, with_bundle: bool) -> str:
    """One chart as HTML: a ``<div>`` and the ``<script>`` that draws it with vega-embed."""
    title = chart_title(spec)
    opts = {"mode": "vega-lite", "actions": False}
    head = _bundle_script() if with_bundle else ""
    return (
        f'{head}<div id="{element_id}" class="cfnb-chart" role="img" '
        f'aria-label="{html.escape(title or "chart")}"></div>\n'
        '<script type="text/javascript">(function () {\n'
        f"  var spec = {_script_json(spec)}, opt = {_script_json(opts)}, tries = 0;\n"
        "  function draw() {\n"
        f'    var el = document.getElementById("{element_id}");\n'
        "    if (window.vegaEmbed) { window.vegaEmbed(el, spec, opt).catch(console.error); }\n"
        "    else if (tries++ < 100) { setTimeout(draw, 100); }\n"
        '    else { el.textContent = "Chart library not loaded: run the cell that '
        'called cfnb.report.enable_charts() again."; }\n'
        "  }\n"
        "  draw();\n"
        "})();</script>"
    )


def _interactive(spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    _State.counter += 1
    html_text = interactive_html(
        spec, f"cfnb-chart-{_State.counter}", with_bundle=not _State.bundle_sent
    )
    _State.bundle_sent = True
    title = chart_title(spec)
    return {"text/html": html_text, "text/plain": f"Chart: {title}" if title else "Chart"}


_RENDERERS: Final = {"static": _static, "interactive": _interactive}


def enable_charts(mode: Mode = "static") -> None:
    """Draw every Altair chart shown from now on with no network access.

    Parameters
    ----------
    mode
        ``"static"``: an SVG drawn in the kernel plus the chart's spec (small, no
        JavaScript; what the committed notebooks use). ``"interactive"``: vega-embed
        with tooltips, its JavaScript bundle written once into the next chart's output
        (about 0.9 MB); the chart ids restart at 1, so a report is deterministic.

    Raises
    ------
    ValueError
        For an unknown mode.
    """
    if mode not in _NAMES:
        raise ValueError(f"Unknown chart mode {mode!r}; choose 'static' or 'interactive'.")
    if mode == "interactive":
        _State.bundle_sent = False
        _State.counter = 0
    name = _NAMES[mode]
    if name not in alt.renderers.names():
        alt.renderers.register(name, _RENDERERS[mode])
    alt.renderers.enable(name)
