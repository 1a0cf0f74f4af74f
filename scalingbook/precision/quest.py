"""QuEST's forward quantizer, the one Quartet trains with: block scales fitted to a Gaussian.

An MX block scale is set by the block's largest magnitude, so one outlier coarsens the grid for
the other 31 elements. QuEST (Panferov et al., 2025) first rotates each block with a Hadamard
transform, after which its entries look Gaussian, and then *fits* the grid to that Gaussian: the
grid is stretched so that its largest value sits at ``c * rms(block)``, with ``c`` the clipping
threshold that minimizes the expected squared error of rounding a standard normal variable onto
the grid (:func:`gaussian_mse_clip`; about 2.92 for E2M1). Entries beyond the threshold are
clipped. The "trust mask" marks the entries that were not: in the backward pass the gradient
flows straight through those and is zeroed for the clipped ones, whose rounded value no longer
moves with the input.

Quartet (Castro et al., 2025) uses this quantizer for the forward GEMM in MXFP4: blocks of 32
along the inner dimension, the scale rounded down to a power of two (an E8M0 scale),
round-to-nearest elements. We checked those details against the authors' released code (its
``mxfp4_triton.py`` and ``linear_fns.py``), not the paper's text; see
:mod:`scalingbook.papers.castro2025`. One difference: their kernel fits the block's standard
deviation about its mean, we fit its root mean square (QuEST's own quantizer does too). After a
Hadamard rotation a block's mean is close to zero, and the two agree.

Shapes: ``x`` of any shape, blocks of ``block_size`` consecutive entries along ``axis`` (the last
block zero-padded); the outputs have ``x``'s shape.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .._validate import positive_int, positive_scalar
from ._common import as_float_tensor, normalize_axis
from .formats import get_format
from .rounding import round_to_format

__all__ = ["QUEST_ELEMENTS", "QuestQuantized", "gaussian_mse_clip", "gaussian_rounding_mse", "quantize_quest"]

#: Element formats the Gaussian fit supports (the signed float MX elements).
QUEST_ELEMENTS = ("fp4_e2m1", "fp6_e3m2", "fp6_e2m3", "fp8_e4m3", "fp8_e5m2")


def _element(element: str):
    if element not in QUEST_ELEMENTS:
        raise ValueError(f"element must be one of {', '.join(map(repr, QUEST_ELEMENTS))}; got {element!r}")
    return get_format(element)


def _std_normal_pdf(t: float) -> float:
    return 0.0 if math.isinf(t) else math.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)


def _std_normal_cdf(t: float) -> float:
    return 0.5 * math.erfc(-t / math.sqrt(2.0))


def gaussian_rounding_mse(clip: float, element: str = "fp4_e2m1") -> float:
    """``E[(z - Q(z))^2]`` for ``z ~ N(0, 1)``, where ``Q`` rounds to the nearest point of the
    element grid scaled so that its largest value is ``clip`` (saturating beyond it).

    Closed form: on an interval ``[a, b)`` that rounds to ``v``,
    ``int (z - v)^2 phi(z) dz = (1 + v^2)(Phi(b) - Phi(a)) - (b phi(b) - a phi(a)) + 2 v (phi(b) - phi(a))``.
    Units: variance of a standard normal (so 0.0127 means an SNR of about 19 dB).
    """
    clip = positive_scalar("clip", clip)
    fmt = _element(element)
    grid = fmt.grid(nonnegative=True).tolist()
    scale = clip / fmt.max
    points = [g * scale for g in grid]
    edges = [0.0] + [(lo + hi) / 2 for lo, hi in zip(points[:-1], points[1:])] + [math.inf]
    total = 0.0
    for v, a, b in zip(points, edges[:-1], edges[1:]):
        pa, pb = _std_normal_pdf(a), _std_normal_pdf(b)
        ta = a * pa
        tb = 0.0 if math.isinf(b) else b * pb
        total += (1 + v * v) * (_std_normal_cdf(b) - _std_normal_cdf(a)) - (tb - ta) + 2 * v * (pb - pa)
    return 2.0 * total  # both signs


@functools.lru_cache(maxsize=None)
def gaussian_mse_clip(element: str = "fp4_e2m1") -> float:
    """The clipping threshold ``c`` (in standard deviations) that minimizes
    :func:`gaussian_rounding_mse` for ``element``: 2.9225 for E2M1.

    A scan of 257 log-spaced thresholds from 0.25 to 64 finds the best bracket (the objective has
    small ripples where grid points cross each other's rounding edges), then a bounded
    golden-section search refines it to about 1e-9.
    """
    _element(element)
    import numpy as np
    from scipy.optimize import minimize_scalar

    cs = np.geomspace(0.25, 64.0, 257)
    i = int(np.argmin([gaussian_rounding_mse(float(c), element) for c in cs]))
    lo, hi = float(cs[max(i - 1, 0)]), float(cs[min(i + 1, len(cs) - 1)])
    res = minimize_scalar(lambda c: gaussian_rounding_mse(c, element), bounds=(lo, hi),
                          method="bounded", options={"xatol": 1e-10})
    return float(res.x)


class QuestQuantized(NamedTuple):
    """What :func:`quantize_quest` returns: the dequantized values (float32, ``x``'s shape) and
    the trust mask (bool, ``x``'s shape): True where the entry was not clipped."""

    values: torch.Tensor
    trust: torch.Tensor


def quantize_quest(
    x: torch.Tensor,
    element: str = "fp4_e2m1",
    *,
    block_size: int = 32,
    axis: int = -1,
    clip: float | None = None,
) -> QuestQuantized:
    """Quantize-dequantize ``x`` with a Gaussian-fitted power-of-two scale per block.

    Per block of ``block_size`` entries along ``axis``: ``s = clip * rms / max_elem``, the scale
    ``X = 2**floor(log2 s)`` (clamped to E8M0's range; an all-zero block gets ``2**-127``), the
    entries ``round_to_nearest_even(x / X)`` on the element grid, saturating at ``±max_elem``.
    ``clip`` defaults to :func:`gaussian_mse_clip` of the element. Entries whose ``|x / X|``
    exceeds ``max_elem`` are clipped and have ``trust`` False. A block holding NaN or Inf
    dequantizes to NaN with ``trust`` False.

    Rounding the scale down never shrinks the grid below ``clip * rms / 2``, so at most the
    entries beyond ``clip / 2`` standard deviations can be clipped.
    """
    x = as_float_tensor("x", x)
    fmt = _element(element)
    block_size = positive_int("block_size", block_size)
    clip = gaussian_mse_clip(element) if clip is None else positive_scalar("clip", clip)
    ax = normalize_axis(axis, x.ndim)
    xm = x.to(torch.float32).movedim(ax, -1)
    lead, K = xm.shape[:-1], xm.shape[-1]
    if xm.numel() == 0:
        return QuestQuantized(xm.clone().movedim(-1, ax), torch.ones_like(xm, dtype=torch.bool).movedim(-1, ax))
    nb = -(-K // block_size)
    x2 = xm.reshape(-1, K)
    xp = F.pad(x2, (0, nb * block_size - K)) if nb * block_size != K else x2
    xb = xp.reshape(x2.shape[0], nb, block_size)
    # Mean of squares in float64 (no overflow for any float32 input) over all block_size slots:
    # a partial last block counts its padding zeros, as a zero-padded hardware block would.
    rms = xb.double().square().mean(-1).sqrt()  # (R, nb)
    bad = ~torch.isfinite(rms)
    s = (clip / fmt.max) * rms.masked_fill(bad, 1.0)
    _, e = torch.frexp(s)  # s = m * 2**e, m in [0.5, 1): floor(log2 s) = e - 1, exactly
    k = torch.where(s > 0, e - 1, torch.full_like(e, -127)).clamp(-127, 127)
    scale = torch.ldexp(torch.ones_like(s), k).to(torch.float32).unsqueeze(-1)  # exact powers of two
    v = xb / scale
    trust = v.abs() <= fmt.max
    q = round_to_format(v, fmt, saturate=True)
    deq = q * scale
    if bool(bad.any()):
        deq = deq.masked_fill(bad.unsqueeze(-1), torch.nan)
        trust = trust & ~bad.unsqueeze(-1)
    deq = deq.reshape(x2.shape[0], nb * block_size)[:, :K].reshape(*lead, K).movedim(-1, ax)
    trust = trust.reshape(x2.shape[0], nb * block_size)[:, :K].reshape(*lead, K).movedim(-1, ax)
    return QuestQuantized(deq, trust)
