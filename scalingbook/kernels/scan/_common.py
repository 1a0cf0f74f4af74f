"""What every backend of the selective scan shares: checking the arguments, and the cheap
elementwise work around the scan itself (delta's bias and softplus, the ``D`` skip, the ``z`` gate).

The scan proper (``x_t = exp(delta_t A) x_{t-1} + delta_t B_t u_t``, ``y_t = <x_t, C_t>``) is what
the backends differ in; everything here is plain PyTorch, differentiated by autograd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "ScanShapes", "check_inputs", "compute_dtype", "prepare_delta", "finish_output", "groups_of",
    "common_groups", "as_groups",
]


@dataclass(frozen=True)
class ScanShapes:
    """Sizes read off validated inputs.

    ``b_groups`` / ``c_groups`` are 0 for a time-invariant (dim, dstate) B or C, 1 for the
    (batch, dstate, L) form, and the group count for the (batch, groups, dstate, L) form.
    """

    batch: int
    dim: int
    length: int
    dstate: int
    b_groups: int
    c_groups: int


def _tensor(name: str, value, *, ndim: tuple[int, ...]) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        # Complex A is allowed by mamba_ssm's CUDA kernel; this contract is for real A only.
        raise ValueError(f"{name} must have a floating-point dtype, got {value.dtype}")
    if value.dim() not in ndim:
        want = " or ".join(f"{n}-dimensional" for n in ndim)
        raise ValueError(f"{name} must be {want}, got shape {tuple(value.shape)}")
    return value


def _check_bc(name: str, value, batch: int, dim: int, dstate: int, length: int) -> int:
    """Validate B or C in any of its three forms and return its group count (0: time-invariant)."""
    t = _tensor(name, value, ndim=(2, 3, 4))
    if t.dim() == 2:
        if tuple(t.shape) != (dim, dstate):
            raise ValueError(
                f"{name} as a time-invariant matrix must have shape (dim, dstate) = "
                f"({dim}, {dstate}), got {tuple(t.shape)}"
            )
        return 0
    if t.dim() == 3:
        if tuple(t.shape) != (batch, dstate, length):
            raise ValueError(
                f"{name} as an input-dependent tensor must have shape (batch, dstate, L) = "
                f"({batch}, {dstate}, {length}), got {tuple(t.shape)}"
            )
        return 1
    groups = t.shape[1]
    if (t.shape[0], t.shape[2], t.shape[3]) != (batch, dstate, length) or groups < 1:
        raise ValueError(
            f"{name} as a grouped tensor must have shape (batch, groups, dstate, L) = "
            f"({batch}, groups, {dstate}, {length}), got {tuple(t.shape)}"
        )
    if dim % groups != 0:
        raise ValueError(f"{name} has {groups} groups, which does not divide dim = {dim}")
    return groups


def check_inputs(u, delta, A, B, C, D=None, z=None, delta_bias=None) -> ScanShapes:
    """Check ranks, shapes, dtypes and devices; raise ``ValueError`` naming the argument.

    Shapes: u, delta, z (batch, dim, L); A (dim, dstate); B, C (dim, dstate) or
    (batch, dstate, L) or (batch, groups, dstate, L); D, delta_bias (dim,).
    """
    u = _tensor("u", u, ndim=(3,))
    batch, dim, length = u.shape
    if length < 1:
        raise ValueError(f"u must have at least one time step, got shape {tuple(u.shape)}")
    delta = _tensor("delta", delta, ndim=(3,))
    if delta.shape != u.shape:
        raise ValueError(
            f"delta must have the shape of u, (batch, dim, L) = {tuple(u.shape)}, "
            f"got {tuple(delta.shape)}"
        )
    A = _tensor("A", A, ndim=(2,))
    if A.shape[0] != dim or A.shape[1] < 1:
        raise ValueError(f"A must have shape (dim, dstate) with dim = {dim}, got {tuple(A.shape)}")
    dstate = A.shape[1]
    b_groups = _check_bc("B", B, batch, dim, dstate, length)
    c_groups = _check_bc("C", C, batch, dim, dstate, length)
    for name, value in (("D", D), ("delta_bias", delta_bias)):
        if value is not None:
            t = _tensor(name, value, ndim=(1,))
            if t.shape[0] != dim:
                raise ValueError(f"{name} must have shape (dim,) = ({dim},), got {tuple(t.shape)}")
    if z is not None:
        z = _tensor("z", z, ndim=(3,))
        if z.shape != u.shape:
            raise ValueError(
                f"z must have the shape of u, (batch, dim, L) = {tuple(u.shape)}, "
                f"got {tuple(z.shape)}"
            )
    named = {"delta": delta, "A": A, "B": B, "C": C, "D": D, "z": z, "delta_bias": delta_bias}
    for name, value in named.items():
        if value is not None and value.device != u.device:
            raise ValueError(f"{name} is on {value.device} but u is on {u.device}")
    return ScanShapes(batch, dim, length, dstate, b_groups, c_groups)


def compute_dtype(u: torch.Tensor) -> torch.dtype:
    """float32 for half, bfloat16 and float32 inputs; float64 stays float64 (for gradcheck)."""
    return torch.float64 if u.dtype == torch.float64 else torch.float32


def prepare_delta(delta, delta_bias, delta_softplus: bool, dtype: torch.dtype) -> torch.Tensor:
    """delta + delta_bias[:, None], then softplus if asked, in ``dtype``. Shape (batch, dim, L)."""
    delta = delta.to(dtype)
    if delta_bias is not None:
        delta = delta + delta_bias.to(dtype)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    return delta


def groups_of(M: torch.Tensor) -> int:
    """0 for a time-invariant (dim, dstate) B or C, 1 for (batch, dstate, L), else its groups."""
    return {2: 0, 3: 1}.get(M.dim(), M.shape[1] if M.dim() == 4 else 0)


def common_groups(b_groups: int, c_groups: int) -> int:
    """One group count that both B's and C's groupings refine to (1 if both are time-invariant).

    The lcm of two divisors of dim divides dim, so the result is always a valid grouping.
    """
    gb, gc = max(b_groups, 1), max(c_groups, 1)
    return gb * gc // math.gcd(gb, gc)


def as_groups(M: torch.Tensor, groups: int, dtype: torch.dtype) -> torch.Tensor:
    """B or C in ``dtype`` as (dim, dstate) if time-invariant, else as (batch, groups, dstate, L).

    A coarser grouping is repeated so that group g of ``groups`` reads the group its channels
    read before (autograd sums the repeats back in the backward pass).
    """
    M = M.to(dtype)
    if M.dim() == 2:
        return M
    if M.dim() == 3:
        M = M.unsqueeze(1)
    if M.shape[1] != groups:
        M = M.repeat_interleave(groups // M.shape[1], dim=1)
    return M


def finish_output(y, u, D, z, out_dtype):
    """out = (y + D u) * silu(z), cast to ``out_dtype``; y and u are (batch, dim, L)."""
    out = y
    if D is not None:
        out = out + D.to(y.dtype)[:, None] * u
    if z is not None:
        out = out * F.silu(z.to(y.dtype))
    return out.to(out_dtype)
