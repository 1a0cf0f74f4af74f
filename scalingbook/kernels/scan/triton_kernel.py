"""The selective scan's forward pass as a Triton kernel; its PyTorch twin is ``chunked.py``.

Tiling. One program handles one sequence (``batch`` index) and a block of ``BLOCK_D`` channels,
and keeps their state, a (BLOCK_D, BLOCK_N) tile, on chip for the whole sequence. It walks the
sequence in tiles of ``BLOCK_L`` steps: it loads delta and u as (BLOCK_D, BLOCK_L) tiles, and B
and C at each channel's group as (BLOCK_D, BLOCK_N, BLOCK_L) tiles whose rows repeat within a group
(served from cache); all loads run contiguously along time. It forms the decays
``a = exp(delta A)`` and inputs ``b = delta B u`` as (BLOCK_D, BLOCK_N, BLOCK_L) tiles, and runs
``tl.associative_scan`` along time with the combine ``(a1, b1) . (a2, b2) = (a1 a2, a2 b1 + b2)``,
which composes two steps of ``x -> a x + b``. Adding ``cumulative a * carried state`` gives every
state of the tile, ``y = sum over dstate of x C`` is reduced on chip, and only y goes back to
memory: the (batch, dim, dstate, L) state history never exists in memory. The tile's last state is
carried to the next tile. Grid: (batch, cdiv(dim, BLOCK_D)). Like the twin, it multiplies decays
and never divides by a cumulative product.

The backward pass is not a Triton kernel: it recomputes the states with the chunked PyTorch scan
and runs that scan's hand-written backward (``chunked.scan_backward``).

On a machine without a GPU the kernel runs under Triton's interpreter: set ``TRITON_INTERPRET=1``
in the environment before this module is imported (the ``@triton.jit`` decorator reads it).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch.autograd.function import once_differentiable

from ._common import (
    as_groups, common_groups, compute_dtype, finish_output, groups_of, prepare_delta,
)
from .chunked import scan_backward, scan_forward

__all__ = ["selective_scan_triton", "scan_forward_triton", "INTERPRETED"]


@triton.jit
def _compose(a_first, b_first, a_then, b_then):
    # Two steps x -> a_first x + b_first, then x -> a_then x + b_then, as one step.
    return a_first * a_then, a_then * b_first + b_then


@triton.jit
def _selective_scan_fwd_kernel(
    delta_ptr, u_ptr, A_ptr, B_ptr, C_ptr, y_ptr, last_ptr,
    dim, length, dstate, b_channels_per_group, c_channels_per_group,
    s_xb, s_xd, s_xl,  # delta, u and y: (batch, dim, L), contiguous, one set of strides
    s_ad, s_an,  # A: (dim, dstate)
    s_bb, s_bg, s_bn, s_bl,  # B: (batch, groups, dstate, L); (dim, dstate) as (0, d, n, 0)
    s_cb, s_cg, s_cn, s_cl,
    s_lb, s_ld, s_ln,  # last state: (batch, dim, dstate)
    B_VARIABLE: tl.constexpr, C_VARIABLE: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr,
):
    pid_b = tl.program_id(0)
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    n = tl.arange(0, BLOCK_N)
    steps = tl.arange(0, BLOCK_L)
    d_ok = d < dim
    n_ok = n < dstate
    dn_ok = d_ok[:, None] & n_ok[None, :]

    # Padding lanes (n >= dstate) get A = 0 and B = C = 0: they carry a zero state and add nothing.
    A = tl.load(A_ptr + d[:, None] * s_ad + n[None, :] * s_an, mask=dn_ok, other=0.0)
    if not B_VARIABLE:
        B_fixed = tl.load(B_ptr + d[:, None] * s_bg + n[None, :] * s_bn, mask=dn_ok, other=0.0)
    if not C_VARIABLE:
        C_fixed = tl.load(C_ptr + d[:, None] * s_cg + n[None, :] * s_cn, mask=dn_ok, other=0.0)
    b_group = d // b_channels_per_group
    c_group = d // c_channels_per_group

    x = tl.zeros((BLOCK_D, BLOCK_N), dtype=A.dtype)  # the carried state
    for start in range(0, length, BLOCK_L):
        t = start + steps
        dl_ok = d_ok[:, None] & (t < length)[None, :]
        dnl_ok = dn_ok[:, :, None] & (t < length)[None, None, :]
        rows = pid_b * s_xb + d[:, None] * s_xd + t[None, :] * s_xl
        # Steps past the end load delta = 0, so a = 1 and b = 0: the state passes through.
        delta = tl.load(delta_ptr + rows, mask=dl_ok, other=0.0)  # (BLOCK_D, BLOCK_L)
        u = tl.load(u_ptr + rows, mask=dl_ok, other=0.0)
        if B_VARIABLE:
            B = tl.load(B_ptr + pid_b * s_bb + b_group[:, None, None] * s_bg
                        + n[None, :, None] * s_bn + t[None, None, :] * s_bl, mask=dnl_ok, other=0.0)
        else:
            B = B_fixed[:, :, None]
        if C_VARIABLE:
            C = tl.load(C_ptr + pid_b * s_cb + c_group[:, None, None] * s_cg
                        + n[None, :, None] * s_cn + t[None, None, :] * s_cl, mask=dnl_ok, other=0.0)
        else:
            C = C_fixed[:, :, None]

        a = tl.exp(delta[:, None, :] * A[:, :, None])  # (BLOCK_D, BLOCK_N, BLOCK_L)
        b = (delta * u)[:, None, :] * B
        a_cum, x_local = tl.associative_scan((a, b), axis=2, combine_fn=_compose)
        states = x_local + a_cum * x[:, :, None]
        y = tl.sum(states * C, axis=1)  # (BLOCK_D, BLOCK_L)
        tl.store(y_ptr + rows, y, mask=dl_ok)
        x = tl.sum(tl.where(steps[None, None, :] == BLOCK_L - 1, states, 0.0), axis=2)

    tl.store(last_ptr + pid_b * s_lb + d[:, None] * s_ld + n[None, :] * s_ln, x, mask=dn_ok)


def _kernel_strides(M: torch.Tensor):
    """(batch, groups, dstate, L) strides; a time-invariant (dim, dstate) as (0, d, n, 0)."""
    if M.dim() == 2:
        return 0, M.stride(0), M.stride(1), 0
    return M.stride()


def scan_forward_triton(delta, u, A, B, C, *, block_d: int = 16, block_l: int = 32):
    """y (batch, dim, L) and the last state (batch, dim, dstate) of the scan proper.

    delta (biased, softplus-ed) and u: (batch, dim, L); A: (dim, dstate); B and C: (dim, dstate)
    or (batch, groups, dstate, L), each with its own groups; one float dtype throughout.
    """
    if not (u.is_cuda or INTERPRETED):
        raise RuntimeError(
            "backend='triton' needs CUDA tensors, or TRITON_INTERPRET=1 set in the environment "
            "before scalingbook.kernels.scan.triton_kernel is first imported"
        )
    delta, u, A, B, C = (t.contiguous() for t in (delta, u, A, B, C))
    batch, dim, length = u.shape
    dstate = A.shape[1]
    y = torch.empty_like(u)
    last = u.new_empty(batch, dim, dstate)
    # No wider tiles than the problem: padding lanes cost as much as real ones.
    block_d = min(block_d, triton.next_power_of_2(dim))
    block_l = min(block_l, triton.next_power_of_2(length))
    grid = (batch, triton.cdiv(dim, block_d))
    _selective_scan_fwd_kernel[grid](
        delta, u, A, B, C, y, last,
        dim, length, dstate,
        dim // max(groups_of(B), 1), dim // max(groups_of(C), 1),
        *u.stride(), *A.stride(), *_kernel_strides(B), *_kernel_strides(C), *last.stride(),
        B_VARIABLE=B.dim() == 4, C_VARIABLE=C.dim() == 4,
        BLOCK_D=block_d, BLOCK_N=triton.next_power_of_2(dstate), BLOCK_L=block_l,
    )
    return y, last


class _TritonScan(torch.autograd.Function):
    """Triton forward; the backward recomputes the states with the chunked scan and runs its
    backward."""

    @staticmethod
    def forward(ctx, delta, u, A, B, C, groups):
        y, last = scan_forward_triton(delta, u, A, B, C)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(delta, u, A, B, C)
        ctx.groups = groups
        return y, last

    @staticmethod
    @once_differentiable
    def backward(ctx, g_y, g_last):
        delta, u, A, B, C = ctx.saved_tensors
        _, _, state = scan_forward(delta, u, A, B, C, ctx.groups, keep=True)
        return (*scan_backward(state, g_y, g_last), None)


def selective_scan_triton(
    u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
    return_last_state=False,
):
    """Selective scan with the Triton forward kernel; same arguments and result as
    ``selective_scan``. Arguments are not checked here: call it through
    :func:`scalingbook.kernels.selective_scan` with ``backend="triton"``.
    """
    dtype = compute_dtype(u)
    groups = common_groups(groups_of(B), groups_of(C))
    delta_f = prepare_delta(delta, delta_bias, delta_softplus, dtype)
    u_f = u.to(dtype)
    y, last = _TritonScan.apply(delta_f, u_f, A.to(dtype), as_groups(B, groups, dtype),
                                as_groups(C, groups, dtype), groups)
    out = finish_output(y, u_f, D, z, u.dtype)
    return (out, last) if return_last_state else out


# Whether @triton.jit gave us the interpreter (TRITON_INTERPRET=1 at import time).
INTERPRETED = type(_selective_scan_fwd_kernel).__name__ == "InterpretedFunction"
