"""Chart builders: their specs, their Vega expressions, and what Vega actually draws from them.

Drawing uses vl-convert, which runs the same Vega and Vega-Lite JavaScript as the book's page,
so these tests check the chart a reader sees, not only the JSON we wrote.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc

from scalingbook import laws, viz
from scalingbook.book import vega_offline
from scalingbook.viz import expressions as ex
from scalingbook.viz.offline import chart_html, render

# Names the Vega expression language defines itself; a parameter with one of these names is
# silently shadowed (a parameter called "E" evaluates to Euler's number).
VEGA_RESERVED = {
    "E", "LN2", "LN10", "LOG2E", "LOG10E", "PI", "SQRT1_2", "SQRT2", "MIN_VALUE", "MAX_VALUE",
    "NaN", "Infinity", "datum", "event", "item", "parent",
}


def evaluate(expr: str, **names: float) -> float:
    """Evaluate a Vega arithmetic expression in Python (pow and the given names only)."""
    py = expr.replace("datum.", "datum_")
    if set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", py)) - {"pow", *names}:
        raise AssertionError(f"unexpected names in {expr!r}")
    return eval(py, {"__builtins__": {}}, {"pow": math.pow, **names})  # noqa: S307


def scenegraph(chart) -> dict:
    sg = vlc.vegalite_to_scenegraph(chart.to_dict())
    return json.loads(sg) if isinstance(sg, str) else sg


def marks(node, marktype):
    found = []
    if isinstance(node, dict):
        if node.get("marktype") == marktype:
            found.append(node)
        for value in node.values():
            found.extend(marks(value, marktype))
    elif isinstance(node, list):
        for value in node:
            found.extend(marks(value, marktype))
    return found


# --- expressions agree with the package's laws -------------------------------------------

X = np.geomspace(1.0, 1e8, 25)


@pytest.mark.parametrize("a,alpha", [(1.0, 0.3), (250.0, 0.07), (0.01, 1.2)])
def test_power_law_expression_matches_package(a, alpha):
    expr = ex.power_law("datum.x", "a", "alpha")
    got = [evaluate(expr, datum_x=x, a=a, alpha=alpha) for x in X]
    np.testing.assert_allclose(got, laws.power_law(X, a, alpha), rtol=1e-12)


@pytest.mark.parametrize("e,a,alpha", [(0.1, 1.0, 0.3), (2.0, 40.0, 0.5)])
def test_power_law_with_offset_expression_matches_package(e, a, alpha):
    expr = ex.power_law_with_offset("datum.x", "e", "a", "alpha")
    got = [evaluate(expr, datum_x=x, e=e, a=a, alpha=alpha) for x in X]
    np.testing.assert_allclose(got, laws.power_law_with_offset(X, e, a, alpha), rtol=1e-12)


def test_learning_curve_expression_matches_package():
    curve = laws.LearningCurve(best_guess_error=1.2, irreducible_error=0.05, m0=300.0, beta=0.6)
    expr = ex.learning_curve("datum.m", "e0", "einf", "m0", "beta")
    got = [evaluate(expr, datum_m=m, e0=1.2, einf=0.05, m0=300.0, beta=0.6) for m in X]
    np.testing.assert_allclose(got, curve.error(X), rtol=1e-12)


# --- the explorer's spec --------------------------------------------------------------------


def test_explorer_binds_three_sliders_with_safe_names():
    spec = viz.power_law_explorer().to_dict()
    params = {p["name"]: p for p in spec["params"]}
    assert len(params) == 3
    for name, p in params.items():
        assert p["bind"]["input"] == "range", name
        assert p["bind"]["min"] <= p["value"] <= p["bind"]["max"], name
        assert name not in VEGA_RESERVED, f"parameter {name!r} is shadowed by a Vega constant"
    text = json.dumps(spec)
    for name in params:
        assert name in text.replace(f'"name": "{name}"', ""), f"parameter {name} is never used"


def test_explorer_draws_the_law_in_vega():
    """The pure power law draws as a straight line whose slope is the exponent."""
    alpha, x_min, x_max = 0.4, 10.0, 1e6
    chart = viz.power_law_explorer(
        x_min, x_max, exponent=alpha, log10_scale=0.0, irreducible=0.01, y_domain=(1e-4, 10.0)
    )
    lines = marks(scenegraph(chart), "line")
    assert len(lines) == 2
    # Pixel coordinates back to data: both axes are logarithmic.
    width, height = 520, 320
    y_decades = math.log10(10.0) - math.log10(1e-4)
    slopes = []
    for line in lines:
        pts = np.array([(i["x"], i["y"]) for i in line["items"]])
        log_x = math.log10(x_min) + pts[:, 0] / width * (math.log10(x_max) - math.log10(x_min))
        log_y = math.log10(10.0) - pts[:, 1] / height * y_decades
        slopes.append((np.polyfit(log_x[-10:], log_y[-10:], 1)[0], log_y))
    power_only = min(slopes, key=lambda s: abs(s[0] + alpha))
    with_floor = max(slopes, key=lambda s: abs(s[0] + alpha))
    assert power_only[0] == pytest.approx(-alpha, abs=0.01)
    # With the floor, the right end flattens onto E = 0.01.
    assert 10 ** with_floor[1][-1] == pytest.approx(0.01 + x_max**-alpha, rel=0.05)


def test_explorer_rejects_bad_input():
    with pytest.raises(ValueError, match="x_min"):
        viz.power_law_explorer(-1.0, 10.0)
    with pytest.raises(ValueError, match="x_min must be below x_max"):
        viz.power_law_explorer(100.0, 10.0)
    with pytest.raises(ValueError, match="exponent"):
        viz.power_law_explorer(exponent=5.0)
    with pytest.raises(ValueError, match="irreducible range must be positive"):
        viz.power_law_explorer(irreducible=0.0, irreducible_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="measured"):
        viz.power_law_explorer(measured=pd.DataFrame({"m": [1.0]}))
    with pytest.raises(ValueError, match=r"measured\['y'\]"):
        viz.power_law_explorer(measured=pd.DataFrame({"x": [1.0, 2.0], "y": [0.5, np.nan]}))


# --- the learning-curve chart -----------------------------------------------------------------


def _measured():
    rng = np.random.default_rng(0)
    curve = laws.LearningCurve(best_guess_error=1.0, irreducible_error=0.02, m0=50.0, beta=0.8)
    m = np.repeat(np.geomspace(8, 2e5, 12), 3)
    err = curve.error(m) * np.exp(rng.normal(0, 0.05, m.size))
    return curve, pd.DataFrame({"m": m, "error": err, "seed": np.tile([0, 1, 2], 12)})


def test_learning_curve_chart_shades_three_regions_and_offers_a_seed_dropdown():
    curve, df = _measured()
    spec = viz.learning_curve_chart(df, curve).to_dict()
    rects = marks(scenegraph(viz.learning_curve_chart(df, curve)), "rect")
    assert sum(len(r["items"]) for r in rects) == 3
    (pick,) = [p for p in spec["params"] if p["name"] == "seed_pick"]
    assert pick["bind"]["input"] == "select"
    assert pick["bind"]["options"] == ["all", "0", "1", "2"]


def test_learning_curve_chart_rejects_bad_input():
    curve, df = _measured()
    with pytest.raises(ValueError, match="columns 'm' and 'error'"):
        viz.learning_curve_chart(df.rename(columns={"m": "n"}), curve)
    with pytest.raises(ValueError, match=r"measured\['error'\]"):
        viz.learning_curve_chart(df.assign(error=-df["error"]), curve)


# --- the offline renderer and the bundle --------------------------------------------------------


def test_chart_html_embeds_spec_without_loading_scripts():
    html = chart_html({"mark": "point", "title": "</script><b>"}, element_id="c1")
    assert '<div class="scalingbook-chart" id="c1">' in html
    assert "<script src" not in html
    assert html.count("</script>") == 1, "the spec must not be able to close the script early"
    assert 'window.vegaEmbed' in html


def test_renderer_is_deterministic_apart_from_its_counter():
    a = render({"mark": "bar"})["text/html"]
    b = render({"mark": "bar"})["text/html"]
    assert a != b  # two identical charts on one page still get distinct ids
    strip = lambda h: re.sub(r"sb-chart-[0-9a-f]+", "ID", h)  # noqa: E731
    assert strip(a) == strip(b)


def test_bundle_is_wrapped_and_sets_globals(tmp_path):
    path = vega_offline.write_bundle(tmp_path)
    text = path.read_text()
    assert text.split("\n", 1)[1].startswith("(function () {")
    assert text.rstrip().endswith("})();")
    for name in ("window.vegaEmbed", "window.vega", "window.vegaLite"):
        assert name in text
    assert vega_offline.vegalite_version().startswith("v6")
    mtime = path.stat().st_mtime_ns
    vega_offline.write_bundle(tmp_path)
    assert path.stat().st_mtime_ns == mtime, "an identical bundle must not be rewritten"


# --- the fitted-power-law chart --------------------------------------------------------------


def test_power_law_fit_chart_draws_the_law_it_is_given():
    points = pd.DataFrame({"x": [10.0, 100.0, 1000.0], "y": [1.0, 0.5, 0.25], "seed": [0, 0, 1]})
    chart = viz.power_law_fit_chart(points, lambda x: 2.0 * np.asarray(x) ** -0.3, x_title="m", y_title="N")
    spec = chart.to_dict()
    (line_layer,) = [layer for layer in spec["layer"] if layer["mark"]["type"] == "line"]
    values = spec["datasets"][line_layer["data"]["name"]]
    np.testing.assert_allclose([v["y"] for v in values], [2.0 * v["x"] ** -0.3 for v in values])
    (pick,) = [p for p in spec["params"] if p["name"] == "fit_seed_pick"]
    assert pick["bind"]["options"] == ["all", "0", "1"]
    drawn = [m for m in marks(scenegraph(chart), "symbol") if m.get("role") == "mark"]
    assert sum(len(m["items"]) for m in drawn) == 3


def test_power_law_fit_chart_rejects_bad_points():
    with pytest.raises(ValueError, match="columns 'x' and 'y'"):
        viz.power_law_fit_chart(pd.DataFrame({"m": [1.0]}), np.sqrt, x_title="", y_title="")
    with pytest.raises(ValueError, match=r"points\['y'\]"):
        viz.power_law_fit_chart(pd.DataFrame({"x": [1.0, 2.0], "y": [0.0, 1.0]}), np.sqrt, x_title="", y_title="")


def test_isoflop_chart_draws_profiles_vertices_and_a_budget_dropdown():
    import json

    import vl_convert as vlc

    from scalingbook.data import isoflop_runs
    from scalingbook.fit import fit_isoflop
    from scalingbook.laws import ChinchillaLaw
    from scalingbook.viz import isoflop_chart

    law = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    sweep = isoflop_runs(law, [1e18, 1e19, 1e20], per_budget=5, noise=0.0, seed=0)
    result = fit_isoflop(sweep["N"], sweep["D"], sweep["loss"], C=sweep["C"])
    spec = isoflop_chart(sweep, result).to_dict()
    selects = [p for p in spec["params"] if p.get("bind", {}).get("input") == "select"]
    assert len(selects) == 1 and selects[0]["bind"]["options"] == ["all", "1e+18", "1e+19", "1e+20"]
    scenegraph = json.dumps(vlc.vegalite_to_scenegraph(json.dumps(spec)))
    assert scenegraph.count('"marktype": "line"') >= 1 and "diamond" in scenegraph
    with pytest.raises(ValueError, match="columns"):
        isoflop_chart(sweep.drop(columns="C"), result)
