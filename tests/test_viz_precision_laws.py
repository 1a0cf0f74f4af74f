"""Charts of the floating-point law: expressions against FPQuantLaw, sliders, what Vega draws."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from test_viz import marks, scenegraph

from scalingbook import viz
from scalingbook.laws import FPQuantLaw
from scalingbook.viz import precision_laws as pl

VEGA_RESERVED = {
    "E", "LN2", "LN10", "LOG2E", "LOG10E", "PI", "SQRT1_2", "SQRT2", "MIN_VALUE", "MAX_VALUE",
    "NaN", "Infinity", "datum", "event", "item", "parent",
}
PAPER = FPQuantLaw()
OTHER = FPQuantLaw(n=30.0, alpha=0.3, d=300.0, beta=0.4, epsilon=1.5, gamma=400.0, delta=1.5, nu=4.0)


def _clamp(x, lo, hi):
    return min(max(x, lo), hi)


def _log(x):
    return math.log(x) if x > 0 else -math.inf


def _pow(a, b):
    if a == math.inf:
        return math.inf if b > 0 else 0.0
    return math.pow(a, b)


def evaluate(expr: str, **names: float) -> float:
    """Evaluate a Vega expression in Python: pow, log, clamp, LN2 and the given names only."""
    py = expr.replace("datum.", "datum_")
    allowed = {"pow", "log", "clamp", "LN2", *names}
    unknown = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"\d+\.?\d*e[-+]?\d+", "0", py))) - allowed
    if unknown:
        raise AssertionError(f"unexpected names {unknown} in {expr!r}")
    env = {"pow": _pow, "log": _log, "clamp": _clamp, "LN2": math.log(2), **names}
    try:
        return eval(py, {"__builtins__": {}}, env)
    except ZeroDivisionError:
        return math.inf


# --- the expressions are the package's law ------------------------------------------------------

POINTS = [(1e6, 1e8, 2, 1, 8), (4e7, 3e10, 4, 3, 128), (1e9, 1e12, 0, 7, 2), (3e10, 2e13, 8, 7, 32),
          (1e9, 1e11, 2.5, 1.25, 48)]


@pytest.mark.parametrize("law", [PAPER, OTHER])
@pytest.mark.parametrize("N, D, E, M, B", POINTS)
def test_loss_and_penalty_expressions_match_the_package(law, N, D, E, M, B):
    names = dict(nn=N, dd=D, ee=E, mm=M, bb=B)
    loss = evaluate(pl.loss_expression(law, "nn", "dd", "ee", "mm", "bb"), **names)
    assert loss == pytest.approx(law.loss(N, D, E, M, B), rel=1e-12)
    rho = evaluate(pl.penalty_expression(law, "nn", "dd", "ee", "mm", "bb"), **names)
    assert rho == pytest.approx(law.precision_penalty(N, D, E, M, B), rel=1e-12)


@pytest.mark.parametrize("law", [PAPER, OTHER, FPQuantLaw(delta=6.0, nu=0.5)])
def test_optimal_mantissa_expression_matches_the_package(law):
    for P in np.arange(2.0, 24.5, 0.5):
        got = evaluate(pl.optimal_mantissa_expression(law, "datum.P"), datum_P=P)
        assert got == pytest.approx(law.optimal_mantissa(P), abs=1e-12)


@pytest.mark.parametrize("law", [PAPER, OTHER])
def test_critical_data_expression_matches_the_package(law):
    for N, _, E, M, B in POINTS:
        got = evaluate(pl.critical_data_expression(law, "nn", "ee", "mm", "bb"), nn=N, ee=E, mm=M, bb=B)
        assert got == pytest.approx(law.critical_data(N, E, M, B), rel=1e-12)
    # one scale per element: no critical size, in the browser as in the package
    assert evaluate(pl.critical_data_expression(law, "nn", "ee", "mm", "bb"), nn=1e9, ee=4, mm=3, bb=1) == math.inf
    assert law.critical_data(1e9, 4, 3, 1) == math.inf


# --- the sliders ------------------------------------------------------------------------------------


@pytest.mark.parametrize("build, expected", [
    (viz.layout_explorer, {"bits_P"}),
    (viz.critical_data_explorer, {"crit_log10_N", "crit_E", "crit_M", "crit_log2_B"}),
])
def test_explorers_bind_sliders_with_safe_names(build, expected):
    spec = build().to_dict()
    params = {p["name"]: p for p in spec["params"]}
    assert set(params) == expected
    text = json.dumps(spec)
    for name, p in params.items():
        assert p["bind"]["input"] == "range", name
        assert p["bind"]["min"] <= p["value"] <= p["bind"]["max"], name
        assert name not in VEGA_RESERVED, f"parameter {name!r} is shadowed by a Vega constant"
        assert name in text.replace(f'"name": "{name}"', ""), f"parameter {name} is never used"


@pytest.mark.parametrize("bits", [4, 8, 16])
def test_layout_explorer_draws_the_optimum_and_every_format(bits):
    chart = viz.layout_explorer(bits=bits, max_bits=16, width=520)
    sg = scenegraph(chart)
    (dots,) = marks(sg, "symbol")
    assert len(dots["items"]) == bits  # E(P-1)M0 ... E0M(P-1)
    rules = [r for r in marks(sg, "rule") if len(r["items"]) == 1 and r["items"][0].get("stroke") == "#d62728"]
    (rule,) = rules
    x = rule["items"][0]["x"]
    assert x / 520 * 15 == pytest.approx(PAPER.optimal_mantissa(bits), abs=0.02)
    # the lowest dot (largest pixel y: pixels grow downward) is the best integer layout
    (line,) = marks(sg, "line")
    assert len(line["items"]) == 160
    best = max(dots["items"], key=lambda it: it["y"])
    assert round(best["x"] / 520 * 15) == PAPER.best_layout(bits)[1]


def test_critical_data_explorer_marks_the_critical_size():
    lo, hi = 1e9, 1e17
    for e, m in [(4, 3), (2, 1)]:
        chart = viz.critical_data_explorer(E=e, M=m, log2_B=7, log10_N=9.0, D_range=(lo, hi), width=520)
        sg = scenegraph(chart)
        red = [r for r in marks(sg, "rule") if len(r["items"]) == 1 and r["items"][0].get("stroke") == "#d62728"]
        (rule,) = red
        d_drawn = 10 ** (math.log10(lo) + rule["items"][0]["x"] / 520 * (math.log10(hi) - math.log10(lo)))
        assert d_drawn == pytest.approx(PAPER.critical_data(1e9, e, m, 128), rel=0.02)
    # a scale per element: no rule at all
    sg = scenegraph(viz.critical_data_explorer(log2_B=0))
    assert not [r for r in marks(sg, "rule") if r["items"] and r["items"][0].get("stroke") == "#d62728"]


def test_explorers_reject_bad_input():
    with pytest.raises(ValueError, match="law"):
        viz.layout_explorer("paper")
    with pytest.raises(ValueError, match="bits"):
        viz.layout_explorer(bits=1)
    with pytest.raises(ValueError, match="bits_P start value"):
        viz.layout_explorer(bits=20, max_bits=16)
    with pytest.raises(ValueError, match="B must exceed 1"):
        viz.layout_explorer(B=1)
    with pytest.raises(ValueError, match="N"):
        viz.layout_explorer(N=-1.0)
    with pytest.raises(ValueError, match="D_range"):
        viz.critical_data_explorer(D_range=(1e12, 1e9))
    with pytest.raises(ValueError, match="crit_E start value"):
        viz.critical_data_explorer(E=9)
    with pytest.raises(ValueError, match="crit_log10_N start value"):
        viz.critical_data_explorer(log10_N=13.0)


# --- our sweep's gaps -------------------------------------------------------------------------------


class _Fit:
    law = staticmethod(OTHER.precision_penalty)


def _runs():
    rows = []
    for n, d in [(2e4, 8e4), (6e4, 8e4)]:
        for e, m, b in [(2, 1, 8), (2, 1, 32), (2, 3, 32), (3, 2, 32), (4, 3, 32)]:
            rows.append({"N": n, "D": d, "E": e, "M": m, "B": b,
                         "gap": OTHER.precision_penalty(n, d, e, m, b) * (1.1 if e == 3 else 0.95)})
    return pd.DataFrame(rows)


def test_gap_chart_draws_measured_points_and_fitted_ticks():
    runs = _runs()
    sg = scenegraph(viz.precision_gap_chart(runs, _Fit()))
    # the legend draws symbols too; the data layer is the one with a symbol per run
    assert len([m for m in marks(sg, "symbol") if len(m["items"]) == len(runs)]) == 1
    ticks = [r for r in marks(sg, "rect") if len(r["items"]) == len(runs)]
    assert ticks, "the fitted term is missing"
    spec = viz.precision_gap_chart(runs, _Fit()).to_dict()
    (pick,) = [p for p in spec["params"] if p["name"] == "gap_run_pick"]
    assert pick["bind"]["input"] == "select" and pick["bind"]["options"][0] == "all"
    assert len(pick["bind"]["options"]) == 3
    # without a law only the measurements are drawn
    sg = scenegraph(viz.precision_gap_chart(runs, None))
    assert not [r for r in marks(sg, "rect") if len(r["items"]) == len(runs)]


def test_gap_chart_rejects_bad_input():
    runs = _runs()
    with pytest.raises(ValueError, match="columns"):
        viz.precision_gap_chart(runs.drop(columns="gap"))
    with pytest.raises(ValueError, match="no rows"):
        viz.precision_gap_chart(runs.iloc[:0])
    with pytest.raises(ValueError, match=r"runs\['gap'\]"):
        viz.precision_gap_chart(runs.assign(gap=np.nan))
