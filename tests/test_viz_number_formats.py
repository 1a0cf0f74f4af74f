"""The number-format charts: the explorer's Vega expressions against FloatFormat for every format
its controls reach, what Vega draws from them, and the stagnation and Lorenz charts."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc

from scalingbook.precision import FloatFormat, rn_error_bound, ulp
from scalingbook.viz.number_formats import (
    MAX_TICKS,
    FormatExpressions,
    format_explorer,
    lorenz_distance_chart,
    stagnation_chart,
)

VEGA_RESERVED = {
    "E", "LN2", "LN10", "LOG2E", "LOG10E", "PI", "SQRT1_2", "SQRT2", "MIN_VALUE", "MAX_VALUE",
    "NaN", "Infinity", "datum", "event", "item", "parent",
}
FUNCTIONS = {"pow": math.pow, "floor": math.floor, "max": max, "min": min, "log": math.log,
             "LN2": math.log(2), "_if": lambda c, a, b: a if c else b}


def evaluate(expr: str, **names):
    """Evaluate the subset of the Vega expression language the explorer uses, in Python."""
    py = expr.replace("&&", " and ").replace("||", " or ").replace("datum.", "datum_")
    py = re.sub(r"\bif\(", "_if(", py)
    unknown = set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", re.sub(r"'[^']*'", "", py)))
    unknown -= {"and", "or", *FUNCTIONS, *names}
    if unknown:
        raise AssertionError(f"unexpected names {unknown} in {expr!r}")
    return eval(py, {"__builtins__": {}}, {**FUNCTIONS, **names})


FX = FormatExpressions()
COMBOS = [(e, m, s) for e in range(1, 9) for m in range(24) for s in ("none", "fn", "ieee")]


def package_format(e, m, s):
    try:
        return FloatFormat(e, m, s)
    except ValueError:
        return None


def test_valid_expression_agrees_with_the_package_everywhere_the_sliders_reach():
    for e, m, s in COMBOS:
        fmt = package_format(e, m, s)
        assert evaluate(FX.valid, exp_bits=e, man_bits=m, specials=s) == (fmt is not None), (e, m, s)


@pytest.mark.parametrize("attr", ["bias", "emin", "emax", "max", "min_normal", "min_subnormal"])
def test_constants_match_floatformat(attr):
    for e, m, s in COMBOS:
        fmt = package_format(e, m, s)
        if fmt is not None:
            assert evaluate(getattr(FX, attr), exp_bits=e, man_bits=m, specials=s) == getattr(fmt, attr), (e, m, s)


def test_unit_roundoff_and_positive_count_match_the_grid():
    for e, m, s in COMBOS:
        fmt = package_format(e, m, s)
        if fmt is None:
            continue
        names = dict(exp_bits=e, man_bits=m, specials=s)
        assert evaluate(FX.unit_roundoff, **names) == 2.0 ** -(m + 1)
        if e + m <= 14:
            grid = fmt.grid(nonnegative=True).numpy()
            assert evaluate(FX.positive_count, **names) == len(grid) - 1, (e, m, s)


@pytest.mark.parametrize("e,m,s", [(4, 3, "fn"), (5, 2, "ieee"), (2, 1, "none"), (3, 4, "ieee"), (1, 3, "none"),
                                   (6, 5, "fn")])
def test_decoding_every_code_gives_the_package_grid(e, m, s):
    fmt = FloatFormat(e, m, s)
    names = dict(exp_bits=e, man_bits=m, specials=s)
    values = [evaluate(FX.value("datum.code"), datum_code=c, **names)
              for c in range(1, 2 ** (e + m)) if evaluate(FX.finite("datum.code"), datum_code=c, **names)]
    np.testing.assert_array_equal(values, fmt.grid(nonnegative=True).numpy()[1:])


@pytest.mark.parametrize("fmt", [FloatFormat(5, 10, "ieee"), FloatFormat(8, 7, "ieee"), FloatFormat(4, 3, "fn"),
                                 FloatFormat(2, 1, "none")], ids=lambda f: f.name)
def test_ulp_and_error_bound_expressions_match_the_package(fmt):
    names = dict(exp_bits=fmt.exp_bits, man_bits=fmt.man_bits, specials=fmt.specials)
    grid = fmt.grid(nonnegative=True).numpy()[1:]
    xs = np.concatenate([grid, np.geomspace(fmt.min_subnormal, fmt.max, 301)])  # powers of two included
    got_ulp = [evaluate(FX.ulp("datum.x"), datum_x=x, **names) for x in xs]
    np.testing.assert_array_equal(got_ulp, ulp(xs, fmt))
    got = [evaluate(FX.rn_error_bound("datum.x"), datum_x=x, **names) for x in xs]
    np.testing.assert_allclose(got, rn_error_bound(xs, fmt), rtol=1e-15)


# ---- the explorer's spec and what Vega draws --------------------------------------------------


def scenegraph(chart) -> dict:
    sg = vlc.vegalite_to_scenegraph(chart.to_dict())
    return json.loads(sg) if isinstance(sg, str) else sg


def marks(node, marktype, found=None):
    found = [] if found is None else found
    if isinstance(node, dict):
        if node.get("marktype") == marktype:
            found.append(node)
        for value in node.values():
            marks(value, marktype, found)
    elif isinstance(node, list):
        for value in node:
            marks(value, marktype, found)
    return found


def test_explorer_binds_two_sliders_and_a_dropdown_with_safe_names():
    spec = format_explorer().to_dict()
    params = {p["name"]: p for p in spec["params"]}
    assert set(params) == {"exp_bits", "man_bits", "specials"}
    assert params["exp_bits"]["bind"]["input"] == "range" and params["man_bits"]["bind"]["input"] == "range"
    assert params["specials"]["bind"]["options"] == ["none", "fn", "ieee"]
    assert not set(params) & VEGA_RESERVED
    assert len(json.dumps(spec)) < 30_000  # the grids are generated in the browser, not stored


@pytest.mark.parametrize("e,m,s", [(4, 3, "fn"), (5, 2, "ieee"), (2, 1, "none"), (3, 0, "none")])
def test_explorer_draws_one_tick_per_positive_value(e, m, s):
    fmt = FloatFormat(e, m, s)
    sg = scenegraph(format_explorer(e, m, s))
    ticks = [i for mk in marks(sg, "rect") for i in mk["items"] if i.get("width", 0) <= 1.5 and i.get("height", 0) > 20]
    values = fmt.grid(nonnegative=True).numpy()[1:]
    assert len(ticks) == len(values)
    # pixel positions are linear in log2(value), so their gaps reproduce the grid's log-gaps
    xs = np.sort([t["x"] for t in ticks])
    log_v = np.log2(values)
    slope = (xs[-1] - xs[0]) / (log_v[-1] - log_v[0])
    np.testing.assert_allclose(xs - xs[0], (log_v - log_v[0]) * slope, atol=0.6)
    texts = " ".join(str(i.get("text")) for mk in marks(sg, "text") for i in mk["items"])
    assert f"{fmt.max:g}" in texts and "positive finite values" in texts


def test_explorer_error_curve_spans_the_bound():
    fmt = FloatFormat(5, 10, "ieee")
    sg = scenegraph(format_explorer(5, 10, "ieee"))
    line = max(marks(sg, "line"), key=lambda mk: len(mk["items"]))
    ys = np.array([i["y"] for i in line["items"]])
    # 2 points per binade from half the smallest subnormal up to the top binade
    n_binades = fmt.emax - fmt.emin + fmt.man_bits + 2
    assert len(ys) == 2 * n_binades
    # the flat part (normal range) sits in a band one binade tall; the curve rises to 100% on the left
    assert ys[0] == ys.min()  # largest error (top of the plot) at the far left


def test_explorer_says_so_for_formats_the_package_refuses():
    chart = format_explorer(4, 3, "fn")
    spec = chart.to_dict()
    spec["params"] = [dict(p, value=1) if p["name"] == "exp_bits" else p for p in spec["params"]]
    spec["params"] = [dict(p, value="ieee") if p["name"] == "specials" else p for p in spec["params"]]
    sg = vlc.vegalite_to_scenegraph(spec)
    sg = json.loads(sg) if isinstance(sg, str) else sg
    texts = " ".join(str(i.get("text")) for mk in marks(sg, "text") for i in mk["items"])
    assert "E1M3 (ieee) is not a format the package accepts" in texts and "largest value:" not in texts
    ticks = [i for mk in marks(sg, "rect") for i in mk["items"] if i.get("height", 0) > 20 and i.get("width", 9) <= 1.5]
    assert not ticks


def test_large_formats_are_thinned_evenly():
    sg = scenegraph(format_explorer(8, 7, "ieee"))
    ticks = [i for mk in marks(sg, "rect") for i in mk["items"] if i.get("width", 0) <= 1.5 and i.get("height", 0) > 20]
    assert 0 < len(ticks) <= MAX_TICKS
    texts = " ".join(str(i.get("text")) for mk in marks(sg, "text") for i in mk["items"])
    assert "every 4th drawn" in texts  # 2**15 codes, 2**13 drawn


def test_explorer_rejects_bad_start_values():
    with pytest.raises(ValueError, match="specials"):
        format_explorer(4, 3, "posit")
    with pytest.raises(ValueError, match="exp_bits"):
        format_explorer(1, 3, "ieee")
    with pytest.raises(ValueError, match="man_bits start value"):
        format_explorer(5, 10, "ieee", max_man_bits=7)


# ---- the stagnation and Lorenz charts -----------------------------------------------------------


def test_stagnation_chart_filters_by_format():
    rows = []
    for fmt in ("fp16", "bf16"):
        for run, scale in (("round to nearest", 0.5), ("stochastic rounding, seed 0", 1.0), ("exact", 1.0)):
            rows += [{"format": fmt, "run": run, "step": k, "sum": scale * k} for k in range(0, 50, 10)]
    chart = stagnation_chart(pd.DataFrame(rows))
    spec = chart.to_dict()
    assert spec["params"][0]["bind"]["options"] == ["fp16", "bf16"]
    lines = marks(scenegraph(chart), "line")
    assert len(lines) == 3  # one format's three runs
    with pytest.raises(ValueError, match="traces must have columns"):
        stagnation_chart(pd.DataFrame({"step": [1]}))
    with pytest.raises(ValueError, match="max_points"):
        stagnation_chart(pd.DataFrame(rows), max_points=1)


def test_stagnation_chart_thins_long_lines_keeping_their_ends():
    long = pd.DataFrame({"format": "fp16", "run": "exact", "step": np.arange(10_001), "sum": np.arange(10_001.0)})
    values = stagnation_chart(long, max_points=50).to_dict()["datasets"]
    (rows,) = values.values()
    steps = [r["step"] for r in rows]
    assert len(steps) == 50 and steps[0] == 0 and steps[-1] == 10_000


def _lorenz_frames():
    summary = pd.DataFrame([{"man_bits": m, "rounding": r, "w_z": w}
                            for m in (5, 7, 9) for r, w in (("nearest_even", 1.0 / m), ("stochastic", 0.5 / m))])
    z = np.arange(0.5, 50, 1.0)
    hist = [pd.DataFrame({"man_bits": -1, "rounding": "float64", "z": z, "density": 1 / 50})]
    for m in (5, 7, 9):
        for r in ("nearest_even", "stochastic"):
            hist.append(pd.DataFrame({"man_bits": m, "rounding": r, "z": z, "density": 1 / 50}))
    return summary, pd.concat(hist, ignore_index=True)


def test_lorenz_chart_has_a_slider_over_the_mantissa_widths():
    summary, hist = _lorenz_frames()
    chart = lorenz_distance_chart(summary, hist, floor=0.05)
    spec = chart.to_dict()
    (param,) = spec["params"]
    assert param["bind"]["min"] == 5 and param["bind"]["max"] == 9 and param["value"] == 7
    sg = scenegraph(chart)
    lines = marks(sg, "line")
    # left: one line per rounding; right: float64 plus the chosen width's two roundings
    assert len(lines) == 2 + 3


def test_lorenz_chart_rejects_bad_frames():
    summary, hist = _lorenz_frames()
    with pytest.raises(ValueError, match="summary must have"):
        lorenz_distance_chart(summary.drop(columns="w_z"), hist, 0.1)
    with pytest.raises(ValueError, match="histograms must have"):
        lorenz_distance_chart(summary, hist.drop(columns="density"), 0.1)
    with pytest.raises(ValueError, match="at least two mantissa widths"):
        lorenz_distance_chart(summary[summary["man_bits"] == 5], hist, 0.1)
