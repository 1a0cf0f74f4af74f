"""FloatFormat: constants, grids, codes, torch's own encodings, and argument checks."""

import math

import pytest
import torch

from scalingbook.precision import (
    NAMED_FORMATS,
    FloatFormat,
    bf16,
    e8m0_decode,
    fp4_e2m1,
    fp6_e2m3,
    fp6_e3m2,
    fp8_e4m3,
    fp8_e5m2,
    fp16,
    get_format,
    ue4m3,
    ue5m3,
)

# name: (max, min_normal, min_subnormal, emax) from the OCP MX / OCP FP8 / IEEE 754 tables.
KNOWN = {
    "fp4_e2m1": (6.0, 1.0, 0.5, 2),
    "fp6_e3m2": (28.0, 0.25, 0.0625, 4),
    "fp6_e2m3": (7.5, 1.0, 0.125, 2),
    "fp8_e4m3": (448.0, 2.0**-6, 2.0**-9, 8),
    "fp8_e5m2": (57344.0, 2.0**-14, 2.0**-16, 15),
    "fp16": (65504.0, 2.0**-14, 2.0**-24, 15),
    "bf16": (2.0**127 * (2 - 2.0**-7), 2.0**-126, 2.0**-133, 127),
    "ue5m3": (2.0**16 * 1.75, 2.0**-14, 2.0**-17, 16),
}


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_named_format_constants(name):
    f = get_format(name)
    mx, mn, ms, emax = KNOWN[name]
    assert (f.max, f.min_normal, f.min_subnormal, f.emax) == (mx, mn, ms, emax)
    grid = f.grid()
    assert grid.max().item() == mx
    assert grid[grid > 0].min().item() == ms


def test_specials_formulas_from_the_issue():
    # "none": emax = 2^(e-1), max = 2^emax (2 - 2^-m)
    for e, m in [(2, 1), (3, 2), (2, 3), (4, 2), (1, 2)]:
        f = FloatFormat(e, m, "none")
        assert f.emax == 2 ** (e - 1)
        assert f.max == 2.0**f.emax * (2 - 2.0**-m)
    assert FloatFormat(4, 3, "fn").max == 448.0
    assert FloatFormat(5, 10, "ieee").max == 65504.0


def test_grid_sizes_count_every_finite_code_once():
    assert len(fp4_e2m1.grid()) == 15  # 16 codes, +0 and -0 merge
    assert len(fp8_e4m3.grid()) == 253  # 256 codes - 2 NaNs, zeros merged
    assert len(fp8_e5m2.grid()) == 247  # 256 - 2 Inf - 6 NaN, zeros merged
    assert len(ue5m3.grid()) == 255  # unsigned: 256 codes - 1 NaN
    assert torch.equal(fp4_e2m1.grid(nonnegative=True), torch.tensor([0, 0.5, 1, 1.5, 2, 3, 4, 6], dtype=torch.float64))


@pytest.mark.parametrize(
    "fmt,dtype,bits",
    [
        (fp8_e4m3, torch.float8_e4m3fn, 8),
        (fp8_e5m2, torch.float8_e5m2, 8),
        (fp16, torch.float16, 16),
        (bf16, torch.bfloat16, 16),
    ],
)
def test_decode_matches_torch_for_every_code(fmt, dtype, bits):
    codes = torch.arange(2**bits)
    storage = codes.to(torch.uint8) if bits == 8 else codes.to(torch.int32).to(torch.int16)
    ref = storage.view(dtype).float()
    ours = fmt.decode(codes)
    assert torch.equal(torch.isnan(ours), torch.isnan(ref))
    fin = ~torch.isnan(ref)
    assert torch.equal(ours[fin].view(torch.int32), ref[fin].view(torch.int32))  # bitwise: -0.0 too
    assert fmt.torch_dtype is dtype


@pytest.mark.parametrize("fmt", [fp4_e2m1, fp6_e3m2, fp6_e2m3, fp8_e4m3, fp8_e5m2, ue4m3, ue5m3, fp16])
def test_encode_inverts_decode(fmt):
    codes = torch.arange(2**fmt.bits)
    values = fmt.decode(codes)
    back = fmt.encode(values)
    finite = torch.isfinite(values)
    assert torch.equal(back[finite], codes[finite])
    assert torch.equal(fmt.decode(back), values) or torch.equal(torch.isnan(fmt.decode(back)), torch.isnan(values))


def test_encode_rejects_values_off_the_grid():
    with pytest.raises(ValueError, match="grid"):
        fp4_e2m1.encode(torch.tensor([0.75]))
    with pytest.raises(ValueError, match="grid"):
        fp4_e2m1.encode(torch.tensor([8.0]))
    with pytest.raises(ValueError, match="non-negative"):
        ue4m3.encode(torch.tensor([-1.0]))


def test_e8m0_decode():
    v = e8m0_decode(torch.tensor([0, 1, 126, 127, 128, 254, 255]))
    assert v[:6].tolist() == [2.0**-127, 2.0**-126, 0.5, 1.0, 2.0, 2.0**127]
    assert math.isnan(v[6])


def test_equality_ignores_the_label():
    assert FloatFormat(2, 1, "none") == fp4_e2m1
    assert get_format(FloatFormat(2, 1, "none")) == fp4_e2m1
    assert FloatFormat(4, 3, "fn") != FloatFormat(4, 3, "ieee")
    assert set(NAMED_FORMATS) >= {"fp4_e2m1", "fp6_e3m2", "fp6_e2m3", "fp8_e4m3", "fp8_e5m2", "fp16", "bf16"}


@pytest.mark.parametrize(
    "args,word",
    [
        ((2, 1, "nope"), "specials"),
        ((0, 3, "none"), "exp_bits"),
        ((9, 3, "ieee"), "exp_bits"),
        ((8, 3, "none"), "exp_bits"),  # max would overflow float32
        ((1, 2, "ieee"), "exp_bits"),
        ((4, 24, "ieee"), "man_bits"),
        ((4, -1, "ieee"), "man_bits"),
        ((4, 0, "fn"), "man_bits"),
        ((2.0, 1, "none"), "exp_bits"),
    ],
)
def test_bad_format_arguments_name_the_argument(args, word):
    with pytest.raises(ValueError, match=word):
        FloatFormat(*args)


def test_unknown_format_name():
    with pytest.raises(ValueError, match="fmt"):
        get_format("fp5_e2m2")
