"""Rounding real numbers onto a :class:`~scalingbook.precision.formats.FloatFormat` grid.

Two exact algorithms, chosen by rounding mode:

- **nearest_even** adds and subtracts a per-element "magic" constant ``1.5 * 2**(e + P - m)``
  (``P`` = 23 in float32, 52 in float64; ``e`` the element's exponent clamped to the format's
  ``[emin, emax]``). The sum lands in a binade whose unit in the last place is exactly the
  format's quantum at ``e``, so the hardware's own round-half-even does the work, subnormals and
  the top binade included. It costs a handful of in-place passes, which matters for the MX
  benchmark. Formats with float32's own exponent range (bf16) cannot use a float32 constant; for
  them the rounding is done on the float32 bit pattern instead (:func:`rne_float32_range_`).
- the other modes scale the magnitude to an integer grid, ``y = |x| * 2**(m - e)`` (exact: a
  power of two), split ``y`` into ``floor(y)`` and the fraction ``f`` (exact too), and decide
  whether to step up: ``f >= 1/2`` (nearest_away), never (toward_zero), or ``u < f`` with ``u``
  uniform on [0, 1) in steps of 2**-24 (stochastic). This path runs in float64.

Overflow, infinities, NaN and the sign are settled afterwards, the same way for every mode.
"""

from __future__ import annotations

import torch

from ._common import (
    RoundParams,
    as_float_tensor,
    check_rounding,
    draw_seeds,
    pow2_f64,
    uniform_like_index,
)
from .formats import FloatFormat, get_format


def params_of(fmt: FloatFormat) -> RoundParams:
    """The rounding constants of a format."""
    return RoundParams(fmt.man_bits, fmt.emin, fmt.emax, fmt.max)


def magic_fits_float32(p: RoundParams) -> bool:
    """Whether the float32 magic constant stays finite and wide enough for this grid.

    Needs ``2**(emax + 25 - m)`` below float32's overflow and 21 spare bits above the quantum, so
    that a signed value never pushes the sum out of the constant's binade.
    """
    return p.emax + 25 - p.man_bits <= 127 and p.man_bits <= 20


def rne_inplace_(v: torch.Tensor, p: RoundParams, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """Round ``v`` (float32 or float64, any shape, signed) to nearest-even on the grid, in place.

    No clamping to ``p.max``: values past it come back as the next grid point up (or larger),
    which is how the caller detects overflow. ``scratch`` is an optional integer tensor of ``v``'s
    shape and width (int32 for float32) to reuse instead of allocating.
    """
    if v.dtype == torch.float32:
        itype, mant, bias = torch.int32, 23, 127
        expmask = 0x7F800000
    elif v.dtype == torch.float64:
        itype, mant, bias = torch.int64, 52, 1023
        expmask = 0x7FF0000000000000
    else:
        raise TypeError(f"rne_inplace_ needs float32 or float64, got {v.dtype}")
    t = torch.bitwise_and(v.view(itype), expmask, out=scratch)
    t.clamp_(min=(p.emin + bias) << mant, max=(p.emax + bias) << mant)
    # Exponent + (P - m) gives 2**(e + P - m); setting the top mantissa bit makes it 1.5x, which
    # keeps v + C inside one binade whether v is positive or negative.
    t.add_(((mant - p.man_bits) << mant) + (1 << (mant - 1)))
    c = t.view(v.dtype)
    v.add_(c).sub_(c)
    return v


def rne_float32_range_(v: torch.Tensor, man_bits: int) -> torch.Tensor:
    """Nearest-even to ``man_bits`` mantissa bits for formats with float32's exponent range
    (8 exponent bits, IEEE specials: bf16 and kin), in place on float32 ``v``.

    Works on the bit pattern: add half a step minus one, plus the kept part's last bit (ties go
    to even), then clear the dropped bits. Carries run into the exponent, so the top binade
    overflows to Inf and subnormals round on the same grid, exactly as IEEE 754 prescribes.
    """
    shift = 23 - man_bits
    if shift == 0:
        return v
    bits = v.view(torch.int32)
    lsb = torch.bitwise_and(bits >> shift, 1)
    bits.add_(lsb).add_((1 << (shift - 1)) - 1)
    bits.bitwise_and_(-(1 << shift))
    return v


def round_generic(v: torch.Tensor, p: RoundParams, rounding: str, u: torch.Tensor | None = None) -> torch.Tensor:
    """Round float64 ``v`` to the grid with any mode; returns float64 (not clamped to ``p.max``).

    ``u`` (float64, ``v``'s shape, values k * 2**-24) is required for ``"stochastic"``.
    """
    a = v.abs()
    e = ((a.view(torch.int64) >> 52) & 0x7FF) - 1023
    e = e.clamp_(p.emin, p.emax)
    y = a * pow2_f64(p.man_bits - e)
    fl = torch.floor(y)
    f = y - fl
    if rounding == "nearest_even":
        step = (f > 0.5) | ((f == 0.5) & (torch.remainder(fl, 2.0) == 1.0))
    elif rounding == "nearest_away":
        step = f >= 0.5
    elif rounding == "toward_zero":
        step = torch.zeros_like(f, dtype=torch.bool)
    elif rounding == "stochastic":
        if u is None:
            raise ValueError("stochastic rounding needs uniforms u")
        step = u < f  # P(step) = f exactly when f is a multiple of 2**-24
    else:
        raise ValueError(f"unknown rounding {rounding!r}")
    r = (fl + step.double()) * pow2_f64(e - p.man_bits)
    return torch.copysign(r, v)


def _finish(r: torch.Tensor, x: torch.Tensor, fmt: FloatFormat, rounding: str, saturate: bool) -> torch.Tensor:
    """Apply overflow, infinity and sign rules to rounded values ``r`` of inputs ``x``."""
    over = r.abs() > fmt.max  # False for NaN
    if bool(over.any()):
        if saturate or rounding == "toward_zero":
            # IEEE 754: rounding toward zero never overflows to Inf; it stops at the largest value.
            fill = fmt.max
        else:
            fill = torch.inf if fmt.has_inf else torch.nan
        r = torch.where(over, torch.copysign(torch.full_like(r, fill), r), r)
    inf_in = torch.isinf(x)
    if bool(inf_in.any()):
        if fmt.has_inf:
            fill = torch.inf
        else:
            fill = fmt.max if saturate else torch.nan
        r = torch.where(inf_in, torch.full_like(r, fill), r)
    nan_in = torch.isnan(x)
    if bool(nan_in.any()):  # the bit-pattern path can turn a signalling NaN's payload into Inf
        r = r.masked_fill(nan_in, torch.nan)
    # Restores the sign of results that rounded to zero (and of the fills above).
    return torch.copysign(r, x.to(r.dtype))


def round_to_format(
    x: torch.Tensor,
    fmt: str | FloatFormat,
    *,
    rounding: str = "nearest_even",
    saturate: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Round every element of ``x`` onto the grid of ``fmt``; returns float32 of ``x``'s shape.

    Parameters
    ----------
    x:
        Floating-point tensor, any shape (float16, bfloat16, float32 or float64; float64 is
        rounded directly, not through float32).
    fmt:
        A :class:`FloatFormat` or a name such as ``"fp4_e2m1"``, ``"fp8_e4m3"``, ``"bf16"``.
    rounding:
        ``"nearest_even"`` (IEEE default), ``"nearest_away"`` (ties away from zero),
        ``"toward_zero"`` (truncate) or ``"stochastic"`` (up with probability equal to the
        distance from the lower neighbour, in units of the local step; unbiased). The uniform
        draw has 24 bits, so the probability is exact whenever that distance is a multiple of
        2**-24 steps, which holds for every float32 input down to a few binades below the
        format's smallest subnormal; beyond, the bias is under 2**-24 of a step.
    saturate:
        ``True``: finite values beyond the largest finite value become ±max, and ±Inf inputs
        become ±max in formats without Inf. ``False``: overflow gives ±Inf in formats with Inf
        and NaN in formats without (as torch's non-saturating fp16/bf16/E5M2 casts do).
        ``toward_zero`` never overflows, as in IEEE 754.
    generator:
        Seeds stochastic rounding (torch's default generator when ``None``); unused otherwise.

    Ties to even mean to the even code; in formats without mantissa bits (every value a power
    of two) that rule has nothing to test, and ties go to the even multiple of the local step,
    i.e. up, except between 0 and the smallest value.

    NaN stays NaN; ±Inf stays ±Inf in formats that have Inf; the sign of zero is kept. The
    result matches torch's casts bit for bit where torch has the format (fp16, bf16 and E5M2
    with ``saturate=False``; float8_e4m3fn with ``saturate=True``, since torch saturates it).
    """
    fmt = get_format(fmt)
    x = as_float_tensor("x", x)
    check_rounding(rounding)
    if not isinstance(saturate, bool):
        raise ValueError(f"saturate must be True or False, got {saturate!r}")
    if not fmt.signed and bool((x < 0).any()):
        raise ValueError(f"x must be non-negative for the unsigned format {fmt.name}")
    p = params_of(fmt)
    if rounding == "nearest_even":
        if x.dtype != torch.float64 and magic_fits_float32(p):
            r = rne_inplace_(x.to(torch.float32, copy=True), p)
        elif x.dtype != torch.float64 and fmt.exp_bits == 8:  # bf16-like: float32's exponents
            r = rne_float32_range_(x.to(torch.float32, copy=True), fmt.man_bits)
        else:
            r = rne_inplace_(x.to(torch.float64, copy=True), p)
    else:
        u = None
        if rounding == "stochastic":
            seeds = draw_seeds(generator)
            index = torch.arange(x.numel(), device=x.device).view(x.shape)
            u = uniform_like_index(index, seeds)
        r = round_generic(x.to(torch.float64), p, rounding, u)
    return _finish(r, x, fmt, rounding, saturate).to(torch.float32)
