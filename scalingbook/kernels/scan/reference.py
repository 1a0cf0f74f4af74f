"""The selective scan as a plain sequential recurrence: the specification the other backends meet.

It is written to be read, one time step at a time, and differentiated by autograd. It is slow,
which is why ``chunked`` and ``triton`` exist: the forward pass is a Python loop of L steps of a
handful of small tensor operations each, and the backward pass is quadratic in L, because the
gradient of every ``u[:, :, t]`` (and delta, B, C) is materialised by autograd as a full-length
tensor of zeros with one step filled in, and the L of them are summed. Arguments are not checked
here: call it through :func:`scalingbook.kernels.selective_scan` with ``backend="reference"``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import compute_dtype

__all__ = ["selective_scan_reference"]


def _at_step(M: torch.Tensor, t: int, dim: int) -> torch.Tensor:
    """B or C at step t, one row per channel: (dim, dstate) or (batch, dim, dstate).

    A time-invariant (dim, dstate) is the same at every step; (batch, dstate, L) is shared by all
    channels; in (batch, groups, dstate, L) channel d reads group d // (dim / groups).
    """
    if M.dim() == 2:
        return M
    if M.dim() == 3:
        return M[:, None, :, t]
    return M[..., t].repeat_interleave(dim // M.shape[1], dim=1)


def selective_scan_reference(
    u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
    return_last_state=False,
):
    """Sequential selective scan; same arguments and result as ``selective_scan``.

    Shapes: u, delta, z (batch, dim, L); A (dim, dstate); B, C (dim, dstate), (batch, dstate, L)
    or (batch, groups, dstate, L); D, delta_bias (dim,). Returns out (batch, dim, L) in u's dtype,
    and with ``return_last_state`` the pair (out, last_state (batch, dim, dstate)).
    """
    out_dtype = u.dtype
    dtype = compute_dtype(u)
    batch, dim, length = u.shape
    u, delta, A, B, C = u.to(dtype), delta.to(dtype), A.to(dtype), B.to(dtype), C.to(dtype)

    if delta_bias is not None:
        delta = delta + delta_bias.to(dtype)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)

    x = u.new_zeros(batch, dim, A.shape[1])  # the state, (batch, dim, dstate)
    ys = []
    for t in range(length):
        delta_t = delta[:, :, t, None]  # (batch, dim, 1)
        B_t, C_t = _at_step(B, t, dim), _at_step(C, t, dim)  # (batch or 1, dim, dstate)
        decay = torch.exp(delta_t * A)  # how much of the old state survives this step
        x = decay * x + delta_t * B_t * u[:, :, t, None]
        ys.append((x * C_t).sum(-1))  # y_t = <x_t, C_t>, (batch, dim)
    y = torch.stack(ys, dim=-1)  # (batch, dim, L)

    out = y
    if D is not None:
        out = out + D.to(dtype)[:, None] * u
    if z is not None:
        out = out * F.silu(z.to(dtype))
    out = out.to(out_dtype)
    return (out, x) if return_last_state else out
