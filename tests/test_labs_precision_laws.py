"""The precision-laws lab: its sweep, its experiment function and its ipywidgets controls."""

from __future__ import annotations

import numpy as np
import pytest

from scalingbook.labs import (
    PrecisionLawsLab,
    PrecisionSweep,
    run_precision_laws_experiment,
)
from scalingbook.labs.precision_laws import (
    FORMATS,
    PRECISION_FULL,
    PRECISION_QUICK,
    layout_table,
)
from scalingbook.papers import sun2025

TINY = PrecisionSweep(d_models=(16,), steps=(20,), quantized=(("fp4_e2m1", 4), ("fp4_e2m1", 16),
                      ("fp6_e3m2", 16), ("fp8_e4m3", 16)), seq_len=16, batch_size=4)


def test_sweeps_list_every_run_once():
    configs = PRECISION_FULL.configs()
    assert len(configs) == PRECISION_FULL.n_runs == 2 * 2 * 8
    assert len({cfg.run_id for _, cfg in configs}) == len(configs)
    labels = [lab for lab, _ in configs]
    assert sum(lab["format"] == "float32" for lab in labels) == 4
    for lab, cfg in configs:
        if lab["format"] == "float32":
            assert cfg.quant is None and lab["B"] == 1
        else:
            assert (lab["E"], lab["M"]) == FORMATS[lab["format"]]
            assert cfg.quant.block_size == lab["B"] and not cfg.quant.quantize_backward
            assert cfg.quant.scale_mode == "rceil"
    assert PRECISION_QUICK.n_runs == 6


def test_experiment_trains_fits_and_reuses_finished_runs(tmp_path):
    a = run_precision_laws_experiment(TINY, out_dir=tmp_path)
    runs = a.runs
    assert len(runs) == 5 and set(runs["format"]) == {"float32", "fp4_e2m1", "fp6_e3m2", "fp8_e4m3"}
    assert (runs["D"] == 20 * 4 * 16).all() and runs["N"].nunique() == 1
    float_loss = runs.loc[runs["format"] == "float32", "loss"].item()
    assert np.allclose(runs["base_loss"], float_loss)
    np.testing.assert_allclose(runs["gap"], runs["loss"] - float_loss)
    q = a.quantized
    assert len(q) == 4 and (q["P"] == 1 + q["E"] + q["M"]).all()
    # one size and one length: both exponents are held at the paper's values
    assert a.held == {"alpha": sun2025.TABLE_2["alpha"], "beta": sun2025.TABLE_2["beta"]}
    assert a.fit.diagnostics["free"] == ["c", "delta", "nu"] and a.fit.n_points == 4
    b = run_precision_laws_experiment(TINY, out_dir=tmp_path)  # read back, not retrained
    assert b.runs.drop(columns="wall_time").equals(a.runs.drop(columns="wall_time"))
    assert b.fit.params == a.fit.params
    assert len(list(tmp_path.glob("*.csv"))) == 5


def test_layout_table_uses_only_delta_and_nu():
    table = layout_table(sun2025.TABLE_2["delta"], sun2025.TABLE_2["nu"], bits=(4, 8, 16))
    assert table["best"].tolist() == ["E2M1", "E4M3", "E8M7"]
    flat = layout_table(0.5, 3.0, bits=(8,))
    assert flat["best"].item() == "E0M7" or flat["M_opt"].item() > 5
    with pytest.raises(ValueError, match="delta"):
        layout_table(-0.1, 3.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(d_models=()), "d_models"),
        (dict(d_models=(20,)), "multiples of 8"),
        (dict(steps=(5,)), "steps"),
        (dict(quantized=(("fp5_e3m1", 8),)), "format must be one of"),
        (dict(quantized=(("fp4_e2m1", 1),)), "block size"),
        (dict(quantized=(("fp4_e2m1", 8), ("fp4_e2m1", 8))), "repeated"),
        (dict(lr=0.0), "lr"),
    ],
)
def test_sweep_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PrecisionSweep(**kwargs)


def test_experiment_rejects_bad_options():
    with pytest.raises(ValueError, match="sweep"):
        run_precision_laws_experiment("quick")
    with pytest.raises(ValueError, match="alpha cannot be fitted"):
        run_precision_laws_experiment(TINY, alpha=None)
    with pytest.raises(ValueError, match="beta must be 'auto'"):
        run_precision_laws_experiment(TINY, beta="fit")
    with pytest.raises(ValueError, match="needs at least 4"):
        run_precision_laws_experiment(PrecisionSweep(quantized=(("fp4_e2m1", 8), ("fp6_e3m2", 8))))
    with pytest.raises(ValueError, match="share one exponent width"):
        run_precision_laws_experiment(PrecisionSweep(quantized=(("fp4_e2m1", 8), ("fp4_e2m1", 16),
                                                                ("fp6_e2m3", 8), ("fp6_e2m3", 16))))


def test_button_click_reruns_the_experiment():
    lab = PrecisionLawsLab()
    lab.widths.value, lab.steps.value = (16,), (50,)
    lab.formats.value, lab.blocks.value = ("fp4_e2m1", "fp6_e3m2"), (8,)
    assert lab.sweep().n_runs == 3
    lab.run_button.click()  # two quantized runs cannot fit three constants: nothing trains
    assert lab.result is None and "needs at least 4" in lab.output.outputs[0]["text"]
    lab.blocks.value = (8, 16)
    assert lab.sweep().n_runs == 5
    lab.run_button.click()
    assert lab.result is not None and len(lab.result.runs) == 5
    assert lab.output.outputs, "the lab showed nothing after a run"
    assert "Sun et al. (2025)" in lab.output.outputs[0]["text"]
    assert not lab.run_button.disabled
