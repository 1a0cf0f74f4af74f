"""The selective scan as a chunked scan in PyTorch, with a hand-written backward scan.

The recurrence ``x_t = a_t x_{t-1} + b_t`` (with ``a_t = exp(delta_t A)`` and
``b_t = delta_t B_t u_t``, all (batch, dim, dstate) per step) is cut into ``n_chunks`` chunks of
``chunk`` steps, and the chunks are scanned side by side:

1. sweep 1: every chunk runs the recurrence from a zero state (one tensor operation per step, over
   all chunks at once), giving the state each chunk would end with on its own;
2. carry: a short sequential pass over chunks, ``H_{c+1} = P_c H_c + h_c``, where
   ``P_c = exp(A * sum of delta over chunk c)`` is the chunk's total decay, gives the true state
   entering every chunk;
3. sweep 2: every chunk reruns the recurrence from its true entering state, giving every ``x_t``,
   and ``y_t = <x_t, C_t>`` as it goes.

With ``chunk ~ sqrt(L)`` that is a few times ``sqrt(L)`` tensor operations instead of ``L``. Each
works on "step t of every chunk", a slice of about 1/chunk of the whole state history, so the
working set stays in cache.

Only products of decays (each ``exp`` of something) and sums appear: nothing is divided by a
cumulative product, so a long sequence or a large ``|A delta|`` cannot overflow through a tiny
divisor, and a decay that underflows to 0 is the right answer.

The backward pass is the same machinery run backwards in time. With ``g_x_t`` the gradient
reaching state ``x_t`` (from ``y_t`` and from ``x_{t+1}``):
``g_x_t = g_y_t C_t + a_{t+1} g_x_{t+1}`` (a reverse scan, chunked the same way), and then, with
``q_t = g_x_t a_t x_{t-1}``:

- ``g_delta_t = sum_n A q_t + u_t sum_n g_x_t B_t``, ``g_u_t = delta_t sum_n g_x_t B_t``,
- ``g_A = sum_{batch, t} delta_t q_t``,
- ``g_B_t = sum_{channels of the group} g_x_t delta_t u_t``, ``g_C_t = sum_{...} g_y_t x_t``.

Its cost is linear in L, like the forward pass.

Layout. Inputs arrive as (batch, dim, L); they are turned time-major, (L, batch, dim), with one
2-D transpose (PyTorch copies 2-D transposes in cache-sized blocks, other permutations element by
element), and viewed as (n_chunks, chunk, batch, groups, 1, dim/groups), so that step t of every
chunk is ``[:, t]``. A step slice of the state is (n_chunks, batch, groups, dstate, dim/groups):
channels last, so elementwise work runs along contiguous rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

from ._common import (
    as_groups, common_groups, compute_dtype, finish_output, groups_of, prepare_delta,
)

__all__ = [
    "selective_scan_chunked", "default_chunk", "scan_forward", "scan_backward", "scan_with_grad",
]


def default_chunk(length: int) -> int:
    """Steps per chunk, about sqrt(L): the two sweeps cost ``chunk`` steps each, the carry pass
    ``L / chunk``, and each step's tensors are 1/chunk of the state history."""
    return max(1, math.isqrt(max(length - 1, 0)) + 1)


# --- layout -----------------------------------------------------------------------------------


def _time_major(v: torch.Tensor, padded_length: int) -> torch.Tensor:
    """(rows, L) -> (padded_length, rows), zero-padded at the end of time."""
    rows, length = v.shape
    if padded_length == length:
        return v.t().contiguous()
    out = v.new_zeros(padded_length, rows)
    out[:length] = v.t()
    return out


def _rows_to_steps(v: torch.Tensor, groups: int, chunk: int, n_chunks: int) -> torch.Tensor:
    """(batch, dim, L) -> (n_chunks, chunk, batch, groups, 1, dim/groups)."""
    batch, dim, length = v.shape
    w = _time_major(v.reshape(batch * dim, length), chunk * n_chunks)
    return w.view(n_chunks, chunk, batch, groups, 1, dim // groups)


def _rows_from_steps(v: torch.Tensor, length: int) -> torch.Tensor:
    """(n_chunks, chunk, batch, groups, 1, dim/groups) -> (batch, dim, L)."""
    n_chunks, chunk, batch, groups, _, per_group = v.shape
    w = v.reshape(n_chunks * chunk, batch * groups * per_group)[:length]
    return w.t().contiguous().view(batch, groups * per_group, length)


def _bc_to_steps(M: torch.Tensor, groups: int, chunk: int, n_chunks: int) -> torch.Tensor:
    """A, or B or C, for broadcasting against a step slice (n_chunks, batch, groups, dstate, dg).

    (dim, dstate) -> (groups, dstate, dim/groups), the same at every step;
    (batch, groups, dstate, L) -> (n_chunks, chunk, batch, groups, dstate, 1).
    """
    if M.dim() == 2:
        dim, dstate = M.shape
        return M.reshape(groups, dim // groups, dstate).transpose(1, 2).contiguous()
    batch, _, dstate, length = M.shape
    w = _time_major(M.reshape(batch * groups * dstate, length), chunk * n_chunks)
    return w.view(n_chunks, chunk, batch, groups, dstate, 1)


def _bc_from_steps(g: torch.Tensor, shape: torch.Size, length: int) -> torch.Tensor:
    """Inverse of :func:`_bc_to_steps` for gradients: back to ``shape`` (the argument's)."""
    if len(shape) == 2:  # g: (groups, dstate, dim/groups)
        return g.transpose(1, 2).reshape(shape)
    # g: (n_chunks, chunk, batch, groups, dstate) with a singleton somewhere after chunk
    w = g.reshape(g.shape[0] * g.shape[1], -1)[:length]
    return w.t().contiguous().view(shape)


def _at(M_s: torch.Tensor, time_invariant: bool, t: int) -> torch.Tensor:
    """Step t of every chunk of a step-major tensor; a time-invariant one is the same always."""
    return M_s if time_invariant else M_s[:, t]


# --- forward and backward on plain tensors ----------------------------------------------------


@dataclass
class ScanState:
    """What :func:`scan_backward` needs from :func:`scan_forward`.

    ``a`` and ``x`` hold the decays and the states as lists of ``chunk`` step slices, each
    (n_chunks, batch, groups, dstate, dim/groups); ``entering`` is the state entering every
    chunk, one step slice. The rest are the step-major inputs and the shapes to return
    gradients in.
    """

    a: list
    x: list
    entering: torch.Tensor
    chunk_decay: torch.Tensor
    d_s: torch.Tensor
    du_s: torch.Tensor
    u_s: torch.Tensor
    A_s: torch.Tensor
    B_s: torch.Tensor
    C_s: torch.Tensor
    B_shape: torch.Size
    C_shape: torch.Size
    dim: int
    length: int
    groups: int


_TENSORS = ("entering", "chunk_decay", "d_s", "du_s", "u_s", "A_s", "B_s", "C_s")
_META = ("B_shape", "C_shape", "dim", "length", "groups")


def scan_forward(delta, u, A, B, C, groups: int, chunk: int | None = None, keep: bool = False):
    """The scan proper: y_t = <x_t, C_t> with x_t = exp(delta_t A) x_{t-1} + delta_t B_t u_t.

    delta, u: (batch, dim, L), delta already biased and softplus-ed; A: (dim, dstate);
    B, C: (dim, dstate) or (batch, groups, dstate, L); all of one float dtype.
    Returns y (batch, dim, L), the last state (batch, dim, dstate) and, if ``keep``, a
    :class:`ScanState` for :func:`scan_backward` (else None).
    """
    batch, dim, length = u.shape
    dstate = A.shape[1]
    chunk = min(chunk or default_chunk(length), length)
    n_chunks = -(-length // chunk)
    layout = dict(groups=groups, chunk=chunk, n_chunks=n_chunks)
    d_s = _rows_to_steps(delta, **layout)  # (n_chunks, chunk, batch, groups, 1, dg)
    u_s = _rows_to_steps(u, **layout)
    du_s = d_s * u_s
    A_s = _bc_to_steps(A, **layout)  # (groups, dstate, dg)
    B_s, C_s = _bc_to_steps(B, **layout), _bc_to_steps(C, **layout)
    B_fixed, C_fixed = B.dim() == 2, C.dim() == 2
    # The zero-padded tail has delta = 0, so a = 1 and b = 0 there: the state just carries over.

    # The decays and states are kept as one block per step rather than one big tensor: blocks
    # of this size are recycled by the allocator from call to call, while a tensor of tens of MB
    # is mapped afresh every time and page-faults on first touch. The loops allocate nothing.
    step_shape = (n_chunks, batch, groups, dstate, dim // groups)
    a = [u.new_empty(step_shape) for _ in range(chunk)]  # decays
    x = [u.new_empty(step_shape) for _ in range(chunk)]  # inputs b_t, made states x_t in place
    ends, spare = u.new_empty(step_shape), u.new_empty(step_shape)

    # Sweep 1: where each chunk would end from a zero state.
    for t in range(chunk):
        torch.mul(d_s[:, t], A_s, out=a[t]).exp_()
        torch.mul(du_s[:, t], _at(B_s, B_fixed, t), out=x[t])
        if t == 0:
            ends.copy_(x[0])
        else:
            ends, spare = torch.addcmul(x[t], a[t], ends, out=spare), ends

    # Carry: the true state entering each chunk; P_c = exp(A * sum of delta over chunk c).
    chunk_decay = torch.mul(d_s.sum(1), A_s).exp_()  # (n_chunks, batch, groups, dstate, dg)
    entering = spare.zero_()
    for c in range(1, n_chunks):
        torch.addcmul(ends[c - 1], chunk_decay[c - 1], entering[c - 1], out=entering[c])

    # Sweep 2: every state, in place, and every output y_t = C_t . x_t.
    ys = []
    for t in range(chunk):
        x[t].addcmul_(a[t], entering if t == 0 else x[t - 1])
        C_t = _at(C_s, C_fixed, t)
        if C_fixed:
            ys.append(torch.mul(x[t], C_t, out=ends).sum(-2, keepdim=True))
        else:
            ys.append(torch.matmul(C_t.transpose(-1, -2), x[t]))  # (1, dstate) @ (dstate, dg)
    y = _rows_from_steps(torch.stack(ys, dim=1), length)
    # A copy, never a view into a buffer the backward pass will read.
    last = x[-1][-1].transpose(-1, -2).reshape(batch, dim, dstate).clone()

    state = None
    if keep:
        state = ScanState(a=a, x=x, entering=entering, chunk_decay=chunk_decay, d_s=d_s, du_s=du_s,
                          u_s=u_s, A_s=A_s, B_s=B_s, C_s=C_s, B_shape=B.shape, C_shape=C.shape,
                          dim=dim, length=length, groups=groups)
    return y, last, state


def scan_backward(s: ScanState, g_y, g_last):
    """Gradients of (y, last state) with respect to (delta, u, A, B, C) of :func:`scan_forward`.

    g_y: (batch, dim, L) or None; g_last: (batch, dim, dstate) or None. Reads ``s`` without
    changing it. Returns a tuple shaped like (delta, u, A, B, C).
    """
    n_chunks, chunk, batch, groups = s.d_s.shape[:4]
    dim, dstate, length = s.dim, s.A_s.shape[-2], s.length
    B_fixed, C_fixed = len(s.B_shape) == 2, len(s.C_shape) == 2
    layout = dict(groups=groups, chunk=chunk, n_chunks=n_chunks)
    if g_y is None:
        g_y = s.u_s.new_zeros(batch, dim, length)
    gy_s = _rows_to_steps(g_y, **layout)
    a, x = s.a, s.x
    slices = [torch.empty_like(a[0]) for _ in range(4)]  # reused scratch, as in the forward

    def direct(t, out):
        """g_y_t C_t, the gradient reaching state x_t from y_t, into ``out``."""
        out = torch.mul(gy_s[:, t], _at(s.C_s, C_fixed, t), out=out)
        if t == chunk - 1 and g_last is not None:
            out[-1] += g_last.reshape(batch, groups, dim // groups, dstate).transpose(-1, -2)
        return out

    # Reverse sweep 1: what each chunk, from a zero gradient at its end, sends to the chunk
    # before it (a at its first step times g_x there).
    starts, spare = direct(chunk - 1, slices[0]), slices[1]
    for t in range(chunk - 2, -1, -1):
        starts, spare = direct(t, spare).addcmul_(a[t + 1], starts), starts
    starts.mul_(a[0])
    # Carry: the gradient arriving at each chunk's last step from all the chunks after it.
    arriving = spare.zero_()
    for c in range(n_chunks - 2, -1, -1):
        torch.addcmul(starts[c + 1], s.chunk_decay[c + 1], arriving[c + 1], out=arriving[c])

    # Reverse sweep 2: every g_x_t = g_y_t C_t + p_{t+1} with p_t = a_t g_x_t, and from it every
    # gradient of step t; q_t = p_t x_{t-1}.
    gA_acc = torch.zeros_like(arriving)  # sum over steps of delta_t q_t (chunks, batch: later)
    gB_acc = torch.zeros_like(arriving) if B_fixed else None
    gC_acc = torch.zeros_like(arriving) if C_fixed else None
    gdA, gxB, gB, gC = [None] * chunk, [None] * chunk, [None] * chunk, [None] * chunk
    g_x, q, p, p_next = starts, slices[2], slices[3], arriving
    for t in range(chunk - 1, -1, -1):
        direct(t, g_x).add_(p_next)
        du_t, gy_t = s.du_s[:, t], gy_s[:, t]
        if B_fixed:
            gxB[t] = torch.mul(g_x, s.B_s, out=q).sum(-2, keepdim=True)
            gB_acc.addcmul_(g_x, du_t)
        else:
            B_t = s.B_s[:, t]
            gxB[t] = torch.matmul(B_t.transpose(-1, -2), g_x)  # (1, dstate) @ (dstate, dg)
            # As (1, dg) @ (dg, dstate): a strided du_t on the right would be far slower.
            gB[t] = torch.matmul(du_t, g_x.transpose(-1, -2))
        if C_fixed:
            gC_acc.addcmul_(x[t], gy_t)
        else:
            gC[t] = torch.matmul(gy_t, x[t].transpose(-1, -2))
        torch.mul(a[t], g_x, out=p)
        torch.mul(p, s.entering if t == 0 else x[t - 1], out=q)
        gA_acc.addcmul_(q, s.d_s[:, t])
        gdA[t] = q.mul_(s.A_s).sum(-2, keepdim=True)  # sum_n A q_t
        p, p_next = p_next, p

    gxB = torch.stack(gxB, dim=1)  # (n_chunks, chunk, batch, groups, 1, dg)
    g_delta = _rows_from_steps(torch.stack(gdA, dim=1).add_(s.u_s * gxB), length)
    g_u = _rows_from_steps(gxB.mul_(s.d_s), length)
    g_A = _bc_from_steps(gA_acc.sum((0, 1)), torch.Size((dim, dstate)), length)
    g_B = gB_acc.sum((0, 1)) if B_fixed else torch.stack(gB, dim=1)
    g_C = gC_acc.sum((0, 1)) if C_fixed else torch.stack(gC, dim=1)
    return g_delta, g_u, g_A, _bc_from_steps(g_B, s.B_shape, length), \
        _bc_from_steps(g_C, s.C_shape, length)


class _ChunkedScan(torch.autograd.Function):
    """(y, last_state) of the scan proper, with :func:`scan_backward` as its backward."""

    @staticmethod
    def forward(ctx, delta, u, A, B, C, groups, chunk):
        keep = any(ctx.needs_input_grad[:5])
        ctx.set_materialize_grads(False)  # an unused output's gradient arrives as None, not zeros
        y, last, state = scan_forward(delta, u, A, B, C, groups, chunk, keep=keep)
        if keep:
            # Through save_for_backward, so autograd frees them after the backward pass (unless
            # retain_graph) and refuses a second one with a clear error.
            ctx.meta = {k: getattr(state, k) for k in _META}
            ctx.chunk = len(state.a)
            ctx.save_for_backward(*state.a, *state.x, *(getattr(state, k) for k in _TENSORS))
        return y, last

    @staticmethod
    @once_differentiable  # the hand-written backward is not itself differentiable
    def backward(ctx, g_y, g_last):
        saved, chunk = ctx.saved_tensors, ctx.chunk
        state = ScanState(a=list(saved[:chunk]), x=list(saved[chunk:2 * chunk]),
                          **dict(zip(_TENSORS, saved[2 * chunk:])), **ctx.meta)
        return (*scan_backward(state, g_y, g_last), None, None)


def scan_with_grad(delta, u, A, B, C, groups: int, chunk: int | None = None):
    """Differentiable (y, last_state) of the scan proper, via the chunked forward and backward.

    Arguments as for :func:`scan_forward`.
    """
    return _ChunkedScan.apply(delta, u, A, B, C, groups, chunk)


def selective_scan_chunked(
    u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
    return_last_state=False, *, chunk: int | None = None,
):
    """Chunked selective scan; same arguments and result as ``selective_scan``.

    ``chunk`` (steps per chunk) defaults to about sqrt(L). Arguments are not checked here: call it
    through :func:`scalingbook.kernels.selective_scan` with ``backend="chunked"``.
    """
    dtype = compute_dtype(u)
    groups = common_groups(groups_of(B), groups_of(C))
    delta_f = prepare_delta(delta, delta_bias, delta_softplus, dtype)
    u_f = u.to(dtype)
    y, last = scan_with_grad(delta_f, u_f, A.to(dtype), as_groups(B, groups, dtype),
                             as_groups(C, groups, dtype), groups, chunk)
    out = finish_output(y, u_f, D, z, u.dtype)
    return (out, last) if return_last_state else out
