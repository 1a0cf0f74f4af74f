"""The chapter-4 charts: the compute-frontier explorer and the entropy decomposition."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scalingbook.fit.frontier import compute_frontier
from scalingbook.fit.least_squares import fit_power_law_with_offset
from scalingbook.labs.generative_modeling import SizeSweepAnalysis
from scalingbook.viz.frontier import compute_frontier_explorer, entropy_decomposition_chart


@pytest.fixture(scope="module")
def sweep():
    rows = []
    for n in (100.0, 400.0, 1600.0, 6400.0):
        c = np.geomspace(1e3, 1e3 * n, 20)
        rows.append(pd.DataFrame({"params": n, "flops": c,
                                  "eval_loss": 2.0 + 5 * n ** -0.5 + 30 * (c / n) ** -0.4}))
    records = pd.concat(rows, ignore_index=True)
    last = records.groupby("params").tail(1)
    final = pd.DataFrame({"params": last["params"].to_numpy(), "eval_loss": last["eval_loss"].to_numpy(),
                          "eval_source_nll": 2.0, "kl": last["eval_loss"].to_numpy() - 2.0,
                          "flops": last["flops"].to_numpy()})
    frontier = compute_frontier(records["flops"], records["eval_loss"], records["params"])
    analysis = SizeSweepAnalysis(
        final=final, size_fit=fit_power_law_with_offset(final["params"], final["eval_loss"]),
        frontier=frontier, compute_fit=fit_power_law_with_offset(frontier.points["flops"], frontier.points["loss"]),
        optimal_size_fit=frontier.fit_optimal_size(), entropy_rate=2.0, irreducible_loss=2.0)
    return records, analysis


def params_of(spec):
    found = []

    def walk(node):
        if isinstance(node, dict):
            params = node.get("params", [])
            if isinstance(params, list):
                found.extend(p for p in params if isinstance(p, dict))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(spec)
    return found


def test_explorer_has_a_compute_slider_spanning_the_frontier(sweep):
    records, analysis = sweep
    spec = compute_frontier_explorer(records, analysis, reference_exponents={"paper": 0.7}).to_dict()
    sliders = [p for p in params_of(spec) if p.get("bind", {}).get("input") == "range"]
    assert len(sliders) == 1
    s = sliders[0]
    assert s["name"] == "log10_compute"
    lo, hi = np.log10(analysis.frontier.points["flops"].agg(["min", "max"]))
    assert s["bind"]["min"] == pytest.approx(lo, abs=0.01) and s["bind"]["max"] == pytest.approx(hi, abs=0.01)
    text = json.dumps(spec)
    assert "log10_compute" in text and "paper, k = 0.7" in text
    assert f"our fit, k = {analysis.k:.2f}" in text


def test_explorer_and_decomposition_reject_missing_columns(sweep):
    records, analysis = sweep
    with pytest.raises(ValueError, match="records must have columns"):
        compute_frontier_explorer(records.drop(columns="flops"), analysis)
    spec = entropy_decomposition_chart(analysis).to_dict()
    assert "D_KL" in json.dumps(spec)


# --- the published per-domain fits ---------------------------------------------------------


def test_reducible_expression_matches_the_papers_law():
    import math

    from scalingbook.papers import henighan2020
    from scalingbook.viz.published_fits import REDUCIBLE_EXPR

    for domain, (l_inf, n0, alpha) in henighan2020.MODEL_SIZE_FITS.items():
        for log10_params in (4.0, 7.5, 11.0):
            py = REDUCIBLE_EXPR.replace("datum.", "")
            got = eval(py, {"__builtins__": {}}, {"pow": math.pow, "N0": n0, "alpha": alpha,
                                                  "log10_params": log10_params})  # noqa: S307
            law = henighan2020.size_law(domain)(10 ** log10_params)
            assert l_inf + got == pytest.approx(law, rel=1e-12), domain


def test_published_fits_explorer_has_a_size_slider_and_rejects_bad_fits():
    from scalingbook.papers import henighan2020
    from scalingbook.viz.published_fits import published_fits_explorer

    spec = published_fits_explorer(henighan2020.MODEL_SIZE_FITS).to_dict()
    sliders = [p for p in params_of(spec) if p.get("bind", {}).get("input") == "range"]
    assert [s["name"] for s in sliders] == ["log10_params"]
    assert "Image 8x8" in json.dumps(spec)
    with pytest.raises(ValueError, match="fits"):
        published_fits_explorer({"x": (1.0, -1.0, 0.2)})
    with pytest.raises(ValueError, match="fits"):
        published_fits_explorer({})
    with pytest.raises(ValueError, match="log10_n"):
        published_fits_explorer(henighan2020.MODEL_SIZE_FITS, log10_n=20.0)
    with pytest.raises(ValueError, match="domain"):
        henighan2020.size_law("Audio")
