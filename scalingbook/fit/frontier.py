"""The compute-efficient frontier of a set of learning curves, and the optimal model size on it.

Kaplan et al. (2020) and Henighan et al. (2020) read the compute-optimal model size off the
learning curves of a size sweep: plot every run's loss against the training FLOPs it has spent,
take the lower envelope (the frontier: the best loss any model size reaches at each compute),
and note which size sits on the envelope at each compute. As compute grows the envelope passes
from smaller to larger models; fitting those hand-overs with a power law gives
``N_opt(C) ∝ C^k``.

:func:`compute_frontier` builds the envelope on a log-spaced grid of compute, interpolating each
run's curve linearly in (log C, log L) between its checkpoints (a run covers only the compute
between its first and last checkpoint), and finds the hand-overs: the grid points where the
size on the envelope changes. :meth:`ComputeFrontier.fit_optimal_size` fits ``N = a C^-alpha``
(so ``k = -alpha``) to the hand-overs, each placed at the geometric mean of the two sizes.

This is the method of those papers, with its known weakness: a checkpoint in the middle of a
run with a decaying learning rate is not the end of a shorter run, so the envelope of one
schedule's curves favours larger models than separately tuned runs would (Hoffmann et al. 2022).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._validate import positive_int
from .least_squares import fit_power_law
from .result import FitResult

__all__ = ["ComputeFrontier", "compute_frontier"]


def _positive_finite(name: str, values: Any) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if np.isnan(arr).any():
        raise ValueError(f"{name} holds NaN at positions {np.flatnonzero(np.isnan(arr))[:5].tolist()}")
    if not np.isfinite(arr).all() or (arr <= 0).any():
        raise ValueError(f"{name} must be positive and finite")
    return arr


@dataclass
class ComputeFrontier:
    """The lower envelope of learning curves against compute.

    Attributes
    ----------
    points : DataFrame
        One row per grid point covered by at least one run: ``flops`` (training FLOPs), ``loss``
        (the envelope, in the curves' units) and ``size`` (the size whose curve is lowest there).
    handovers : DataFrame
        One row per change of the size on the envelope, in order of compute: ``flops`` (the
        first grid point where the new size is lowest), ``from_size``, ``to_size`` and
        ``size`` = sqrt(from_size * to_size).
    sizes : ndarray
        The distinct sizes, ascending.
    monotone : bool
        Whether the size on the envelope only ever grows with compute. If not (noisy curves
        that cross back and forth), the hand-overs include the backward steps and the fit of
        the optimal size is less trustworthy.
    """

    points: pd.DataFrame
    handovers: pd.DataFrame
    sizes: np.ndarray
    monotone: bool

    def fit_optimal_size(self, *, bootstrap: int = 0, seed: int = 0) -> FitResult:
        """Fit ``size = a * flops**(-alpha)`` to the hand-overs by OLS in log space; the optimal
        size grows as ``C^k`` with ``k = -alpha``. Needs at least 2 hand-overs."""
        if len(self.handovers) < 2:
            raise ValueError(f"the frontier has {len(self.handovers)} hand-over(s) between sizes; "
                             "fitting N_opt(C) needs at least 2 (train more sizes or longer)")
        return fit_power_law(self.handovers["flops"], self.handovers["size"],
                             bootstrap=bootstrap, seed=seed)


def compute_frontier(flops: Any, loss: Any, size: Any, *, n_grid: int = 200) -> ComputeFrontier:
    """The compute-efficient frontier of learning curves, one curve per distinct ``size``.

    Parameters
    ----------
    flops : array, shape (n,)
        Training FLOPs spent at each checkpoint (positive).
    loss : array, shape (n,)
        Loss at each checkpoint (positive, e.g. nats/token).
    size : array, shape (n,)
        Model size of the checkpoint's run (e.g. parameters); checkpoints of one size form one
        curve, which needs at least 2 checkpoints. At least 2 sizes.
    n_grid : int
        Log-spaced compute grid points spanning all checkpoints (at least 10).

    Returns
    -------
    ComputeFrontier
    """
    flops = _positive_finite("flops", flops)
    loss = _positive_finite("loss", loss)
    size = _positive_finite("size", size)
    if not len(flops) == len(loss) == len(size):
        raise ValueError(f"flops, loss and size must have the same length, got {len(flops)}, "
                         f"{len(loss)} and {len(size)}")
    n_grid = positive_int("n_grid", n_grid, minimum=10)
    sizes = np.unique(size)
    if len(sizes) < 2:
        raise ValueError(f"size must hold at least 2 distinct sizes, got {len(sizes)}")
    grid = np.geomspace(flops.min(), flops.max(), n_grid)
    lg = np.log(grid)
    curves = np.full((len(sizes), n_grid), np.inf)
    for i, s in enumerate(sizes):
        mine = size == s
        order = np.argsort(flops[mine])
        c, l = np.log(flops[mine][order]), np.log(loss[mine][order])
        if len(np.unique(c)) < 2:
            raise ValueError(f"size {s:g} has {len(np.unique(c))} distinct checkpoint(s); each "
                             "curve needs at least 2")
        inside = (lg >= c[0] - 1e-12) & (lg <= c[-1] + 1e-12)
        curves[i, inside] = np.interp(lg[inside], c, l)
    covered = np.isfinite(curves).any(axis=0)
    best = np.argmin(curves[:, covered], axis=0)
    points = pd.DataFrame({"flops": grid[covered],
                           "loss": np.exp(curves[best, np.flatnonzero(covered)]),
                           "size": sizes[best]})
    change = np.flatnonzero(np.diff(best)) + 1
    handovers = pd.DataFrame({
        "flops": points["flops"].to_numpy()[change],
        "from_size": sizes[best[change - 1]],
        "to_size": sizes[best[change]],
    })
    handovers["size"] = np.sqrt(handovers["from_size"] * handovers["to_size"])
    return ComputeFrontier(points=points, handovers=handovers, sizes=sizes,
                           monotone=bool((np.diff(best) >= 0).all()))
