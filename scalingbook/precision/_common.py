"""Internals shared by the precision modules: input checks, exact powers of two, and the
counter-based random bits that make stochastic rounding reproducible on every backend.

Stochastic rounding draws one 24-bit uniform per element from a hash of (seed, element index)
rather than from torch's generator directly: the PyTorch twin and the Triton kernel compute the
same hash, so they round every element the same way and can be tested for bit equality. The
seed itself is drawn from the caller's ``torch.Generator``, so ``generator`` seeds everything.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from .._validate import one_of

ROUNDING_MODES = ("nearest_even", "nearest_away", "toward_zero", "stochastic")

# Hash constants. All multipliers are odd and below 2**31, so a 32-bit value times one of them
# stays below 2**63 and the int64 arithmetic in torch never overflows.
_COUNTER_MUL = 0x61C88647
_MIX_MUL_1 = 0x21F0AAAD
_MIX_MUL_2 = 0x735A2D97
_SEED_SALT = 0x5BD1E995
_M32 = 0xFFFFFFFF


class RoundParams(NamedTuple):
    """What the rounding arithmetic needs to know about an element grid.

    ``man_bits`` mantissa bits, exponents clamped to ``[emin, emax]`` (the quantum in a binade
    with exponent e is ``2**(e - man_bits)``), finite values up to ``max``. MXINT8 fits this
    mould too: ``man_bits=6, emin=emax=0`` gives the fixed step 1/64.
    """

    man_bits: int
    emin: int
    emax: int
    max: float


def as_float_tensor(name: str, x: Any) -> torch.Tensor:
    """Return ``x`` as a floating-point tensor, or raise ``ValueError`` naming ``name``."""
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"{name} must be a tensor of floats, got {type(x).__name__}: {exc}") from None
    if not x.is_floating_point():
        raise ValueError(f"{name} must have a floating-point dtype, got {x.dtype}")
    return x


def check_rounding(rounding: str) -> str:
    return one_of("rounding", rounding, ROUNDING_MODES)


def normalize_axis(axis: Any, ndim: int, name: str = "axis") -> int:
    """Return ``axis`` as a non-negative index into ``ndim`` dimensions."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"{name} must be an integer, got {axis!r}")
    if ndim == 0:
        raise ValueError(f"{name}={axis} is out of range for a 0-dimensional tensor")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for a tensor with {ndim} dimensions")
    return axis % ndim


def pow2_f64(k: torch.Tensor) -> torch.Tensor:
    """Exact float64 ``2**k`` for integer ``k`` in [-1022, 1023]."""
    return ((k.to(torch.int64) + 1023) << 52).view(torch.float64)


def _mix32_py(h: int) -> int:
    h ^= h >> 16
    h = (h * _MIX_MUL_1) & _M32
    h ^= h >> 15
    h = (h * _MIX_MUL_2) & _M32
    h ^= h >> 15
    return h


def _mix32(h: torch.Tensor) -> torch.Tensor:
    h = h ^ (h >> 16)
    h = (h * _MIX_MUL_1) & _M32
    h = h ^ (h >> 15)
    h = (h * _MIX_MUL_2) & _M32
    return h ^ (h >> 15)


class Seeds(NamedTuple):
    """Two 31-bit keys for the element hash (31 bits so Triton passes them as int32)."""

    seed: int
    key: int


def draw_seeds(generator: torch.Generator | None) -> Seeds:
    """Draw the hash keys from ``generator`` (torch's default generator when ``None``)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    device = generator.device if generator is not None else "cpu"
    seed = int(torch.randint(0, 2**31, (1,), generator=generator, device=device).item())
    return Seeds(seed, _mix32_py(seed ^ _SEED_SALT) & 0x7FFFFFFF)


def hash_uniform24(index: torch.Tensor, seeds: Seeds) -> torch.Tensor:
    """Uniform integers in [0, 2**24) from (seeds, ``index``), as int64 of ``index``'s shape.

    Two rounds of a multiply-xorshift mixer over ``index * odd + seed`` (mod 2**32). Not
    cryptographic; its job is independent, unbiased bits per element, reproducible everywhere.
    """
    h = ((index.to(torch.int64) & _M32) * _COUNTER_MUL + seeds.seed) & _M32
    h = _mix32(h)
    h = _mix32(h ^ seeds.key)
    return h >> 8


def uniform_like_index(index: torch.Tensor, seeds: Seeds) -> torch.Tensor:
    """Float64 uniforms ``k * 2**-24`` on [0, 1), one per ``index`` entry."""
    return hash_uniform24(index, seeds).double() * 2.0**-24
