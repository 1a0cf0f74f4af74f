"""round_to_format: bit-exact against torch's casts and against an exact grid oracle;
stochastic rounding unbiased and reproducible; properties; argument checks."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scalingbook.precision import (
    FloatFormat,
    bf16,
    fp4_e2m1,
    fp6_e2m3,
    fp6_e3m2,
    fp8_e4m3,
    fp8_e5m2,
    fp16,
    round_to_format,
    ue4m3,
    ue5m3,
)

DETERMINISTIC = ("nearest_even", "nearest_away", "toward_zero")


# ---- the oracle: rounding by searching the exact grid ----------------------------------------
def oracle_round(x: np.ndarray, fmt: FloatFormat, mode: str, saturate: bool) -> np.ndarray:
    """Round float64 ``x`` on ``fmt``'s grid by lookup: the grid's index of a magnitude is its
    code, so ties to even pick the even index. One virtual point past max (the first value the
    format cannot hold) decides overflow the way IEEE 754 does."""
    g = fmt.grid(nonnegative=True).numpy()
    ext = np.append(g, g[-1] + 2.0 ** (fmt.emax - fmt.man_bits))
    a = np.abs(x)
    fin = np.isfinite(a)
    af = np.where(fin, a, 0.0)
    far = af >= ext[-1]
    i = np.clip(np.searchsorted(ext, af, side="right") - 1, 0, len(ext) - 2)
    lo, hi = ext[i], ext[i + 1]
    mid = (lo + hi) / 2  # exact in float64 for these grids
    if mode == "nearest_even":
        # The even code. With no mantissa bits every code is a power of two and IEEE's rule has
        # no digit to test; we take the even multiple of the local step (the larger value),
        # except between 0 and the smallest value.
        even_lo = (i % 2 == 0) if fmt.man_bits else (lo == 0)
        j = np.where(af < mid, i, np.where(af > mid, i + 1, np.where(even_lo, i, i + 1)))
    elif mode == "nearest_away":
        j = np.where(af >= mid, i + 1, i)
    else:
        j = i
    j = np.where(af == lo, i, j)
    out = ext[j]
    over = far | (j == len(ext) - 1)
    if mode == "toward_zero" or saturate:
        out = np.where(over, fmt.max, out)
    else:
        out = np.where(over, np.inf if fmt.has_inf else np.nan, out)
    out = np.where(np.isinf(a), np.inf if fmt.has_inf else (fmt.max if saturate else np.nan), out)
    out = np.where(np.isnan(a), np.nan, out)
    return np.copysign(out, x)


def critical_inputs(fmt: FloatFormat) -> torch.Tensor:
    """Grid values, midpoints (ties), the smallest subnormal's half-way point, the top binade and
    the overflow threshold, each with its float32 neighbours on both sides, both signs."""
    g = fmt.grid(nonnegative=True).numpy()
    virtual = g[-1] + 2.0 ** (fmt.emax - fmt.man_bits)
    mids = (g[:-1] + g[1:]) / 2
    extra = np.array([fmt.min_subnormal / 2, fmt.min_subnormal / 4, (g[-1] + virtual) / 2, virtual, 2 * virtual])
    base = torch.from_numpy(np.concatenate([g, mids, extra])).float()
    near = [base, torch.nextafter(base, torch.tensor(np.inf)), torch.nextafter(base, torch.tensor(0.0))]
    v = torch.cat(near)
    return torch.cat([v, -v])


def dense_inputs() -> torch.Tensor:
    """Every finite float16 and bfloat16 value (as float32): a dense, exhaustive input set."""
    codes = torch.arange(2**16, dtype=torch.int32).to(torch.int16)
    vals = torch.cat([codes.view(torch.float16).float(), codes.view(torch.bfloat16).float()])
    return vals[torch.isfinite(vals)]


def random_fp32(n: int, seed: int) -> torch.Tensor:
    """Uniformly random float32 bit patterns: every binade, subnormals, both signs."""
    g = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2**32, (n,), generator=g, dtype=torch.int64)
    x = (bits - (bits >= 2**31).long() * 2**32).to(torch.int32).view(torch.float32)
    return x[torch.isfinite(x)]


def assert_same_bits(ours: torch.Tensor, ref: torch.Tensor) -> None:
    assert ours.dtype == torch.float32 and ref.dtype == torch.float32
    nan = torch.isnan(ref)
    assert torch.equal(torch.isnan(ours), nan)
    bad = (ours[~nan].view(torch.int32) != ref[~nan].view(torch.int32)).nonzero()
    assert len(bad) == 0, f"{len(bad)} mismatches, first: ours {ours[~nan][bad[0]]} vs {ref[~nan][bad[0]]}"


# ---- torch's own casts ---------------------------------------------------------------------------
TORCH_CASTS = [
    # (format, torch dtype, saturate that matches torch's cast)
    (fp16, torch.float16, False),
    (bf16, torch.bfloat16, False),
    (fp8_e4m3, torch.float8_e4m3fn, True),  # torch saturates float8_e4m3fn (Inf -> 448 too)
    (fp8_e5m2, torch.float8_e5m2, False),
]


def all_finite_patterns(dtype: torch.dtype) -> torch.Tensor:
    bits = 8 if dtype in (torch.float8_e4m3fn, torch.float8_e5m2) else 16
    codes = torch.arange(2**bits, dtype=torch.int32)
    codes = codes.to(torch.uint8) if bits == 8 else codes.to(torch.int16)
    vals = codes.view(dtype).float()
    return vals[torch.isfinite(vals)]


@pytest.mark.parametrize("fmt,dtype,saturate", TORCH_CASTS, ids=lambda v: getattr(v, "name", str(v)))
def test_bit_exact_with_torch_cast(fmt, dtype, saturate):
    dtypes = (torch.float16, torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2)
    patterns = torch.cat([all_finite_patterns(d) for d in dtypes])
    specials = torch.tensor([0.0, -0.0, np.inf, -np.inf, np.nan, 3.0e38, -3.4e38, 1e-45, -1e-45])
    x = torch.cat([patterns, critical_inputs(fmt), random_fp32(400_000, seed=1), specials])
    assert_same_bits(round_to_format(x, fmt, saturate=saturate), x.to(dtype).float())


@pytest.mark.parametrize("fmt,dtype,saturate", TORCH_CASTS[:2] + TORCH_CASTS[3:], ids=["fp16", "bf16", "e5m2"])
def test_every_pattern_of_the_format_is_a_fixed_point(fmt, dtype, saturate):
    x = all_finite_patterns(dtype)
    for mode in DETERMINISTIC + ("stochastic",):
        assert_same_bits(round_to_format(x, fmt, rounding=mode, saturate=saturate), x)


def test_float64_input_rounds_once_like_torch():
    g = torch.Generator().manual_seed(2)
    binades = torch.exp2(torch.randint(-150, 120, (200_000,), generator=g).double())
    x = torch.randn(200_000, generator=g, dtype=torch.float64) * binades
    x = torch.cat([x, critical_inputs(fp16).double() * (1 + 2.0**-40)])
    assert_same_bits(round_to_format(x, "fp32", saturate=False), x.float())
    # Rounding straight from float64 is not the same as through float32 (double rounding):
    tie = torch.tensor([1.0 + 2.0**-11 + 2.0**-40], dtype=torch.float64)  # just above an fp16 tie
    assert round_to_format(tie, fp16).item() == 1.0 + 2.0**-10
    assert round_to_format(tie.float(), fp16).item() == 1.0  # float32 already lost the 2**-40


# ---- the exact grid oracle ----------------------------------------------------------------------
ORACLE_FORMATS = [
    fp4_e2m1, fp6_e3m2, fp6_e2m3, fp8_e4m3, fp8_e5m2, fp16, ue4m3, ue5m3,
    FloatFormat(3, 4, "ieee"), FloatFormat(1, 2, "none"), FloatFormat(4, 2, "fn"), FloatFormat(3, 0, "none"),
    FloatFormat(8, 3, "ieee"),  # float32's exponent range: the bit-pattern path
]


@pytest.mark.parametrize("fmt", ORACLE_FORMATS, ids=lambda f: f.name)
def test_exhaustive_against_grid_oracle(fmt):
    x = torch.cat([dense_inputs(), critical_inputs(fmt), torch.tensor([np.inf, -np.inf, np.nan])])
    if not fmt.signed:
        x = x[~(x < 0) & ~torch.signbit(x)]
    x64 = x.double().numpy()
    for mode in DETERMINISTIC:
        for saturate in (True, False):
            ref = torch.from_numpy(oracle_round(x64, fmt, mode, saturate)).float()
            assert_same_bits(round_to_format(x, fmt, rounding=mode, saturate=saturate), ref)


@pytest.mark.parametrize("fmt", [fp4_e2m1, fp8_e4m3, fp8_e5m2, fp16, bf16], ids=lambda f: f.name)
def test_smallest_subnormal_halfway_point(fmt):
    s = fmt.min_subnormal
    half = torch.tensor(s / 2, dtype=torch.float32)
    above, below = torch.nextafter(half, torch.tensor(1.0)), torch.nextafter(half, torch.tensor(0.0))
    x = torch.stack([half, above, below, torch.tensor(1.5 * s), -half])
    assert round_to_format(x, fmt).tolist() == [0.0, s, 0.0, 2 * s, -0.0]  # tie to the even code 0
    assert torch.signbit(round_to_format(x, fmt)[-1])
    assert round_to_format(x, fmt, rounding="nearest_away").tolist() == [s, s, 0.0, 2 * s, -s]
    assert round_to_format(x, fmt, rounding="toward_zero").tolist() == [0.0, 0.0, 0.0, s, -0.0]


def test_top_binade_and_overflow_thresholds():
    # fp16: max 65504, next step 32, so 65520 is the tie with the (missing) 65536: IEEE overflows.
    x = torch.tensor([65504.0, 65519.99, 65520.0, 1e9, np.inf])
    assert round_to_format(x, fp16, saturate=False).tolist() == [65504.0, 65504.0, np.inf, np.inf, np.inf]
    assert round_to_format(x, fp16, saturate=True).tolist() == [65504.0, 65504.0, 65504.0, 65504.0, np.inf]
    assert round_to_format(x, fp16, rounding="toward_zero", saturate=False).tolist() == [65504.0] * 4 + [np.inf]
    # E4M3FN: max 448; 464 ties to the even 448; above 464 the NaN code would be next.
    y = round_to_format(torch.tensor([464.0, 464.01, np.inf]), fp8_e4m3, saturate=False)
    assert y[0] == 448.0 and torch.isnan(y[1:]).all()
    # FP4: everything past 6 saturates (no Inf, no NaN); non-saturating gives NaN.
    z = torch.tensor([5.0, 5.01, 7.0, 1e30, -np.inf])
    assert round_to_format(z, fp4_e2m1).tolist() == [4.0, 6.0, 6.0, 6.0, -6.0]
    assert torch.isnan(round_to_format(z, fp4_e2m1, saturate=False)[2:]).all()


def test_signalling_nan_stays_nan():
    x = torch.tensor([0x7F800001, 0xFF800001 - 2**32, 0x7FC00000], dtype=torch.int32).view(torch.float32)
    for fmt in (bf16, fp16, fp4_e2m1, FloatFormat(8, 3, "ieee")):
        assert torch.isnan(round_to_format(x, fmt)).all()


def test_nan_inf_zero_sign_shape_and_dtype():
    x = torch.tensor([[np.nan, -0.0], [np.inf, -np.inf]], dtype=torch.float16)
    for fmt in (fp4_e2m1, fp8_e4m3, fp8_e5m2, bf16):
        for mode in DETERMINISTIC + ("stochastic",):
            y = round_to_format(x, fmt, rounding=mode)
            assert y.shape == x.shape and y.dtype == torch.float32
            assert torch.isnan(y[0, 0]) and y[0, 1].item() == 0.0 and torch.signbit(y[0, 1])
            top = np.inf if fmt.has_inf else fmt.max
            assert y[1].tolist() == [top, -top]


# ---- stochastic rounding ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fmt,values",
    [
        (fp4_e2m1, [0.1, 0.3, 1.2, 2.6, 5.0, -3.3, 0.26]),
        (fp8_e5m2, [2.0**-17 * 1.3, 2.0**-15 * 1.7, 1000.3, -0.1]),
        (bf16, [1.0 + 2.0**-9, 3.14159, -1e-40, 2.0**-130 * 1.1]),
    ],
    ids=["fp4", "e5m2", "bf16"],
)
def test_stochastic_rounding_is_unbiased(fmt, values):
    x = torch.tensor(values, dtype=torch.float32)
    n = 40_000
    draws = round_to_format(x.expand(n, -1), fmt, rounding="stochastic", generator=torch.Generator().manual_seed(7))
    g = fmt.grid(nonnegative=True).numpy()
    i = np.searchsorted(g, x.abs().double().numpy(), side="right") - 1
    lo = torch.from_numpy(g[i]).float().copysign(x)
    hi = torch.from_numpy(g[i + 1]).float().copysign(x)  # the neighbour farther from zero
    assert ((draws == lo) | (draws == hi)).all()  # only the two neighbours ever appear
    assert (draws == lo).any(0).all() and (draws == hi).any(0).all()
    p = ((x - lo) / (hi - lo)).double()
    sigma = (hi - lo).abs().double() * torch.sqrt(p * (1 - p) / n)
    err = (draws.double().mean(0) - x.double()).abs()
    assert (err <= 5 * sigma + 1e-12 * x.abs().double()).all(), (err, sigma)


def test_stochastic_rounding_reproducible_by_seed():
    x = torch.randn(1000)
    a = round_to_format(x, fp4_e2m1, rounding="stochastic", generator=torch.Generator().manual_seed(3))
    b = round_to_format(x, fp4_e2m1, rounding="stochastic", generator=torch.Generator().manual_seed(3))
    c = round_to_format(x, fp4_e2m1, rounding="stochastic", generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(11)
    d = round_to_format(x, fp4_e2m1, rounding="stochastic")
    torch.manual_seed(11)
    assert torch.equal(d, round_to_format(x, fp4_e2m1, rounding="stochastic"))
    g = torch.Generator().manual_seed(5)
    first, second = (round_to_format(x, fp4_e2m1, rounding="stochastic", generator=g) for _ in range(2))
    assert not torch.equal(first, second)  # the generator advances between calls


# ---- properties ---------------------------------------------------------------------------------
@st.composite
def valid_format(draw):
    specials = draw(st.sampled_from(["none", "fn", "ieee"]))
    e = draw(st.integers(2 if specials == "ieee" else 1, 7))
    m = draw(st.integers(1 if specials == "fn" or e == 1 else 0, 12))
    return FloatFormat(e, m, specials)


@settings(max_examples=60, deadline=None)
@given(fmt=valid_format(), data=st.data())
def test_rounding_a_grid_value_returns_it(fmt, data):
    g = fmt.grid()
    idx = data.draw(st.lists(st.integers(0, len(g) - 1), min_size=1, max_size=20))
    x = g[idx].float()
    for mode in DETERMINISTIC + ("stochastic",):
        assert torch.equal(round_to_format(x, fmt, rounding=mode), x)


@settings(max_examples=60, deadline=None)
@given(fmt=valid_format(), xs=st.lists(st.floats(width=32, allow_nan=False), min_size=2, max_size=40))
def test_rounding_is_monotone(fmt, xs):
    x = torch.tensor(sorted(xs), dtype=torch.float32)
    for mode in DETERMINISTIC:
        y = round_to_format(x, fmt, rounding=mode)
        assert (y[1:] >= y[:-1]).all()
        assert torch.equal(round_to_format(y, fmt, rounding=mode), y)  # and lands on the grid


# ---- bad input ------------------------------------------------------------------------------------
def test_bad_arguments_name_the_argument():
    x = torch.randn(4)
    with pytest.raises(ValueError, match="fmt"):
        round_to_format(x, "fp7_e3m3")
    with pytest.raises(ValueError, match="x"):
        round_to_format(torch.arange(4), "fp16")
    with pytest.raises(ValueError, match="rounding"):
        round_to_format(x, "fp16", rounding="up")
    with pytest.raises(ValueError, match="saturate"):
        round_to_format(x, "fp16", saturate="yes")
    with pytest.raises(ValueError, match="generator"):
        round_to_format(x, "fp16", rounding="stochastic", generator=3)
    with pytest.raises(ValueError, match="x must be non-negative"):
        round_to_format(torch.tensor([-1.0]), "ue5m3")
