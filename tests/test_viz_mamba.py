"""The Mamba chapter's charts: Vega expressions equal the package's cost formulas, and the
charts draw (in vl-convert, the same Vega the book's page runs) with controls that matter."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from test_viz import marks, scenegraph

from scalingbook.models import MambaConfig, TransformerConfig
from scalingbook.models.cost import attention_cost, scan_cost
from scalingbook.viz import mamba as vm

VEGA_RESERVED = {
    "E", "LN2", "LN10", "LOG2E", "LOG10E", "PI", "SQRT1_2", "SQRT2", "MIN_VALUE", "MAX_VALUE",
    "NaN", "Infinity", "datum", "event", "item", "parent",
}


def evaluate(expr: str, **names: float) -> float:
    """Evaluate a Vega arithmetic expression in Python (pow, ceil and the given names only)."""
    py = expr.replace("datum.", "datum_")
    if set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", py)) - {"pow", "ceil", *names}:
        raise AssertionError(f"unexpected names in {expr!r}")
    return eval(py, {"__builtins__": {}}, {"pow": math.pow, "ceil": math.ceil, **names})  # noqa: S307


GRID = [(L, d, N) for L in (1, 64, 1000, 2 ** 20) for d in (16, 64, 100, 768) for N in (1, 16, 33)]


@pytest.mark.parametrize("layers,expand,d_conv", [(1, 2, 4), (24, 2, 4), (3, 3, 2)])
def test_scan_expressions_match_the_package(layers, expand, d_conv):
    kw = {"n_layers": layers, "expand": expand}
    for L, d, N in GRID:
        cfg = MambaConfig(vocab_size=1000, d_model=d, n_layers=layers, d_state=N, expand=expand,
                          d_conv=d_conv)
        want = scan_cost(L, cfg, bytes_per_element=2)
        names = {"datum_L": L, "d": d, "N": N}
        got = {
            "flops": vm.scan_flops_expr("datum.L", "d", "N", d_conv=d_conv, vocab_size=1000, **kw),
            "mixer_flops": vm.scan_mixer_flops_expr("datum.L", "d", "N", **kw),
            "state_bytes": vm.scan_state_bytes_expr("d", "N", d_conv=d_conv, **kw),
            "materialized_bytes": vm.scan_materialized_bytes_expr("datum.L", "d", "N", **kw),
        }
        for key, expr in got.items():
            assert evaluate(expr, **names) == pytest.approx(want[key], rel=1e-12), (key, L, d, N)


@pytest.mark.parametrize("layers,head_dim", [(1, 16), (12, 64)])
def test_attention_expressions_match_the_package(layers, head_dim):
    for L, d, _ in GRID:
        if d % head_dim:
            continue
        heads = d // head_dim
        cfg = TransformerConfig(vocab_size=1000, d_model=d, n_layers=layers, n_heads=heads)
        want = attention_cost(L, cfg, bytes_per_element=2)
        names = {"datum_L": L, "d": d, "h": heads}
        got = {
            "flops": vm.attention_flops_expr("datum.L", "d", n_layers=layers, vocab_size=1000),
            "mixer_flops": vm.attention_mixer_flops_expr("datum.L", "d", n_layers=layers),
            "state_bytes": vm.attention_state_bytes_expr("datum.L", "d", n_layers=layers),
            "materialized_bytes": vm.attention_materialized_bytes_expr("datum.L", "h",
                                                                       n_layers=layers),
        }
        for key, expr in got.items():
            assert evaluate(expr, **names) == pytest.approx(want[key], rel=1e-12), (key, L, d)


def test_explorer_controls_are_bound_safe_and_used():
    spec = vm.scan_vs_attention_chart().to_dict()
    params = {p["name"]: p for p in spec["params"]}
    assert set(params) == {"log2_len", "width_d", "state_n", "memory_view"}
    for name in ("log2_len", "width_d", "state_n"):
        p = params[name]
        assert p["bind"]["input"] == "range" and p["bind"]["min"] <= p["value"] <= p["bind"]["max"]
    assert params["memory_view"]["bind"]["options"] == list(vm.MEMORY_VIEWS)
    text = json.dumps(spec)
    for name in params:
        assert name not in VEGA_RESERVED
        assert text.replace(f'"name": "{name}"', "").count(name) >= 2, f"{name} is never used"


def _readout(chart) -> str:
    texts = [i["text"] for m in marks(scenegraph(chart), "text") for i in m["items"]
             if str(i.get("text", "")).startswith("At L")]
    assert len(texts) == 1
    return texts[0]


def test_explorer_draws_and_its_readout_is_the_package_ratio():
    chart = vm.scan_vs_attention_chart(n_layers=12, d_model=768, d_state=16, log2_len=11)
    lines = marks(scenegraph(chart), "line")
    assert len(lines) == 6  # four FLOP curves, two memory curves
    assert all(len(line["items"]) > 10 for line in lines)
    mamba = MambaConfig(vocab_size=50_000, d_model=768, n_layers=24, d_state=16)
    transformer = TransformerConfig(vocab_size=50_000, d_model=768, n_layers=12, n_heads=12)
    scan, attn = scan_cost(2048, mamba, bytes_per_element=2), attention_cost(2048, transformer,
                                                                             bytes_per_element=2)
    text = _readout(chart)
    ratios = [float(x) for x in re.findall(r"([0-9.]+)×", text)]
    assert ratios[0] == pytest.approx(attn["flops"] / scan["flops"], abs=0.006)
    assert ratios[1] == pytest.approx(attn["mixer_flops"] / scan["mixer_flops"], rel=0.01)
    assert ratios[2] == pytest.approx(attn["state_bytes"] / scan["state_bytes"], rel=0.01)
    assert "2,048" in text
    # a longer sequence moves the readout: the slider's value is what the text uses
    longer = _readout(vm.scan_vs_attention_chart(log2_len=14))
    assert "16,384" in longer and longer != text


def test_explorer_rejects_bad_settings():
    with pytest.raises(ValueError, match="log2_len start value"):
        vm.scan_vs_attention_chart(log2_len=30)
    with pytest.raises(ValueError, match="head_dim must divide d_model"):
        vm.scan_vs_attention_chart(d_model=100)
    with pytest.raises(ValueError, match="d_state must be at least 1"):
        vm.scan_vs_attention_chart(d_state=0)
    with pytest.raises(ValueError, match="log2_range must start at 0"):
        vm.scan_vs_attention_chart(log2_range=(-2.0, 10.0), log2_len=4)


def test_timing_chart_draws_both_kernels_and_filters_by_pass():
    timings = pd.DataFrame({"L": [64, 128, 256], "scan_forward": [1e-3, 2e-3, 4e-3],
                            "attention_forward": [5e-4, 2e-3, 8e-3],
                            "scan_backward": [3e-3, 6e-3, 1.2e-2],
                            "attention_backward": [1e-3, 5e-3, 2e-2]})
    chart = vm.timing_chart(timings)
    spec = chart.to_dict()
    (pick,) = [p for p in spec["params"] if p["name"] == "timing_pass"]
    assert pick["bind"]["options"] == ["forward", "forward + backward"]
    symbols = [m for m in marks(scenegraph(chart), "symbol") if m.get("role") == "mark"]
    assert sum(len(m["items"]) for m in symbols) == 6  # 3 lengths x 2 kernels, one pass shown
    with pytest.raises(ValueError, match="timings must have columns"):
        vm.timing_chart(timings.drop(columns="scan_forward"))


def test_curves_and_scaling_charts_draw_and_check_columns():
    history = pd.DataFrame({"task": ["a", "a", "b", "b"], "model": ["x", "x", "x", "x"],
                            "step": [1, 2, 1, 2], "eval_accuracy": [0.1, 0.5, 0.2, 0.9]})
    chart = vm.synthetic_curves_chart(history, chance={"a": 0.125, "b": 0.25})
    assert len(marks(scenegraph(chart), "line")) >= 2
    with pytest.raises(ValueError, match="history must have columns"):
        vm.synthetic_curves_chart(history.drop(columns="task"))

    runs = pd.DataFrame({"model_kind": ["mamba"] * 3 + ["transformer"] * 3,
                         "non_embedding_params": [1e3, 4e3, 1.6e4] * 2,
                         "reducible": [0.5, 0.3, 0.2, 0.6, 0.4, 0.3]})
    fits = {"mamba": lambda x: 2.0 * np.asarray(x) ** -0.2,
            "transformer": lambda x: 3.0 * np.asarray(x) ** -0.2}
    chart = vm.loss_vs_params_chart(runs, fits)
    spec = chart.to_dict()
    (pick,) = [p for p in spec["params"] if p["name"] == "kind_pick"]
    assert pick["bind"]["options"] == ["all", "mamba", "transformer"]
    drawn = [m for m in marks(scenegraph(chart), "symbol") if m.get("role") == "mark"]
    assert sum(len(m["items"]) for m in drawn) == 6
    with pytest.raises(ValueError, match="fits has no law for"):
        vm.loss_vs_params_chart(runs, {"mamba": fits["mamba"]})
    with pytest.raises(ValueError, match="runs must have columns"):
        vm.loss_vs_params_chart(runs.drop(columns="reducible"), fits)
