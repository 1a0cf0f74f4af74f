"""QuEST's forward quantizer and Quartet's linear layer: the Gaussian-optimal clip, the fitted
power-of-two scales, the trust mask, and gradients masked and rotated back."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from scalingbook.papers import castro2025
from scalingbook.precision import (
    FakeQuantLinear,
    QuantScheme,
    gaussian_mse_clip,
    gaussian_rounding_mse,
    get_format,
    inverse_random_hadamard_transform,
    quantize_quest,
    random_hadamard_transform,
    round_to_format,
    swap_linears,
)

E2M1_GRID = get_format("fp4_e2m1").grid(nonnegative=True)


# --- the Gaussian-optimal clip ------------------------------------------------------------------


def test_e2m1_clip_matches_quartets_constant():
    # Quartet's released code fits blocks with 2.92247856 standard deviations; our closed-form
    # optimum reproduces it to six digits.
    assert gaussian_mse_clip("fp4_e2m1") == pytest.approx(castro2025.CODE_GAUSSIAN_CLIP_E2M1, abs=1e-5)


@pytest.mark.parametrize("element", ["fp4_e2m1", "fp6_e2m3", "fp6_e3m2"])
def test_clip_is_a_minimum(element):
    c = gaussian_mse_clip(element)
    best = gaussian_rounding_mse(c, element)
    for delta in (0.01, 0.1, 0.5):
        assert gaussian_rounding_mse(c + delta, element) > best
        assert gaussian_rounding_mse(c - delta, element) > best


def test_closed_form_mse_matches_monte_carlo():
    z = torch.randn(400_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for clip in (1.5, 2.92, 5.0):
        scale = clip / 6.0
        q = round_to_format(z / scale, "fp4_e2m1", saturate=True).double() * scale
        mc = float(((z - q) ** 2).mean())
        assert gaussian_rounding_mse(clip) == pytest.approx(mc, rel=0.02)


def test_clip_bad_input():
    with pytest.raises(ValueError, match="clip"):
        gaussian_rounding_mse(0.0)
    with pytest.raises(ValueError, match="element"):
        gaussian_mse_clip("int8")


# --- the quantizer ------------------------------------------------------------------------------


def reference_quest(x: torch.Tensor, block: int, clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One block at a time, in float64 arithmetic where it matters: the rule as written."""
    out, trust = torch.empty_like(x), torch.empty_like(x, dtype=torch.bool)
    for r in range(x.shape[0]):
        for b0 in range(0, x.shape[1], block):
            blk = x[r, b0:b0 + block].double()
            rms = math.sqrt(float((blk**2).sum()) / block)  # a partial block counts its padding
            k = -127 if rms == 0 else max(-127, min(127, math.floor(math.log2(clip * rms / 6.0))))
            v = blk / 2.0**k
            trust[r, b0:b0 + block] = v.abs() <= 6.0
            out[r, b0:b0 + block] = (round_to_format(v, "fp4_e2m1", saturate=True).double() * 2.0**k).float()
    return out, trust


def heavy(rows, cols, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, cols, generator=g)
    spikes = torch.rand(rows, cols, generator=g) < 0.03
    return torch.where(spikes, x * 30, x)


@pytest.mark.parametrize("cols", [64, 70])
def test_quantizer_matches_the_rule_block_by_block(cols):
    x = heavy(6, cols, seed=1)
    got = quantize_quest(x, block_size=32)
    want, trust = reference_quest(x, 32, gaussian_mse_clip())
    assert torch.equal(got.values, want)
    assert torch.equal(got.trust, trust)


def test_values_sit_on_power_of_two_scaled_grids_and_clipped_entries_saturate():
    x = heavy(8, 32, seed=2)
    q = quantize_quest(x, block_size=32)
    signed_grid = torch.cat([-E2M1_GRID, E2M1_GRID])
    for r in range(8):
        rms = float(x[r].double().square().mean().sqrt())
        scale = 2.0 ** math.floor(math.log2(gaussian_mse_clip() * rms / 6.0))
        assert bool(torch.isin(q.values[r].double() / scale, signed_grid).all())
        top = 6.0 * scale  # the largest value this block's grid holds
        clipped = ~q.trust[r]
        assert torch.equal(clipped, x[r].abs() > top)
        assert torch.equal(q.values[r][clipped], torch.sign(x[r][clipped]) * top)


def test_gaussian_blocks_lose_about_the_predicted_fraction():
    # Without the power-of-two rounding the clip sits at 2.92 sigma and clips 0.35% of a Gaussian;
    # rounding the scale down moves it to between 1.46 and 2.92 sigma, so the clipped fraction
    # lies between those two Gaussian tails.
    x = torch.randn(4000, 32, generator=torch.Generator().manual_seed(3))
    frac = 1 - quantize_quest(x).trust.float().mean().item()
    low, high = 2 * (1 - 0.5 * (1 + math.erf(2.9225 / math.sqrt(2)))), 2 * (1 - 0.5 * (1 + math.erf(1.4612 / math.sqrt(2))))
    assert low < frac < high


def test_zero_and_nan_blocks():
    x = torch.randn(2, 64)
    x[0, :32] = 0.0
    x[1, 40] = float("nan")
    q = quantize_quest(x, block_size=32)
    assert torch.equal(q.values[0, :32], torch.zeros(32)) and bool(q.trust[0, :32].all())
    assert bool(torch.isnan(q.values[1, 32:]).all()) and not bool(q.trust[1, 32:].any())
    assert bool(torch.isfinite(q.values[1, :32]).all()) and bool(torch.isfinite(q.values[0]).all())


def test_axis_and_shape():
    x = torch.randn(3, 40, 5)
    a = quantize_quest(x, block_size=8, axis=1)
    b = quantize_quest(x.movedim(1, -1), block_size=8)
    assert a.values.shape == x.shape and a.trust.shape == x.shape
    assert torch.equal(a.values, b.values.movedim(-1, 1)) and torch.equal(a.trust, b.trust.movedim(-1, 1))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(-20, 20))
def test_scale_equivariance(seed, log2_gain):
    # Multiplying a tensor by a power of two multiplies its quantization by the same power.
    x = torch.randn(3, 32, generator=torch.Generator().manual_seed(seed))
    gain = 2.0 ** int(log2_gain)
    a, b = quantize_quest(x), quantize_quest(x * gain)
    assert torch.equal(a.values * gain, b.values) and torch.equal(a.trust, b.trust)


@pytest.mark.parametrize("kwargs,word", [
    (dict(element="int8"), "element"),
    (dict(element="bf16"), "element"),
    (dict(block_size=0), "block_size"),
    (dict(clip=-1.0), "clip"),
    (dict(axis=3), "axis"),
])
def test_quantizer_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word):
        quantize_quest(torch.randn(4, 32), **kwargs)
    with pytest.raises(ValueError, match="x"):
        quantize_quest(torch.arange(32))


# --- Quartet's linear layer ---------------------------------------------------------------------


def layer(scheme, seed=4, k=48, n=24):
    torch.manual_seed(0)
    lin = nn.Linear(k, n)
    return lin, FakeQuantLinear.from_linear(lin, scheme, seed=seed)


def run(fq, x, g):
    x = x.clone().requires_grad_(True)
    y = fq(x)
    y.backward(g)
    return y.detach(), x.grad, fq.weight.grad.clone()


def rot(t, seed=4, block=32):
    t = torch.nn.functional.pad(t, (0, (-t.shape[-1]) % block))
    return random_hadamard_transform(t, seed=seed, block_size=block)


def unrot(t, width, seed=4, block=32):
    return inverse_random_hadamard_transform(t, seed=seed, block_size=block)[:, :width]


def test_quartet_forward_is_the_product_of_rotated_quest_operands():
    scheme = QuantScheme.quartet()
    lin, fq = layer(scheme)
    x = torch.randn(5, 48)
    xq, wq = quantize_quest(rot(x)).values, quantize_quest(rot(lin.weight.detach())).values
    assert torch.equal(fq(x).detach(), xq @ wq.T + lin.bias.detach())


def test_quartet_gradients_are_masked_then_rotated_back():
    scheme = QuantScheme.quartet(quantize_backward=False)  # exact backward GEMMs: only the mask and rotation
    lin, fq = layer(scheme)
    x, g = heavy(10, 48, seed=5), torch.randn(10, 24)
    _, gx, gw = run(fq, x, g)
    qx, qw = quantize_quest(rot(x)), quantize_quest(rot(lin.weight.detach()))
    torch.testing.assert_close(gx, unrot((g @ qw.values) * qx.trust, 48), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gw, unrot((g.T @ qx.values) * qw.trust, 48), rtol=1e-5, atol=1e-6)
    assert not bool(qx.trust.all()), "the heavy-tailed input should have clipped entries"


def test_quest_without_rotation_zeroes_the_gradient_of_clipped_weights():
    scheme = QuantScheme.quartet(hadamard=False, quantize_backward=False)
    lin, fq = layer(scheme, k=32, n=4)
    with torch.no_grad():
        lin.weight[0, 3] = 50.0  # far beyond any Gaussian fit of its block
    _, _, gw = run(fq, torch.randn(6, 32), torch.randn(6, 4))
    assert gw[0, 3] == 0 and bool((gw[1:] != 0).all())


def test_quartet_backward_uses_the_scheme_on_the_forward_operands():
    scheme = QuantScheme.quartet(grad_rounding="nearest_even")
    lin, fq = layer(scheme)
    x, g = torch.randn(40, 48), torch.randn(40, 24)
    _, gx, gw = run(fq, x, g)
    qx, qw = quantize_quest(rot(x)), quantize_quest(rot(lin.weight.detach()))
    q = lambda t: scheme.quantize(rot(t), "nearest_even", None)  # noqa: E731  backward: rotate, rceil MXFP4
    assert torch.equal(gx, unrot((q(g) @ q(qw.values.T).T) * qx.trust, 48))
    assert torch.equal(gw, unrot((q(g.T) @ q(qx.values.T).T) * qw.trust, 48))


def test_quartet_stochastic_gradients_are_unbiased_and_reproducible():
    scheme = QuantScheme.quartet()
    lin, fq = layer(scheme, k=32, n=32)
    x, g = torch.randn(32, 32), torch.randn(32, 32)
    qx, qw = quantize_quest(rot(x)), quantize_quest(rot(lin.weight.detach()))
    rtn = lambda t: scheme.quantize(rot(t), "nearest_even", None)  # noqa: E731
    target = unrot((rot(g) @ rtn(qw.values.T).T) * qx.trust, 32)  # E[SR(g H)] = g H: rceil never clips
    draws = torch.stack([run(fq, x, g)[1] for _ in range(300)])
    single = (draws[0] - target).norm() / target.norm()
    mean = (draws.mean(0) - target).norm() / target.norm()
    assert mean < single / 8
    _, again = layer(scheme, k=32, n=32)
    assert torch.equal(run(again, x, g)[1], draws[0])


def test_quartet_trains_a_small_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 1))
    swap_linears(model, QuantScheme.quartet(), seed=3)
    x = torch.randn(256, 32, generator=torch.Generator().manual_seed(1))
    y = x[:, :1] * 2 - x[:, 1:2]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.3 * losses[0]


def test_quartet_label_and_bad_combinations():
    assert QuantScheme.quartet().label == "mxfp4 quest +rht sr"
    for changes, word in [
        (dict(forward_quantizer="clip"), "forward_quantizer"),
        (dict(scale_format="e4m3"), "e8m0"),
        (dict(block_size=None, element="bf16"), "block scheme"),
        (dict(forward_rounding="stochastic"), "forward_rounding"),
        (dict(element="int8"), "float element"),
    ]:
        with pytest.raises(ValueError, match=word):
            QuantScheme.quartet(**changes)
    with pytest.raises(ValueError, match="forward_quantizer"):
        QuantScheme.nvfp4(forward_quantizer="quest")
