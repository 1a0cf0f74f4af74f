"""Emulated low-precision arithmetic: the grid's spacing, running sums (bit-exact against native
float16/bfloat16 arithmetic), stagnation where theory puts it, unbiased stochastic sums,
absorption in a softmax, and argument checks."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scalingbook.precision import (
    FloatFormat,
    absorption_margin,
    bf16,
    collapsed_loss,
    fp4_e2m1,
    fp8_e4m3,
    fp8_e5m2,
    fp16,
    fp32,
    low_precision_sum,
    rn_error_bound,
    rn_mean_relative_error,
    round_to_format,
    stagnation_value,
    stochastic_sum_std,
    ulp,
    unit_roundoff,
)

SMALL_FORMATS = [fp4_e2m1, fp8_e4m3, fp8_e5m2, FloatFormat(3, 2, "ieee"), FloatFormat(2, 3, "none")]


# ---- ulp and the error bound ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", SMALL_FORMATS, ids=lambda f: f.name)
def test_ulp_is_the_gap_to_the_next_grid_value(fmt):
    g = fmt.grid(nonnegative=True).numpy()
    np.testing.assert_array_equal(ulp(g[:-1], fmt), np.diff(g))
    # the largest value belongs to the top binade, whose spacing is the last gap
    assert ulp(g[-1], fmt) == g[-1] - g[-2] or fmt.specials == "fn"
    assert ulp(-g[5], fmt) == ulp(g[5], fmt)


def test_ulp_of_the_standard_formats():
    assert ulp(1.0, fp16) == 2.0**-10 and ulp(1.0, bf16) == 2.0**-7 and ulp(1.0, fp32) == 2.0**-23
    assert ulp(2048.0, fp16) == 2.0  # fp16 counts integers exactly only up to 2048
    assert ulp(0.0, fp16) == fp16.min_subnormal
    assert unit_roundoff(fp16) == 2.0**-11 and unit_roundoff("bf16") == 2.0**-8


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=-60000.0, max_value=60000.0, allow_nan=False).filter(lambda v: abs(v) > 1e-9))
def test_round_to_nearest_stays_within_the_bound(x):
    got = float(round_to_format(torch.tensor(x, dtype=torch.float64), fp16).double())
    assert abs(got - x) / abs(x) <= rn_error_bound(x, fp16) * (1 + 1e-12)


def test_bound_is_attained_at_midpoints_and_lies_between_u_over_2_and_u():
    g = fp16.grid(nonnegative=True).numpy()
    normal = g[(g >= fp16.min_normal) & (g < fp16.max)]
    mids = normal + ulp(normal, fp16) / 2
    rounded = round_to_format(torch.tensor(mids), fp16, rounding="nearest_away").double().numpy()
    np.testing.assert_allclose(np.abs(rounded - mids) / mids, rn_error_bound(mids, fp16), rtol=1e-12)
    b = rn_error_bound(normal, fp16)
    u = unit_roundoff(fp16)
    assert b.max() == u and b.min() > u / 2


@pytest.mark.parametrize("fmt", [fp16, bf16, fp8_e4m3], ids=lambda f: f.name)
def test_mean_relative_error_of_log_uniform_magnitudes(fmt):
    rng = np.random.default_rng(0)
    lo, hi = math.log2(fmt.min_normal), math.log2(fmt.min_normal) + 4  # four whole binades
    x = 2.0 ** rng.uniform(lo, hi, 400_000)
    err = np.abs(round_to_format(torch.tensor(x), fmt).double().numpy() - x) / x
    assert err.mean() == pytest.approx(rn_mean_relative_error(fmt), rel=0.01)
    assert rn_mean_relative_error(fmt) == pytest.approx(0.3607 * unit_roundoff(fmt), rel=1e-3)


def test_ulp_and_bound_reject_bad_input():
    with pytest.raises(ValueError, match="x must lie within the range"):
        ulp(70000.0, fp16)
    with pytest.raises(ValueError, match="x contains NaN"):
        ulp([1.0, np.nan], fp16)
    with pytest.raises(ValueError, match="x must be non-zero"):
        rn_error_bound([0.0, 1.0], fp16)
    with pytest.raises(ValueError, match="fmt"):
        ulp(1.0, "fp7")


# ---- running sums ----------------------------------------------------------------------------


def test_round_to_nearest_sum_is_bit_exact_against_native_float16():
    rng = np.random.default_rng(0)
    inc = rng.exponential(0.01, size=(3, 3000)) * rng.choice([-1.0, 1.0], size=(3, 3000), p=[0.2, 0.8])
    trace = low_precision_sum(inc, fp16, start=1.0)
    native = np.full(3, np.float16(1.0))
    for k in range(inc.shape[1]):
        native = native + inc[:, k].astype(np.float16)  # numpy rounds each half add to nearest-even
    np.testing.assert_array_equal(trace.total, native.astype(np.float64))


def test_round_to_nearest_sum_is_bit_exact_against_native_bfloat16():
    rng = np.random.default_rng(1)
    inc = rng.uniform(0.0, 0.05, size=2000)
    trace = low_precision_sum(inc, bf16)
    native = torch.zeros((), dtype=torch.bfloat16)
    for v in torch.tensor(inc).to(torch.bfloat16):
        native = native + v
    assert trace.total == float(native)


def test_trace_records_and_exact_sums():
    trace = low_precision_sum(np.full(10, 0.25), fp16, record_every=4)
    assert trace.steps.tolist() == [0, 4, 8, 10]
    np.testing.assert_array_equal(trace.partial, [0.0, 1.0, 2.0, 2.5])
    np.testing.assert_array_equal(trace.exact, trace.partial)  # exact here: no rounding needed
    assert trace.relative_error == 0.0 and trace.stall_step() == -1


@pytest.mark.parametrize("increment,fmt,value,step", [
    (2.0**-10, fp16, 2.0, 2048),  # a tie at 2: half an ulp, and 2's code is even
    (1e-4, fp16, 0.25, None),
    (1e-4, bf16, 2.0**-5, None),
    (0.1, fp8_e4m3, 2.0, None),
])
def test_round_to_nearest_sum_stalls_at_the_predicted_value(increment, fmt, value, step):
    assert stagnation_value(increment, fmt) == value
    n = int(4 * value / increment)
    trace = low_precision_sum(np.full(n, increment), fmt)
    assert trace.total == value
    if step is not None:
        assert trace.stall_step() == step


@settings(max_examples=25, deadline=None)
@given(
    exp_bits=st.integers(4, 8),
    man_bits=st.integers(1, 8),
    log2_inc=st.floats(-9.0, -2.0),
    away=st.booleans(),
)
def test_sum_stalls_exactly_when_the_increment_is_at_most_half_an_ulp(exp_bits, man_bits, log2_inc, away):
    fmt = FloatFormat(exp_bits, man_bits, "ieee")
    rounding = "nearest_away" if away else "nearest_even"
    inc = float(round_to_format(torch.tensor(2.0**log2_inc, dtype=torch.float64), fmt).double())
    try:
        expected = stagnation_value(inc, fmt, rounding)
    except ValueError:  # reaches the format's largest value first
        return
    n = int(2 * expected / inc) + 4
    trace = low_precision_sum(np.full(n, inc), fmt, rounding=rounding)
    s = trace.partial[:-1]
    moved = trace.partial[1:] != s
    half = ulp(s, fmt) / 2
    # the rule, step by step: the sum stays put exactly when the increment is <= half an ulp
    # (< for ties away from zero)
    stays = inc <= half if not away else inc < half
    np.testing.assert_array_equal(moved, ~stays)
    assert trace.total == expected
    assert math.log2(expected).is_integer()


def test_stochastic_sum_is_unbiased_and_its_spread_matches_theory():
    n, inc, rows = 3000, 1e-3, 400
    trace = low_precision_sum(np.full((rows, n), inc), bf16, rounding="stochastic", seed=3, record_every=n)
    exact = trace.exact_total[0]
    mean, sd = trace.total.mean(), trace.total.std(ddof=1)
    assert abs(mean - exact) < 4 * sd / math.sqrt(rows)
    assert sd == pytest.approx(stochastic_sum_std(inc, n, bf16), rel=0.15)
    # round to nearest, same increments: stuck far below
    rn = low_precision_sum(np.full(n, inc), bf16)
    assert rn.total == stagnation_value(inc, bf16) and rn.total < 0.2 * exact


def test_stochastic_sum_std_small_increment_limit():
    # for δ << ulp the relative spread at a power of two tends to sqrt(2**-m / 3)
    sd = stochastic_sum_std(2.0**-20, 2**20, bf16)
    assert sd == pytest.approx(math.sqrt(2.0**-7 / 3), rel=0.02)


def test_stochastic_sum_is_reproducible_from_its_seed():
    inc = np.full((4, 500), 3e-3)
    a = low_precision_sum(inc, bf16, rounding="stochastic", seed=7)
    b = low_precision_sum(inc, bf16, rounding="stochastic", seed=7)
    c = low_precision_sum(inc, bf16, rounding="stochastic", seed=8)
    np.testing.assert_array_equal(a.partial, b.partial)
    assert not np.array_equal(a.total, c.total)
    assert len(set(a.total.tolist())) > 1  # rows draw their own uniforms


def test_low_precision_sum_rejects_bad_input():
    with pytest.raises(ValueError, match="increments must have shape"):
        low_precision_sum(np.ones((2, 2, 2)), fp16)
    with pytest.raises(ValueError, match="increments must have shape"):
        low_precision_sum([], fp16)
    with pytest.raises(ValueError, match="increments contains NaN"):
        low_precision_sum([1.0, np.nan], fp16)
    with pytest.raises(ValueError, match="rounding"):
        low_precision_sum([1.0], fp16, rounding="up")
    with pytest.raises(ValueError, match="seed"):
        low_precision_sum([1.0], fp16, seed=-1)
    with pytest.raises(ValueError, match="record_every"):
        low_precision_sum([1.0], fp16, record_every=0)
    with pytest.raises(ValueError, match="fmt"):
        low_precision_sum([1.0], "fp99")


def test_theory_functions_reject_bad_input():
    with pytest.raises(ValueError, match="increment must be positive"):
        stagnation_value(0.0, fp16)
    with pytest.raises(ValueError, match="rounding must be one of"):
        stagnation_value(1e-3, fp16, "stochastic")
    with pytest.raises(ValueError, match="never stalls"):
        stagnation_value(2.0, fp4_e2m1)
    with pytest.raises(ValueError, match="n must be"):
        stochastic_sum_std(1e-3, 0, fp16)
    with pytest.raises(ValueError, match="exceeds the range"):
        stochastic_sum_std(1.0, 10**6, fp16)


# ---- absorption in a softmax -------------------------------------------------------------------


@pytest.mark.parametrize("fmt,n_others", [(fp32, 1), (bf16, 1), (fp16, 112)], ids=["fp32", "bf16", "fp16-113"])
def test_loss_becomes_exactly_zero_past_the_absorption_margin(fmt, n_others):
    g = absorption_margin(fmt, n_others)
    assert g == pytest.approx(math.log(n_others) + (fmt.man_bits + 1) * math.log(2))
    margins = g + np.array([-1.0, -0.3, 0.3, 1.0, 5.0])
    loss = collapsed_loss(margins, fmt, n_others)
    assert (loss[:2] > 0).all() and (loss[2:] == 0).all()
    # in float64 the same losses are all positive
    assert (np.log1p(n_others * np.exp(-margins)) > 0).all()


def test_collapsed_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="margins must be non-negative"):
        collapsed_loss([-1.0], fp32)
    with pytest.raises(ValueError, match="n_others"):
        absorption_margin(fp32, 0)


# ---- the Rounder's stochastic path -------------------------------------------------------------


def test_rounder_stochastic_rounding_steps_up_with_the_right_probability():
    from scalingbook.precision import Rounder

    fmt = FloatFormat(8, 3, "ieee")  # steps of 1/8 in [1, 2)
    fractions = np.array([0.0, 1 / 3, 0.5, 0.9, 2**-20])
    x = torch.tensor(np.repeat(1.0 + fractions / 8, 40000).reshape(len(fractions), -1))
    r = Rounder(fmt, "stochastic", seed=0)(x).numpy()
    low = 1.0
    assert set(np.unique(r)) <= {low, low + 1 / 8}  # only the two neighbours
    up = (r > low).mean(axis=1)
    sd = np.sqrt(fractions * (1 - fractions) / 40000)
    assert (np.abs(up - fractions) <= 4 * sd + 1e-12).all()
    assert up[0] == 0.0  # grid values stay put
    # same law as round_to_format's own stochastic rounding
    ref = round_to_format(x, fmt, rounding="stochastic", generator=torch.Generator().manual_seed(1)).double().numpy()
    assert np.abs((ref > low).mean(axis=1) - up).max() < 0.02


def test_rounder_saturates_and_keeps_signs():
    from scalingbook.precision import Rounder

    r = Rounder(fp8_e4m3, "stochastic", seed=0)
    out = r(torch.tensor([1000.0, -1000.0, -0.0, -0.01], dtype=torch.float64)).numpy()
    assert out[0] == 448.0 and out[1] == -448.0
    assert np.signbit(out[2]) and out[3] <= 0
    assert Rounder(None)(torch.tensor([0.1], dtype=torch.float64)).item() == 0.1
    with pytest.raises(ValueError, match="seed"):
        Rounder(fp16, seed=1.5)
