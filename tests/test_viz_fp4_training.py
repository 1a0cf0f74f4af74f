"""The FP4 chapter's explorers: their controls, and what Vega draws from them (vl-convert runs the
same Vega as the book's page)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc

from scalingbook.precision import QuantScheme, outlier_sweep
from scalingbook.viz import fp4_loss_explorer, quant_error_explorer

VEGA_RESERVED = {
    "E", "LN2", "LN10", "LOG2E", "LOG10E", "PI", "SQRT1_2", "SQRT2", "MIN_VALUE", "MAX_VALUE",
    "NaN", "Infinity", "datum", "event", "item", "parent",
}
SCHEMES = ["float32", "bf16", "MXFP4 SR", "NVFP4 +RHT SR"]


def curves() -> pd.DataFrame:
    """Planted curves: scheme i's reducible loss is (1 + 0.1 i) times float32's, seed j adds j/1000."""
    rows = []
    for i, s in enumerate(SCHEMES):
        for seed in (0, 1):
            for step in (10, 20, 30, 40):
                red = 0.5 / step * (1 + 0.1 * i) + 0.001 * seed
                rows.append(dict(scheme=s, seed=seed, step=step, tokens=step * 512, reducible=red))
    df = pd.DataFrame(rows)
    base = df[df.scheme == "float32"].set_index(["seed", "step"])["reducible"]
    df["gap"] = [r.reducible - base[(r.seed, r.step)] for r in df.itertuples()]
    return df


def scenegraph(chart, **values) -> dict:
    """Vega's scenegraph of ``chart`` with parameters set to ``values`` (as a moved control would)."""
    spec = chart.to_dict()
    for p in spec["params"]:
        if p["name"] in values:
            p["value"] = values[p["name"]]
    sg = vlc.vegalite_to_scenegraph(json.dumps(spec))
    return json.loads(sg) if isinstance(sg, str) else sg


def described(mark: dict) -> list[dict]:
    """The data fields Vega wrote into each item's description ("key: value; ...")."""
    out = []
    for item in mark["items"]:
        fields = dict(part.split(": ", 1) for part in item["description"].split("; "))
        out.append(fields)
    return out


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


def params(chart) -> dict:
    return {p["name"]: p for p in chart.to_dict()["params"]}


def check_controls(chart, kinds):
    ps = params(chart)
    assert {n: p["bind"]["input"] for n, p in ps.items()} == kinds
    text = json.dumps(chart.to_dict())
    for name, p in ps.items():
        assert name not in VEGA_RESERVED
        assert text.count(name) >= 2, f"parameter {name} is never used"
        if p["bind"]["input"] == "range":
            assert p["bind"]["min"] <= p["value"] <= p["bind"]["max"]


# --- the loss explorer ----------------------------------------------------------------------------


def test_loss_explorer_has_a_scheme_dropdown_and_a_checkpoint_slider():
    chart = fp4_loss_explorer(curves())
    check_controls(chart, {"scheme_pick": "select", "checkpoint_step": "range"})
    ps = params(chart)
    assert ps["scheme_pick"]["bind"]["options"] == SCHEMES[1:]  # the baseline is always drawn
    assert (ps["checkpoint_step"]["bind"]["min"], ps["checkpoint_step"]["bind"]["max"],
            ps["checkpoint_step"]["bind"]["step"]) == (10, 40, 10)


def gap_dots(sg):
    return [d for m in marks(sg, "symbol") if m["items"] and m["items"][0].get("size") == 45
            for d in described(m)]


def test_loss_explorer_draws_the_chosen_scheme_and_every_gap_at_the_checkpoint():
    data = curves()
    sg = scenegraph(fp4_loss_explorer(data, initial="MXFP4 SR"))
    lines = [m for m in marks(sg, "line") if m["items"]]
    # two seeds of float32 and two of the chosen scheme, four checkpoints each
    assert len(lines) == 4 and all(len(m["items"]) == 4 for m in lines)
    chosen = [d for m in marks(sg, "symbol") if m["items"] and m["items"][0].get("size") == 30 for d in described(m)]
    assert {d["scheme"] for d in chosen} == {"MXFP4 SR"} and len(chosen) == 8
    dots = gap_dots(sg)
    assert len(dots) == 3 * 2  # three schemes, two seeds, at the last checkpoint
    assert {d["step"] for d in dots} == {"40"}


@pytest.mark.parametrize("step", [10, 30])
def test_moving_the_slider_redraws_the_gaps_at_that_checkpoint(step):
    data = curves()
    dots = gap_dots(scenegraph(fp4_loss_explorer(data), checkpoint_step=step))
    assert {d["step"] for d in dots} == {str(step)}
    want = data[(data.step == step) & (data.scheme != "float32")]
    got = sorted(round(float(d["gap"]), 5) for d in dots)
    assert got == pytest.approx(sorted(want["gap"].round(5)), abs=1e-5)


def test_choosing_a_scheme_redraws_its_curves():
    sg = scenegraph(fp4_loss_explorer(curves()), scheme_pick="NVFP4 +RHT SR")
    chosen = [d for m in marks(sg, "symbol") if m["items"] and m["items"][0].get("size") == 30 for d in described(m)]
    assert {d["scheme"] for d in chosen} == {"NVFP4 +RHT SR"}


def test_loss_explorer_rejects_bad_input():
    c = curves()
    with pytest.raises(ValueError, match="columns"):
        fp4_loss_explorer(c.drop(columns="gap"))
    with pytest.raises(ValueError, match="baseline"):
        fp4_loss_explorer(c, baseline="fp64")
    with pytest.raises(ValueError, match="positive"):
        fp4_loss_explorer(c.assign(reducible=-1.0))
    with pytest.raises(ValueError, match="initial"):
        fp4_loss_explorer(c, initial="float32")
    with pytest.raises(ValueError, match="evenly spaced"):
        fp4_loss_explorer(c[c.step != 20])
    with pytest.raises(ValueError, match="besides the baseline"):
        fp4_loss_explorer(c[c.scheme == "float32"])


# --- the error explorer ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep():
    schemes = {"MXFP4": QuantScheme.mxfp4(), "NVFP4": QuantScheme.nvfp4()}
    return outlier_sweep(schemes, 10 ** np.linspace(0, 2, 5), rows=32, cols=64, seed=1)


def test_error_explorer_controls(sweep):
    table, hist = sweep
    chart = quant_error_explorer(table, hist)
    check_controls(chart, {"format_pick": "select", "log10_outlier_size": "range"})
    ps = params(chart)
    assert ps["format_pick"]["bind"]["options"] == ["MXFP4", "NVFP4"]
    assert ps["log10_outlier_size"]["bind"]["step"] == pytest.approx(0.5)
    assert ps["log10_outlier_size"]["value"] == pytest.approx(2.0)


@pytest.mark.parametrize("fmt,log_size", [("NVFP4", 2.0), ("MXFP4", 0.5)])
def test_error_explorer_draws_the_chosen_format_at_the_chosen_size(sweep, fmt, log_size):
    table, hist = sweep
    sg = scenegraph(quant_error_explorer(table, hist), format_pick=fmt, log10_outlier_size=log_size)
    lines = [m for m in marks(sg, "line") if m["items"]]
    n_bins = hist.groupby(["outlier_scale", "scheme", "hadamard"]).size().iloc[0]
    hist_lines = [m for m in lines if len(m["items"]) == n_bins]
    mse_lines = [m for m in lines if len(m["items"]) == 5]
    assert len(hist_lines) == 2 and len(mse_lines) == 2  # without and with the rotation
    # the right panel's rule sits at the chosen outlier size
    (rule,) = [m for m in marks(sg, "rule") if m["items"] and m.get("role") == "mark" and "description" in m["items"][0]]
    (mark,) = described(rule)
    assert float(mark["outlier_scale"]) == pytest.approx(10**log_size, rel=1e-4)
    # the drawn histogram is the chosen format's at that size (tooltips show percentages)
    sel = hist[(hist.scheme == fmt) & np.isclose(np.log10(hist.outlier_scale), log_size)]
    for m in hist_lines:
        items = described(m)
        rotation = {d["rotation"] for d in items}
        assert len(rotation) == 1
        want = sel[sel.hadamard == (rotation == {"random Hadamard"})].sort_values("lo")["fraction"]
        got = [float(d["fraction"].rstrip("%")) / 100 for d in items]
        assert got == pytest.approx(list(want), abs=6e-5)
    mse_points = [d for m in marks(sg, "symbol") if m["items"] and m.get("role") == "mark" for d in described(m)]
    assert {d["rotation"] for d in mse_points} == {"no rotation", "random Hadamard"}
    got = sorted(float(d["relative_mse"]) for d in mse_points)
    assert got == pytest.approx(sorted(table[table.scheme == fmt]["relative_mse"]), abs=6e-5)


def test_error_explorer_rejects_bad_input(sweep):
    table, hist = sweep
    with pytest.raises(ValueError, match="table"):
        quant_error_explorer(table.drop(columns="relative_mse"), hist)
    with pytest.raises(ValueError, match="hist"):
        quant_error_explorer(table, hist.drop(columns="fraction"))
    with pytest.raises(ValueError, match="evenly spaced"):
        quant_error_explorer(table[table.outlier_scale != table.outlier_scale.unique()[1]], hist)
    with pytest.raises(ValueError, match="initial"):
        quant_error_explorer(table, hist, initial="int4")
    with pytest.raises(ValueError, match="positive"):
        quant_error_explorer(table.assign(relative_mse=0.0), hist)
