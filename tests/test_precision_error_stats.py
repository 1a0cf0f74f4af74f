"""Quantization-error statistics: the test tensors, the error of a scheme with and without the
random Hadamard transform, histograms that account for every entry, and rounding bias."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scalingbook.precision import (
    QuantScheme,
    capture_gemm_operands,
    error_histogram,
    error_table,
    gaussian_rounding_mse,
    gemm_operand_table,
    kurtosis,
    outlier_sweep,
    quantization_error,
    quantize_mx,
    rounding_bias,
    synthetic_operand,
)

MX = QuantScheme.mxfp4()


def test_synthetic_operands():
    g = synthetic_operand(200, 64, kind="gaussian", seed=1)
    assert g.shape == (200, 64) and g.dtype == torch.float32
    assert torch.equal(g, synthetic_operand(200, 64, kind="gaussian", seed=1))
    assert abs(float(g.std()) - 1) < 0.05
    o = synthetic_operand(200, 64, kind="outliers", outlier_fraction=0.02, outlier_scale=50, seed=1)
    big = (o.abs() > 10).float().mean().item()
    assert 0.01 < big < 0.03  # about 2% of entries, almost all of them larger than 10
    c = synthetic_operand(200, 64, kind="channels", outlier_fraction=0.05, outlier_scale=30, seed=1)
    col_rms = c.square().mean(0).sqrt()
    assert int((col_rms > 10).sum()) == round(0.05 * 64)
    r = synthetic_operand(400, 64, kind="gaussian", row_decades=6, seed=1)
    row_rms = r.square().mean(1).sqrt().log10()
    assert 5 < float(row_rms.max() - row_rms.min()) < 6.2


@pytest.mark.parametrize("kwargs,word", [
    (dict(rows=0), "rows"), (dict(kind="cauchy"), "kind"), (dict(outlier_fraction=1.5), "outlier_fraction"),
    (dict(outlier_scale=0.0), "outlier_scale"), (dict(row_decades=-1.0), "row_decades"), (dict(seed=1.5), "seed"),
])
def test_synthetic_operand_bad_input(kwargs, word):
    args = dict(rows=4, cols=8)
    args.update(kwargs)
    with pytest.raises(ValueError, match=word):
        synthetic_operand(args.pop("rows"), args.pop("cols"), **args)


def test_error_matches_the_quantizer_and_its_definitions():
    x = synthetic_operand(64, 96, kind="outliers", seed=2)
    r = quantization_error(x, MX)
    q = quantize_mx(x, "fp4_e2m1")
    assert torch.equal(r.dequantized, q) and torch.equal(r.error, q - x)
    rel = float(((q - x).double() ** 2).sum() / (x.double() ** 2).sum())
    assert r.relative_mse == pytest.approx(rel, rel=1e-12)
    assert r.snr_db == pytest.approx(-10 * math.log10(rel))
    nz = x != 0
    assert r.flushed == pytest.approx(float(((q == 0) & nz).sum() / nz.sum()))


def test_gaussian_error_is_near_the_closed_form_optimum_and_rotation_changes_nothing():
    # Blocks of 32 Gaussian entries: MX's absmax scale lands within a few per cent of the
    # MSE-optimal clip's error, and rotating iid Gaussian rows leaves their law unchanged.
    x = synthetic_operand(2048, 256, kind="gaussian", seed=3)
    plain = quantization_error(x, MX, hadamard=False).relative_mse
    rotated = quantization_error(x, MX, hadamard=True).relative_mse
    assert gaussian_rounding_mse(2.9224749914) < plain < 1.1 * gaussian_rounding_mse(2.9224749914)
    assert rotated / plain == pytest.approx(1.0, abs=0.02)


def test_rotation_helps_mxfp4_on_outliers_and_is_exact_in_energy():
    x = synthetic_operand(512, 128, kind="channels", outlier_fraction=0.02, outlier_scale=30, seed=4)
    plain = quantization_error(x, MX, hadamard=False)
    rotated = quantization_error(x, MX, hadamard=True)
    assert rotated.relative_mse < plain.relative_mse / 1.5
    # An exact "format" (fp32) loses nothing to the rotation and its inverse, up to float error.
    exact = quantization_error(x, QuantScheme.elementwise("fp32"), hadamard=True)
    assert exact.relative_mse < 1e-12


def test_quest_scheme_uses_its_gaussian_fit():
    x = synthetic_operand(128, 64, kind="outliers", seed=5)
    from scalingbook.precision import quantize_quest, random_hadamard_transform, inverse_random_hadamard_transform

    r = quantization_error(x, QuantScheme.quartet())
    want = inverse_random_hadamard_transform(
        quantize_quest(random_hadamard_transform(x, seed=0, block_size=32)).values, seed=0, block_size=32)
    assert torch.equal(r.dequantized, want)


def test_wide_rows_need_a_wide_scale_format():
    # Rows spread over 8 decades: E4M3 block scales (about 5 decades with the tensor scale) flush
    # the smallest rows; UE5M3 and E8M0 keep every row's relative error small.
    x = synthetic_operand(512, 64, kind="gaussian", row_decades=8, seed=6)
    schemes = {"e4m3": QuantScheme.mxfp4(scale_format="e4m3", per_tensor_scale=True),
               "ue5m3": QuantScheme.mxfp4(scale_format="ue5m3", per_tensor_scale=True), "e8m0": MX}
    t = error_table(x, schemes, hadamard=(False,)).set_index("scheme")
    assert t.loc["e4m3", "row_relative_mse"] > 10 * t.loc["ue5m3", "row_relative_mse"]
    assert t.loc["ue5m3", "row_relative_mse"] < t.loc["e8m0", "row_relative_mse"] < 0.02
    # the large rows dominate the global error, which hides the flushed ones
    assert t.loc["e4m3", "relative_mse"] == pytest.approx(t.loc["ue5m3", "relative_mse"], rel=0.05)


def test_error_table_shape():
    x = synthetic_operand(32, 64, seed=7)
    t = error_table(x, {"mx": MX, "nv": QuantScheme.nvfp4()})
    assert list(t["scheme"]) == ["mx", "mx", "nv", "nv"] and list(t["hadamard"]) == [False, True] * 2
    assert set(t.columns) >= {"relative_mse", "snr_db", "mean_error", "flushed", "row_relative_mse"}


def test_histogram_accounts_for_every_entry():
    x = synthetic_operand(64, 64, kind="outliers", seed=8)
    h = error_histogram(x, {"mx": MX, "bf16": QuantScheme.elementwise("bf16")})
    for (_, _), grp in h.groupby(["scheme", "hadamard"]):
        total = grp["fraction"].sum() + grp["below"].iloc[0] + grp["above"].iloc[0]
        assert total == pytest.approx(1.0, abs=1e-12)
    # bf16 errors are tiny: nearly everything sits below 1e-2 of the rms
    bf = h[(h.scheme == "bf16") & ~h.hadamard]
    assert bf[bf.lo >= -2]["fraction"].sum() < 0.01
    # counted by hand for one group
    err = quantization_error(x, MX, hadamard=False).error.abs().double().numpy().ravel()
    rms = float(x.double().square().mean().sqrt())
    with np.errstate(divide="ignore"):
        logm = np.log10(err / rms)
    g = h[(h.scheme == "mx") & ~h.hadamard]
    assert g["below"].iloc[0] == pytest.approx(np.mean(logm < -4))
    first = g.iloc[0]
    assert first["fraction"] == pytest.approx(np.mean((logm >= first.lo) & (logm < first.hi)))


def test_stochastic_rounding_is_unbiased_round_to_nearest_is_not():
    x = synthetic_operand(128, 64, kind="gaussian", seed=9)
    rceil = QuantScheme.mxfp4(scale_mode="rceil")  # never clips, so SR's mean is exact
    sr = rounding_bias(x, rceil, rounding="stochastic", draws=64, seed=1)
    rtn = rounding_bias(x, rceil, rounding="nearest_even", draws=4, seed=1)
    assert sr.ratio == pytest.approx(1 / math.sqrt(64), abs=0.02)
    assert rtn.ratio == pytest.approx(1.0)
    assert abs(sr.mean_error) < 1e-3
    assert sr.single > rtn.single  # the price: one SR draw is noisier than round-to-nearest


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 1000))
def test_sr_mean_error_shrinks_with_draws(seed):
    x = synthetic_operand(16, 32, kind="gaussian", seed=seed)
    rceil = QuantScheme.mxfp4(scale_mode="rceil")
    b = rounding_bias(x, rceil, draws=100, seed=seed)
    assert b.ratio < 0.2  # 1/sqrt(100) = 0.1, with room for a small sample


def test_bad_inputs_name_the_argument():
    x = synthetic_operand(8, 32)
    with pytest.raises(ValueError, match="x must be 2-dimensional"):
        quantization_error(x[0], MX)
    with pytest.raises(ValueError, match="finite"):
        quantization_error(torch.full((2, 32), float("nan")), MX)
    with pytest.raises(ValueError, match="all zeros"):
        quantization_error(torch.zeros(2, 32), MX)
    with pytest.raises(ValueError, match="scheme"):
        quantization_error(x, "mxfp4")
    with pytest.raises(ValueError, match="hadamard"):
        quantization_error(x, MX, hadamard="yes")
    with pytest.raises(ValueError, match="rounding"):
        quantization_error(x, MX, rounding="up")
    with pytest.raises(ValueError, match="schemes"):
        error_table(x, {})
    with pytest.raises(ValueError, match="schemes\\['a'\\]"):
        error_table(x, {"a": 1})
    with pytest.raises(ValueError, match="hadamard"):
        error_table(x, {"a": MX}, hadamard=())
    with pytest.raises(ValueError, match="edges"):
        error_histogram(x, {"a": MX}, edges=[0.0, -1.0])
    with pytest.raises(ValueError, match="draws"):
        rounding_bias(x, MX, draws=0)


def test_outlier_sweep_tables():
    schemes = {"mx": MX}
    table, hist = outlier_sweep(schemes, [1.0, 10.0], rows=16, cols=64, seed=3)
    assert list(table["outlier_scale"]) == [1.0, 1.0, 10.0, 10.0]
    assert list(table["hadamard"]) == [False, True, False, True]
    x = synthetic_operand(16, 64, kind="channels", outlier_fraction=0.02, outlier_scale=10.0, seed=3)
    assert table["relative_mse"].iloc[2] == pytest.approx(quantization_error(x, MX, hadamard=False).relative_mse)
    # the histogram bins errors in units of the bulk's standard deviation (1), not rms(x)
    direct = error_histogram(x, schemes, hadamard=(False,), reference=1.0)
    got = hist[(hist.outlier_scale == 10.0) & ~hist.hadamard].reset_index(drop=True)
    pd.testing.assert_frame_equal(got.drop(columns="outlier_scale"), direct)
    with pytest.raises(ValueError, match="outlier_scales"):
        outlier_sweep(schemes, [0.5])
    with pytest.raises(ValueError, match="outlier_scales"):
        outlier_sweep(schemes, [])
    with pytest.raises(ValueError, match="reference"):
        error_histogram(x, schemes, reference=0.0)


def test_kurtosis():
    g = torch.randn(200_000, generator=torch.Generator().manual_seed(0))
    assert kurtosis(g) == pytest.approx(3.0, abs=0.05)
    assert kurtosis(torch.tensor([-1.0, 1.0] * 50)) == pytest.approx(1.0)  # two points: the minimum
    assert kurtosis(synthetic_operand(200, 64, kind="outliers", seed=1)) > 10
    with pytest.raises(ValueError, match="constant"):
        kurtosis(torch.ones(10))
    with pytest.raises(ValueError, match="two entries"):
        kurtosis(torch.ones(1))


def test_capture_and_operand_table():
    import torch.nn as nn

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.up, self.down, self.lm_head = nn.Linear(8, 32), nn.Linear(32, 8), nn.Linear(8, 5)

        def loss(self, x, t):
            return nn.functional.cross_entropy(self.lm_head(self.down(torch.relu(self.up(x)))), t)

    model = Tiny()
    x, t = torch.randn(64, 8), torch.randint(0, 5, (64,))
    caps = capture_gemm_operands(model, x, t)
    assert set(caps) == {"up", "down"}  # the head is skipped
    assert caps["up"]["x"].shape == (64, 8) and caps["up"]["w"].shape == (32, 8) and caps["up"]["dy"].shape == (64, 32)
    assert torch.equal(caps["up"]["x"], x)
    # dy is the true output gradient: check one layer against autograd
    h = model.up(x)
    h.retain_grad()
    nn.functional.cross_entropy(model.lm_head(model.down(torch.relu(h))), t).backward()
    torch.testing.assert_close(caps["up"]["dy"], h.grad)
    model.zero_grad(set_to_none=True)
    capture_gemm_operands(model, x, t)
    assert all(p.grad is None for p in model.parameters())  # capturing leaves no gradients behind
    table = gemm_operand_table(caps, {"mx": MX}, hadamard=(False,))
    assert len(table) == 2 * 6
    row = table[(table.layer == "up") & (table.gemm == "wgrad") & (table.operand == "dy")].iloc[0]
    want = quantization_error(caps["up"]["dy"].T.contiguous(), MX, hadamard=False).relative_mse
    assert row.relative_mse == pytest.approx(want) and row.inner == "tokens"
    assert row["kurtosis"] == pytest.approx(kurtosis(caps["up"]["dy"]))
    with pytest.raises(ValueError, match="captures"):
        gemm_operand_table({}, {"mx": MX})
    with pytest.raises(ValueError, match="'dy'"):
        gemm_operand_table({"up": {"x": x}}, {"mx": MX})
    with pytest.raises(ValueError, match="loss"):
        capture_gemm_operands(nn.Linear(2, 2), x, t)
