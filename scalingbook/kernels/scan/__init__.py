"""The selective scan of Mamba (Gu & Dao 2023), with ``mamba_ssm.selective_scan_fn``'s signature.

Three backends compute the same thing:

- ``"reference"``: the sequential recurrence, one step at a time (``reference.py``), the spec;
- ``"chunked"``: a chunked scan in PyTorch with a hand-written backward (``chunked.py``);
- ``"triton"``: a Triton kernel for the forward pass (``triton_kernel.py``), whose backward reuses
  the chunked one; on a CPU it runs only under ``TRITON_INTERPRET=1``.

``"auto"`` takes triton for CUDA tensors when triton is importable, and chunked otherwise.
"""

from __future__ import annotations

import torch

from ..._validate import one_of
from ._common import check_inputs
from .chunked import selective_scan_chunked
from .reference import selective_scan_reference

__all__ = ["selective_scan", "BACKENDS", "triton_available"]

BACKENDS = ("auto", "reference", "chunked", "triton")


def triton_available() -> bool:
    """True if the Triton backend can be imported (triton installed and the kernel compiles)."""
    try:
        from . import triton_kernel  # noqa: F401
    except ImportError:
        return False
    return True


def _resolve(backend: str, u: torch.Tensor) -> str:
    if backend != "auto":
        return backend
    return "triton" if u.is_cuda and triton_available() else "chunked"


def selective_scan(
    u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
    return_last_state=False, *, backend="auto",
):
    """Mamba's selective scan, argument for argument as ``mamba_ssm``'s ``selective_scan_fn``.

    Shapes (L: sequence length):

    - ``u``, ``delta``, ``z``: (batch, dim, L);
    - ``A``: (dim, dstate), real (negative for a decaying state);
    - ``B``, ``C``: (dim, dstate) time-invariant, (batch, dstate, L) input-dependent, or
      (batch, groups, dstate, L) grouped, channel d reading group d // (dim / groups);
    - ``D``, ``delta_bias``: (dim,).

    Computes ``delta = delta + delta_bias`` then ``softplus(delta)`` if ``delta_softplus``;
    ``x_t = exp(delta_t A) x_{t-1} + delta_t B_t u_t`` from ``x_{-1} = 0``; ``y_t = <x_t, C_t>``
    (summed over dstate); ``out = y + D u``; ``out = out * silu(z)``.
    The arithmetic is float32 (float64 for float64 ``u``), and ``out`` is returned in ``u``'s
    dtype, (batch, dim, L). With ``return_last_state`` the result is ``(out, last_state)``, the
    state after the last step, (batch, dim, dstate) in the arithmetic dtype (as mamba_ssm does).

    ``backend`` is one of ``"auto"``, ``"reference"``, ``"chunked"``, ``"triton"``; all are
    differentiable in every tensor argument. Bad ranks, shapes, dtypes or backends raise
    ``ValueError`` naming the argument.
    """
    one_of("backend", backend, BACKENDS)
    check_inputs(u, delta, A, B, C, D, z, delta_bias)
    backend = _resolve(backend, u)
    args = (u, delta, A, B, C, D, z, delta_bias, bool(delta_softplus), bool(return_last_state))
    if backend == "reference":
        return selective_scan_reference(*args)
    if backend == "chunked":
        return selective_scan_chunked(*args)
    try:
        from .triton_kernel import selective_scan_triton
    except ImportError as exc:
        raise RuntimeError(
            f"backend='triton' needs the triton package (pip install 'scalingbook[kernels]'): {exc}"
        ) from exc
    return selective_scan_triton(*args)
