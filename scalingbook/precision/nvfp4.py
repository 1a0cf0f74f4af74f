"""NVFP4: E2M1 elements in blocks of 16 with an E4M3 block scale and a float32 tensor scale.

The block scale is ``s = RNE_e4m3(amax_block / (6 * t))`` (saturating at 448), the elements are
``RNE_e2m1(V_i / (s * t))`` and the dequantized value is ``(P_i * s) * t``. The second-level
per-tensor scale ``t`` lets the E4M3 scales, which only span 2**-9 to 448, follow tensors of any
magnitude; NVIDIA's recipe sets ``t = amax_tensor / (6 * 448)`` (``per_tensor_scale="amax"``).

The FP4 design-space comparison of block scales is available through ``scale_format``:
``"e4m3"`` (NVFP4), ``"ue5m3"`` (wider range, one exponent bit more) and ``"e8m0"`` (a power of
two, rounded up so that no element saturates: MX's ``"rceil"`` rule with 16-element blocks).
"""

from __future__ import annotations

from typing import Any

import torch

from .microscaling import BlockQuantized, element_spec, encode_blocks, quantize_blocks, scale_spec


def quantize_nvfp4(
    x: torch.Tensor,
    *,
    block_size: int = 16,
    per_tensor_scale: Any = None,
    scale_format: str = "e4m3",
    axis: int = -1,
    rounding: str = "nearest_even",
    generator: torch.Generator | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """NVFP4 quantize-dequantize of ``x``; float32 of ``x``'s shape.

    Parameters
    ----------
    x:
        Floating-point tensor, any shape (converted to float32).
    block_size:
        Elements per block scale along ``axis`` (16 in NVFP4).
    per_tensor_scale:
        ``None`` (no second level, ``t = 1``), a positive float ``t``, or ``"amax"`` for
        ``t = amax(|x|) / (6 * max_scale)``. Only for the fp8 scale formats.
    scale_format:
        ``"e4m3"`` (NVFP4's UE4M3), ``"ue5m3"`` or ``"e8m0"``.
    rounding, generator:
        Element rounding (``"stochastic"`` is seeded by ``generator``); scales are always
        round-to-nearest-even.
    """
    return quantize_blocks(
        x, "fp4_e2m1", block_size=block_size, scale_format=scale_format, scale_mode="rceil",
        per_tensor_scale=per_tensor_scale, axis=axis, rounding=rounding, generator=generator,
        backend=backend,
    )


def encode_nvfp4(
    x: torch.Tensor,
    *,
    block_size: int = 16,
    per_tensor_scale: Any = None,
    scale_format: str = "e4m3",
    axis: int = -1,
    rounding: str = "nearest_even",
    generator: torch.Generator | None = None,
) -> BlockQuantized:
    """The codes behind :func:`quantize_nvfp4`: E2M1 element codes, fp8 scale codes, tensor scale."""
    return encode_blocks(
        x, "fp4_e2m1", block_size=block_size, scale_format=scale_format, scale_mode="rceil",
        per_tensor_scale=per_tensor_scale, axis=axis, rounding=rounding, generator=generator,
    )


def nvfp4_tensor_scale(x: torch.Tensor, scale_format: str = "e4m3") -> float:
    """The per-tensor scale ``"amax"`` resolves to: ``amax(|x|) / (6 * max_scale)`` in float32
    (1.0 for an all-zero or non-finite tensor)."""
    from .microscaling import resolve_tensor_scale

    sc = scale_spec(scale_format)
    return resolve_tensor_scale("amax", torch.as_tensor(x), element_spec("fp4_e2m1"), sc)
