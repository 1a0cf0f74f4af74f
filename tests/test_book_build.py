"""One full build of the book in quick mode, strict, then every chapter in a real browser.

The build runs with warnings as errors (``-W -n --keep-going``) and the ``_config.yml`` setting
``execute.raise_on_error``, so a failing cell fails it. The browser test serves the built HTML on
127.0.0.1, opens each chapter in headless Chromium with every non-local request refused, and checks
that every chart drew, that moving a slider redraws a chart, and that nothing logs an error.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import papermill as pm
import pytest
import yaml
from booktools import ROOT, chapters

pytestmark = pytest.mark.slow

# Two console errors that a stock Jupyter Book 1 page logs with no content of ours (measured on
# an empty book; see ../shared/NOTES.md). Anything else fails the browser test.
STOCK_JUPYTER_BOOK_ERRORS = (
    "Identifier 'THEBE_JS_URL' has already been declared",
    "Got invalid theme mode",
)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def jupyter_book() -> str:
    exe = Path(sys.executable).with_name("jupyter-book")
    return str(exe) if exe.exists() else shutil.which("jupyter-book")


def copy_book(dest: Path) -> None:
    shutil.copy(ROOT / "_config.yml", dest / "_config.yml")
    shutil.copy(ROOT / "_toc.yml", dest / "_toc.yml")
    shutil.copytree(ROOT / "book", dest / "book", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))


def build(source: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [jupyter_book(), "build", str(source), "-W", "-n", "--keep-going"],
        capture_output=True,
        text=True,
        timeout=1800,
    )


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    """The whole book built in quick mode: papermill injects quick=True into each chapter."""
    src = tmp_path_factory.mktemp("book")
    copy_book(src)
    for path in chapters():
        target = src / path.relative_to(ROOT)
        pm.execute_notebook(str(path), str(target), parameters={"quick": True}, prepare_only=True)
    result = build(src)
    if result.returncode != 0:
        pytest.fail(
            f"jupyter-book build failed ({result.returncode})\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}",
            pytrace=False,
        )
    return src / "_build" / "html"


def test_config_makes_cell_errors_fatal():
    execute = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]
    assert execute["raise_on_error"] is True and execute["allow_errors"] is False
    assert execute["execute_notebooks"] == "force"


def test_failing_cell_fails_the_build(tmp_path):
    """The same configuration on a one-page book whose only cell raises must not build."""
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Broken"), nbformat.v4.new_code_cell("1 / 0")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "index.ipynb")
    result = build(tmp_path)
    assert result.returncode != 0
    assert "ZeroDivisionError" in result.stdout + result.stderr


def test_build_is_clean_and_bundles_vega_once_per_page(built_book):
    assert (built_book / "_static" / "vega-bundle.js").stat().st_size > 100_000
    for path in chapters():
        page = built_book / path.relative_to(ROOT).with_suffix(".html")
        html = page.read_text()
        assert len(re.findall(r"<script[^>]+vega-bundle\.js", html)) == 1, page.name
        assert html.count('class="scalingbook-chart"') >= 1, f"{page.name} has no chart"
        external = re.findall(r'<script[^>]+src="(https?://[^"]+)"', html)
        assert not external, f"{page.name} loads scripts from the network: {external}"
        assert "Traceback (most recent call last)" not in html, f"{page.name} shows a traceback"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served_book(built_book):
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def chromium_executable() -> str:
    exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(exe).exists():
        pytest.fail(
            "Debian's chromium is needed for the browser test (apt-get install -y chromium); "
            "`bash .ci/test` installs it",
            pytrace=False,
        )
    return exe


# The pixels a chart drew: SVG mark elements, or non-transparent canvas pixels.
# Whether a chart drew its data, as a count that is 0 for a chart that drew nothing: in SVG,
# the items inside Vega's data-mark groups (``g.role-mark``; axes, legends and titles are other
# roles), so axes around no data count 0; on a canvas, where marks cannot be told apart, the
# painted pixels minus 100 (a blank canvas paints none, any real chart thousands).
DRAWN = """(chart) => {
  const svg = chart.querySelector('svg');
  if (svg) return svg.querySelectorAll('g.role-mark > *').length;
  const canvas = chart.querySelector('canvas');
  if (!canvas || !canvas.width || !canvas.height) return 0;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
  return Math.max(n - 100, 0);
}"""
SNAPSHOT = """(chart) => {
  const svg = chart.querySelector('svg');
  if (svg) return svg.outerHTML;
  return chart.querySelector('canvas').toDataURL();
}"""


@pytest.mark.parametrize("chapter", chapters(), ids=lambda p: p.stem)
def test_chapter_in_browser(served_book, chapter):
    """Every chart on the page draws, a slider redraws its chart, no error, no network."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    url = f"{served_book}/{chapter.relative_to(ROOT).with_suffix('.html').as_posix()}"
    errors: list[str] = []
    refused: list[str] = []

    def route(r):
        host = urlparse(r.request.url).hostname
        if r.request.url.startswith("data:") or host == "127.0.0.1":
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
            page.route("**/*", route)
            page.goto(url, wait_until="load")
            charts = page.locator(".scalingbook-chart")
            n = charts.count()
            assert n >= 1, f"{chapter.stem} has no chart"
            page.wait_for_function(
                "() => [...document.querySelectorAll('.scalingbook-chart')]"
                ".every(c => c.querySelector('canvas, svg'))",
                timeout=30_000,
            )
            # A canvas exists before Vega has painted it: wait for every chart to draw, then
            # check (a chart that never draws fails with its count).
            for i in range(n):
                try:
                    page.wait_for_function(f"(c) => ({DRAWN})(c) > 0",
                                           arg=charts.nth(i).element_handle(), timeout=15_000)
                except PlaywrightTimeout:
                    pass
                drawn = charts.nth(i).evaluate(DRAWN)
                assert drawn > 0, f"chart {i} drew no data marks"

            # Moving a slider must redraw its chart, with no kernel behind the page.
            with_sliders = [c for c in charts.all() if c.locator("input[type=range]").count()]
            assert with_sliders, f"no slider found in {chapter.stem}'s charts"
            chart = with_sliders[0]
            slider = chart.locator("input[type=range]").first
            before = chart.evaluate(SNAPSHOT)
            lo, hi = float(slider.get_attribute("min")), float(slider.get_attribute("max"))
            current = float(slider.input_value())
            slider.fill(str(hi if current - lo < hi - current else lo))
            page.wait_for_function(
                "([c, b]) => { const s = c.querySelector('svg');"
                " return (s ? s.outerHTML : c.querySelector('canvas').toDataURL()) !== b; }",
                arg=[chart.element_handle(), before],
                timeout=10_000,
            )
        finally:
            browser.close()

    unexpected = [e for e in errors if not any(s in e for s in STOCK_JUPYTER_BOOK_ERRORS)]
    assert not unexpected, f"console errors: {unexpected}"
    assert not refused, f"the page tried to reach the network: {refused}"
