"""The allocation explorer: its Vega expressions against the package, its slider, what Vega draws."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_viz import VEGA_RESERVED, evaluate, marks, scenegraph

from scalingbook.laws import ChinchillaLaw
from scalingbook.laws.allocation_rule import AllocationRule, power_law_allocation
from scalingbook.papers import besiroglu2024, hoffmann2022, kaplan2020
from scalingbook.viz import allocation as va

LAWS = {
    "Kaplan et al. 2020": kaplan2020.ALLOCATION,
    "Hoffmann et al. 2022, approach 1": hoffmann2022.APPROACH_1_TABLE,
    "Hoffmann et al. 2022, approach 3": hoffmann2022.APPROACH_3,
    "Besiroglu et al. 2024": besiroglu2024.REPLICATION,
}
BUDGETS = np.geomspace(1e18, 1e26, 9)


@pytest.mark.parametrize("label", list(LAWS))
def test_expressions_match_the_package(label):
    law = LAWS[label]
    K, a = power_law_allocation(law)
    for C in BUDGETS:
        n_opt, d_opt = law.compute_optimal(C)
        env = dict(datum_C=C, datum_K=K, datum_a=a)
        n_expr = evaluate(va.n_opt_expression("datum.C", "datum.K", "datum.a"), **env)
        d_expr = evaluate(va.d_opt_expression("datum.C", "datum.K", "datum.a"), **env)
        r_expr = evaluate(va.tokens_per_parameter_expression("datum.C", "datum.K", "datum.a"), **env)
        assert n_expr == pytest.approx(n_opt, rel=1e-9)
        assert d_expr == pytest.approx(d_opt, rel=1e-9)
        assert r_expr == pytest.approx(law.tokens_per_parameter(C), rel=1e-9)


def test_table_matches_the_laws():
    table = va.allocation_table(LAWS, 5.76e23).set_index("law")
    for label, law in LAWS.items():
        n, d = law.compute_optimal(5.76e23)
        assert table.loc[label, "N_opt"] == pytest.approx(n, rel=1e-9)
        assert table.loc[label, "D_opt"] == pytest.approx(d, rel=1e-9)


def _params(spec):
    return {p["name"]: p for p in spec["params"]}


def _texts(chart):
    return [item.get("text") for m in marks(scenegraph(chart), "text") for item in m.get("items", [])]


def test_one_slider_with_a_safe_name_that_the_chart_uses():
    spec = va.allocation_explorer(LAWS).to_dict()
    params = _params(spec)
    assert list(params) == [va.BUDGET_PARAM] and va.BUDGET_PARAM not in VEGA_RESERVED
    p = params[va.BUDGET_PARAM]
    assert p["bind"]["input"] == "range" and p["bind"]["min"] <= p["value"] <= p["bind"]["max"]
    assert json.dumps(spec).count(va.BUDGET_PARAM) > 3


def test_vega_draws_the_numbers_of_the_package_at_the_slider_budget():
    chart = va.allocation_explorer(LAWS, start=1e22)
    lines = [t for t in _texts(chart) if t and "D*/N* =" in t]
    assert len(lines) == len(LAWS)
    for label, law in LAWS.items():
        (line,) = [t for t in lines if t.startswith(label + ":")]
        ratio = float(line.rsplit("D*/N* = ", 1)[1])
        assert ratio == pytest.approx(law.tokens_per_parameter(1e22), rel=5e-3)  # 3 digits
        n_text = line.split("N* = ")[1].split(" ")[0]
        assert float(n_text) == pytest.approx(law.compute_optimal(1e22)[0], rel=5e-3)
    # One line per law and one point per law in each panel.
    assert sum(len(m["items"]) for m in marks(scenegraph(chart), "line")) >= 2 * len(LAWS)


def test_moving_the_slider_moves_the_numbers():
    spec = va.allocation_explorer(LAWS, start=1e20).to_dict()
    before = [t for t in _texts(va.allocation_explorer(LAWS, start=1e20)) if t and "D*/N*" in t]
    spec["params"][0]["value"] = 25.0
    import vl_convert as vlc

    sg = vlc.vegalite_to_scenegraph(json.dumps(spec))
    sg = json.loads(sg) if isinstance(sg, str) else sg
    after = [i.get("text") for m in marks(sg, "text") for i in m.get("items", []) if "D*/N*" in (i.get("text") or "")]
    assert before and after and before != after
    kaplan = [t for t in after if t.startswith("Kaplan")][0]
    assert float(kaplan.rsplit("= ", 1)[1]) == pytest.approx(LAWS["Kaplan et al. 2020"].tokens_per_parameter(1e25), rel=5e-3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(laws={}), "at least one law"),
    (dict(log10_range=(20.0, 18.0)), "low < high"),
    (dict(log10_range=(18.0, math.inf)), "low < high"),
    (dict(start=1e30), "outside the slider range"),
    (dict(start=-1.0), "start"),
    (dict(n_grid=1), "n_grid"),
    (dict(laws={"": hoffmann2022.APPROACH_3}), "non-empty strings"),
    (dict(laws={"x": object()}), "compute_optimal"),
])
def test_bad_inputs(kwargs, match):
    args = dict(laws=LAWS)
    args.update(kwargs)
    laws = args.pop("laws")
    with pytest.raises(ValueError, match=match):
        va.allocation_explorer(laws, **args)


def test_table_bad_inputs():
    with pytest.raises(ValueError, match="C must be strictly positive"):
        va.allocation_table(LAWS, 0.0)
    with pytest.raises(ValueError, match="not a power law"):
        class Bent:
            def compute_optimal(self, C):
                return np.sqrt(C) * (1 + 1e-20 * C), C
        va.allocation_table({"bent": Bent()}, 1e20)


def test_a_rule_and_a_law_with_the_same_allocation_draw_alike():
    law = ChinchillaLaw(1.7, 400.0, 400.0, 0.3, 0.3)
    K, a = power_law_allocation(law)
    rule = AllocationRule(N_ref=K, a=a)
    table = va.allocation_table({"law": law, "rule": rule}, 3e21)
    assert table["N_opt"].iloc[0] == pytest.approx(table["N_opt"].iloc[1], rel=1e-9)


# --- the over-training chart --------------------------------------------------------------------


def _overtraining_runs():
    import pandas as pd

    from scalingbook.laws import OvertrainingLaw

    law = OvertrainingLaw(E=2.0, a=150.0, b=400.0, eta=0.15)
    rows = []
    for n in (1e6, 4e6, 1.6e7):
        for m in (10.0, 40.0, 160.0):
            C = 6 * n * n * m
            rows.append({"size": f"{n:.0e}", "N": n, "M": m, "C": C, "loss": law.loss(C, m),
                         "role": "held out" if n == 1.6e7 else "fitted"})
    return pd.DataFrame(rows), law


def test_overtraining_chart_draws_runs_curves_and_a_multiplier_dropdown():
    from scalingbook.viz import overtraining_chart

    runs, law = _overtraining_runs()
    chart = overtraining_chart(runs, law)
    spec = chart.to_dict()
    (pick,) = [p for p in spec["params"] if p.get("bind", {}).get("input") == "select"]
    assert pick["name"] not in VEGA_RESERVED
    assert pick["bind"]["options"] == ["all", "M ≈ 10", "M ≈ 40", "M ≈ 160"]
    sg = scenegraph(chart)
    symbols = [m for m in marks(sg, "symbol") if m.get("role") == "mark"]
    assert sum(len(m["items"]) for m in symbols) == 2 * len(runs)  # the runs, in both panels
    lines = marks(sg, "line")
    assert sum(len(m["items"]) for m in lines) >= 6  # a curve per size and per multiplier
    # The right panel's curves are the law's reducible loss: parallel lines of slope -eta.
    right = [layer for layer in spec["hconcat"][1]["layer"] if layer["mark"]["type"] == "line"][0]
    values = spec["datasets"][right["data"]["name"]]
    for label in ("M ≈ 10", "M ≈ 160"):
        pts = [(v["C"], v["reducible"]) for v in values if v["multiplier"] == label]
        (c0, r0), (c1, r1) = pts[0], pts[-1]
        assert np.log(r1 / r0) / np.log(c1 / c0) == pytest.approx(-0.15, rel=1e-9)


def test_overtraining_chart_groups_multipliers_that_whole_steps_made_unequal():
    from scalingbook.viz import overtraining_chart

    runs, law = _overtraining_runs()
    wobble = np.repeat([0.99, 1.0, 1.012], 3)  # each size misses each M a little differently
    runs = runs.assign(M=runs["M"] * wobble, C=runs["C"] * wobble)
    spec = overtraining_chart(runs, law).to_dict()
    (pick,) = [p for p in spec["params"] if p.get("bind", {}).get("input") == "select"]
    assert len(pick["bind"]["options"]) == 4  # "all" and three multipliers, not nine


def test_overtraining_chart_rejects_bad_runs():
    from scalingbook.viz import overtraining_chart

    runs, law = _overtraining_runs()
    with pytest.raises(ValueError, match="columns"):
        overtraining_chart(runs.drop(columns="role"), law)
    with pytest.raises(ValueError, match="role"):
        overtraining_chart(runs.assign(role="test"), law)
    with pytest.raises(ValueError, match=r"runs\['C'\]"):
        overtraining_chart(runs.assign(C=-runs["C"]), law)
    with pytest.raises(ValueError, match="at or below the law's E"):
        overtraining_chart(runs.assign(loss=1.0), law)
