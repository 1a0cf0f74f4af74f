"""Hoffmann et al.'s (2022) approach 2: IsoFLOP profiles, a parabola per budget, power laws in C.

The recipe. Train several model sizes at each of a few compute budgets C (an *isoFLOP profile*:
at fixed C = 6ND a bigger model sees fewer tokens). Within each profile fit the final loss as a
parabola in log N; its vertex estimates the compute-optimal size N_opt(C), and D_opt = C/(6 N_opt).
Then fit power laws across budgets, ``N_opt = N_coef C^a`` and ``D_opt = D_coef C^b``, by ordinary
least squares in log-log space. Because D_opt = C/(6 N_opt) at every budget, ``b = 1 - a`` and
``D_coef = 1 / (6 N_coef)`` hold exactly (up to rounding), as they do for the law.

The parabola is an approximation. For ``L = E + A/N^alpha + B/D^beta`` the isoFLOP curve in
``u = ln(N / N*)`` is ``E + p e^(-alpha u) + q e^(beta u)`` with ``alpha p = beta q``: asymmetric
when alpha != beta, so the vertex of a parabola fitted over a window of sizes misses N*. That
curve's shape does not depend on C (only its scale and offset do, and neither moves a
least-squares vertex), so on a window laid out the same way around N* at every budget the miss is
the same factor at every budget: it biases ``N_coef`` and leaves the exponent ``a`` untouched.
Measured on noise-free :func:`~scalingbook.data.planted.isoflop_runs` of Hoffmann et al.'s law
(E, A, B, alpha, beta = 1.69, 406.4, 410.7, 0.34, 0.28), seven sizes per budget at five budgets
from 1e18 to 1e22 FLOPs: ``|a - law.a| < 1e-13``, while every vertex sits at 1.0026 N* for a
window of half a decade, 1.0104 N* for one decade, 1.042 N* for two (the default of
``isoflop_runs``) and 1.097 N* for three, the same factor at every budget, and ``N_coef`` is high
by it. The vertex leans toward larger N, where the loss rises more slowly (alpha > beta). A sweep
whose window drifts relative to N* as C grows (``isoflop_runs(center=...)`` with a prior guess
whose exponent is 0.1 too large, so the window moves 0.4 decades over the four decades of C) turns
a little of that miss into exponent bias: ``a - law.a = -0.0013`` with two-decade windows and
``+0.0001`` with one-decade windows. Noise matters far more: at 1% log-normal noise, two-decade
windows give a standard deviation of ``a`` of about 0.014 across seeds, one-decade windows (whose
loss rises only 0.03 to 0.12 nats from vertex to edge) about 0.17, with parabolas that open
downward.

Uncertainty: a seeded bootstrap that resamples runs within each budget (each profile keeps its
number of runs), refits every parabola and both power laws; 95% percentile intervals.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalingbook._validate import (
    as_positive_array,
    positive_int,
    positive_scalar,
    same_length,
)
from scalingbook.fit.least_squares import _check_bootstrap, _percentile_ci
from scalingbook.fit.result import parameter_lines

__all__ = ["IsoFLOPResult", "fit_isoflop", "group_budgets"]

# FLOPs per parameter per training token, C = 6ND.
_FLOPS_PER_PARAM_TOKEN = 6.0
# A bootstrap draw of a profile with fewer than 3 distinct sizes cannot fit a parabola; it is
# redrawn, and after this many failures in a row the profile is too thin to bootstrap.
_MAX_REDRAWS = 1000
NAMES = ("a", "b", "N_coef", "D_coef")


@dataclass
class IsoFLOPResult:
    """Outcome of :func:`fit_isoflop`: the allocation power laws and the per-budget parabolas.

    Attributes
    ----------
    a, b : float
        Exponents of ``N_opt ∝ C^a`` and ``D_opt ∝ C^b`` (dimensionless); ``a + b = 1``.
    N_coef : float
        ``N_opt`` at C = 1 FLOP in parameters: ``N_opt(C) = N_coef * C**a``.
    D_coef : float
        ``D_opt`` at C = 1 FLOP in tokens: ``D_opt(C) = D_coef * C**b``; ``N_coef D_coef = 1/6``.
    ci : dict[str, tuple[float, float]]
        95% percentile-bootstrap intervals of "a", "b", "N_coef", "D_coef"; empty without bootstrap.
    budgets : DataFrame
        One row per budget group, by increasing budget, columns ``C`` (FLOPs, geometric mean of
        the group's budgets), ``n_runs``, ``N_min``, ``N_max`` (sampled range, parameters),
        ``N_opt`` (parameters), ``D_opt`` (tokens), ``loss_opt`` (nats, the parabola at its
        vertex), ``curvature`` (``d²L/d(ln N)²`` of the parabola, nats), ``inside`` (the vertex
        lies within [N_min, N_max]), ``used`` (the budget entered the power laws). Budgets with
        too few runs or a parabola that opens downward have ``used`` False and NaN estimates
        where there are none.
    notes : list[str]
        Budgets dropped and why, vertices outside the sampled range (extrapolations), bootstrap
        replicates discarded.
    n_runs : int
        Runs passed in.
    n_budgets : int
        Budgets that entered the power laws (at least 2).
    bootstrap_params : ndarray, shape (B, 4), or None
        Columns a, b, N_coef, D_coef, one row per kept bootstrap replicate.
    converged : bool
        Always True: every step is closed-form least squares (kept for parity with FitResult).
    method : str
        What produced this result.
    """

    a: float
    b: float
    N_coef: float
    D_coef: float
    ci: dict[str, tuple[float, float]]
    budgets: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    n_runs: int = 0
    n_budgets: int = 0
    bootstrap_params: np.ndarray | None = None
    converged: bool = True
    method: str = "fit_isoflop (parabola in ln N per budget, OLS power laws in C)"

    @property
    def params(self) -> dict[str, float]:
        """``{"a", "b", "N_coef", "D_coef"}`` as a dict, like ``FitResult.params``."""
        return {"a": self.a, "b": self.b, "N_coef": self.N_coef, "D_coef": self.D_coef}

    @property
    def n_bootstrap(self) -> int:
        return 0 if self.bootstrap_params is None else int(self.bootstrap_params.shape[0])

    def n_opt(self, C: Any) -> np.ndarray | float:
        """Compute-optimal parameters at ``C`` FLOPs (scalar or array, strictly positive)."""
        c_arr = as_positive_array("C", C, ndim=None)
        out = self.N_coef * c_arr**self.a
        return float(out) if out.ndim == 0 else out

    def d_opt(self, C: Any) -> np.ndarray | float:
        """Compute-optimal tokens at ``C`` FLOPs (scalar or array, strictly positive)."""
        c_arr = as_positive_array("C", C, ndim=None)
        out = self.D_coef * c_arr**self.b
        return float(out) if out.ndim == 0 else out

    def summary(self) -> str:
        """The two power laws with their intervals, then the notes."""
        header = (f"{self.method}: {self.n_runs} runs, {self.n_budgets} budgets, "
                  f"{self.n_bootstrap} bootstrap refits")
        return "\n".join([header, *parameter_lines(self.params, self.ci, width=6),
                          *(f"  note: {note}" for note in self.notes)])

    def __repr__(self) -> str:
        return (f"IsoFLOPResult(a={self.a:.4g}, b={self.b:.4g}, N_coef={self.N_coef:.4g}, "
                f"D_coef={self.D_coef:.4g}, n_budgets={self.n_budgets}, n_runs={self.n_runs}, "
                f"n_bootstrap={self.n_bootstrap})")


def group_budgets(C: Any, *, rtol: float = 0.05) -> np.ndarray:
    """Label runs whose budgets agree within a relative tolerance as one isoFLOP profile.

    Budgets are sorted; a run joins the current group while its budget is within a factor
    ``1 + rtol`` of the group's smallest budget, else it starts a new group. The default 5%
    absorbs budgets rounded to whole batches while isoFLOP sweeps space budgets by factors of
    two or more.

    Parameters
    ----------
    C : array-like, shape (n,)
        Budget of each run in FLOPs, strictly positive.
    rtol : float
        Relative tolerance, strictly positive.

    Returns
    -------
    ndarray of int, shape (n,)
        Group of each run, 0 for the smallest budgets, increasing with budget.
    """
    c_arr = as_positive_array("C", C)
    rtol = positive_scalar("rtol", rtol)
    log_c = np.log(c_arr)
    order = np.argsort(log_c, kind="stable")
    labels = np.empty(len(c_arr), dtype=int)
    group, first = -1, -np.inf
    for i in order:
        if log_c[i] - first > np.log1p(rtol):
            group, first = group + 1, log_c[i]
        labels[i] = group
    return labels


def _parabolas(u: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares ``y ≈ c0 + c1 u + c2 u²``, one fit per row of ``w`` (B, n): (B, 3)."""
    X = np.stack([np.ones_like(u), u, u * u], axis=1)  # (n, 3)
    lhs = np.einsum("bi,ij,ik->bjk", w, X, X)
    rhs = np.einsum("bi,ij,i->bj", w, X, y)
    return np.linalg.solve(lhs, rhs[..., None])[..., 0]


def _vertex(coef: np.ndarray, center: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ln N at the vertex, loss there, and curvature d²L/d(ln N)²; NaN where c2 <= 0."""
    c0, c1, c2 = coef[..., 0], coef[..., 1], coef[..., 2]
    up = c2 > 0
    safe = np.where(up, c2, 1.0)
    u_star = np.where(up, -c1 / (2.0 * safe), np.nan)
    loss_star = np.where(up, c0 - c1 * c1 / (4.0 * safe), np.nan)
    return center + u_star, loss_star, 2.0 * c2


def _power_laws(log_c: np.ndarray, log_n: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted OLS of ln N_opt and ln D_opt on ln C, one fit per row: (B, 4) a, b, N_coef, D_coef.

    ``log_c`` (k,) are the budgets, ``log_n`` (B, k) the vertices, ``w`` (B, k) 1 for a budget in
    that row's fit and 0 for one left out (its NaN vertex is then ignored).
    """
    log_n = np.where(w > 0, log_n, 0.0)
    log_d = log_c[None, :] - np.log(_FLOPS_PER_PARAM_TOKEN) - log_n
    total = w.sum(axis=1, keepdims=True)
    dx = log_c[None, :] - (w * log_c[None, :]).sum(axis=1, keepdims=True) / total
    sxx = (w * dx * dx).sum(axis=1)
    out = np.empty((len(w), 4))
    for col, y in ((0, log_n), (1, log_d)):
        my = (w * y).sum(axis=1) / total[:, 0]
        slope = (w * dx * y).sum(axis=1) / sxx
        mx = (w * log_c[None, :]).sum(axis=1) / total[:, 0]
        out[:, col] = slope
        out[:, col + 2] = np.exp(my - slope * mx)
    return out


def fit_isoflop(
    N: Any,
    D: Any,
    loss: Any,
    *,
    C: Any = None,
    bootstrap: int = 0,
    seed: int = 0,
    min_per_budget: int = 3,
    budget_rtol: float = 0.05,
) -> IsoFLOPResult:
    """Fit the compute-optimal allocation by Hoffmann et al.'s isoFLOP method (approach 2).

    Parameters
    ----------
    N : array-like, shape (n,)
        Parameters of each run, strictly positive.
    D : array-like, shape (n,)
        Training tokens of each run, strictly positive.
    loss : array-like, shape (n,)
        Final loss of each run in nats, strictly positive.
    C : array-like, shape (n,), optional
        Budget of each run in FLOPs (the profile it belongs to). Default ``6 N D``.
    bootstrap : int
        Bootstrap refits for the 95% intervals (0: none; otherwise at least 2). Each resamples the
        runs of every profile with replacement, keeping its size.
    seed : int
        Bootstrap seed; the same seed gives the same intervals.
    min_per_budget : int
        Fewest runs (with at least 3 distinct sizes) a profile needs to enter the fit, at least 3.
    budget_rtol : float
        Runs whose budgets agree within this relative tolerance form one profile
        (:func:`group_budgets`; default 5%).

    Returns
    -------
    IsoFLOPResult
        The exponents ``a`` and ``b``, the coefficients, their intervals, the per-budget table
        and notes. See the module docstring for the parabola's bias.

    Raises
    ------
    ValueError
        NaN, infinite or non-positive ``N``, ``D``, ``loss`` or ``C``; mismatched lengths; bad
        options; fewer than 2 budgets left with an upward parabola fitted to enough runs.

    Warns
    -----
    RuntimeWarning
        When a budget is dropped because its parabola opens downward (it has no minimum).
    """
    n_arr = as_positive_array("N", N)
    d_arr = as_positive_array("D", D)
    l_arr = as_positive_array("loss", loss)
    n = same_length(N=n_arr, D=d_arr, loss=l_arr)
    if C is None:
        c_arr = _FLOPS_PER_PARAM_TOKEN * n_arr * d_arr
    else:
        c_arr = as_positive_array("C", C)
        same_length(N=n_arr, C=c_arr)
    n_boot, seed = _check_bootstrap(bootstrap, seed)
    min_per_budget = positive_int("min_per_budget", min_per_budget, minimum=3)
    budget_rtol = positive_scalar("budget_rtol", budget_rtol)

    labels = group_budgets(c_arr, rtol=budget_rtol)
    log_n_all = np.log(n_arr)
    notes: list[str] = []
    rows = []
    fits = []  # (group rows, u, y, center) of the budgets that are fitted
    for g in range(labels.max() + 1):
        idx = np.flatnonzero(labels == g)
        budget = float(np.exp(np.log(c_arr[idx]).mean()))
        row = {"C": budget, "n_runs": len(idx), "N_min": float(n_arr[idx].min()),
               "N_max": float(n_arr[idx].max()), "N_opt": np.nan, "D_opt": np.nan,
               "loss_opt": np.nan, "curvature": np.nan, "inside": False, "used": False}
        n_distinct = len(np.unique(n_arr[idx]))
        if len(idx) < min_per_budget or n_distinct < 3:
            notes.append(f"budget {budget:.3g} FLOPs dropped: {len(idx)} runs with {n_distinct} "
                         f"distinct sizes (a parabola needs at least {max(min_per_budget, 3)} runs "
                         f"and 3 sizes)")
            rows.append(row)
            continue
        center = float(log_n_all[idx].mean())
        u, y = log_n_all[idx] - center, l_arr[idx]
        coef = _parabolas(u, y, np.ones((1, len(idx))))[0]
        log_n_opt, loss_opt, curvature = _vertex(coef, center)
        row["curvature"] = float(curvature)
        if not np.isfinite(log_n_opt):
            msg = (f"budget {budget:.3g} FLOPs dropped: its parabola opens downward "
                   f"(curvature {float(curvature):.3g} nats) and has no minimum")
            notes.append(msg)
            warnings.warn(f"fit_isoflop: {msg}", RuntimeWarning, stacklevel=2)
            rows.append(row)
            continue
        n_opt = float(np.exp(log_n_opt))
        row.update(N_opt=n_opt, D_opt=budget / (_FLOPS_PER_PARAM_TOKEN * n_opt),
                   loss_opt=float(loss_opt), used=True,
                   inside=bool(row["N_min"] <= n_opt <= row["N_max"]))
        if not row["inside"]:
            notes.append(f"budget {budget:.3g} FLOPs: the vertex N_opt = {n_opt:.3g} lies outside "
                         f"the sampled sizes [{row['N_min']:.3g}, {row['N_max']:.3g}]: an "
                         f"extrapolation; sample larger or smaller models there")
        rows.append(row)
        fits.append((idx, u, y, center))
    table = pd.DataFrame(rows)
    used = table["used"].to_numpy()
    if used.sum() < 2:
        raise ValueError(
            f"N, D and loss leave {int(used.sum())} budget(s) with an upward parabola fitted to at "
            f"least {min_per_budget} runs; the power laws in C need at least 2 ({'; '.join(notes)})"
        )
    log_c = np.log(table.loc[used, "C"].to_numpy())
    log_nopt = np.log(table.loc[used, "N_opt"].to_numpy())
    a, b, n_coef, d_coef = (float(x) for x in _power_laws(log_c, log_nopt[None, :],
                                                          np.ones((1, len(log_c))))[0])

    ci: dict[str, tuple[float, float]] = {}
    boot = None
    if n_boot:
        rng = np.random.default_rng(seed)
        log_nopt_boot = np.empty((n_boot, len(fits)))
        for j, (idx, u, y, center) in enumerate(fits):
            counts = _resample_counts(rng, n_arr[idx], n_boot)
            coef = _parabolas(u, y, counts)
            log_nopt_boot[:, j] = _vertex(coef, center)[0]
        valid = np.isfinite(log_nopt_boot)
        keep = valid.sum(axis=1) >= 2
        n_discarded = int((~keep).sum())
        n_partial = int((keep & ~valid.all(axis=1)).sum())
        if n_partial:
            notes.append(f"{n_partial} of {n_boot} bootstrap replicates had a budget whose parabola "
                         f"opened downward; it was left out of those replicates' power laws")
        if n_discarded:
            notes.append(f"{n_discarded} of {n_boot} bootstrap replicates kept fewer than 2 "
                         f"budgets and were discarded")
        if keep.sum() < 2:
            notes.append("too few bootstrap replicates kept to give intervals")
        else:
            boot = _power_laws(log_c, log_nopt_boot[keep], valid[keep].astype(float))
            ci = _percentile_ci(boot, list(NAMES))

    return IsoFLOPResult(a=a, b=b, N_coef=n_coef, D_coef=d_coef, ci=ci, budgets=table,
                         notes=notes, n_runs=n, n_budgets=int(used.sum()), bootstrap_params=boot)


def _resample_counts(rng: np.random.Generator, sizes: np.ndarray, n_boot: int) -> np.ndarray:
    """How often each run of one profile is drawn in each replicate, (n_boot, n_g), ≥ 3 sizes drawn."""
    n_g = len(sizes)
    _, size_codes = np.unique(sizes, return_inverse=True)
    out = np.empty((n_boot, n_g))
    for b in range(n_boot):
        for _ in range(_MAX_REDRAWS):
            w = np.bincount(rng.integers(0, n_g, n_g), minlength=n_g).astype(float)
            if len(np.unique(size_codes[w > 0])) >= 3:
                break
        else:
            raise ValueError(f"bootstrap: {_MAX_REDRAWS} resamples in a row of a profile of {n_g} "
                             f"runs had fewer than 3 distinct sizes; too few runs to bootstrap")
        out[b] = w
    return out
