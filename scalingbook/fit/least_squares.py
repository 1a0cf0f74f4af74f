"""A first least-squares fitter for scaling laws, working in log space.

Why log space: errors along a learning curve span decades, and their noise is roughly
multiplicative, so a residual of ``log y - log law(x)`` weighs a 1% miss at the noise floor
like a 1% miss at the best-guess error. Plain residuals would let the largest errors decide
everything.

Three laws are fitted here:

- ``fit_power_law``: ``y = a x^-alpha``, ordinary least squares of log y on log x (closed form).
- ``fit_power_law_with_offset``: ``y = e + a x^-alpha``, nonlinear least squares.
- ``fit_learning_curve``: the four-parameter :class:`~scalingbook.laws.LearningCurve`.

The nonlinear fits optimize the logarithms of the (positive) parameters with
``scipy.optimize.least_squares`` from a small deterministic grid of starts and keep the best.
Sizes are divided by their geometric mean inside the optimizer, which keeps the scale
parameter of order one whatever the exponent; results are reported in the caller's units.

Uncertainty: a seeded bootstrap. Without ``groups`` it resamples points; with ``groups`` (for
example the seed of each run) it resamples whole groups, so points that share a seed, and so
share its luck, move together. A bootstrap sample is represented by how many times it draws
each point, and a refit weights each squared residual by that count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares
from scipy.special import expit

from scalingbook._validate import (
    as_positive_array,
    enough_points,
    positive_int,
    same_length,
)
from scalingbook.fit.result import FitResult
from scalingbook.laws.power import LearningCurve, power_law, power_law_with_offset

__all__ = ["fit_power_law", "fit_power_law_with_offset", "fit_learning_curve"]

# A bootstrap sample with too few distinct sizes cannot identify the law; it is redrawn. If
# this many consecutive draws all fail, the data are too thin to bootstrap and we say so.
_MAX_REDRAWS = 1000
# Bootstrap refits start from this many of the best distinct full-data optima: the full grid
# for every refit would cost tens of times more and almost always lands on the same optimum.
_BOOTSTRAP_STARTS = 4


# ---------------------------------------------------------------------------------------------
# Input checks and bootstrap sampling shared by all fitters
# ---------------------------------------------------------------------------------------------


def _check_xy(x: Any, y: Any, x_name: str, y_name: str, n_params: int, what: str):
    x_arr = as_positive_array(x_name, x)
    y_arr = as_positive_array(y_name, y)
    n = same_length(**{x_name: x_arr, y_name: y_arr})
    enough_points(x_name, n, n_params + 1, what)
    n_distinct = len(np.unique(x_arr))
    if n_distinct < n_params:
        raise ValueError(
            f"{x_name} has {n_distinct} distinct values; {what} needs at least {n_params} "
            f"different sizes to identify its parameters"
        )
    return x_arr, y_arr


def _check_groups(groups: Any, n: int, x_name: str) -> np.ndarray | None:
    """Group labels (any hashable values) as integer codes 0..G-1, or None."""
    if groups is None:
        return None
    labels = np.asarray(groups)
    if labels.ndim != 1:
        raise ValueError(f"groups must be 1-dimensional, got shape {labels.shape}")
    if len(labels) != n:
        raise ValueError(f"mismatched lengths: {x_name} has {n}, groups has {len(labels)}")
    if labels.dtype.kind == "f" and np.isnan(labels).any():
        raise ValueError(f"groups contains NaN (first at index {int(np.argmax(np.isnan(labels)))})")
    if labels.dtype.kind == "O" and any(label is None for label in labels):
        raise ValueError("groups contains None")
    _, codes = np.unique(labels, return_inverse=True)
    return codes.ravel()


def _check_bootstrap(bootstrap: Any, seed: Any) -> tuple[int, int]:
    b = positive_int("bootstrap", bootstrap, minimum=0)
    if b == 1:
        raise ValueError("bootstrap must be 0 (no bootstrap) or at least 2 refits, got 1")
    s = positive_int("seed", seed, minimum=0)
    return b, s


def _bootstrap_weights(
    x: np.ndarray, codes: np.ndarray | None, n_boot: int, seed: int, min_distinct: int
) -> np.ndarray:
    """Resampling counts, shape (n_boot, n): how often each point is drawn in each replicate.

    Replicates with fewer than ``min_distinct`` distinct sizes are redrawn (they cannot
    identify the law). Deterministic given ``seed``.
    """
    n = len(x)
    rng = np.random.default_rng(seed)
    if codes is not None:
        n_groups = int(codes.max()) + 1
        if n_groups < 2:
            raise ValueError("groups has a single group; a group bootstrap needs at least 2")
        # membership[g, i] = 1 when point i belongs to group g
        membership = np.zeros((n_groups, n))
        membership[codes, np.arange(n)] = 1.0
    out = np.empty((n_boot, n))
    _, x_codes = np.unique(x, return_inverse=True)
    for b in range(n_boot):
        for _ in range(_MAX_REDRAWS):
            if codes is None:
                w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
            else:
                drawn = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)
                w = drawn @ membership
            if len(np.unique(x_codes[w > 0])) >= min_distinct:
                break
        else:
            raise ValueError(
                f"bootstrap: {_MAX_REDRAWS} resamples in a row had fewer than {min_distinct} "
                f"distinct sizes; the data (or groups) are too few to bootstrap this law"
            )
        out[b] = w
    return out


def _percentile_ci(samples: np.ndarray, names: list[str]) -> dict[str, tuple[float, float]]:
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    return {name: (float(lo), float(hi)) for name, lo, hi in zip(names, low, high)}


# ---------------------------------------------------------------------------------------------
# y = a x^-alpha: closed-form OLS in log-log space
# ---------------------------------------------------------------------------------------------


def _weighted_ols(lx: np.ndarray, ly: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted OLS of ly on lx for each row of weights ``w`` (B, n): (intercepts, slopes)."""
    total = w.sum(axis=1)
    mx = (w @ lx) / total
    my = (w @ ly) / total
    dx = lx[None, :] - mx[:, None]
    dy = ly[None, :] - my[:, None]
    slope = (w * dx * dy).sum(axis=1) / (w * dx * dx).sum(axis=1)
    return my - slope * mx, slope


def fit_power_law(
    x: Any, y: Any, *, bootstrap: int = 0, seed: int = 0, groups: Any = None
) -> FitResult:
    """Fit ``y = a * x**(-alpha)`` by ordinary least squares of ``log y`` on ``log x``.

    Parameters
    ----------
    x : array, shape (n,)
        Sizes (examples, parameters, tokens), strictly positive, at least 2 distinct.
    y : array, shape (n,)
        Errors or losses, strictly positive, in any units (``a`` takes those units).
    bootstrap : int
        Number of bootstrap refits for the 95% percentile intervals (0 for none).
    seed : int
        Seed of the bootstrap; the same seed gives identical intervals.
    groups : array, shape (n,), optional
        Labels (e.g. the training seed of each run); the bootstrap then resamples whole groups.

    Returns
    -------
    FitResult with params ``{"a", "alpha"}``, OLS standard errors (``a``'s by the delta
    method), and ``law`` a callable ``x -> a x^-alpha``.
    """
    x_arr, y_arr = _check_xy(x, y, "x", "y", 2, "a power law (2 parameters)")
    codes = _check_groups(groups, len(x_arr), "x")
    n_boot, seed = _check_bootstrap(bootstrap, seed)
    lx, ly = np.log(x_arr), np.log(y_arr)
    n = len(lx)

    intercept, slope = _weighted_ols(lx, ly, np.ones((1, n)))
    intercept, slope = float(intercept[0]), float(slope[0])
    a, alpha = float(np.exp(intercept)), -slope
    residuals = ly - (intercept + slope * lx)
    loss = float(residuals @ residuals)

    # Classical OLS standard errors with n - 2 degrees of freedom.
    s2 = loss / (n - 2)
    sxx = float(((lx - lx.mean()) ** 2).sum())
    se_slope = np.sqrt(s2 / sxx)
    se_intercept = np.sqrt(s2 * (1.0 / n + lx.mean() ** 2 / sxx))
    stderr = {"a": float(a * se_intercept), "alpha": float(se_slope)}

    ci: dict[str, tuple[float, float]] = {}
    boot = None
    if n_boot:
        weights = _bootstrap_weights(x_arr, codes, n_boot, seed, min_distinct=2)
        b_int, b_slope = _weighted_ols(lx, ly, weights)
        boot = np.column_stack([np.exp(b_int), -b_slope])
        ci = _percentile_ci(boot, ["a", "alpha"])

    def law(size: Any, _a: float = a, _alpha: float = alpha):
        return power_law(size, _a, _alpha)

    return FitResult(
        params={"a": a, "alpha": alpha},
        ci=ci,
        stderr=stderr,
        residuals=residuals,
        loss=loss,
        converged=True,
        n_points=n,
        method="fit_power_law (OLS in log-log space)",
        law=law,
        evaluate=lambda p, size: power_law(size, p["a"], p["alpha"]),
        bootstrap_params=boot,
    )


# ---------------------------------------------------------------------------------------------
# Nonlinear laws: log-parameter least squares from a grid of starts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NonlinearLaw:
    """How to fit one law. ``theta`` are unconstrained log-parameters; ``u = log(x / x_ref)``."""

    name: str
    names: tuple[str, ...]
    theta_names: tuple[str, ...]  # the natural parameter each log-parameter mainly sets
    floor_name: str  # the parameter that is the law's floor (irreducible error)
    log_model: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (theta, u) -> log prediction
    jacobian: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (theta, u) -> d log pred / d theta
    to_params: Callable[[np.ndarray, float], np.ndarray]  # (theta, x_ref) -> natural params
    make_law: Callable[[dict[str, float]], Callable[[Any], Any]]
    starts: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (u, y) -> (S, k) starting thetas
    bounds: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


# --- e + a x^-alpha --------------------------------------------------------------------------
# theta = (log e, log a', log alpha) with a' the scale at x = x_ref: prediction e + a' exp(-alpha u)


def _offset_log_model(theta: np.ndarray, u: np.ndarray) -> np.ndarray:
    le, la, lal = theta
    return np.logaddexp(le, la - np.exp(lal) * u)


def _offset_jacobian(theta: np.ndarray, u: np.ndarray) -> np.ndarray:
    le, la, lal = theta
    alpha = np.exp(lal)
    p = expit(le - (la - alpha * u))  # share of the prediction that is the floor e
    return np.column_stack([p, 1.0 - p, -(1.0 - p) * alpha * u])


def _offset_to_params(theta: np.ndarray, x_ref: float) -> np.ndarray:
    e, a_ref, alpha = np.exp(theta)
    return np.array([e, a_ref * x_ref**alpha, alpha])


def _offset_starts(u: np.ndarray, y: np.ndarray) -> np.ndarray:
    starts = []
    for e_frac in (0.01, 0.3, 0.6, 0.9):
        e = e_frac * y.min()
        for alpha in (0.1, 0.25, 0.5, 1.0, 2.0):
            # Given e and alpha, log a' is the median of log(y - e) + alpha u over the data.
            la = float(np.median(np.log(y - e) + alpha * u))
            starts.append([np.log(e), la, np.log(alpha)])
    return np.array(starts)


def _offset_bounds(u: np.ndarray, y: np.ndarray):
    ly_min, ly_max = np.log(y.min()), np.log(y.max())
    span = np.ptp(u) + 1.0
    lower = np.array([ly_min - 25.0, ly_min - 25.0 - 10.0 * span, np.log(1e-3)])
    upper = np.array([ly_max, ly_max + 25.0 + 10.0 * span, np.log(10.0)])
    return lower, upper


_OFFSET = _NonlinearLaw(
    name="power law with offset",
    names=("e", "a", "alpha"),
    theta_names=("e", "a", "alpha"),
    floor_name="e",
    log_model=_offset_log_model,
    jacobian=_offset_jacobian,
    to_params=_offset_to_params,
    make_law=lambda p: (lambda size: power_law_with_offset(size, p["e"], p["a"], p["alpha"])),
    starts=_offset_starts,
    bounds=_offset_bounds,
)


# --- LearningCurve: eps_inf + (eps0 - eps_inf) / (1 + (m/m0)^beta) ----------------------------
# theta = (log eps_inf, log(eps0 - eps_inf), log(m0 / x_ref), log beta)


def _lc_log_model(theta: np.ndarray, u: np.ndarray) -> np.ndarray:
    l_inf, l_gap, l_m0, l_b = theta
    s = np.exp(l_b) * (u - l_m0)
    return np.logaddexp(l_inf, l_gap - np.logaddexp(0.0, s))


def _lc_jacobian(theta: np.ndarray, u: np.ndarray) -> np.ndarray:
    l_inf, l_gap, l_m0, l_b = theta
    beta = np.exp(l_b)
    s = beta * (u - l_m0)
    q = l_gap - np.logaddexp(0.0, s)  # log of the reducible part
    p = expit(l_inf - q)  # share of the prediction that is the floor
    sig = expit(s)
    return np.column_stack([p, 1.0 - p, (1.0 - p) * sig * beta, -(1.0 - p) * sig * s])


def _lc_to_params(theta: np.ndarray, x_ref: float) -> np.ndarray:
    eps_inf, gap, m0_rel, beta = np.exp(theta)
    return np.array([eps_inf + gap, eps_inf, m0_rel * x_ref, beta])


def _lc_starts(u: np.ndarray, y: np.ndarray) -> np.ndarray:
    starts = []
    u_lo, u_hi = u.min(), u.max()
    for inf_frac in (0.05, 0.5, 0.9):
        eps_inf = inf_frac * y.min()
        for eps0 in (y.max(), 1.5 * y.max()):
            for where in (0.1, 0.35, 0.6):
                l_m0 = u_lo + where * (u_hi - u_lo)
                for beta in (0.3, 0.7, 1.5):
                    starts.append([np.log(eps_inf), np.log(eps0 - eps_inf), l_m0, np.log(beta)])
    return np.array(starts)


def _lc_bounds(u: np.ndarray, y: np.ndarray):
    ly_min, ly_max = np.log(y.min()), np.log(y.max())
    span = np.ptp(u) + 1.0
    lower = np.array([ly_min - 25.0, ly_min - 25.0, u.min() - 5.0 * span, np.log(1e-3)])
    upper = np.array([ly_max, ly_max + 10.0, u.max() + 5.0 * span, np.log(10.0)])
    return lower, upper


_LEARNING_CURVE = _NonlinearLaw(
    name="learning curve",
    names=("best_guess_error", "irreducible_error", "m0", "beta"),
    theta_names=("irreducible_error", "best_guess_error", "m0", "beta"),
    floor_name="irreducible_error",
    log_model=_lc_log_model,
    jacobian=_lc_jacobian,
    to_params=_lc_to_params,
    make_law=lambda p: LearningCurve(**p),
    starts=_lc_starts,
    bounds=_lc_bounds,
)


def _solve(spec: _NonlinearLaw, theta0, u, ly, sw, lower, upper):
    """One bounded least-squares run; residuals are ``sw * (log y - log prediction)``."""

    def residual(theta):
        return sw * (ly - spec.log_model(theta, u))

    def jac(theta):
        return -sw[:, None] * spec.jacobian(theta, u)

    theta0 = np.clip(theta0, lower + 1e-9, upper - 1e-9)
    sol = least_squares(residual, theta0, jac=jac, bounds=(lower, upper), method="trf",
                        x_scale="jac", max_nfev=2000)
    return sol.x, 2.0 * float(sol.cost), bool(sol.success)


def _distinct_best(thetas: np.ndarray, losses: np.ndarray, k: int) -> np.ndarray:
    """Up to ``k`` optima in order of loss, skipping near-duplicates."""
    chosen: list[np.ndarray] = []
    for i in np.argsort(losses):
        if all(np.max(np.abs(thetas[i] - c)) > 1e-3 for c in chosen):
            chosen.append(thetas[i])
        if len(chosen) == k:
            break
    return np.array(chosen)


def _stderr_from_jacobian(spec, theta, u, residuals, x_ref, n_params) -> dict[str, float]:
    """Asymptotic standard errors: s^2 (J^T J)^-1 in theta, mapped to natural parameters."""
    J = spec.jacobian(theta, u)
    dof = len(u) - n_params
    s2 = float(residuals @ residuals) / dof
    jtj = J.T @ J
    if np.linalg.cond(jtj) > 1e12:
        return {}
    cov_theta = s2 * np.linalg.inv(jtj)
    # Delta method with a central-difference Jacobian of theta -> natural parameters.
    G = np.empty((n_params, n_params))
    h = 1e-6
    for j in range(n_params):
        step = np.zeros(n_params)
        step[j] = h
        G[:, j] = (spec.to_params(theta + step, x_ref) - spec.to_params(theta - step, x_ref)) / (2 * h)
    cov = G @ cov_theta @ G.T
    return {name: float(np.sqrt(max(cov[i, i], 0.0))) for i, name in enumerate(spec.names)}


def _fit_nonlinear(
    spec: _NonlinearLaw, x_arr, y_arr, codes, n_boot: int, seed: int, method: str
) -> FitResult:
    k = len(spec.names)
    n = len(x_arr)
    x_ref = float(np.exp(np.mean(np.log(x_arr))))
    u = np.log(x_arr / x_ref)
    ly = np.log(y_arr)
    lower, upper = spec.bounds(u, y_arr)
    ones = np.ones(n)

    starts = spec.starts(u, y_arr)
    runs = [_solve(spec, s, u, ly, ones, lower, upper) for s in starts]
    thetas = np.array([r[0] for r in runs])
    losses = np.array([r[1] for r in runs])
    best = int(np.argmin(losses))
    theta, loss, converged = runs[best]

    params_vec = spec.to_params(theta, x_ref)
    params = {name: float(v) for name, v in zip(spec.names, params_vec)}
    residuals = ly - spec.log_model(theta, u)
    stderr = _stderr_from_jacobian(spec, theta, u, residuals, x_ref, k)

    notes = []
    at_bound = np.isclose(theta, lower, atol=1e-6) | np.isclose(theta, upper, atol=1e-6)
    for name, flag in zip(spec.theta_names, at_bound):
        if flag:
            notes.append(f"{name} ended at its search bound: the data do not pin it down")
    if params[spec.floor_name] < 1e-6 * y_arr.min():
        notes.append(f"{spec.floor_name} is negligible (< 1e-6 of the smallest value): the data show no floor")
    if not stderr:
        notes.append("standard errors omitted: the Jacobian is near-singular at the optimum")

    ci: dict[str, tuple[float, float]] = {}
    boot = None
    if n_boot:
        weights = _bootstrap_weights(x_arr, codes, n_boot, seed, min_distinct=k)
        boot_starts = _distinct_best(thetas, losses, _BOOTSTRAP_STARTS)
        boot = np.empty((n_boot, k))
        n_failed = 0
        for b in range(n_boot):
            sw = np.sqrt(weights[b])
            refits = [_solve(spec, s, u, ly, sw, lower, upper) for s in boot_starts]
            theta_b, _, ok = min(refits, key=lambda r: r[1])
            n_failed += not ok
            boot[b] = spec.to_params(theta_b, x_ref)
        ci = _percentile_ci(boot, list(spec.names))
        if n_failed:
            notes.append(f"{n_failed} of {n_boot} bootstrap refits did not report convergence")

    return FitResult(
        params=params,
        ci=ci,
        stderr=stderr,
        residuals=residuals,
        loss=loss,
        converged=converged,
        n_points=n,
        method=method,
        law=spec.make_law(params),
        evaluate=lambda p, size: spec.make_law(p)(size),
        bootstrap_params=boot,
        n_starts=len(starts),
        notes=notes,
    )


def fit_power_law_with_offset(
    x: Any, y: Any, *, bootstrap: int = 0, seed: int = 0, groups: Any = None
) -> FitResult:
    """Fit ``y = e + a * x**(-alpha)`` by least squares on log-space residuals.

    Minimizes ``sum (log y - log(e + a x^-alpha))**2`` over ``log e, log a, log alpha`` from a
    grid of 20 deterministic starts (4 floors below ``min(y)`` × 5 exponents in 0.1..2, with
    ``a`` set to match the data), keeping the best.

    Parameters
    ----------
    x : array, shape (n,)
        Sizes, strictly positive; n ≥ 4 points and at least 3 distinct sizes.
    y : array, shape (n,)
        Errors or losses, strictly positive. ``e`` and ``a`` take their units.
    bootstrap, seed, groups
        As in :func:`fit_power_law`.

    Returns
    -------
    FitResult with params ``{"e", "a", "alpha"}``; ``law`` maps sizes to ``e + a x^-alpha``.
    ``notes`` flags parameters that ended at their search bounds (e.g. a floor the data
    never approach, driven towards zero).
    """
    x_arr, y_arr = _check_xy(x, y, "x", "y", 3, "a power law with offset (3 parameters)")
    codes = _check_groups(groups, len(x_arr), "x")
    n_boot, seed = _check_bootstrap(bootstrap, seed)
    return _fit_nonlinear(_OFFSET, x_arr, y_arr, codes, n_boot, seed,
                          "fit_power_law_with_offset (log-space least squares)")


def fit_learning_curve(
    m: Any, err: Any, *, groups: Any = None, bootstrap: int = 0, seed: int = 0
) -> FitResult:
    """Fit the three-region :class:`~scalingbook.laws.LearningCurve` to measured errors.

    Minimizes ``sum (log err - log LearningCurve.error(m))**2`` over the logs of
    ``irreducible_error``, ``best_guess_error - irreducible_error``, ``m0`` and ``beta``, from a
    grid of 54 deterministic starts, keeping the best.

    Parameters
    ----------
    m : array, shape (n,)
        Training-set sizes (examples), strictly positive; n ≥ 5 points, ≥ 4 distinct sizes.
    err : array, shape (n,)
        Measured generalization errors (e.g. test MSE), strictly positive.
    groups : array, shape (n,), optional
        Labels such as the seed of each run; the bootstrap then resamples whole seeds.
    bootstrap : int
        Number of bootstrap refits (0 for none).
    seed : int
        Bootstrap seed.

    Returns
    -------
    FitResult with params ``{"best_guess_error", "irreducible_error", "m0", "beta"}`` (the
    fields of :class:`LearningCurve`) and ``law`` the fitted ``LearningCurve``.
    """
    m_arr, err_arr = _check_xy(m, err, "m", "err", 4, "a learning curve (4 parameters)")
    codes = _check_groups(groups, len(m_arr), "m")
    n_boot, seed = _check_bootstrap(bootstrap, seed)
    return _fit_nonlinear(_LEARNING_CURVE, m_arr, err_arr, codes, n_boot, seed,
                          "fit_learning_curve (log-space least squares)")
