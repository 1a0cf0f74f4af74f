"""An Altair renderer whose charts draw in the static book with no network.

The book's pages load Vega, Vega-Lite and Vega-Embed once, from the book's own static folder
(:mod:`scalingbook.book.vega_offline`). Each chart's HTML output is then only a ``<div>``, its
spec, and a call to ``window.vegaEmbed``. Sliders and dropdowns bound to Altair parameters are
evaluated by Vega in the page, so they move with no kernel.

In a live notebook (Jupyter, Binder, Colab) the page has no bundle; there the same output
imports Vega-Embed from a CDN instead, which is fine where a kernel and a network exist.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

RENDERER_NAME = "scalingbook"
# Where a live notebook (not the book) finds Vega-Embed; it brings Vega and Vega-Lite with it.
CDN_VEGA_EMBED = "https://cdn.jsdelivr.net/npm/vega-embed@7/+esm"

_count = 0


def chart_html(spec: dict, *, element_id: str | None = None) -> str:
    """Return the HTML that draws the Vega-Lite ``spec`` with the page's ``vegaEmbed``.

    ``element_id`` defaults to a name derived from the spec and a counter, so the same notebook
    gives the same HTML on every run and two identical charts on a page still get two ids.
    """
    global _count
    payload = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    if element_id is None:
        _count += 1
        element_id = "sb-chart-" + hashlib.sha1(f"{_count}:{payload}".encode()).hexdigest()[:12]
    # "</" must not appear inside a <script> body; JSON allows the escaped form.
    payload = payload.replace("</", "<\\/")
    options = json.dumps({"actions": False, "mode": "vega-lite"})
    return f"""<div class="scalingbook-chart" id="{element_id}"></div>
<script type="text/javascript">
(function () {{
  var spec = {payload};
  var options = {options};
  function draw(embed) {{
    embed("#{element_id}", spec, options).catch(function (err) {{
      console.error("scalingbook chart {element_id}: " + err);
    }});
  }}
  if (typeof window.vegaEmbed === "function") {{
    draw(window.vegaEmbed);
  }} else {{
    import("{CDN_VEGA_EMBED}").then(function (mod) {{ draw(mod.default); }});
  }}
}})();
</script>"""


def render(spec: dict, **metadata: Any) -> dict:
    """Altair renderer: a text/html bundle for the book, with a plain-text fallback."""
    return {"text/html": chart_html(spec), "text/plain": "<Vega-Lite chart>"}


def enable() -> None:
    """Register and enable the offline renderer for this session's Altair charts."""
    import altair as alt

    if RENDERER_NAME not in alt.renderers.names():
        alt.renderers.register(RENDERER_NAME, render)
    alt.renderers.enable(RENDERER_NAME)
