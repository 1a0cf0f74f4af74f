"""Fit ``L(N, D) = E + A/N^alpha + B/D^beta`` the way Hoffmann et al. (2022, approach 3) did, done well.

The recipe: minimize the Huber loss (threshold ``delta``, default 1e-3) of the log-space
residuals ``log L - LSE(a - alpha log N, b - beta log D, e)`` over ``(a, b, e, alpha, beta)`` with
``A = exp(a)``, ``B = exp(b)``, ``E = exp(e)``, by L-BFGS from a grid of thousands of starts, and
keep the best. All starts advance together in one batched float64 program
(:func:`scalingbook.fit.huber.batched_lbfgs`), each with its own history and line search, so the
grid costs about as much as a few dozen single fits.

What is reported besides the best optimum (``FitResult.diagnostics``): how many starts reached it,
the spread of the objectives and parameters of the others, and how each start stopped. Bootstrap
intervals resample runs (or whole groups of runs) with a seed; every replicate is refitted from
the few best distinct optima of the full fit, all replicates in one batched program too.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from scalingbook._validate import (
    as_float_array,
    as_positive_array,
    enough_points,
    one_of,
    positive_int,
    positive_scalar,
    same_length,
)
from scalingbook.fit.huber import (
    CONVERGED,
    MAX_ITER,
    NO_DESCENT,
    STATUS_NAMES,
    HuberProblem,
    batched_lbfgs,
    hoffmann_grid,
    refit_replicates,
)
from scalingbook.fit.least_squares import (
    _bootstrap_weights,
    _check_bootstrap,
    _check_groups,
    _distinct_best,
    _percentile_ci,
)
from scalingbook.fit.result import FitResult
from scalingbook.laws.chinchilla import ChinchillaLaw

__all__ = ["chinchilla_objective", "fit_chinchilla", "hoffmann_grid"]

NAMES = ("E", "A", "B", "alpha", "beta")
_MIN_POINTS = 6  # five parameters, plus one so the fit is not an interpolation


def _to_internal(starts: np.ndarray, mean_ln: float, mean_ld: float) -> np.ndarray:
    """(a, b, e, alpha, beta) -> centered (a', b', e, alpha, beta): a' = a - alpha mean(log N)."""
    out = starts.copy()
    out[:, 0] = starts[:, 0] - starts[:, 3] * mean_ln
    out[:, 1] = starts[:, 1] - starts[:, 4] * mean_ld
    return out


def _to_hoffmann(theta: np.ndarray, mean_ln: float, mean_ld: float) -> np.ndarray:
    """Centered coordinates back to (a, b, e, alpha, beta)."""
    out = np.array(theta, dtype=np.float64, copy=True)
    out[..., 0] = theta[..., 0] + theta[..., 3] * mean_ln
    out[..., 1] = theta[..., 1] + theta[..., 4] * mean_ld
    return out


def chinchilla_objective(theta: Any, N: Any, D: Any, loss: Any, *, delta: float = 1e-3,
                         reduction: str = "sum") -> np.ndarray:
    """The Huber objective at Hoffmann-coordinate parameters, for comparing fits (numpy).

    ``theta`` is (5,) or (S, 5) with columns ``(a, b, e, alpha, beta)`` = (log A, log B,
    log E, alpha, beta); returns a float or (S,) objective values. ``reduction`` "sum" adds the
    Huber losses of the points, "mean" averages them.
    """
    t = np.atleast_2d(as_float_array("theta", theta, ndim=None))
    ln, ld = np.log(as_positive_array("N", N)), np.log(as_positive_array("D", D))
    ll = np.log(as_positive_array("loss", loss))
    stacked = np.stack([t[:, 0:1] - t[:, 3:4] * ln, t[:, 1:2] - t[:, 4:5] * ld,
                        np.broadcast_to(t[:, 2:3], (len(t), len(ln)))])
    r = ll - np.logaddexp.reduce(stacked, axis=0)
    huber = np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))
    out = huber.sum(1) if reduction == "sum" else huber.mean(1)
    return float(out[0]) if np.ndim(theta) == 1 else out


def _params_from_theta(theta: np.ndarray) -> np.ndarray:
    """(a, b, e, alpha, beta) rows -> (E, A, B, alpha, beta) rows."""
    theta = np.atleast_2d(theta)
    return np.column_stack([np.exp(theta[:, 2]), np.exp(theta[:, 0]), np.exp(theta[:, 1]),
                            theta[:, 3], theta[:, 4]])


def _chinchilla_value(p: dict[str, float], N: Any, D: Any) -> np.ndarray | float:
    """``E + A/N^alpha + B/D^beta`` for any parameters (a bootstrap refit may have alpha <= 0)."""
    n_arr = as_positive_array("N", N, ndim=None)
    d_arr = as_positive_array("D", D, ndim=None)
    value = p["E"] + p["A"] * np.power(n_arr, -p["alpha"]) + p["B"] * np.power(d_arr, -p["beta"])
    return float(value) if np.ndim(value) == 0 else value


def _check_starts(starts: Any) -> np.ndarray:
    if starts is None:
        return hoffmann_grid()
    arr = as_float_array("starts", starts, ndim=2)
    if arr.shape[1] != 5 or arr.shape[0] < 1:
        raise ValueError(
            f"starts must have shape (S, 5) with columns (a, b, e, alpha, beta), got {arr.shape}"
        )
    return arr


def fit_chinchilla(
    N: Any,
    D: Any,
    loss: Any,
    *,
    delta: float = 1e-3,
    bootstrap: int = 0,
    seed: int = 0,
    groups: Any = None,
    weights: Any = None,
    starts: Any = None,
    reduction: str = "sum",
    max_iter: int = 1000,
    best_rtol: float = 1e-6,
    bootstrap_starts: int = 5,
    stall_window: int | None = 50,
    max_step: float | None = 10.0,
    threads: int | None = None,
) -> FitResult:
    """Fit Hoffmann et al.'s ``L(N, D) = E + A/N^alpha + B/D^beta`` by multistart Huber regression.

    Parameters
    ----------
    N : array-like, shape (n,)
        Parameters of each run, strictly positive (numpy, list or pandas column).
    D : array-like, shape (n,)
        Training tokens of each run, strictly positive.
    loss : array-like, shape (n,)
        Final loss of each run in nats, strictly positive. n ≥ 6.
    delta : float
        Huber threshold on log-space residuals (Hoffmann et al.: 1e-3, almost an L1 loss).
    bootstrap : int
        Bootstrap refits for the 95% percentile intervals (0: none; otherwise ≥ 2).
    seed : int
        Bootstrap seed; the same seed gives the same intervals. The fit itself has no randomness.
    groups : array-like, shape (n,), optional
        Labels (e.g. model family or seed); the bootstrap then resamples whole groups.
    weights : array-like, shape (n,), optional
        Non-negative weight of each run's Huber term (default: all 1). Use it to give every
        model family or run the same total weight when some contribute many more points (for
        instance many checkpoints), as Choshen et al. (2024) discuss. Scale-free: multiplying
        all weights by a constant changes nothing but ``FitResult.loss``.
    starts : array-like, shape (S, 5), optional
        Starting points, columns ``(a, b, e, alpha, beta)`` = (log A, log B, log E, alpha, beta).
        Default: :func:`hoffmann_grid`, Hoffmann et al.'s 4,500 starts.
    reduction : "sum" or "mean"
        Sum or average the Huber losses. The optimizer's tests are scale-free, so both give the
        same optimum; only ``FitResult.loss`` differs (by the factor n).
    max_iter : int
        L-BFGS iterations per start before it is stopped as not converged.
    best_rtol : float
        A start "reached the best optimum" if its objective is within this relative tolerance.
    bootstrap_starts : int
        Each bootstrap replicate is refitted from this many best distinct full-data optima.
    stall_window : int or None
        Every this many iterations, a start more than twice the lowest objective of any start,
        whose log objective fell by less than 1e-3 over the window and that at this pace would
        still be more than twice the lowest at ``max_iter``, is stopped as "stalled far above
        the best" (counted in ``diagnostics["status_counts"]``). Such starts sit on a plateau
        where a term has vanished (A/N^alpha or B/D^beta far below the loss) and its gradient
        with it; left running they crawl to the iteration limit and cost about half the fit's
        time. Some would later have escaped and reached the best optimum, so ``n_at_best`` is
        smaller with it (by 4 to 11% on the benchmark's synthetic runs); the best optimum
        itself was the same in every case we measured. None runs every start until it
        converges or reaches ``max_iter``.
    max_step : float or None
        No L-BFGS trial step moves a parameter (a log-coefficient or an exponent) by more than
        this; a longer step is shortened before the line search starts. Near a plateau the
        curvature pairs can propose steps of 1e6 or more, and the start then lands far out in a
        region where one term swamps the others. With the cap about twice as many of Hoffmann's
        starts reach the best optimum on our benchmark data, and the fit is faster. None leaves
        steps uncapped.
    threads : int or None
        Threads that evaluate blocks of starts at once (None:
        :func:`scalingbook.fit.huber.default_threads`, one; see there why). The
        results are bit for bit the same for any number.

    Returns
    -------
    FitResult
        ``params`` maps "E", "A", "B", "alpha", "beta" to floats (E in nats; A, B in nats times
        parameters^alpha and tokens^beta); ``ci`` the 95% percentile intervals when
        ``bootstrap > 0``; ``law`` the fitted :class:`~scalingbook.laws.ChinchillaLaw`;
        ``residuals`` the log-space residuals; ``loss`` the Huber objective at the optimum;
        ``diagnostics`` the multistart report (see the module docstring). If the best start did
        not converge, ``converged`` is False and a ``RuntimeWarning`` is issued.

    Raises
    ------
    ValueError
        NaN, infinite or non-positive ``N``, ``D`` or ``loss``; mismatched lengths; fewer than 6
        runs; fewer than 2 distinct values of ``N`` or of ``D``; bad options.
    """
    n_arr = as_positive_array("N", N)
    d_arr = as_positive_array("D", D)
    l_arr = as_positive_array("loss", loss)
    n = same_length(N=n_arr, D=d_arr, loss=l_arr)
    enough_points("N", n, _MIN_POINTS, "the Chinchilla law (5 parameters)")
    for name, arr in (("N", n_arr), ("D", d_arr)):
        if len(np.unique(arr)) < 2:
            raise ValueError(f"{name} has a single distinct value; its exponent cannot be fitted")
    delta = positive_scalar("delta", delta)
    n_boot, seed = _check_bootstrap(bootstrap, seed)
    codes = _check_groups(groups, n, "N")
    if weights is None:
        w_arr = np.ones(n)
    else:
        w_arr = as_float_array("weights", weights)
        same_length(N=n_arr, weights=w_arr)
        if (w_arr < 0).any():
            raise ValueError(f"weights must be non-negative, got {w_arr[w_arr < 0][0]!r}")
        if (w_arr > 0).sum() < _MIN_POINTS:
            raise ValueError(f"weights leave {(w_arr > 0).sum()} runs with positive weight; "
                             f"the Chinchilla law needs at least {_MIN_POINTS}")
    start_grid = _check_starts(starts)
    one_of("reduction", reduction, ("sum", "mean"))
    max_iter = positive_int("max_iter", max_iter)
    best_rtol = positive_scalar("best_rtol", best_rtol)
    bootstrap_starts = positive_int("bootstrap_starts", bootstrap_starts)
    if stall_window is not None:
        stall_window = positive_int("stall_window", stall_window)
    if max_step is not None:
        max_step = positive_scalar("max_step", max_step)
    if threads is not None:
        threads = positive_int("threads", threads)

    log_n, log_d, log_l = np.log(n_arr), np.log(d_arr), np.log(l_arr)
    # Correctly rounded means (fsum), so that the runs' order cannot change a bit of the fit.
    mean_ln, mean_ld = math.fsum(log_n) / log_n.size, math.fsum(log_d) / log_d.size
    u, v, ll = log_n - mean_ln, log_d - mean_ld, log_l
    problem = HuberProblem(u, v, ll, w_arr, delta,
                           1.0 if reduction == "sum" else 1.0 / w_arr.sum(), threads=threads)

    run = batched_lbfgs(problem, _to_internal(start_grid, mean_ln, mean_ld), max_iter=max_iter,
                        stall_window=stall_window, max_step=max_step)
    f_all = run.f
    theta_all = _to_hoffmann(run.theta, mean_ln, mean_ld)
    status = run.status
    finite = np.isfinite(f_all)
    if not finite.any():
        raise RuntimeError("every start ended with a non-finite objective; check the data")
    best = int(np.nanargmin(np.where(finite, f_all, np.inf)))
    f_best = float(f_all[best])
    theta_best = theta_all[best]
    E, A, B, alpha, beta = (float(x) for x in _params_from_theta(theta_best)[0])
    params = dict(zip(NAMES, (E, A, B, alpha, beta)))
    converged = bool(status[best] in (CONVERGED, NO_DESCENT))

    # The multistart report: who reached the best optimum, and how far the others stopped.
    at_best = finite & (f_all <= f_best + best_rtol * abs(f_best))
    others = finite & ~at_best
    quantiles = (0.0, 0.25, 0.5, 0.75, 1.0)
    diagnostics: dict[str, Any] = {
        "n_starts": len(start_grid),
        "n_at_best": int(at_best.sum()),
        "best_rtol": best_rtol,
        "best_start": start_grid[best].tolist(),
        "at_best_param_spread": dict(zip(
            ("a", "b", "e", "alpha", "beta"), np.ptp(theta_all[at_best], axis=0).tolist())),
        "others_objective_quantiles": (
            dict(zip(quantiles, np.quantile(f_all[others], quantiles).tolist())) if others.any() else {}
        ),
        "others_relative_excess_median": (
            float(np.median((f_all[others] - f_best) / abs(f_best))) if others.any() and f_best else None
        ),
        "n_nonfinite": int((~finite).sum()),
        "status_counts": {name: int((status == code).sum()) for code, name in STATUS_NAMES.items()},
        "best_status": STATUS_NAMES[int(status[best])],
        "best_iterations": int(run.iterations[best]),
        "median_iterations": float(np.median(run.iterations)),
        "evaluations": run.evaluations,
        "objectives": f_all,
        "thetas": theta_all,
        "start_status": np.array([STATUS_NAMES[int(c)] for c in status]),
        "reduction": reduction,
        "delta": delta,
    }

    notes: list[str] = []
    if not converged:
        msg = (f"the best start stopped at the iteration limit ({max_iter}) without converging; "
               "the parameters are not a trustworthy optimum")
        notes.append(msg)
        warnings.warn(f"fit_chinchilla: {msg}", RuntimeWarning, stacklevel=2)
    if at_best.sum() == 1 and len(start_grid) > 1:
        notes.append("only one start reached the best optimum: the landscape is rugged, try more starts")
    law: ChinchillaLaw | None
    if alpha > 0 and beta > 0:
        law = ChinchillaLaw(E, A, B, alpha, beta)
    else:
        law = None
        msg = (f"the best fit has a non-positive exponent (alpha={alpha:.4g}, beta={beta:.4g}): "
               "the loss does not fall with N or D in these data; law is None")
        notes.append(msg)
        warnings.warn(f"fit_chinchilla: {msg}", RuntimeWarning, stacklevel=2)
    if E < 1e-6 * l_arr.min():
        notes.append("E is negligible (< 1e-6 of the smallest loss): the data show no floor")

    lse = np.logaddexp.reduce(
        np.stack([theta_best[0] - alpha * log_n, theta_best[1] - beta * log_d,
                  np.full(n, theta_best[2])]), axis=0)
    residuals = log_l - lse

    ci: dict[str, tuple[float, float]] = {}
    boot = None
    if n_boot:
        # Resample distinct (N, D) runs; a replicate with fewer than 5 distinct runs cannot
        # identify 5 parameters and is redrawn.
        _, run_codes = np.unique(np.column_stack([n_arr, d_arr]), axis=0, return_inverse=True)
        weights = _bootstrap_weights(run_codes.ravel().astype(float), codes, n_boot, seed,
                                     min_distinct=min(5, len(np.unique(run_codes))))
        # Start every replicate from the best distinct optima of the full fit (the grid for each
        # replicate would cost n_boot times the full fit and almost always lands on the same one).
        order = np.where(finite, f_all, np.inf)
        seeds = _to_internal(_distinct_best(theta_all, order, bootstrap_starts), mean_ln, mean_ld)

        def problem_for(w_rows: np.ndarray) -> HuberProblem:
            w_rows = w_rows * w_arr
            scale = 1.0 if reduction == "sum" else 1.0 / w_rows.sum(1)
            return HuberProblem(u, v, ll, w_rows, delta, scale, threads=threads)

        btheta, bstatus = refit_replicates(problem_for, weights, seeds, max_iter)
        btheta = _to_hoffmann(btheta, mean_ln, mean_ld)
        boot = _params_from_theta(btheta)
        ci = _percentile_ci(boot, list(NAMES))
        n_failed = int((bstatus == MAX_ITER).sum())
        diagnostics["bootstrap_not_converged"] = n_failed
        diagnostics["bootstrap_weights"] = weights  # (B, n) resampling counts, for audits
        if n_failed:
            notes.append(f"{n_failed} of {n_boot} bootstrap refits hit the iteration limit")

    return FitResult(
        params=params,
        ci=ci,
        stderr={},
        residuals=residuals,
        loss=f_best,
        converged=converged,
        n_points=n,
        method=f"fit_chinchilla (Huber δ={delta:g} on log residuals, batched L-BFGS)",
        law=law,
        bootstrap_params=boot,
        n_starts=len(start_grid),
        notes=notes,
        objective=f"Huber {reduction}",
        diagnostics=diagnostics,
        evaluate=_chinchilla_value,
    )
