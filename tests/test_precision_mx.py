"""MX and NVFP4 block quantization against an independent reference written from the specs;
the exact-exponent scale rule; special blocks; codes and scales; argument checks."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scalingbook.precision import (
    MX_ELEMENTS,
    encode_blocks,
    encode_nvfp4,
    fp4_e2m1,
    get_format,
    nvfp4_tensor_scale,
    quantize_blocks,
    quantize_mx,
    quantize_nvfp4,
    ue4m3,
    ue5m3,
)


# ---- a reference written straight from the OCP MX v1.0 text, in float64 numpy -------------------
def element_grid(name: str) -> tuple[np.ndarray, int]:
    """Non-negative element grid (index = magnitude code) and the spec's emax_elem."""
    if name == "int8":
        return np.arange(128) / 64.0, 0
    f = get_format(name)
    return f.grid(nonnegative=True).numpy(), f.emax


def rne_saturating(v: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Round to nearest, ties to the even index, clamp at the grid's top: by table lookup."""
    a = np.minimum(np.abs(v), grid[-1])
    i = np.clip(np.searchsorted(grid, a, side="right") - 1, 0, len(grid) - 2)
    lo, hi = grid[i], grid[i + 1]
    mid = (lo + hi) / 2
    j = np.where(a < mid, i, np.where(a > mid, i + 1, np.where(i % 2 == 0, i, i + 1)))
    j = np.where(a == lo, i, j)
    return np.copysign(grid[j], v)


def exact_floor_log2(a: np.ndarray) -> np.ndarray:
    return np.frexp(a)[1] - 1  # frexp is exact: a = f * 2**e with f in [0.5, 1)


def reference_mx(x: torch.Tensor, name: str, block_size: int, mode: str = "floor") -> torch.Tensor:
    grid, emax_elem = element_grid(name)
    max_elem = grid[-1]
    R, K = x.shape
    nb = -(-K // block_size)
    v = np.zeros((R, nb * block_size))
    v[:, :K] = x.double().numpy()
    v = v.reshape(R, nb, block_size)
    with np.errstate(invalid="ignore"):
        amax = np.abs(v).max(-1)
    bad = ~np.isfinite(amax)
    amax = np.where(bad, 0.0, amax)
    if mode == "floor":
        k = exact_floor_log2(np.where(amax > 0, amax, 1.0)) - emax_elem
    else:  # smallest k with amax <= max_elem * 2**k
        k = exact_floor_log2(np.where(amax > 0, amax, 1.0)) - exact_floor_log2(np.array(max_elem)) - 1
        while True:
            short = amax > max_elem * np.exp2(k)
            if not short.any():
                break
            k = k + short
    k = np.where(amax > 0, k, -127).clip(-127, 127)
    X = np.exp2(k.astype(np.float64))[..., None]
    with np.errstate(invalid="ignore"):
        P = rne_saturating(v / X, grid)
    if name == "int8":
        P = P + 0.0  # two's complement: no -0.0
    out = P * X
    out = np.where(bad[..., None], np.nan, out)
    return torch.from_numpy(out.reshape(R, -1)[:, :K]).float()


def reference_fp8_scaled(x: torch.Tensor, block_size: int, scale_fmt, t: float = 1.0) -> torch.Tensor:
    """NVFP4-style: s = RNE(amax / (6 t)) in the scale format (float32 division first),
    elements RNE(V / (s t)) in E2M1 with float32 division, dequantized (P s) t in float32."""
    grid = fp4_e2m1.grid(nonnegative=True).numpy()
    sgrid = scale_fmt.grid(nonnegative=True).numpy()
    R, K = x.shape
    nb = -(-K // block_size)
    v = np.zeros((R, nb * block_size), dtype=np.float32)
    v[:, :K] = x.numpy()
    v = v.reshape(R, nb, block_size)
    with np.errstate(invalid="ignore"):
        amax = np.abs(v).max(-1)
    bad = ~np.isfinite(amax)
    amax = np.where(bad, 0, amax).astype(np.float32)
    t32 = np.float32(t)
    with np.errstate(over="ignore"):  # amax / (6 t) may overflow float32: the scale saturates
        s = rne_saturating((amax / (np.float32(6.0) * t32)).astype(np.float64), sgrid).astype(np.float32)
    denom = (s * t32)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(denom > 0, v / np.where(denom > 0, denom, 1), v * 0).astype(np.float32)  # keeps -0.0
    P = rne_saturating(scaled.astype(np.float64), grid).astype(np.float32)
    out = (P * s[..., None]) * t32
    out = np.where(bad[..., None], np.nan, out)
    return torch.from_numpy(out.reshape(R, -1)[:, :K].astype(np.float32))


def assert_same_bits(ours: torch.Tensor, ref: torch.Tensor) -> None:
    nan = torch.isnan(ref)
    assert torch.equal(torch.isnan(ours), nan)
    diff = ours[~nan].view(torch.int32) != ref[~nan].view(torch.int32)
    assert not diff.any(), f"{int(diff.sum())} mismatches: {ours[~nan][diff][:4]} vs {ref[~nan][diff][:4]}"


def make_data(seed: int = 0, rows: int = 24, cols: int = 100) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, cols, generator=g) * torch.exp(4 * torch.randn(rows, 1, generator=g))
    assert rows >= 8
    x[0] = 0.0
    x[1, 7] = float("nan")
    x[2, 40] = float("inf")
    x[3, :] = torch.randn(cols, generator=g) * 1e-39  # float32 subnormals
    x[4, :] = torch.nextafter(torch.tensor(8.0), torch.tensor(0.0))  # just below a power of two
    x[5, :32] = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -5.0] * 4) / 8  # fp4 ties after scaling
    x[5, 31] = 6.0 / 8  # sets amax so that the block scale is 2**-3... (floor(log2 .75) - 2)
    x[6, :] = 3.0e38 * torch.sign(torch.randn(cols, generator=g))  # near float32's top
    x[7, ::3] = -0.0
    return x


# ---- against the reference ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", MX_ELEMENTS)
@pytest.mark.parametrize("mode", ["floor", "rceil"])
def test_quantize_mx_matches_the_spec_reference(name, mode):
    x = make_data()
    for bs in (32, 16, 7):
        assert_same_bits(quantize_mx(x, name, block_size=bs, scale_mode=mode), reference_mx(x, name, bs, mode))


@pytest.mark.parametrize("scale_fmt,name", [(ue4m3, "e4m3"), (ue5m3, "ue5m3")])
def test_fp8_scaled_blocks_match_the_reference(scale_fmt, name):
    x = make_data(seed=1)
    for t in (1.0, 0.013):
        ours = quantize_nvfp4(x, scale_format=name, per_tensor_scale=None if t == 1.0 else t)
        assert_same_bits(ours, reference_fp8_scaled(x, 16, scale_fmt, t))


def test_nvfp4_two_level_scale():
    x = torch.randn(8, 64) * 1e4  # amax/6 far above E4M3's 448: the tensor scale takes over
    t = nvfp4_tensor_scale(x)
    assert t == np.float32(x.abs().max().item() / (6 * 448))
    y = quantize_nvfp4(x, per_tensor_scale="amax")
    assert torch.equal(y, quantize_nvfp4(x, per_tensor_scale=t))
    assert_same_bits(y, reference_fp8_scaled(x, 16, ue4m3, t))
    rel = ((y - x).norm() / x.norm()).item()
    assert rel < 0.12  # E2M1 with 16-element blocks: ~9% rms error on Gaussian data
    saturated = quantize_nvfp4(x)  # no tensor scale: every block scale saturates at 448
    assert saturated.abs().max().item() == 6 * 448


# ---- the scale rule ---------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [-130, -126, -20, -1, 0, 1, 3, 17, 100, 127])
def test_scale_is_exact_just_below_a_power_of_two(n):
    amax = torch.nextafter(torch.tensor(2.0**n, dtype=torch.float32), torch.tensor(0.0))
    if n >= -126 and abs(n) >= 2:
        # The pitfall: float32 log2 rounds up to exactly n, so floor(log2) would give n.
        # (Near 1 the logarithm is small and float32 still resolves it.)
        assert torch.floor(torch.log2(amax)).item() == n
    block = torch.zeros(1, 32)
    block[0, 5] = amax
    enc = encode_blocks(block, "fp4_e2m1")
    expected = max(n - 1 - 2, -127)  # floor(log2 amax) = n - 1, minus emax_elem = 2
    assert int(enc.scales[0, 0]) - 127 == expected
    assert torch.equal(enc.dequantize(), quantize_mx(block, "fp4_e2m1"))


def test_rceil_never_saturates_and_is_minimal():
    x = make_data(seed=3)[8:]
    for name in MX_ELEMENTS:
        enc = encode_blocks(x, name, scale_mode="rceil")
        max_elem = element_grid(name)[0][-1]
        xb = torch.nn.functional.pad(x, (0, (-x.shape[1]) % 32)).view(x.shape[0], -1, 32)
        amax = xb.abs().amax(-1).double()
        X = enc.scale_values.double()
        assert (amax <= max_elem * X).all()  # fits: no element is clipped
        live = amax > 0
        assert (amax[live] > max_elem * X[live] / 2).all()  # one step smaller would not fit
    exact = torch.zeros(1, 32)
    exact[0, 0] = 6.0 * 2.0**5  # amax exactly max_elem * 2**5: k = 5, not 6
    assert int(encode_blocks(exact, "fp4_e2m1", scale_mode="rceil").scales[0, 0]) == 127 + 5
    exact[0, 0] = torch.nextafter(torch.tensor(6.0 * 2.0**5), torch.tensor(1e9))
    assert int(encode_blocks(exact, "fp4_e2m1", scale_mode="rceil").scales[0, 0]) == 127 + 6


def test_special_blocks():
    x = torch.zeros(3, 64)
    x[1, 3] = float("nan")
    x[2, 40] = -float("inf")
    x[2, 0] = 1.0
    enc = encode_blocks(x, "fp8_e4m3")
    y = quantize_mx(x, "fp8_e4m3")
    assert torch.equal(y[0], torch.zeros(64))  # an all-zero block stays zero
    assert enc.scales[0].tolist() == [0, 0]  # with the smallest scale, 2**-127
    assert torch.isnan(y[1, :32]).all() and torch.equal(y[1, 32:], torch.zeros(32))
    assert torch.isnan(y[2, 32:]).all() and y[2, 0] == 1.0
    assert enc.scales[1].tolist() == [255, 0] and enc.scales[2].tolist() == [127 - 8, 255]
    nv = encode_nvfp4(x)
    assert nv.scales[1, 0].item() == 0x7F and torch.isnan(nv.dequantize()[1, :16]).all()


def test_partial_last_block_is_zero_padded_and_axis_is_respected():
    x = make_data(seed=4, rows=8, cols=45)
    padded = torch.nn.functional.pad(x, (0, 19))
    assert_same_bits(quantize_mx(x, "fp6_e2m3"), quantize_mx(padded, "fp6_e2m3")[:, :45])
    x3 = torch.randn(5, 40, 3)
    along1 = quantize_mx(x3, "fp4_e2m1", axis=1, block_size=8)
    assert along1.shape == x3.shape
    assert_same_bits(along1, quantize_mx(x3.transpose(1, 2), "fp4_e2m1", block_size=8).transpose(1, 2))
    assert_same_bits(quantize_mx(x3, "fp4_e2m1", axis=-2, block_size=8), along1)


def test_int8_elements():
    x = make_data(seed=5)[8:]
    enc = encode_blocks(x, "int8")
    assert enc.codes.dtype == torch.int8
    assert enc.codes.min() >= -127 and enc.codes.max() <= 127  # symmetric: -128 unused
    assert torch.equal(enc.element_values, enc.codes.float() / 64)


@pytest.mark.parametrize("name", MX_ELEMENTS)
def test_codes_and_scales_reproduce_the_values(name):
    x = make_data(seed=6)
    enc = encode_blocks(x, name, block_size=16)
    assert enc.codes.shape == (24, 7, 16) and enc.scales.shape == (24, 7) and enc.scales.dtype == torch.uint8
    assert_same_bits(enc.dequantize(), quantize_mx(x, name, block_size=16))
    if name != "int8":
        f = get_format(name)
        assert int(enc.codes.max()) < 2**f.bits
        assert torch.equal(f.decode(enc.codes), enc.element_values)


# ---- stochastic rounding -------------------------------------------------------------------------
def test_stochastic_mx_is_unbiased_without_saturation_and_reproducible():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 64, generator=g)
    n = 3000
    draws = quantize_mx(x.expand(n, 4, 64).reshape(-1, 64), "fp4_e2m1", rounding="stochastic",
                        scale_mode="rceil", generator=torch.Generator().manual_seed(1)).view(n, 4, 64)
    X = encode_blocks(x, "fp4_e2m1", scale_mode="rceil").scale_values.repeat_interleave(32, -1)
    # Each draw is within one step of x (step <= 2X in E2M1): bound the mean by 5 sigma.
    err = (draws.double().mean(0) - x.double()).abs()
    assert (err <= 5 * 2 * X.double() * 0.5 / math.sqrt(n)).all()
    a = quantize_mx(x, "fp4_e2m1", rounding="stochastic", generator=torch.Generator().manual_seed(9))
    b = quantize_mx(x, "fp4_e2m1", rounding="stochastic", generator=torch.Generator().manual_seed(9))
    c = encode_blocks(x, "fp4_e2m1", rounding="stochastic", generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b) and torch.equal(a, c.dequantize())


BOUND = float(np.float32(1e30))


# ---- properties ---------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(MX_ELEMENTS),
    rows=st.lists(st.lists(st.floats(-BOUND, BOUND, width=32), min_size=32, max_size=32), min_size=1, max_size=3),
)
def test_mx_quantization_is_idempotent(name, rows):
    # floor rule: amax/X lies in [2^emax, 2^(emax+1)) and rounds to at most max_elem, which is in
    # the same binade, so requantizing finds the same scale and the same grid values.
    x = torch.tensor(rows, dtype=torch.float32)
    y = quantize_mx(x, name)
    assert torch.equal(quantize_mx(y, name), y)
    assert (y.abs() <= x.abs().amax(-1, keepdim=True) * 2).all()


# ---- bad input ------------------------------------------------------------------------------------
def test_bad_arguments_name_the_argument():
    x = torch.randn(4, 32)
    with pytest.raises(ValueError, match="fmt"):
        quantize_mx(x, "fp16x")
    with pytest.raises(ValueError, match="fmt"):
        quantize_mx(x, "bf16")  # a named format, but not an MX element
    with pytest.raises(ValueError, match="x"):
        quantize_mx(torch.ones(4, 32, dtype=torch.int32), "fp4_e2m1")
    for bs in (0, -32, 2.5, True):
        with pytest.raises(ValueError, match="block_size"):
            quantize_mx(x, "fp4_e2m1", block_size=bs)
    for axis in (2, -3, 1.0):
        with pytest.raises(ValueError, match="axis"):
            quantize_mx(x, "fp4_e2m1", axis=axis)
    with pytest.raises(ValueError, match="axis"):
        quantize_mx(torch.tensor(1.0), "fp4_e2m1")
    with pytest.raises(ValueError, match="scale_mode"):
        quantize_mx(x, "fp4_e2m1", scale_mode="ceil")
    with pytest.raises(ValueError, match="rounding"):
        quantize_mx(x, "fp4_e2m1", rounding="up")
    with pytest.raises(ValueError, match="backend"):
        quantize_mx(x, "fp4_e2m1", backend="cuda")
    for bad in (-1.0, 0.0, float("inf"), "max"):
        with pytest.raises(ValueError, match="per_tensor_scale"):
            quantize_nvfp4(x, per_tensor_scale=bad)
    with pytest.raises(ValueError, match="per_tensor_scale"):
        quantize_blocks(x, "fp4_e2m1", scale_format="e8m0", per_tensor_scale=2.0)
    with pytest.raises(ValueError, match="scale_format"):
        quantize_nvfp4(x, scale_format="e5m2")
    with pytest.raises(ValueError, match="block_size"):
        quantize_nvfp4(x, block_size=0)


def test_empty_and_one_dimensional_inputs():
    assert quantize_mx(torch.zeros(0, 5), "fp4_e2m1").shape == (0, 5)
    assert quantize_mx(torch.zeros(3, 0), "fp4_e2m1").shape == (3, 0)
    assert encode_blocks(torch.zeros(0, 40), "fp4_e2m1").codes.shape == (0, 2, 32)
    x = torch.tensor([-0.7, -1.0, -0.05, 1.1, -3.0])
    assert quantize_mx(x, "fp4_e2m1", block_size=2).tolist() == [-0.75, -1.0, -0.0, 1.0, -3.0]
