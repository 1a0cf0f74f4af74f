"""Fit Gadre et al.'s (2024) over-training law ``L(C, M) = E + (a M^eta + b M^-eta) C^-eta``.

The recipe, in two stages:

1. **A grid over the two nonlinear parameters.** For fixed ``(E, eta)`` the law is linear in
   ``(a, b)``: ``L - E = a x1 + b x2`` with ``x1 = (M/C)^eta`` and ``x2 = (M C)^-eta``. So every
   point of a grid of ``E`` (from 0 to just below the smallest loss) and ``eta`` (log-spaced)
   gets its best non-negative ``(a, b)`` by non-negative least squares, and its sum of squared
   residuals. This is cheap and cannot be fooled by starting values.
2. **Refinement.** The best few grid points start a bounded nonlinear least-squares solve
   (``scipy.optimize.least_squares``) in ``(E, ln a, ln b, ln eta)``; the best end point is the
   fit.

Residuals: ``"loss"`` (default) minimizes squared errors of the loss itself, as Gadre et al.'s
released code does (``scipy.optimize.curve_fit`` on the loss); ``"log"`` minimizes squared
errors of ``ln L``, for losses with multiplicative noise. Budgets and multipliers are rescaled
internally by their geometric means so that budgets of 1e9 and 1e23 FLOPs are fitted alike.

Uncertainty: a seeded bootstrap that resamples runs (or whole groups of runs) and refits every
replicate from the full fit's best optima; 95% percentile intervals, and a band for
:meth:`~scalingbook.fit.FitResult.predict` ``(C, M)``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.optimize import least_squares, nnls

from scalingbook._validate import (
    as_positive_array,
    enough_points,
    one_of,
    positive_int,
    same_length,
)
from scalingbook.fit.least_squares import (
    _bootstrap_weights,
    _check_bootstrap,
    _check_groups,
    _percentile_ci,
)
from scalingbook.fit.result import FitResult
from scalingbook.laws.overtraining import OvertrainingLaw

__all__ = ["fit_overtraining"]

NAMES = ("E", "a", "b", "eta")
_MIN_POINTS = 5  # four parameters, plus one
_MIN_BOOT_POINTS = 8  # below this, resamples with 5 distinct runs are almost all the data itself
_ETA_RANGE = (0.01, 2.0)
_E_BELOW = 1e-6  # E stays this fraction below the smallest loss (log residuals need L > E)


def _features(eta: float, lc: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """(n, 2) columns ``(M/C)^eta`` and ``(M C)^-eta`` in the rescaled units."""
    return np.column_stack([np.exp(eta * (lm - lc)), np.exp(-eta * (lm + lc))])


def _model(theta: np.ndarray, lc: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """The law's loss at internal parameters ``(E, ln a, ln b, ln eta)``."""
    E, la, lb, leta = theta
    eta = np.exp(leta)
    return E + np.exp(la + eta * (lm - lc)) + np.exp(lb - eta * (lm + lc))


def _residuals(theta, lc, lm, y, sw, kind):
    pred = _model(theta, lc, lm)
    if kind == "log":
        return sw * (np.log(y) - np.log(np.maximum(pred, 1e-300)))
    return sw * (y - pred)


def _grid_starts(lc, lm, y, w, kind, n_keep: int) -> np.ndarray:
    """Best ``n_keep`` grid points as internal starts (rows ``(E, ln a, ln b, ln eta)``)."""
    E_max = (1.0 - _E_BELOW) * y[w > 0].min()
    E_grid = np.linspace(0.0, E_max, 40)
    eta_grid = np.geomspace(*_ETA_RANGE, 60)
    sw = np.sqrt(w)
    rows = []
    for eta in eta_grid:
        X = _features(eta, lc, lm)
        scale = np.sqrt((w[:, None] * X * X).sum(0))
        Xs = sw[:, None] * X / scale
        for E in E_grid:
            coef, _ = nnls(Xs, sw * (y - E))
            coef = coef / scale
            # Zero coefficients sit on the boundary ln 0; nudge them in for the refinement.
            coef = np.maximum(coef, 1e-12 * max(coef.max(), 1e-12))
            theta = np.array([E, np.log(coef[0]), np.log(coef[1]), np.log(eta)])
            r = _residuals(theta, lc, lm, y, sw, kind)
            rows.append((float(r @ r), theta))
    rows.sort(key=lambda t: t[0])
    return np.array([theta for _, theta in rows[:n_keep]])


def _refine(theta0, lc, lm, y, w, kind, E_max):
    sw = np.sqrt(w)
    lower = np.array([0.0, -np.inf, -np.inf, np.log(_ETA_RANGE[0] / 10)])
    upper = np.array([E_max, np.inf, np.inf, np.log(_ETA_RANGE[1] * 2)])
    x0 = np.clip(theta0, lower + 1e-12, upper - 1e-12)
    sol = least_squares(_residuals, x0, args=(lc, lm, y, sw, kind), bounds=(lower, upper),
                        method="trf", x_scale="jac", xtol=1e-12, ftol=1e-12, gtol=1e-12,
                        max_nfev=2000)
    r = sol.fun
    return sol.x, float(r @ r), bool(sol.success)


def _to_params(theta: np.ndarray, c_ref: float, m_ref: float) -> np.ndarray:
    """Internal ``(E, ln a', ln b', ln eta)`` in rescaled units -> ``(E, a, b, eta)`` in FLOPs and M."""
    E, la, lb, leta = theta
    eta = np.exp(leta)
    # a' (M/m_ref)^eta (C/c_ref)^-eta = a M^eta C^-eta with a = a' m_ref^-eta c_ref^eta.
    a = np.exp(la + eta * (np.log(c_ref) - np.log(m_ref)))
    b = np.exp(lb + eta * (np.log(c_ref) + np.log(m_ref)))
    return np.array([E, a, b, eta])


def _value(p: dict[str, float], C: Any, M: Any) -> np.ndarray | float:
    """``E + (a M^eta + b M^-eta) C^-eta`` for any parameters (a bootstrap refit included)."""
    c_arr = as_positive_array("C", C, ndim=None)
    m_arr = as_positive_array("M", M, ndim=None)
    lc, lm = np.log(c_arr), np.log(m_arr)
    value = (p["E"] + np.exp(np.log(p["a"]) + p["eta"] * (lm - lc))
             + np.exp(np.log(p["b"]) - p["eta"] * (lm + lc)))
    return float(value) if np.ndim(value) == 0 else value


def fit_overtraining(
    C: Any,
    M: Any,
    loss: Any,
    *,
    residuals: str = "loss",
    bootstrap: int = 0,
    seed: int = 0,
    groups: Any = None,
    n_starts: int = 8,
) -> FitResult:
    """Fit ``L(C, M) = E + (a M^eta + b M^-eta) C^-eta`` (Gadre et al. 2024) to measured runs.

    Parameters
    ----------
    C : array-like, shape (n,)
        Training compute of each run in FLOPs, strictly positive.
    M : array-like, shape (n,)
        Token multiplier of each run, ``D / N`` tokens per parameter, strictly positive.
    loss : array-like, shape (n,)
        Final loss of each run in nats, strictly positive. n ≥ 5.
    residuals : "loss" or "log"
        Minimize squared errors of the loss (Gadre et al.'s choice) or of its logarithm.
    bootstrap : int
        Bootstrap refits for 95% percentile intervals (0: none; otherwise ≥ 2, and at least 8
        runs).
    seed : int
        Bootstrap seed; the same seed gives the same intervals. The fit itself is deterministic.
    groups : array-like, shape (n,), optional
        Labels (a model size, a seed); the bootstrap then resamples whole groups.
    n_starts : int
        Grid points refined by nonlinear least squares (≥ 1).

    Returns
    -------
    FitResult
        ``params`` maps "E" (nats), "a", "b" (nats·FLOPs^eta) and "eta" to floats; ``law`` is the
        fitted :class:`~scalingbook.laws.OvertrainingLaw`; ``residuals`` are ``ln L - ln law``;
        ``loss`` the sum of squared residuals of the chosen kind; ``predict(C, M)`` gives the law
        with its bootstrap band. ``diagnostics`` holds how many refined starts reached the best
        optimum.

    Raises
    ------
    ValueError
        NaN, infinite or non-positive inputs; mismatched lengths; fewer than 5 runs; fewer than
        2 distinct multipliers or budgets; bad options.
    """
    c_arr = as_positive_array("C", C)
    m_arr = as_positive_array("M", M)
    l_arr = as_positive_array("loss", loss)
    n = same_length(C=c_arr, M=m_arr, loss=l_arr)
    enough_points("C", n, _MIN_POINTS, "the over-training law (4 parameters)")
    for name, arr in (("C", c_arr), ("M", m_arr)):
        if len(np.unique(arr)) < 2:
            raise ValueError(f"{name} has a single distinct value; the law needs at least 2")
    one_of("residuals", residuals, ("loss", "log"))
    n_boot, seed = _check_bootstrap(bootstrap, seed)
    codes = _check_groups(groups, n, "C")
    if n_boot and n < _MIN_BOOT_POINTS:
        raise ValueError(f"bootstrap needs at least {_MIN_BOOT_POINTS} runs for 4 parameters, got "
                         f"{n}: with fewer, nearly every resample that can identify the law is the "
                         f"data itself and the intervals would be falsely narrow")
    n_starts = positive_int("n_starts", n_starts)

    c_ref = float(np.exp(np.log(c_arr).mean()))
    m_ref = float(np.exp(np.log(m_arr).mean()))
    lc, lm = np.log(c_arr / c_ref), np.log(m_arr / m_ref)
    E_max = (1.0 - _E_BELOW) * l_arr.min()
    w = np.ones(n)

    starts = _grid_starts(lc, lm, l_arr, w, residuals, n_starts)
    ends = [_refine(s, lc, lm, l_arr, w, residuals, E_max) for s in starts]
    objectives = np.array([e[1] for e in ends])
    best = int(np.argmin(objectives))
    theta, f_best, converged = ends[best]
    E, a, b, eta = (float(x) for x in _to_params(theta, c_ref, m_ref))
    params = dict(zip(NAMES, (E, a, b, eta)))
    at_best = int((objectives <= f_best * (1 + 1e-6) + 1e-300).sum())

    notes: list[str] = []
    if not converged:
        msg = "the refinement of the best start did not report convergence"
        notes.append(msg)
        warnings.warn(f"fit_overtraining: {msg}", RuntimeWarning, stacklevel=2)
    if E < 1e-6 * l_arr.min():
        notes.append("E is at its lower bound 0: the runs show no floor")
    if E >= E_max * (1 - 1e-9):
        notes.append("E sits at its upper bound, just below the smallest loss: no reliable floor")
    if eta <= _ETA_RANGE[0] / 10 * (1 + 1e-6) or eta >= _ETA_RANGE[1] * 2 * (1 - 1e-6):
        notes.append(f"eta = {eta:.3g} sits at a search bound")
    law = OvertrainingLaw(E, a, b, eta)
    log_resid = np.log(l_arr) - np.log(law.loss(c_arr, m_arr))

    ci: dict[str, tuple[float, float]] = {}
    boot = None
    diagnostics: dict[str, Any] = {"n_starts": len(starts), "n_at_best": at_best,
                                   "objectives": objectives, "c_ref": c_ref, "m_ref": m_ref,
                                   "residuals": residuals}
    if n_boot:
        # Each run is its own "size" here: a replicate needs 5 distinct runs for 4 parameters.
        weights = _bootstrap_weights(np.arange(n, dtype=float), codes, n_boot, seed,
                                     min_distinct=_MIN_POINTS)
        order = np.argsort(objectives)
        seeds = [ends[i][0] for i in order[: min(3, len(ends))]]
        rows, failed = [], 0
        for wb in weights:
            fits = [_refine(s, lc, lm, l_arr, wb, residuals, E_max) for s in seeds]
            k = int(np.argmin([f[1] for f in fits]))
            failed += not fits[k][2]
            rows.append(_to_params(fits[k][0], c_ref, m_ref))
        boot = np.array(rows)
        ci = _percentile_ci(boot, list(NAMES))
        diagnostics["bootstrap_not_converged"] = failed
        if failed:
            notes.append(f"{failed} of {n_boot} bootstrap refits did not report convergence")

    return FitResult(
        params=params, ci=ci, stderr={}, residuals=log_resid, loss=f_best, converged=converged,
        n_points=n, method=f"fit_overtraining (least squares on {residuals} residuals, grid + TRF)",
        law=law, bootstrap_params=boot, n_starts=len(starts), notes=notes,
        objective=f"sum sq. {residuals} residuals", diagnostics=diagnostics, evaluate=_value,
    )
