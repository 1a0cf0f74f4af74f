"""Sphinx extension: serve Vega, Vega-Lite and Vega-Embed from the book itself.

Altair's own HTML output loads these libraries from a CDN, so a book read offline (or built
on a machine with no network) shows blank charts. This extension writes one JavaScript file,
``vega-bundle.js``, into the book's static folder and adds it to the head of every page, once
per page. Each chart then only carries its spec and a call to ``vegaEmbed`` (see
:mod:`scalingbook.viz.offline`).

The bundle comes from ``vl-convert-python`` (the same Vega-Lite release that Altair writes its
specs for). It is a classic script that declares top-level constants such as ``_``; Sphinx
pages already declare a global ``_``, so the bundle is wrapped in a function scope and only
assigns ``window.vegaEmbed``, ``window.vega`` and ``window.vegaLite``.

Enable it in ``_config.yml`` under ``sphinx: extra_extensions``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

BUNDLE_NAME = "vega-bundle.js"


def vegalite_version() -> str:
    """The Vega-Lite version Altair writes specs for, as vl-convert names it (``v6.4``)."""
    import altair as alt

    major, minor = alt.SCHEMA_VERSION.lstrip("v").split(".")[:2]
    return f"v{major}.{minor}"


def build_bundle() -> str:
    """Return the wrapped bundle: Vega-Embed, Vega-Lite and Vega with no external requests."""
    import vl_convert as vlc

    body = vlc.javascript_bundle(vl_version=vegalite_version())
    header = (
        f"/* Vega {vlc.get_vega_version()}, Vega-Lite {vegalite_version()}, "
        f"Vega-Embed {vlc.get_vega_embed_version()}: bundled by vl-convert-python "
        "(BSD-3-Clause) for offline use. */\n"
    )
    return header + "(function () {\n" + body + "\n})();\n"


def write_bundle(directory: Path) -> Path:
    """Write the bundle into ``directory`` unless an identical one is already there."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / BUNDLE_NAME
    text = build_bundle()
    digest = hashlib.sha256(text.encode()).hexdigest()
    if not target.exists() or hashlib.sha256(target.read_bytes()).hexdigest() != digest:
        target.write_text(text)
    return target


def _on_config_inited(app, config) -> None:
    static_dir = Path(app.doctreedir).parent / "vega-static"
    write_bundle(static_dir)
    config.html_static_path = list(config.html_static_path) + [str(static_dir)]


def setup(app):
    app.connect("config-inited", _on_config_inited)
    # A low priority number puts the bundle before other scripts (require.js among them,
    # which would otherwise capture the UMD bundles as AMD modules on pages with widgets).
    app.add_js_file(BUNDLE_NAME, priority=200)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
