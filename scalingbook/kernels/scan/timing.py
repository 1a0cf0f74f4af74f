"""Wall-clock timing of the selective scan against causal softmax attention, as L grows.

Shared by ``benchmarks/bench_selective_scan.py`` and the Mamba chapter. Times are minima over
repetitions, interleaved across contenders so that another process on a shared machine disturbs
every contender alike; one forward (and optionally backward) call on fresh leaf tensors each.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import pandas as pd
import torch
import torch.nn.functional as F

from ..._validate import as_positive_array, positive_int
from . import selective_scan

__all__ = [
    "Crossover", "attention", "attention_inputs", "crossover_length", "make_scan_inputs",
    "measure", "scan_vs_attention", "scan_with", "timed",
]


def make_scan_inputs(batch: int, dim: int, length: int, dstate: int, device="cpu",
                     seed: int = 0) -> dict[str, torch.Tensor]:
    """Mamba-like scan arguments, drawn from ``seed``: u (batch, dim, L) standard normal; delta
    softplus(normal - 2), a typical step size; A S4D-real, -(n + 1); input-dependent B and C
    (batch, dstate, L); D ones (dim,)."""
    gen = torch.Generator().manual_seed(positive_int("seed", seed, minimum=0))
    args = dict(
        u=torch.randn(batch, dim, length, generator=gen),
        delta=F.softplus(torch.randn(batch, dim, length, generator=gen) - 2),
        A=-torch.arange(1.0, dstate + 1).repeat(dim, 1),
        B=torch.randn(batch, dstate, length, generator=gen),
        C=torch.randn(batch, dstate, length, generator=gen),
        D=torch.ones(dim),
    )
    return {k: v.to(device) for k, v in args.items()}


def attention_inputs(batch: int, heads: int, length: int, head_dim: int, device="cpu",
                     seed: int = 1) -> dict[str, torch.Tensor]:
    """q, k, v of shape (batch, heads, L, head_dim), standard normal, drawn from ``seed``."""
    gen = torch.Generator().manual_seed(positive_int("seed", seed, minimum=0))
    return {k: torch.randn(batch, heads, length, head_dim, generator=gen).to(device) for k in "qkv"}


def scan_with(backend: str) -> Callable:
    """``fn(u, delta, A, B, C, D)``: the selective scan on ``backend``."""
    return lambda u, delta, A, B, C, D: selective_scan(u, delta, A, B, C, D, backend=backend)


def attention(q, k, v):
    """Causal softmax attention (PyTorch's SDPA)."""
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def timed(fn: Callable, args: dict, backward: bool, device) -> float:
    """Seconds for one forward (and backward, with a ones gradient) call on fresh leaves."""
    device = torch.device(device)
    leaves = {k: v.detach().requires_grad_() for k, v in args.items()}
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn(**leaves)
    if backward:
        out.backward(torch.ones_like(out))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(contenders: dict[str, Callable], args: dict, reps: int, device) -> dict[str, tuple[float, float]]:
    """{name: (forward s, forward+backward s)}: minima over ``reps`` interleaved rounds, after one
    warm-up call each (allocator, caches, Triton compilation)."""
    reps = positive_int("reps", reps)
    times = {name: ([], []) for name in contenders}
    for fn in contenders.values():
        timed(fn, args, True, device)
    for _ in range(reps):
        for name, fn in contenders.items():
            times[name][0].append(timed(fn, args, False, device))
            times[name][1].append(timed(fn, args, True, device))
    return {name: (min(f), min(fb)) for name, (f, fb) in times.items()}


class Crossover(NamedTuple):
    """Where one cost curve overtakes another.

    length : the crossing, log-log interpolated between the two measured lengths around it; the
        first length if the second curve is already above there, the last if it never gets above.
    where : "inside" (crossed between measured lengths), "below" (already above at the first
        length: the crossing is at or below it) or "above" (never above: it lies beyond the last).
    """

    length: float
    where: str


def crossover_length(lengths: Sequence[float], first: Sequence[float],
                     second: Sequence[float]) -> Crossover:
    """Where ``second`` (e.g. attention's times) first exceeds ``first`` (the scan's), over
    increasing ``lengths``; all three positive and of one length (at least 2)."""
    L = as_positive_array("lengths", lengths)
    a = as_positive_array("first", first)
    b = as_positive_array("second", second)
    if not len(L) == len(a) == len(b) or len(L) < 2:
        raise ValueError(f"lengths, first and second must have one length of at least 2, got "
                         f"{len(L)}, {len(a)} and {len(b)}")
    if (L[1:] <= L[:-1]).any():
        raise ValueError("lengths must be strictly increasing")
    gap = [math.log(y) - math.log(x) for x, y in zip(a, b)]
    if gap[0] > 0:
        return Crossover(float(L[0]), "below")
    for i in range(1, len(L)):
        if gap[i] > 0:
            l0, l1 = math.log(L[i - 1]), math.log(L[i])
            at = l0 + (l1 - l0) * (-gap[i - 1]) / (gap[i] - gap[i - 1])
            return Crossover(float(math.exp(at)), "inside")
    return Crossover(float(L[-1]), "above")


def scan_vs_attention(lengths: Sequence[int], *, batch: int = 2, dim: int = 256, dstate: int = 16,
                      heads: int = 4, backend: str = "chunked", reps: int = 3,
                      reps_long: int | None = 1, long_from: int = 4096,
                      device="cpu") -> pd.DataFrame:
    """Time the scan (``dim`` channels, ``dstate`` states) and causal attention (``heads``
    heads of ``dim / heads``, the same width) at each length.

    Returns one row per length: ``L``, ``scan_forward``, ``attention_forward``,
    ``scan_backward``, ``attention_backward`` (seconds; the backward columns are forward +
    backward) and ``ratio`` = attention / scan, forward + backward. Lengths from ``long_from``
    on use ``reps_long`` repetitions (None: ``reps``).
    """
    lengths = [positive_int("lengths[i]", int(n)) for n in lengths]
    batch, dim, dstate = (positive_int(n, v) for n, v in
                          (("batch", batch), ("dim", dim), ("dstate", dstate)))
    heads = positive_int("heads", heads)
    if dim % heads:
        raise ValueError(f"heads must divide dim, got heads={heads} and dim={dim}")
    rows = []
    for length in lengths:
        n = reps if (reps_long is None or length < long_from) else reps_long
        scan = measure({"scan": scan_with(backend)},
                       make_scan_inputs(batch, dim, length, dstate, device), n, device)["scan"]
        attn = measure({"attn": attention},
                       attention_inputs(batch, heads, length, dim // heads, device), n, device)["attn"]
        rows.append({"L": length, "scan_forward": scan[0], "attention_forward": attn[0],
                     "scan_backward": scan[1], "attention_backward": attn[1],
                     "ratio": attn[1] / scan[1]})
    return pd.DataFrame(rows)
