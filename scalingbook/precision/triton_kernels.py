"""Triton kernels for block quantization and the blockwise Hadamard transform.

Each kernel has a PyTorch twin that defines its result bit for bit:
``microscaling.quantize_2d_torch`` for :func:`quantize_2d_triton` and
``hadamard.hadamard_transform`` for :func:`hadamard_transform_triton`. The tests run both on the
CPU under ``TRITON_INTERPRET=1`` (set before this module is imported: ``triton.jit`` reads it at
decoration time) and compare bits.

Tiling
------
Block quantizer: the input is viewed as a row-major (R, K) float32 matrix whose rows are cut
into scale blocks of BS elements. One program owns a tile of RP rows x NBP blocks, loads it with
the ragged right edge masked to zero (the spec's zero padding), reshapes it to (RP*NBP, BS) so
that each scale block is one row of registers, reduces |x| to amax per row, computes the scale,
and scales, rounds (stochastic rounding draws its uniform from a hash of the element's flat
index, so no random tensor is read from memory), saturates and dequantizes in registers. Memory
traffic is one read and one write per element plus one float32 per block for the scales.

Hadamard: the last axis is viewed as rows of BS (a power of two). One program owns RP rows and
applies the log2(BS) butterfly stages in registers: stage s reshapes a row to
(BS / 2^(s+1), 2, 2^s), splits the middle axis into halves a and b and writes (a + b, a - b) back
in place, which is Sylvester's ordering. Again one read and one write per element.
"""

from __future__ import annotations

import os

import torch

try:  # Triton is an optional extra ("kernels"); everything here degrades to a clear error.
    import triton
    import triton.language as tl

    HAS_TRITON = True
except ImportError:  # pragma: no cover - exercised only where triton is absent
    triton = None
    tl = None
    HAS_TRITON = False

from ._common import Seeds
from .microscaling import ElementSpec, ScaleSpec, _f32, _f32_fields

_ROUNDING_CODE = {"nearest_even": 0, "nearest_away": 1, "toward_zero": 2, "stochastic": 3}
MAX_HADAMARD_BLOCK = 1 << 14


def interpreting() -> bool:
    """Whether Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def kernels_usable(x: torch.Tensor) -> bool:
    """Whether the kernels can run on ``x``: Triton installed, and ``x`` on CUDA or interpreted."""
    return HAS_TRITON and (x.is_cuda or (interpreting() and x.device.type == "cpu"))


def require_triton(x: torch.Tensor) -> None:
    if not HAS_TRITON:
        raise RuntimeError("backend='triton' needs the triton package (pip install 'scalingbook[kernels]')")
    if not kernels_usable(x):
        raise RuntimeError(
            "backend='triton' needs a CUDA tensor, or a CPU tensor with TRITON_INTERPRET=1 set "
            "before scalingbook.precision.triton_kernels is first imported"
        )


def block_size_supported(block_size: int) -> bool:
    """Triton tiles need power-of-two extents."""
    return block_size >= 1 and block_size & (block_size - 1) == 0 and block_size <= 4096


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


if HAS_TRITON:

    @triton.jit
    def _mix32(h):
        # Same multiply-xorshift mixer as _common._mix32; uint32 arithmetic wraps mod 2**32.
        h = h ^ (h >> 16)
        h = h * 0x21F0AAAD
        h = h ^ (h >> 15)
        h = h * 0x735A2D97
        h = h ^ (h >> 15)
        return h

    @triton.jit
    def _uniform24(index, seed, key):
        h = index.to(tl.uint32) * 0x61C88647 + seed.to(tl.uint32)
        h = _mix32(h)
        h = _mix32(h ^ key.to(tl.uint32))
        return (h >> 8).to(tl.float32) * 5.9604644775390625e-08  # k * 2**-24

    @triton.jit
    def _pow2(k):
        # Exact 2**k for int32 k in [-127, 127]; 2**-127 is the single subnormal case.
        bits = tl.where(k >= -126, (k + 127) << 23, 0x00400000)
        return bits.to(tl.float32, bitcast=True)

    @triton.jit
    def _round_magnitude(a, u, M: tl.constexpr, EMIN: tl.constexpr, EMAX: tl.constexpr, ROUNDING: tl.constexpr):
        # a >= 0. Scale to the integer grid of a's binade (exact), split floor and fraction
        # (exact), step up by the rounding rule, scale back (exact).
        bits = a.to(tl.int32, bitcast=True)
        e = ((bits >> 23) & 0xFF) - 127
        e = tl.minimum(tl.maximum(e, EMIN), EMAX)
        up = ((M - e + 127) << 23).to(tl.float32, bitcast=True)
        down = ((e - M + 127) << 23).to(tl.float32, bitcast=True)
        y = a * up
        fl = tl.floor(y)
        f = y - fl
        if ROUNDING == 0:
            odd = (fl - 2.0 * tl.floor(fl * 0.5)) == 1.0
            step = (f > 0.5) | ((f == 0.5) & odd)
        elif ROUNDING == 1:
            step = f >= 0.5
        elif ROUNDING == 2:
            step = f < 0.0  # never
        else:
            step = u < f
        return (fl + step.to(tl.float32)) * down

    # Seeds are never specialized: a seed that happens to equal 1 must stay a runtime value.
    @triton.jit(do_not_specialize=["seed", "key"])
    def _block_quant_kernel(
        x_ptr, out_ptr, scale_ptr, R, K, NB, seed, key, elem_denom, tscale,
        BS: tl.constexpr, NBP: tl.constexpr, RP: tl.constexpr,
        M: tl.constexpr, EMIN: tl.constexpr, EMAX: tl.constexpr, MAXV: tl.constexpr,
        EMAX_ELEM: tl.constexpr, MAX_E: tl.constexpr, MAX_MANT: tl.constexpr,
        SCALE_KIND: tl.constexpr, INT_ELEM: tl.constexpr,
        SM: tl.constexpr, SEMIN: tl.constexpr, SEMAX: tl.constexpr, SMAX: tl.constexpr,
        ROUNDING: tl.constexpr,
    ):
        pid_r = tl.program_id(0)
        pid_c = tl.program_id(1)
        rows = pid_r * RP + tl.arange(0, RP)
        cols = pid_c * (NBP * BS) + tl.arange(0, NBP * BS)
        rmask = rows < R
        mask = rmask[:, None] & (cols[None, :] < K)
        offs = rows.to(tl.int64)[:, None] * K + cols[None, :]
        x = tl.load(x_ptr + offs, mask=mask, other=0.0)
        xb = tl.reshape(x, (RP * NBP, BS))
        a = tl.abs(xb)
        nonfinite = (xb != xb) | (a == float("inf"))
        bad = tl.max(nonfinite.to(tl.int32), axis=1) > 0
        amax = tl.max(tl.where(nonfinite, 0.0, a), axis=1)
        if SCALE_KIND == 2:
            # fp8 block scale: RNE(amax / (max_elem * t)), saturating.
            target = tl.math.div_rn(amax, elem_denom)
            scale = tl.minimum(_round_magnitude(target, target, SM, SEMIN, SEMAX, 0), SMAX)
            denom = scale * tscale
            alive = denom > 0.0
            v = tl.math.div_rn(xb, tl.where(alive, denom, 1.0)[:, None])
            v = tl.where(alive[:, None], v, 0.0)
        else:
            # E8M0: exponent of amax from its bits; subnormals normalized by 2**64 first.
            tiny = amax < 1.1754943508222875e-38
            an = tl.where(tiny, amax * 18446744073709551616.0, amax)
            bits = an.to(tl.int32, bitcast=True)
            e = ((bits >> 23) & 0xFF) - 127 - tl.where(tiny, 64, 0)
            if SCALE_KIND == 0:
                k = e - EMAX_ELEM
            else:
                k = e - MAX_E + ((bits & 0x7FFFFF) > MAX_MANT).to(tl.int32)
            k = tl.minimum(tl.maximum(k, -127), 127)
            scale = _pow2(k)
            v = xb * _pow2(-k)[:, None]
        if ROUNDING == 3:
            u = _uniform24(tl.reshape(offs, (RP * NBP, BS)), seed, key)
        else:
            u = v
        mag = tl.minimum(_round_magnitude(tl.abs(v), u, M, EMIN, EMAX, ROUNDING), MAXV)
        negative = xb.to(tl.int32, bitcast=True) < 0  # the sign bit, so -0.0 stays -0.0
        q = tl.where(negative, -mag, mag)
        if INT_ELEM:
            q = q + 0.0  # two's complement int8 has no -0.0
        if SCALE_KIND == 2:
            deq = (q * scale[:, None]) * tscale
        else:
            deq = q * scale[:, None]
        deq = tl.where(bad[:, None], float("nan"), deq)
        tl.store(out_ptr + offs, tl.reshape(deq, (RP, NBP * BS)), mask=mask)
        blocks = pid_c * NBP + tl.arange(0, NBP)
        smask = rmask[:, None] & (blocks[None, :] < NB)
        svals = tl.where(bad, float("nan"), scale)
        soffs = rows.to(tl.int64)[:, None] * NB + blocks[None, :]
        tl.store(scale_ptr + soffs, tl.reshape(svals, (RP, NBP)), mask=smask)

    @triton.jit
    def _hadamard_kernel(x_ptr, y_ptr, R, scale, BS: tl.constexpr, LOG: tl.constexpr, RP: tl.constexpr):
        rows = tl.program_id(0) * RP + tl.arange(0, RP)
        cols = tl.arange(0, BS)
        mask = (rows < R)[:, None]
        offs = rows.to(tl.int64)[:, None] * BS + cols[None, :]
        x = tl.load(x_ptr + offs, mask=mask, other=0.0)
        for s in tl.static_range(LOG):
            h: tl.constexpr = 1 << s
            x = tl.reshape(x, (RP, BS // (2 * h), 2, h))
            x = tl.permute(x, (0, 1, 3, 2))
            lo, hi = tl.split(x)
            x = tl.join(lo + hi, lo - hi)
            x = tl.permute(x, (0, 1, 3, 2))
            x = tl.reshape(x, (RP, BS))
        tl.store(y_ptr + offs, x * scale, mask=mask)


def quantize_2d_triton(
    x2: torch.Tensor,
    elem: ElementSpec,
    block_size: int,
    scale: ScaleSpec,
    tensor_scale: float,
    rounding: str,
    seeds: Seeds | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Kernel twin of ``quantize_2d_torch``: contiguous float32 (R, K) in, the dequantized
    (R, K) float32 tensor and the (R, ceil(K / block_size)) float32 block scales out."""
    require_triton(x2)
    if not block_size_supported(block_size):
        raise ValueError(f"block_size must be a power of two up to 4096 for the Triton kernel, got {block_size}")
    x2 = x2.contiguous().to(torch.float32)
    R, K = x2.shape
    nb = -(-K // block_size)
    out = torch.empty_like(x2)
    scales = torch.empty(R, nb, dtype=torch.float32, device=x2.device)
    nbp = min(_next_pow2(nb), max(1, 256 // block_size))
    rp = min(_next_pow2(R), max(1, 4096 // (nbp * block_size)))
    max_e, max_mant = _f32_fields(elem.max)
    p = elem.params
    if scale.kind == "e8m0":
        kind = 0 if scale.mode == "floor" else 1
        sm, semin, semax, smax = 0, 0, 0, 0.0
        elem_denom = 1.0
    else:
        kind = 2
        sf = scale.fmt
        sm, semin, semax, smax = sf.man_bits, sf.emin, sf.emax, sf.max
        elem_denom = _f32(elem.max * tensor_scale)
    seed, key = (seeds.seed, seeds.key) if seeds is not None else (0, 0)
    grid = (triton.cdiv(R, rp), triton.cdiv(nb, nbp))
    _block_quant_kernel[grid](
        x2, out, scales, R, K, nb, seed, key, elem_denom, tensor_scale,
        BS=block_size, NBP=nbp, RP=rp,
        M=p.man_bits, EMIN=p.emin, EMAX=p.emax, MAXV=p.max,
        EMAX_ELEM=elem.emax, MAX_E=max_e, MAX_MANT=max_mant,
        SCALE_KIND=kind, INT_ELEM=elem.fmt is None, SM=sm, SEMIN=semin, SEMAX=semax, SMAX=smax,
        ROUNDING=_ROUNDING_CODE[rounding],
    )
    return out, scales


def hadamard_rows_triton(x2: torch.Tensor, scale: float) -> torch.Tensor:
    """Sylvester Hadamard transform of each row of a contiguous float32 (R, BS) tensor, BS a
    power of two, times ``scale``."""
    require_triton(x2)
    R, bs = x2.shape
    if bs & (bs - 1) or bs > MAX_HADAMARD_BLOCK:
        raise ValueError(f"block_size must be a power of two up to {MAX_HADAMARD_BLOCK}, got {bs}")
    x2 = x2.contiguous()
    out = torch.empty_like(x2)
    rp = min(_next_pow2(R), max(1, 4096 // bs))
    _hadamard_kernel[(triton.cdiv(R, rp),)](x2, out, R, _f32(scale), BS=bs, LOG=bs.bit_length() - 1, RP=rp)
    return out


def hadamard_transform_triton(x: torch.Tensor, scale: float = 1.0, *, block_size: int | None = None) -> torch.Tensor:
    """:func:`~scalingbook.precision.hadamard.hadamard_transform` on the Triton kernel (float32)."""
    from .hadamard import _blocked_call

    return _blocked_call(x, scale, block_size, hadamard_rows_triton)
