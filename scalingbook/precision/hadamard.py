"""Walsh-Hadamard transforms along the last axis, plain, blockwise and randomized.

The Sylvester (natural) ordering: ``H_1 = [1]``, ``H_2n = [[H_n, H_n], [H_n, -H_n]]``, so entry
``(i, j)`` is ``(-1)**popcount(i & j)``. ``H_n`` is symmetric and ``H_n @ H_n = n * I``: scaled by
``1/sqrt(n)`` it is orthogonal and its own inverse.

Used before block quantization (QuaRot, Quartet, NVFP4 recipes), a Hadamard rotation spreads
an outlier over a whole block, so the block scale is set by a typical element rather than the
outlier. Random signs in front (``H D``) make the rotation a random one, which both operands of a
GEMM can share: ``(x D H)(w D H)^T = n x w^T``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from .._validate import one_of, positive_int
from ._common import as_float_tensor


AUTO_KERNEL_BLOCK = 1024  # largest block backend="auto" sends to the Triton kernel


def _is_pow2(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def hadamard_matrix(n: int, *, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """The (n, n) Sylvester Hadamard matrix of ±1 entries; ``n`` a power of two."""
    n = positive_int("n", n)
    if not _is_pow2(n):
        raise ValueError(f"n must be a power of two, got {n}")
    i = torch.arange(n, device=device)
    parity = torch.zeros(n, n, dtype=torch.int64, device=device)
    x = i[:, None] & i[None, :]
    while bool(x.any()):
        parity ^= x & 1
        x = x >> 1
    return (1 - 2 * parity).to(dtype)


def _hadamard_rows_torch(x2: torch.Tensor, scale: float) -> torch.Tensor:
    """Butterfly transform of each row of (R, P), P a power of two. Stage h pairs element j with
    j + h inside groups of 2h: the same additions, in the same order, as the Triton kernel.
    Two buffers are reused across the stages, so each stage costs one pass and no allocation."""
    R, P = x2.shape
    if P == 1:
        return x2 * scale
    src, buffers, h = x2, (torch.empty_like(x2), torch.empty_like(x2)), 1
    while h < P:
        dst = buffers[h.bit_length() % 2]
        s4, d4 = src.view(R, P // (2 * h), 2, h), dst.view(R, P // (2 * h), 2, h)
        torch.add(s4[:, :, 0], s4[:, :, 1], out=d4[:, :, 0])
        torch.sub(s4[:, :, 0], s4[:, :, 1], out=d4[:, :, 1])
        src, h = dst, h * 2
    return src.mul_(scale) if scale != 1.0 else src


def _blocked_call(
    x: torch.Tensor, scale: float, block_size: int | None, rows_fn: Callable[[torch.Tensor, float], torch.Tensor]
) -> torch.Tensor:
    """Pad the last axis to whole power-of-two blocks, transform each block, cut back."""
    x = as_float_tensor("x", x)
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension (the transform runs along the last)")
    try:
        scale = float(scale)
    except (TypeError, ValueError):
        raise ValueError(f"scale must be a number, got {scale!r}") from None
    if not math.isfinite(scale):
        raise ValueError(f"scale must be finite, got {scale!r}")
    n = x.shape[-1]
    if block_size is None:
        bs = _next_pow2(max(n, 1))
    else:
        bs = positive_int("block_size", block_size)
        if not _is_pow2(bs):
            raise ValueError(f"block_size must be a power of two, got {bs}")
    if x.numel() == 0:
        return x.clone()
    pad = (-n) % bs
    xp = F.pad(x, (0, pad)) if pad else x
    y2 = rows_fn(xp.reshape(-1, bs).contiguous(), scale)
    y = y2.reshape(*x.shape[:-1], n + pad)
    return y[..., :n] if pad else y


def hadamard_transform(
    x: torch.Tensor, scale: float = 1.0, *, block_size: int | None = None, backend: str = "auto"
) -> torch.Tensor:
    """``scale * (x @ H)`` along the last axis, Sylvester order; same dtype and shape as ``x``.

    Parameters
    ----------
    x:
        Floating-point tensor ``(..., n)``.
    scale:
        Multiplies the result; ``1 / sqrt(size)`` makes the transform orthonormal.
    block_size:
        ``None``: one transform over the whole last axis, zero-padded to the next power of two
        and cut back to ``n``. A power of two: an independent transform on each contiguous group
        of ``block_size`` entries (the last group zero-padded and cut back if partial).
    backend:
        ``"auto"`` uses the Triton kernel for float32 CUDA tensors when Triton is installed,
        ``"torch"`` or ``"triton"`` force one. Both give the same bits.

    Cutting back after padding keeps only the first ``n`` outputs, which is a projection: it
    is not invertible unless ``n`` is a whole number of blocks.
    """
    one_of("backend", backend, ("auto", "torch", "triton"))
    xt = as_float_tensor("x", x)
    if backend == "triton":
        from . import triton_kernels as tk

        return tk.hadamard_transform_triton(xt.to(torch.float32), scale, block_size=block_size)
    if backend == "auto" and xt.is_cuda and xt.dtype == torch.float32 and xt.ndim:
        from . import triton_kernels as tk

        # Blocks beyond AUTO_KERNEL_BLOCK would not fit one program's registers comfortably.
        size = block_size if isinstance(block_size, int) else _next_pow2(max(xt.shape[-1], 1))
        if tk.kernels_usable(xt) and _is_pow2(size) and size <= AUTO_KERNEL_BLOCK:
            return tk.hadamard_transform_triton(xt, scale, block_size=block_size)
    return _blocked_call(xt, scale, block_size, _hadamard_rows_torch)


def random_signs(n: int, *, seed: int = 0, device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A vector of ``n`` random ±1 entries, fixed by ``seed`` (drawn on the CPU, so the same
    signs on every device)."""
    n = positive_int("n", n)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    g = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (n,), generator=g)
    return (1 - 2 * bits).to(dtype=dtype, device=device)


def _rht_block(x: torch.Tensor, block_size: int | None) -> int:
    n = x.shape[-1]
    bs = n if block_size is None else positive_int("block_size", block_size)
    if not _is_pow2(bs):
        raise ValueError(
            f"block_size must be a power of two (and with block_size=None the last axis must be one), got {bs}"
        )
    if n % bs:
        raise ValueError(f"the last axis of x ({n}) must be a multiple of block_size ({bs}) to be invertible")
    return bs


def random_hadamard_transform(
    x: torch.Tensor, *, seed: int = 0, block_size: int | None = None, backend: str = "auto"
) -> torch.Tensor:
    """Orthonormal random Hadamard transform ``(x * d) @ H / sqrt(b)`` along the last axis.

    ``d`` = :func:`random_signs` of the last axis' length (one sign per column, shared by all
    blocks' positions in order), ``b`` the block size (``block_size``, or the whole last axis,
    which must then be a power of two). Invert with :func:`inverse_random_hadamard_transform`
    and the same ``seed`` and ``block_size``.
    """
    x = as_float_tensor("x", x)
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension")
    bs = _rht_block(x, block_size)
    d = random_signs(x.shape[-1], seed=seed, device=x.device, dtype=x.dtype)
    return hadamard_transform(x * d, 1.0 / math.sqrt(bs), block_size=bs, backend=backend)


def inverse_random_hadamard_transform(
    y: torch.Tensor, *, seed: int = 0, block_size: int | None = None, backend: str = "auto"
) -> torch.Tensor:
    """Undo :func:`random_hadamard_transform`: ``(y @ H / sqrt(b)) * d``."""
    y = as_float_tensor("y", y)
    if y.ndim == 0:
        raise ValueError("y must have at least one dimension")
    bs = _rht_block(y, block_size)
    d = random_signs(y.shape[-1], seed=seed, device=y.device, dtype=y.dtype)
    return hadamard_transform(y, 1.0 / math.sqrt(bs), block_size=bs, backend=backend) * d
