"""Block-scaled formats: OCP Microscaling (MX) and its relatives with fp8 block scales.

A tensor is cut into blocks of ``block_size`` consecutive elements along ``axis`` (the last block
padded with zeros). Each block shares one scale ``X``; each element stores ``P_i``, the value
``V_i / X`` rounded to a narrow element format, so that ``V_i ≈ P_i * X``.

Scale rules
-----------
``"e8m0"`` (MX, OCP Microscaling spec v1.0): ``X = 2**k``, a power of two stored as an 8-bit
biased exponent.

- ``scale_mode="floor"`` (the spec): ``k = floor(log2 amax) - emax_elem``, with ``floor(log2 amax)``
  read exactly from amax's exponent bits. (For ``amax`` the largest float32 below ``2**n``,
  ``|n| >= 2``, the true ``log2`` lies within half an ulp of ``n``, so float32 ``torch.log2``
  returns ``n`` exactly and the floor gives a scale twice too large.) Elements whose scaled
  magnitude exceeds the element maximum saturate.
- ``scale_mode="rceil"``: the smallest ``k`` with ``amax <= max_elem * 2**k``, i.e.
  ``ceil(log2(amax / max_elem))`` computed exactly by comparing mantissa fields; nothing saturates.

``k`` is clamped to E8M0's range [-127, 127]. An all-zero block gets ``k = -127``.

``"e4m3"`` / ``"ue5m3"`` (NVFP4 and the FP4 design-space study): ``X = s * t`` with
``s = round_to_nearest_even(amax / (max_elem * t))`` in the unsigned fp8 scale format (saturating)
and ``t`` an optional per-tensor float32 scale. The elements are ``V_i / X`` in float32 (one
correctly rounded division), then rounded. A block whose ``s`` underflows to 0 dequantizes to 0.

In every family a block holding any NaN or Inf dequantizes to NaN (its scale code is the scale
format's NaN), elements saturate at ±max_elem, and the dequantized value is ``P_i * X`` (for fp8
scales ``(P_i * s) * t``), exact for E8M0 scales.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .._validate import one_of, positive_int
from ._common import (
    RoundParams,
    Seeds,
    as_float_tensor,
    check_rounding,
    draw_seeds,
    normalize_axis,
    uniform_like_index,
)
from .formats import E8M0_BIAS, E8M0_NAN, FloatFormat, e8m0_decode, get_format, ue4m3, ue5m3
from .rounding import magic_fits_float32, params_of, rne_inplace_, round_generic, round_to_format

MX_ELEMENTS = ("fp4_e2m1", "fp6_e3m2", "fp6_e2m3", "fp8_e4m3", "fp8_e5m2", "int8")
SCALE_FORMATS = ("e8m0", "e4m3", "ue5m3")
SCALE_MODES = ("floor", "rceil")
BACKENDS = ("auto", "torch", "triton")

_SCALE_FMT = {"e4m3": ue4m3, "ue4m3": ue4m3, "ue5m3": ue5m3}


@dataclass(frozen=True)
class ElementSpec:
    """An element grid for block quantization: a signed FloatFormat, or MXINT8."""

    name: str
    params: RoundParams
    emax: int  # the spec's emax_elem: exponent of the largest power of two in the grid
    fmt: FloatFormat | None  # None for int8

    @property
    def max(self) -> float:
        return self.params.max


# MXINT8: two's complement int8 with an implicit 2**-6, i.e. k/64. The spec's code -128 (-2.0) is
# left unused so that the grid is symmetric and saturation is sign-independent.
INT8 = ElementSpec("int8", RoundParams(6, 0, 0, 127 / 64), 0, None)


def element_spec(fmt: str | FloatFormat, name: str = "fmt") -> ElementSpec:
    """Resolve an element format name (one of :data:`MX_ELEMENTS`) or a signed FloatFormat."""
    if isinstance(fmt, str) and fmt == "int8":
        return INT8
    if isinstance(fmt, str) and fmt not in MX_ELEMENTS:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, MX_ELEMENTS))} or a FloatFormat; got {fmt!r}")
    f = get_format(fmt, name)
    p = params_of(f)
    if not f.signed or not magic_fits_float32(p):
        raise ValueError(
            f"{name}={f.name} cannot be a block element format "
            "(it needs a sign, at most 7 exponent bits and at most 20 mantissa bits)"
        )
    return ElementSpec(f.name, p, f.emax, f)


@dataclass(frozen=True)
class ScaleSpec:
    kind: str  # "e8m0" or "float"
    mode: str  # "floor" | "rceil" for e8m0
    fmt: FloatFormat | None  # the unsigned fp8 scale format for kind "float"
    name: str


def scale_spec(scale_format: str, scale_mode: str = "floor") -> ScaleSpec:
    if scale_format == "ue4m3":
        scale_format = "e4m3"
    one_of("scale_format", scale_format, SCALE_FORMATS)
    one_of("scale_mode", scale_mode, SCALE_MODES)
    if scale_format == "e8m0":
        return ScaleSpec("e8m0", scale_mode, None, "e8m0")
    return ScaleSpec("float", scale_mode, _SCALE_FMT[scale_format], scale_format)


def _f32(value: float) -> float:
    """``value`` rounded to the nearest float32, as a Python float."""
    return struct.unpack("f", struct.pack("f", value))[0]


def _f32_fields(value: float) -> tuple[int, int]:
    bits = struct.unpack("I", struct.pack("f", value))[0]
    return ((bits >> 23) & 0xFF) - 127, bits & 0x7FFFFF


def e8m0_exponent(amax: torch.Tensor, elem: ElementSpec, mode: str) -> torch.Tensor:
    """Shared exponent k (int32, amax's shape) for finite, non-negative float32 block maxima."""
    tiny = amax < 2.0**-126
    # Float32 subnormals have no implicit bit; scaling by 2**64 (exact) normalizes them.
    a = torch.where(tiny, amax * 2.0**64, amax)
    bits = a.view(torch.int32)
    e = ((bits >> 23) & 0xFF) - 127 - torch.where(tiny, 64, 0).to(torch.int32)
    if mode == "floor":
        k = e - elem.emax
    else:
        max_e, max_mant = _f32_fields(elem.max)
        k = e - max_e + ((bits & 0x7FFFFF) > max_mant).to(torch.int32)
    return k.clamp_(-127, 127).to(torch.int32)


def resolve_tensor_scale(per_tensor_scale: Any, x: torch.Tensor, elem: ElementSpec, scale: ScaleSpec) -> float:
    """The per-tensor float32 scale ``t``: 1.0 when ``None``; ``"amax"`` picks
    ``amax(|x|) / (max_elem * max_scale)`` so that the largest block scale just fits."""
    if per_tensor_scale is None:
        return 1.0
    if scale.kind == "e8m0":
        raise ValueError("per_tensor_scale applies to the fp8 block scales (e4m3, ue5m3), not to e8m0")
    if isinstance(per_tensor_scale, str):
        if per_tensor_scale != "amax":
            raise ValueError(f"per_tensor_scale must be a positive number, 'amax' or None; got {per_tensor_scale!r}")
        amax = float(x.detach().abs().amax()) if x.numel() else 0.0
        if not amax > 0 or amax == float("inf") or amax != amax:
            return 1.0  # all zero, or non-finite: blocks with NaN/Inf become NaN regardless
        t = _f32(amax / (elem.max * scale.fmt.max))
        return t if t > 0 else 1.0
    if isinstance(per_tensor_scale, torch.Tensor):
        if per_tensor_scale.numel() != 1:
            raise ValueError("per_tensor_scale must be a single number")
        per_tensor_scale = float(per_tensor_scale)
    if isinstance(per_tensor_scale, bool) or not isinstance(per_tensor_scale, (int, float)):
        raise ValueError(f"per_tensor_scale must be a positive number, 'amax' or None; got {per_tensor_scale!r}")
    t = _f32(float(per_tensor_scale))
    if not (t > 0 and t != float("inf")):
        raise ValueError(f"per_tensor_scale must be positive and finite, got {per_tensor_scale!r}")
    return t


# ---- the PyTorch twin --------------------------------------------------------------------------
@dataclass
class _Blocks:
    deq: torch.Tensor  # (R, K) float32
    q: torch.Tensor | None  # (R, nb, bs) element values, float32
    scale_vals: torch.Tensor  # (R, nb) float32 (NaN for bad blocks)
    k: torch.Tensor | None  # (R, nb) int32 E8M0 exponents
    bad: torch.Tensor  # (R, nb) bool


def quantize_2d_torch(
    x2: torch.Tensor,
    elem: ElementSpec,
    block_size: int,
    scale: ScaleSpec,
    tensor_scale: float,
    rounding: str,
    seeds: Seeds | None,
    keep_elements: bool = False,
) -> _Blocks:
    """Block-quantize a contiguous float32 (R, K) tensor along its rows. The reference twin.

    Scales are computed for all blocks at once (they are small); the elements are then
    processed a band of rows at a time, written straight into the output, so the few
    temporaries each band needs stay in cache instead of costing a pass through memory.
    """
    R, K = x2.shape
    nb = -(-K // block_size)
    Kp = nb * block_size
    xp = x2 if Kp == K else F.pad(x2, (0, Kp - K))
    xb = xp.view(R, nb, block_size)
    # Every torch call below is one pass (and, on a busy machine, one wait for the thread pool),
    # so the per-block arithmetic is kept to a few calls. Two reductions instead of abs() over the
    # whole tensor, which would allocate a copy; NaN propagates through both.
    amax = torch.maximum(xb.amax(-1), xb.amin(-1).neg())
    finite = torch.isfinite(amax)
    k = None
    if scale.kind == "e8m0" and scale.mode == "floor":
        # floor(log2 amax) is the exponent field minus 127. A subnormal or zero amax has field 0
        # and NaN/Inf 255; neither needs care: the first clamps to k = -127 like any tiny block,
        # the second is overwritten with NaN at the end. (-0.0 shifts to -256: clamped too.)
        k = ((amax.view(torch.int32) >> 23) - (127 + elem.emax)).clamp_(-127, 127)
    elif scale.kind == "e8m0":
        k = e8m0_exponent(amax.abs().masked_fill_(~finite, 0.0), elem, scale.mode)
    if k is not None:
        # 2**k via float64, whose exponent range holds E8M0's 2**-127 as a normal number.
        scale_vals = ((k.to(torch.int64) + 1023) << 52).view(torch.float64).to(torch.float32)
        scale_col = scale_vals.unsqueeze(-1)  # dividing by a power of two is exact
    else:
        amax = amax.abs().masked_fill_(~finite, 0.0)  # abs(): -0.0 from negating a zero minimum
        denom_t = torch.tensor(_f32(elem.max * tensor_scale), dtype=torch.float32, device=x2.device)
        scale_vals = round_to_format(amax / denom_t, scale.fmt)
        denom = scale_vals * tensor_scale
        alive = denom > 0
        denom = torch.where(alive, denom, 1.0).unsqueeze(-1)
        dead = ~alive.unsqueeze(-1) if not bool(alive.all()) else None
    p = elem.params
    out = torch.empty(R, nb, block_size, dtype=torch.float32, device=x2.device)
    q = torch.empty_like(out) if keep_elements else None
    band = max(1, (1 << 22) // Kp)  # rows per band: 16 MB of float32, a few dozen ops in all
    scratch = torch.empty(min(band, R) * Kp, dtype=torch.int32, device=x2.device)
    for r0 in range(0, R, band):
        r1 = min(R, r0 + band)
        xs, v = xb[r0:r1], out[r0:r1]
        if scale.kind == "e8m0":
            torch.div(xs, scale_col[r0:r1], out=v)
        else:
            torch.div(xs, denom[r0:r1], out=v)
            if dead is not None:
                v.masked_fill_(dead[r0:r1], 0.0)
        if rounding == "nearest_even":
            rne_inplace_(v, p, scratch=scratch[: v.numel()].view(v.shape))
        else:
            u = None
            if rounding == "stochastic":
                cols = torch.arange(Kp, device=x2.device).view(nb, block_size)
                index = torch.arange(r0, r1, device=x2.device).view(-1, 1, 1) * K + cols
                u = uniform_like_index(index, seeds)  # padding columns get unused draws
            v.copy_(round_generic(v.double(), p, rounding, u))
        v.clamp_(-p.max, p.max)
        if elem.fmt is None:
            v.add_(0.0)  # two's complement int8 has no -0.0: -0.0 + 0.0 is +0.0
        else:
            v.copysign_(xs)  # sign-magnitude formats keep -0.0 for negative inputs rounding to zero
        if q is not None:
            q[r0:r1] = v
        v.mul_(scale_vals[r0:r1].unsqueeze(-1))  # exact for E8M0; (P * s) for fp8 scales ...
        if scale.kind != "e8m0" and tensor_scale != 1.0:
            v.mul_(tensor_scale)  # ... then * t, a second rounding, as the hardware does
    bad = ~finite
    if not bool(finite.all()):
        out.masked_fill_(bad.unsqueeze(-1), torch.nan)
        scale_vals = scale_vals.masked_fill(bad, torch.nan)
    deq = out.view(R, Kp)
    if Kp != K:
        deq = deq[:, :K]
    return _Blocks(deq, q, scale_vals, k, bad)


# ---- public API --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Prepared:
    x2: torch.Tensor
    lead: tuple
    K: int
    axis: int
    shape: tuple


def _prepare(x: torch.Tensor, axis: int) -> _Prepared:
    ax = normalize_axis(axis, x.ndim)
    xm = x.to(torch.float32).movedim(ax, -1)
    K = xm.shape[-1]
    R = 1
    for d in xm.shape[:-1]:
        R *= d
    x2 = xm.reshape(R, K).contiguous()  # explicit R: reshape(-1, 0) is ambiguous
    return _Prepared(x2, tuple(xm.shape[:-1]), K, ax, tuple(x.shape))


def _restore(y2: torch.Tensor, prep: _Prepared) -> torch.Tensor:
    return y2.reshape(*prep.lead, prep.K).movedim(-1, prep.axis)


def _check_common(x, element, block_size, scale_format, scale_mode, rounding, backend, generator):
    x = as_float_tensor("x", x)
    elem = element_spec(element, "fmt")
    block_size = positive_int("block_size", block_size)
    sc = scale_spec(scale_format, scale_mode)
    check_rounding(rounding)
    one_of("backend", backend, BACKENDS)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return x, elem, block_size, sc


def _use_triton(backend: str, x: torch.Tensor, block_size: int) -> bool:
    if backend == "torch" or (backend == "auto" and not x.is_cuda):
        return False  # without importing triton: CPU tensors always take the twin under "auto"
    from . import triton_kernels as tk

    if backend == "triton":
        tk.require_triton(x)
        return True
    return tk.kernels_usable(x) and tk.block_size_supported(block_size)


def quantize_blocks(
    x: torch.Tensor,
    fmt: str | FloatFormat,
    *,
    block_size: int = 32,
    scale_format: str = "e8m0",
    scale_mode: str = "floor",
    per_tensor_scale: Any = None,
    axis: int = -1,
    rounding: str = "nearest_even",
    generator: torch.Generator | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Block-quantize ``x`` and return the dequantized float32 tensor of ``x``'s shape.

    The general form behind :func:`quantize_mx` (``scale_format="e8m0"``) and
    :func:`~scalingbook.precision.nvfp4.quantize_nvfp4` (``"e4m3"`` with E2M1 elements); the
    module docstring gives the rules. ``fmt`` is an element format (:data:`MX_ELEMENTS`);
    ``block_size`` counts elements along ``axis``; ``per_tensor_scale`` (fp8 scales only) is
    ``None``, a positive number, or ``"amax"``. ``rounding`` applies to the elements (scales
    always round to nearest-even). ``backend="auto"`` runs the Triton kernel on CUDA tensors when
    Triton is installed and the PyTorch twin otherwise; both give the same bits.
    """
    x, elem, block_size, sc = _check_common(x, fmt, block_size, scale_format, scale_mode, rounding, backend, generator)
    ts = resolve_tensor_scale(per_tensor_scale, x, elem, sc)
    prep = _prepare(x, axis)
    if prep.x2.numel() == 0:
        return _restore(prep.x2.clone(), prep)
    seeds = draw_seeds(generator) if rounding == "stochastic" else None
    if _use_triton(backend, prep.x2, block_size):
        from .triton_kernels import quantize_2d_triton

        deq, _ = quantize_2d_triton(prep.x2, elem, block_size, sc, ts, rounding, seeds)
    else:
        deq = quantize_2d_torch(prep.x2, elem, block_size, sc, ts, rounding, seeds).deq
    return _restore(deq, prep)


def quantize_mx(
    x: torch.Tensor,
    fmt: str | FloatFormat,
    *,
    block_size: int = 32,
    axis: int = -1,
    rounding: str = "nearest_even",
    scale_mode: str = "floor",
    generator: torch.Generator | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """OCP Microscaling (v1.0) quantize-dequantize of ``x``; float32 of ``x``'s shape.

    Parameters
    ----------
    x:
        Floating-point tensor, any shape (converted to float32 first).
    fmt:
        Element format: ``"fp4_e2m1"`` (MXFP4), ``"fp6_e3m2"``, ``"fp6_e2m3"`` (MXFP6),
        ``"fp8_e4m3"``, ``"fp8_e5m2"`` (MXFP8) or ``"int8"`` (MXINT8: k/64, |k| <= 127).
    block_size:
        Elements sharing one E8M0 scale, counted along ``axis`` (the spec's k = 32).
    axis:
        The dimension cut into blocks; the last block is zero-padded if it is partial.
    rounding:
        Element rounding: ``"nearest_even"`` (the spec), ``"nearest_away"``, ``"toward_zero"``
        or ``"stochastic"`` (seeded by ``generator``).
    scale_mode:
        ``"floor"`` (the spec: ``floor(log2 amax) - emax_elem`` from the exponent bits) or
        ``"rceil"`` (``ceil(log2(amax / max_elem))``, never saturates).

    Use :func:`encode_blocks` to get the E8M0 scale codes and element codes themselves.
    """
    return quantize_blocks(
        x, fmt, block_size=block_size, scale_format="e8m0", scale_mode=scale_mode, axis=axis,
        rounding=rounding, generator=generator, backend=backend,
    )


@dataclass(frozen=True)
class BlockQuantized:
    """A block-quantized tensor as stored: element codes, scale codes and what they mean.

    Shapes use ``lead`` = ``x.movedim(axis, -1).shape[:-1]`` and ``n_blocks = ceil(x.shape[axis] /
    block_size)``:

    - ``codes``: ``(*lead, n_blocks, block_size)``; uint8 sign-magnitude codes of the element
      format (sign in the top bit of the format's width), or int8 two's complement for ``"int8"``.
      Padding and NaN blocks hold code 0.
    - ``scales``: ``(*lead, n_blocks)`` uint8 codes of the scale format (E8M0: ``k + 127``, 255 =
      NaN; e4m3/ue5m3: the unsigned fp8 code, all-ones = NaN).
    - ``per_tensor_scale``: the float32 second-level scale (1.0 when none).
    """

    codes: torch.Tensor
    scales: torch.Tensor
    element: str
    scale_format: str
    block_size: int
    axis: int
    shape: tuple
    per_tensor_scale: float = 1.0

    @property
    def element_values(self) -> torch.Tensor:
        """Element values ``P_i`` (before scaling), float32 of ``codes``' shape."""
        if self.element == "int8":
            return self.codes.to(torch.float32) * 2.0**-6
        return get_format(self.element).decode(self.codes)

    @property
    def scale_values(self) -> torch.Tensor:
        """Block scales as float32 of ``scales``' shape (NaN for NaN blocks)."""
        if self.scale_format == "e8m0":
            return e8m0_decode(self.scales)
        return _SCALE_FMT[self.scale_format].decode(self.scales)

    def dequantize(self) -> torch.Tensor:
        """Float32 tensor of the original shape; equal, bit for bit, to the quantize call."""
        deq = self.element_values * self.scale_values.unsqueeze(-1)
        if self.per_tensor_scale != 1.0:
            deq = deq * self.per_tensor_scale
        lead = deq.shape[:-2]
        K = self.shape[self.axis]
        deq = deq.reshape(*lead, -1)[..., :K]
        return deq.movedim(-1, self.axis)


def encode_blocks(
    x: torch.Tensor,
    fmt: str | FloatFormat,
    *,
    block_size: int = 32,
    scale_format: str = "e8m0",
    scale_mode: str = "floor",
    per_tensor_scale: Any = None,
    axis: int = -1,
    rounding: str = "nearest_even",
    generator: torch.Generator | None = None,
) -> BlockQuantized:
    """Like :func:`quantize_blocks` but return the codes and scales (a :class:`BlockQuantized`).

    With ``scale_format="e8m0"`` these are the MX scales and element codes of
    :func:`quantize_mx`; with ``"e4m3"`` and ``fmt="fp4_e2m1"``, those of NVFP4. Runs the
    PyTorch twin. ``encode_blocks(...).dequantize()`` equals the quantize call with the same
    arguments and generator state.
    """
    x, elem, block_size, sc = _check_common(x, fmt, block_size, scale_format, scale_mode, rounding, "torch", generator)
    ts = resolve_tensor_scale(per_tensor_scale, x, elem, sc)
    prep = _prepare(x, axis)
    seeds = draw_seeds(generator) if rounding == "stochastic" else None
    R, K = prep.x2.shape
    nb = -(-K // block_size)
    if prep.x2.numel() == 0:
        codes = torch.zeros(R, nb, block_size, dtype=torch.uint8)
        scales = torch.zeros(R, nb, dtype=torch.uint8)
    else:
        blocks = quantize_2d_torch(prep.x2, elem, block_size, sc, ts, rounding, seeds, keep_elements=True)
        q = blocks.q.masked_fill(blocks.bad.unsqueeze(-1), 0.0)
        if elem.fmt is None:
            codes = torch.round(q * 64.0).to(torch.int8)
        else:
            codes = elem.fmt.encode(q).to(torch.uint8 if elem.fmt.bits <= 8 else torch.int32)
        if sc.kind == "e8m0":
            scales = (blocks.k + E8M0_BIAS).to(torch.int64).masked_fill(blocks.bad, E8M0_NAN).to(torch.uint8)
        else:
            scales = sc.fmt.encode(blocks.scale_vals).to(torch.uint8)
    codes = codes.reshape(*prep.lead, nb, block_size)
    scales = scales.reshape(*prep.lead, nb)
    return BlockQuantized(codes, scales, elem.name, sc.name, block_size, prep.axis, prep.shape, ts)
