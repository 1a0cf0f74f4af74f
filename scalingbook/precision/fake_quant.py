"""A linear layer whose three GEMMs see quantized operands: fake-quantized FP4 training.

A linear layer ``y = x w^T + b`` runs three matrix products per step, each with its own inner
(reduction) dimension. FP4 training recipes quantize the operands of all three along that
dimension, because that is where hardware block scales live:

=========  ====================  ===============  ======================================
GEMM       product               inner dimension  operands quantized along it
=========  ====================  ===============  ======================================
forward    ``y  = x  @ w^T``     K (in_features)  x rows, w rows
dgrad      ``dx = dy @ w``       N (out_features) dy rows, w columns
wgrad      ``dw = dy^T @ x``     M (tokens)       dy columns, x columns
=========  ====================  ===============  ======================================

Options follow the FP4 design-space study (Hu et al., 2025) and Quartet (Castro et al., 2025):
MXFP4 or NVFP4 blocks (or any MX element, or elementwise rounding such as bf16); a random
Hadamard transform applied to both operands of each GEMM along its inner dimension (the two
rotations cancel in the product, so only the quantization sees it); round-to-nearest for the
forward operands and stochastic rounding for the gradient operand ``dy``, which keeps the
gradient estimate unbiased as long as the block scale clips nothing: MX's ``"floor"`` rule
clips FP4 values by up to a quarter of the block maximum, a nearest-rounded E4M3 scale by up to
one scale step (about 6%), and ``scale_mode="rceil"`` never clips. The quantizers are treated as the identity when differentiating
(the straight-through estimator): the backward GEMMs use quantized copies of the saved
high-precision ``x`` and ``w``, and the gradients flow to ``x`` and ``w`` unchanged by the rounding.

``forward_quantizer="quest"`` swaps the forward quantizer for Quartet's (QuEST's Gaussian-fitted
block scale, :mod:`~scalingbook.precision.quest`). The forward GEMM then multiplies the quantized
*rotated* operands, and the backward follows Quartet's released code: the two backward GEMMs
re-quantize those forward operands (not the high-precision ones) along their new inner dimension,
and each operand's gradient is masked by its trust mask (clipped entries get none) before the
forward rotation is undone. :meth:`QuantScheme.quartet` is the whole recipe. Not implemented:
the scale-gradient adjustments of the design-space study; with ``"rtn"`` the straight-through
estimator passes every gradient, clipped elements included.

Arithmetic is float32 throughout (autocast is switched off inside), so the only low-precision
effect is the one the scheme asks for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validate import one_of, positive_int
from ._common import ROUNDING_MODES
from .formats import NAMED_FORMATS
from .hadamard import inverse_random_hadamard_transform, random_hadamard_transform
from .microscaling import BACKENDS, MX_ELEMENTS, SCALE_FORMATS, SCALE_MODES, quantize_blocks
from .quest import QUEST_ELEMENTS, quantize_quest
from .rounding import round_to_format

#: Forward quantizers: ``"rtn"`` (the block scale from the block maximum, round-to-nearest with
#: ``forward_rounding``) or ``"quest"`` (Quartet's Gaussian-fitted scale and trust mask).
FORWARD_QUANTIZERS = ("rtn", "quest")


@dataclass(frozen=True)
class QuantScheme:
    """How a :class:`FakeQuantLinear` quantizes its GEMM operands.

    Parameters
    ----------
    element:
        Element format: an MX element (``"fp4_e2m1"``, ``"fp8_e4m3"``, ``"int8"``, ...) for
        block schemes, or any named format (``"bf16"``, ``"fp16"``, ...) with ``block_size=None``.
    block_size:
        Elements per block scale along the inner dimension; ``None`` rounds each element on its
        own (no scale).
    scale_format, scale_mode:
        Block scale: ``"e8m0"`` (MX; ``scale_mode`` ``"floor"`` or ``"rceil"``), ``"e4m3"``
        (NVFP4) or ``"ue5m3"``.
    per_tensor_scale:
        Add NVFP4's second-level scale ``amax / (max_elem * max_scale)`` (fp8 scales only).
    hadamard, hadamard_block_size:
        Random Hadamard transform of both operands of every GEMM along its inner dimension, in
        independent blocks of ``hadamard_block_size`` (a power of two; the inner dimension is
        zero-padded to a multiple of it, which leaves the product unchanged).
    forward_rounding:
        Rounding of ``x`` and ``w`` (in all three GEMMs).
    grad_rounding:
        Rounding of the output gradient ``dy`` in the two backward GEMMs.
    quantize_backward:
        ``False`` quantizes the forward GEMM only (quantization-aware training).
    backend:
        Passed to the quantizers (``"auto"``: Triton kernels on CUDA when available).
    forward_quantizer:
        ``"rtn"`` (default) or ``"quest"``: the forward GEMM's operands get QuEST's
        Gaussian-fitted power-of-two scale per block (:func:`~scalingbook.precision.quantize_quest`)
        and gradients are masked to the unclipped entries. Needs a float MX element, an
        ``"e8m0"`` scale, no per-tensor scale and ``forward_rounding="nearest_even"``; the
        backward quantizations still use ``scale_format``/``scale_mode``.
    """

    element: str = "fp4_e2m1"
    block_size: int | None = 32
    scale_format: str = "e8m0"
    scale_mode: str = "floor"
    per_tensor_scale: bool = False
    hadamard: bool = False
    hadamard_block_size: int = 32
    forward_rounding: str = "nearest_even"
    grad_rounding: str = "stochastic"
    quantize_backward: bool = True
    backend: str = "auto"
    forward_quantizer: str = "rtn"

    def __post_init__(self) -> None:
        if self.block_size is None:
            if self.element not in NAMED_FORMATS:
                raise ValueError(
                    f"element must be one of {', '.join(map(repr, NAMED_FORMATS))} for elementwise "
                    f"rounding (block_size=None); got {self.element!r}"
                )
        else:
            one_of("element", self.element, MX_ELEMENTS)
            positive_int("block_size", self.block_size)
        one_of("scale_format", self.scale_format, SCALE_FORMATS)
        one_of("scale_mode", self.scale_mode, SCALE_MODES)
        if self.per_tensor_scale and self.scale_format == "e8m0":
            raise ValueError("per_tensor_scale needs an fp8 scale_format ('e4m3' or 'ue5m3'), not 'e8m0'")
        hb = positive_int("hadamard_block_size", self.hadamard_block_size)
        if hb & (hb - 1):
            raise ValueError(f"hadamard_block_size must be a power of two, got {hb}")
        one_of("forward_rounding", self.forward_rounding, ROUNDING_MODES)
        one_of("grad_rounding", self.grad_rounding, ROUNDING_MODES)
        one_of("backend", self.backend, BACKENDS)
        one_of("forward_quantizer", self.forward_quantizer, FORWARD_QUANTIZERS)
        if self.forward_quantizer == "quest":
            if self.block_size is None or self.element not in QUEST_ELEMENTS:
                raise ValueError("forward_quantizer='quest' needs a block scheme with a float element "
                                 f"({', '.join(map(repr, QUEST_ELEMENTS))}); got element={self.element!r}, "
                                 f"block_size={self.block_size!r}")
            if self.scale_format != "e8m0" or self.per_tensor_scale:
                raise ValueError("forward_quantizer='quest' fits power-of-two (e8m0) block scales with no "
                                 f"per-tensor scale; got scale_format={self.scale_format!r}, "
                                 f"per_tensor_scale={self.per_tensor_scale!r}")
            if self.forward_rounding != "nearest_even":
                raise ValueError("forward_quantizer='quest' rounds to nearest; got "
                                 f"forward_rounding={self.forward_rounding!r}")

    @classmethod
    def mxfp4(cls, **changes: Any) -> "QuantScheme":
        """OCP MXFP4: E2M1 elements, blocks of 32, E8M0 scales (floor rule)."""
        return cls(**{"element": "fp4_e2m1", "block_size": 32, "scale_format": "e8m0", **changes})

    @classmethod
    def nvfp4(cls, **changes: Any) -> "QuantScheme":
        """NVFP4: E2M1 elements, blocks of 16, E4M3 scales and a per-tensor float32 scale."""
        base = {"element": "fp4_e2m1", "block_size": 16, "scale_format": "e4m3", "per_tensor_scale": True}
        return cls(**{**base, **changes})

    @classmethod
    def quartet(cls, **changes: Any) -> "QuantScheme":
        """Quartet (Castro et al., 2025): MXFP4 blocks of 32, a random Hadamard transform of
        blocks of 32 on every GEMM, QuEST's forward quantizer, stochastic rounding of the output
        gradient. The backward scales use the ``"rceil"`` rule, which never clips, so stochastic
        rounding stays unbiased (Quartet's code also scales gradient blocks so nothing clips)."""
        base = {"element": "fp4_e2m1", "block_size": 32, "scale_format": "e8m0", "scale_mode": "rceil",
                "hadamard": True, "hadamard_block_size": 32, "forward_quantizer": "quest",
                "grad_rounding": "stochastic"}
        return cls(**{**base, **changes})

    @classmethod
    def elementwise(cls, element: str, **changes: Any) -> "QuantScheme":
        """Round every operand element to ``element`` (e.g. ``"bf16"``), no block scales."""
        base = {"element": element, "block_size": None, "grad_rounding": "nearest_even"}
        return cls(**{**base, **changes})

    def with_changes(self, **changes: Any) -> "QuantScheme":
        return replace(self, **changes)

    @property
    def label(self) -> str:
        """Short name for tables and legends, e.g. ``"mxfp4 e8m0 +rht sr"``."""
        if self.block_size is None:
            base = self.element
        else:
            family = {("fp4_e2m1", "e8m0"): ("mxfp4", 32), ("fp4_e2m1", "e4m3"): ("nvfp4", 16)}
            name, usual = family.get((self.element, self.scale_format), (None, None))
            if name is None:
                base = f"{self.element}/{self.block_size} {self.scale_format}"
            else:
                base = name if self.block_size == usual else f"{name}/{self.block_size}"
        parts = [base]
        if self.forward_quantizer == "quest":
            parts.append("quest")
        if self.hadamard:
            parts.append("+rht")
        if self.quantize_backward:
            parts.append({"stochastic": "sr", "nearest_even": "rtn"}.get(self.grad_rounding, self.grad_rounding))
        else:
            parts.append("fwd-only")
        return " ".join(parts)

    def quantize(self, t: torch.Tensor, rounding: str, generator: torch.Generator | None) -> torch.Tensor:
        """Quantize-dequantize ``t`` (2-D) along its last axis with this scheme; float32."""
        if self.block_size is None:
            return round_to_format(t, self.element, rounding=rounding, saturate=True, generator=generator)
        return quantize_blocks(
            t, self.element, block_size=self.block_size, scale_format=self.scale_format,
            scale_mode=self.scale_mode, per_tensor_scale="amax" if self.per_tensor_scale else None,
            axis=-1, rounding=rounding, generator=generator, backend=self.backend,
        )


def _quantized_operands(
    a: torch.Tensor, b: torch.Tensor, scheme: QuantScheme, rounding_a: str, rounding_b: str,
    generator: torch.Generator | None, seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize the operands of ``a @ b^T`` (both (·, L), inner dimension L last)."""
    a, b = _rotated(a, b, scheme, seed)
    return scheme.quantize(a, rounding_a, generator), scheme.quantize(b, rounding_b, generator)


def _rotated(a: torch.Tensor, b: torch.Tensor, scheme: QuantScheme, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Both operands of ``a @ b^T`` rotated by the scheme's random Hadamard transform along the
    inner dimension (zero-padded to whole blocks), or unchanged when the scheme has none."""
    if scheme.hadamard:
        hb = scheme.hadamard_block_size
        pad = (-a.shape[-1]) % hb
        if pad:  # zero columns in both operands add nothing to the product
            a, b = F.pad(a, (0, pad)), F.pad(b, (0, pad))
        a = random_hadamard_transform(a, seed=seed, block_size=hb, backend=scheme.backend)
        b = random_hadamard_transform(b, seed=seed, block_size=hb, backend=scheme.backend)
    return a, b


def _unrotated(t: torch.Tensor, scheme: QuantScheme, seed: int, width: int) -> torch.Tensor:
    """Undo :func:`_rotated` on the rows of ``t`` (the adjoint of the orthonormal rotation, then
    the padding cut away): maps a gradient with respect to a rotated operand to its original."""
    if scheme.hadamard:
        t = inverse_random_hadamard_transform(t, seed=seed, block_size=scheme.hadamard_block_size,
                                              backend=scheme.backend)
    return t[:, :width]


def _quest_forward(x2: torch.Tensor, w: torch.Tensor, scheme: QuantScheme, seed: int):
    """Quartet's forward operands: rotated, then QuEST-quantized, with their trust masks."""
    xr, wr = _rotated(x2, w, scheme, seed)
    xq, tx = quantize_quest(xr, scheme.element, block_size=scheme.block_size)
    wq, tw = quantize_quest(wr, scheme.element, block_size=scheme.block_size)
    return xq, wq, tx, tw


class FakeQuantLinearFunction(torch.autograd.Function):
    """``y = x @ w^T + b`` with every GEMM operand quantized by ``scheme``.

    ``apply(x, weight, bias, scheme, generator, seed)``: ``x`` (..., K), ``weight`` (N, K),
    ``bias`` (N,) or ``None``; ``generator`` seeds stochastic rounding; ``seed`` fixes the random
    Hadamard signs. Returns (..., N) in ``x``'s dtype.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, scheme: QuantScheme, generator, seed: int):
        K = x.shape[-1]
        with torch.autocast(device_type=x.device.type, enabled=False):
            x2 = x.reshape(-1, K).to(torch.float32)
            w = weight.to(torch.float32)
            fr = scheme.forward_rounding
            if scheme.forward_quantizer == "quest":
                xq, wq, tx, tw = _quest_forward(x2, w, scheme, seed)
            else:
                xq, wq = _quantized_operands(x2, w, scheme, fr, fr, generator, seed)
            y = xq @ wq.T
            if bias is not None:
                y = y + bias.to(torch.float32)
        if scheme.forward_quantizer == "quest":  # the backward works on the rotated operands
            ctx.save_for_backward(xq, wq, tx, tw)
        else:
            ctx.save_for_backward(x2, w)
        ctx.scheme, ctx.generator, ctx.seed = scheme, generator, seed
        ctx.x_shape, ctx.x_dtype, ctx.w_dtype = x.shape, x.dtype, weight.dtype
        ctx.has_bias = bias is not None
        return y.reshape(*x.shape[:-1], w.shape[0]).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        if ctx.scheme.forward_quantizer == "quest":
            return FakeQuantLinearFunction._quest_backward(ctx, grad_out)
        x2, w = ctx.saved_tensors
        scheme, gen, seed = ctx.scheme, ctx.generator, ctx.seed
        N = w.shape[0]
        dx = dw = db = None
        with torch.autocast(device_type=grad_out.device.type, enabled=False):
            g = grad_out.reshape(-1, N).to(torch.float32)
            if not scheme.quantize_backward:
                if ctx.needs_input_grad[0]:
                    dx = g @ w
                if ctx.needs_input_grad[1]:
                    dw = g.T @ x2
            else:
                fr, gr = scheme.forward_rounding, scheme.grad_rounding
                if ctx.needs_input_grad[0]:  # dgrad, inner dimension N
                    gq, wq = _quantized_operands(g, w.T, scheme, gr, fr, gen, seed)
                    dx = gq @ wq.T
                if ctx.needs_input_grad[1]:  # wgrad, inner dimension M (tokens)
                    gq, xq = _quantized_operands(g.T, x2.T, scheme, gr, fr, gen, seed)
                    dw = gq @ xq.T
            if ctx.has_bias and ctx.needs_input_grad[2]:
                db = g.sum(0)
        if dx is not None:
            dx = dx.reshape(ctx.x_shape).to(ctx.x_dtype)
        if dw is not None:
            dw = dw.to(ctx.w_dtype)
        return dx, dw, db, None, None, None

    @staticmethod
    def _quest_backward(ctx, grad_out):
        """Quartet's backward: the GEMMs use the quantized rotated forward operands ``xq`` (M, K')
        and ``wq`` (N, K'), re-quantized along N (dgrad) and M (wgrad) as the scheme says; the
        gradients with respect to them are masked by the trust masks, then rotated back."""
        xq, wq, tx, tw = ctx.saved_tensors
        scheme, gen, seed = ctx.scheme, ctx.generator, ctx.seed
        N, K = wq.shape[0], ctx.x_shape[-1]
        dx = dw = db = None
        with torch.autocast(device_type=grad_out.device.type, enabled=False):
            g = grad_out.reshape(-1, N).to(torch.float32)
            fr, gr = scheme.forward_rounding, scheme.grad_rounding
            if ctx.needs_input_grad[0]:  # dgrad, inner dimension N
                if scheme.quantize_backward:
                    gq, wqq = _quantized_operands(g, wq.T, scheme, gr, fr, gen, seed)
                    dxr = gq @ wqq.T
                else:
                    dxr = g @ wq
                dx = _unrotated(dxr * tx, scheme, seed, K)
            if ctx.needs_input_grad[1]:  # wgrad, inner dimension M (tokens)
                if scheme.quantize_backward:
                    gq, xqq = _quantized_operands(g.T, xq.T, scheme, gr, fr, gen, seed)
                    dwr = gq @ xqq.T
                else:
                    dwr = g.T @ xq
                dw = _unrotated(dwr * tw, scheme, seed, K)
            if ctx.has_bias and ctx.needs_input_grad[2]:
                db = g.sum(0)
        if dx is not None:
            dx = dx.reshape(ctx.x_shape).to(ctx.x_dtype)
        if dw is not None:
            dw = dw.to(ctx.w_dtype)
        return dx, dw, db, None, None, None


class FakeQuantLinear(nn.Linear):
    """``nn.Linear`` whose forward and backward GEMMs are fake-quantized by ``scheme``.

    Same parameters and initialization as ``nn.Linear``; ``scheme=None`` behaves exactly like
    ``nn.Linear``. ``seed`` fixes the random Hadamard signs and seeds this layer's stochastic
    rounding (a generator per layer and device, advanced on every quantization that rounds
    stochastically), so a run is reproducible from its seeds.
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, *,
        scheme: QuantScheme | None = None, seed: int = 0, device=None, dtype=None,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        if scheme is not None and not isinstance(scheme, QuantScheme):
            raise ValueError(f"scheme must be a QuantScheme or None, got {type(scheme).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.scheme = scheme
        self.seed = seed
        self._generators: dict[str, torch.Generator] = {}

    def _generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scheme is None:
            return F.linear(x, self.weight, self.bias)
        generator = self._generator(x.device)
        return FakeQuantLinearFunction.apply(x, self.weight, self.bias, self.scheme, generator, self.seed)

    @classmethod
    def from_linear(cls, linear: nn.Linear, scheme: QuantScheme | None, *, seed: int = 0) -> "FakeQuantLinear":
        """A FakeQuantLinear sharing ``linear``'s parameters (no copy)."""
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, scheme=scheme,
                    seed=seed, device=linear.weight.device, dtype=linear.weight.dtype)
        layer.weight = linear.weight
        layer.bias = linear.bias
        return layer

    def extra_repr(self) -> str:
        label = "none" if self.scheme is None else self.scheme.label
        return f"{super().extra_repr()}, scheme={label!r}, seed={self.seed}"


def swap_linears(
    model: nn.Module, scheme: QuantScheme | None, *, skip: Iterable[str] = (), seed: int = 0
) -> nn.Module:
    """Replace every ``nn.Linear`` in ``model`` (in place) by a :class:`FakeQuantLinear` sharing
    its parameters; names in ``skip`` (qualified module names, e.g. ``"lm_head"``) stay in high
    precision, as the papers keep the output layer. Layer ``i`` gets seed ``seed + i``."""
    skip = set(skip)
    targets = [
        (name, mod) for name, mod in model.named_modules()
        if isinstance(mod, nn.Linear) and not isinstance(mod, FakeQuantLinear) and name not in skip
    ]
    for i, (name, mod) in enumerate(targets):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, FakeQuantLinear.from_linear(mod, scheme, seed=seed + i))
    return model
