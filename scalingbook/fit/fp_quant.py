"""Fit the precision term of Sun et al.'s (2025) law to runs trained in several formats.

The law (:class:`~scalingbook.laws.FPQuantLaw`) is a high-precision loss plus a precision term,

    L = L_hp(N, D) + rho,   rho = (D^beta / N^alpha) log2(B) / (gamma (E + 1/2)^delta (M + 1/2)^nu).

:func:`fit_fp_quant` fits ``rho`` only. The high-precision part is *held*, not fitted: each run
comes with ``base_loss``, the loss of a high-precision run at the same N and D (measured, or from
a law fitted to such runs), so the precision constants are not traded off against errors in the
N/D part. ``gamma``, ``delta`` and ``nu`` are always fitted; ``alpha`` and ``beta``, the exponents
of the "knowledge intensity" ``D^beta / N^alpha``, are fitted when the runs span at least two N
(two D), or held at values you pass (Sun et al.'s Chinchilla exponents, for example).

The objective is Hoffmann et al.'s (2022): the Huber loss (threshold ``huber_delta``) of the
log-space residuals ``log L - log(L_hp + rho)``, minimized from a grid of starts by the package's
batched L-BFGS (:func:`scalingbook.fit.huber.batched_lbfgs`, each start with its own history
and line search), the best optimum kept and the others reported, with an optional seeded
bootstrap over runs (or groups of runs) refitted the same way.

In log space the term is linear in its constants, ``log rho = -log gamma - delta log(E + 1/2) -
nu log(M + 1/2) - alpha log N + beta log D + log log2 B``, so the parameters are
``theta = (c, delta, nu[, alpha][, beta])`` with the logs centered (which leaves the optimum
unchanged and decorrelates the intercept from the slopes); ``gamma`` is recovered from ``c``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalingbook._validate import (
    as_float_array,
    as_positive_array,
    enough_points,
    positive_int,
    positive_scalar,
    same_length,
)
from scalingbook.fit.huber import (
    CONVERGED,
    MAX_ITER,
    NO_DESCENT,
    STATUS_NAMES,
    batched_lbfgs,
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
from scalingbook.laws.fp_quant import FPQuantLaw

__all__ = ["fit_fp_quant", "fp_quant_grid", "fp_quant_law"]

NAMES = ("gamma", "delta", "nu", "alpha", "beta")


@dataclass
class _PenaltyProblem:
    """One Huber fit of ``log L = log(base + exp(theta . x + offset))`` (float64 arrays).

    x : (n, k)  the centered design columns of the free parameters (see ``_design``).
    offset : (n,)  the fixed part of ``log rho`` (held exponents, ``log log2 B``; -inf at B = 1).
    base : (n,)  high-precision losses.  log_loss : (n,)  measured log losses.
    weights : (n,) or (S, n); the objective is ``scale * sum_i w_i huber(r_i)``.
    """

    x: np.ndarray
    offset: np.ndarray
    base: np.ndarray
    log_loss: np.ndarray
    weights: np.ndarray
    delta: float
    scale: np.ndarray | float = 1.0

    def rows(self, idx: np.ndarray) -> _PenaltyProblem:
        if self.weights.ndim == 1:
            return self
        scale = self.scale[idx] if isinstance(self.scale, np.ndarray) else self.scale
        return _PenaltyProblem(self.x, self.offset, self.base, self.log_loss, self.weights[idx],
                               self.delta, scale)

    def value_and_grad(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Objective (S,) and its gradient (S, k) in closed form.

        No matrix products: their rounding depends on how many rows they get, so a start's
        path would change in the last bits with the starts beside it. The products with the
        design are written out column by column and the sums run per row in a fixed order, so
        a start's numbers are the same alone or in any batch.
        """
        theta = np.asarray(theta, dtype=np.float64)
        x_cols = np.ascontiguousarray(self.x.T)  # (k, n)
        # exp of at most 700 keeps a wild start finite; such a start simply has a huge objective
        with np.errstate(invalid="ignore"):
            t = self.offset + theta[:, 0:1] * x_cols[0]
            for j in range(1, theta.shape[1]):
                t += theta[:, j : j + 1] * x_cols[j]
            t = np.minimum(t, 700.0)
        rho = np.exp(t)
        pred = self.base + rho
        r = self.log_loss - np.log(pred)
        psi = np.clip(r, -self.delta, self.delta)
        huber = psi * (r - 0.5 * psi)
        scale = self.scale[:, None] if isinstance(self.scale, np.ndarray) else self.scale
        w = self.weights * scale
        f = (w * huber).sum(1)
        # dr/dt = -rho / pred, so df/dtheta = -sum_i w_i psi_i (rho_i / pred_i) x_i
        q = w * psi * rho / pred
        grad = -np.stack([np.einsum("ij,j->i", q, col) for col in x_cols], axis=1)
        return f, grad


def fp_quant_grid(*, fit_alpha: bool, fit_beta: bool, center: float = 0.0) -> np.ndarray:
    """The default starts, shape (S, k): columns ``(c, delta, nu[, alpha][, beta])``.

    ``c`` (the centered intercept of ``log rho``) in ``center + {-4, -2, 0, 2, 4}``; ``delta``
    and ``nu`` in {0.25, 1, 2, 3, 5}; ``alpha`` and ``beta``, when fitted, in {0.2, 0.5, 1}.
    125 starts with both exponents held, 1,125 with both fitted.
    """
    axes = [center + np.array([-4.0, -2.0, 0.0, 2.0, 4.0]),
            np.array([0.25, 1.0, 2.0, 3.0, 5.0]), np.array([0.25, 1.0, 2.0, 3.0, 5.0])]
    axes += [np.array([0.2, 0.5, 1.0])] * (int(fit_alpha) + int(fit_beta))
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def _held(name: str, value: Any) -> float | None:
    return None if value is None else positive_scalar(name, value)


def _precision_value(p: dict[str, float], N: Any, D: Any, E: Any, M: Any, B: Any):
    """``rho`` for any parameter dict (a bootstrap refit may leave the law's domain)."""
    n_arr = as_positive_array("N", N, ndim=None)
    d_arr = as_positive_array("D", D, ndim=None)
    e_arr = as_float_array("E", E, ndim=None)
    m_arr = as_float_array("M", M, ndim=None)
    b_arr = as_positive_array("B", B, ndim=None)
    log_rho = (p["beta"] * np.log(d_arr) - p["alpha"] * np.log(n_arr) - np.log(p["gamma"])
               - p["delta"] * np.log(e_arr + 0.5) - p["nu"] * np.log(m_arr + 0.5))
    value = np.exp(log_rho) * np.log2(b_arr)
    return float(value) if np.ndim(value) == 0 else value


def fit_fp_quant(
    N: Any,
    D: Any,
    E: Any,
    M: Any,
    B: Any,
    loss: Any,
    base_loss: Any,
    *,
    alpha: float | None = None,
    beta: float | None = None,
    huber_delta: float = 1e-3,
    starts: Any = None,
    bootstrap: int = 0,
    seed: int = 0,
    groups: Any = None,
    max_iter: int = 1000,
    best_rtol: float = 1e-6,
    bootstrap_starts: int = 5,
) -> FitResult:
    """Fit ``gamma``, ``delta``, ``nu`` (and ``alpha``, ``beta`` unless held) of Sun et al.'s
    precision term to runs trained in low-precision formats, the high-precision part held.

    Parameters
    ----------
    N, D : array-like, shape (n,)
        Non-embedding parameters and training tokens of each run, strictly positive.
    E, M : array-like, shape (n,)
        Exponent and mantissa bits of each run's format, zero or more.
    B : array-like, shape (n,)
        Elements per scale, at least 1; at least one run must have ``B > 1`` (at ``B = 1`` the
        term vanishes, and such runs inform nothing).
    loss : array-like, shape (n,)
        Final loss of each run in nats, strictly positive.
    base_loss : array-like, shape (n,)
        The high-precision loss at each run's N and D (nats, strictly positive): typically the
        measured loss of a float32 run with the same size, data and seed.
    alpha, beta : float or None
        Hold the exponent at this value (strictly positive), or None to fit it, which needs at
        least two distinct N (two distinct D).
    huber_delta : float
        Huber threshold on log-space residuals (Hoffmann et al.'s 1e-3).
    starts : array-like, shape (S, k), optional
        Starting points, columns ``(c, delta, nu[, alpha][, beta])`` in that order (the free ones
        only; ``c`` is the intercept of ``log rho`` at the centered logs). Default
        :func:`fp_quant_grid` around the data's median gap.
    bootstrap, seed, groups : int, int, array-like
        Bootstrap refits for 95% percentile intervals (0: none; else at least 2), its seed, and
        optional group labels (e.g. the training seed) to resample whole groups of runs.
    max_iter, best_rtol, bootstrap_starts : int, float, int
        L-BFGS iterations per start; the relative tolerance for "reached the best optimum"; the
        number of best distinct optima each bootstrap replicate is refitted from.

    Returns
    -------
    FitResult
        ``params``: "gamma", "delta", "nu", "alpha", "beta" (held ones included, listed in
        ``diagnostics["held"]``); ``law``: the fitted precision term ``rho(N, D, E, M, B)`` in
        nats (a callable; add the high-precision loss to get a run's loss), or None with a
        ``RuntimeWarning`` if a fitted exponent is not positive; ``residuals``: log-space;
        ``diagnostics``: the multistart report, as :func:`~scalingbook.fit.fit_chinchilla` gives.
        :func:`fp_quant_law` joins the fitted term to a high-precision law.

    Raises
    ------
    ValueError
        NaN, infinite or out-of-range values (named); mismatched lengths; fewer runs than
        free parameters plus one; fewer than two distinct values of E, of M (or of N, D when
        their exponent is fitted); no run with ``B > 1``; bad options.
    """
    n_arr = as_positive_array("N", N)
    d_arr = as_positive_array("D", D)
    e_arr = as_float_array("E", E)
    m_arr = as_float_array("M", M)
    b_arr = as_positive_array("B", B)
    l_arr = as_positive_array("loss", loss)
    base = as_positive_array("base_loss", base_loss)
    n = same_length(N=n_arr, D=d_arr, E=e_arr, M=m_arr, B=b_arr, loss=l_arr, base_loss=base)
    for name, arr in (("E", e_arr), ("M", m_arr)):
        if (arr < 0).any():
            raise ValueError(f"{name} must be zero or more bits, got {arr[arr < 0][0]!r}")
    if (b_arr < 1).any():
        raise ValueError(f"B must be at least 1 (elements per scale), got {b_arr[b_arr < 1][0]!r}")
    if not (b_arr > 1).any():
        raise ValueError("B is 1 for every run: the precision term vanishes and cannot be fitted")
    alpha_held, beta_held = _held("alpha", alpha), _held("beta", beta)
    fit_alpha, fit_beta = alpha_held is None, beta_held is None
    free = ["c", "delta", "nu"] + ["alpha"] * fit_alpha + ["beta"] * fit_beta
    k = len(free)
    enough_points("N", n, k + 1, f"the precision term with {k} free parameters")
    checks = [("E", e_arr, True), ("M", m_arr, True), ("N", n_arr, fit_alpha), ("D", d_arr, fit_beta)]
    for name, arr, needed in checks:
        if needed and len(np.unique(arr)) < 2:
            raise ValueError(f"{name} has a single distinct value; its exponent cannot be fitted"
                             + ("" if name in "EM" else f" (hold it with {'alpha' if name == 'N' else 'beta'}=...)"))
    huber_delta = positive_scalar("huber_delta", huber_delta)
    n_boot, seed = _check_bootstrap(bootstrap, seed)
    codes = _check_groups(groups, n, "N")
    max_iter = positive_int("max_iter", max_iter)
    best_rtol = positive_scalar("best_rtol", best_rtol)
    bootstrap_starts = positive_int("bootstrap_starts", bootstrap_starts)

    # Centered design: log rho = c - delta u_E - nu u_M [- alpha u_N] [+ beta u_D] + offset.
    logs = {"E": np.log(e_arr + 0.5), "M": np.log(m_arr + 0.5), "N": np.log(n_arr), "D": np.log(d_arr)}
    means = {key: float(v.mean()) for key, v in logs.items()}
    cols = [np.ones(n), -(logs["E"] - means["E"]), -(logs["M"] - means["M"])]
    with np.errstate(divide="ignore"):
        offset = np.log(np.log2(b_arr))  # -inf at B = 1: rho = 0 there
    if fit_alpha:
        cols.append(-(logs["N"] - means["N"]))
    else:
        offset = offset - alpha_held * logs["N"]
    if fit_beta:
        cols.append(logs["D"] - means["D"])
    else:
        offset = offset + beta_held * logs["D"]
    x = np.column_stack(cols)

    def to_params(theta: np.ndarray) -> np.ndarray:
        """Rows of (c, delta, nu[, alpha][, beta]) -> rows of (gamma, delta, nu, alpha, beta)."""
        theta = np.atleast_2d(theta)
        j = 3
        a = theta[:, j] if fit_alpha else np.full(len(theta), alpha_held)
        j += int(fit_alpha)
        b = theta[:, j] if fit_beta else np.full(len(theta), beta_held)
        # log rho = -log gamma - delta log(E+1/2) - nu log(M+1/2) - alpha log N + beta log D + ...
        log_gamma = -(theta[:, 0] + theta[:, 1] * means["E"] + theta[:, 2] * means["M"]
                      + (a * means["N"] if fit_alpha else 0.0) - (b * means["D"] if fit_beta else 0.0))
        return np.column_stack([np.exp(log_gamma), theta[:, 1], theta[:, 2], a, b])

    if starts is None:
        gaps = np.log(np.clip(l_arr - base, 1e-12, None))
        finite = np.isfinite(offset)
        # at the centered logs, log rho = c + offset: start c around the runs' typical gap
        center = float(np.median(gaps[finite] - offset[finite]))
        start_grid = fp_quant_grid(fit_alpha=fit_alpha, fit_beta=fit_beta, center=center)
    else:
        start_grid = as_float_array("starts", starts, ndim=2)
        if start_grid.shape[1] != k or start_grid.shape[0] < 1:
            raise ValueError(f"starts must have shape (S, {k}) with columns ({', '.join(free)}), "
                             f"got {start_grid.shape}")

    tt = lambda a: np.array(a, dtype=np.float64)
    problem = _PenaltyProblem(tt(x), tt(offset), tt(base), tt(np.log(l_arr)), tt(np.ones(n)), huber_delta)
    run = batched_lbfgs(problem, tt(start_grid), max_iter=max_iter)
    f_all, theta_all, status = run.f, run.theta, run.status
    finite = np.isfinite(f_all)
    if not finite.any():
        raise RuntimeError("every start ended with a non-finite objective; check the data")
    best = int(np.argmin(np.where(finite, f_all, np.inf)))
    f_best, theta_best = float(f_all[best]), theta_all[best]
    params = dict(zip(NAMES, (float(v) for v in to_params(theta_best)[0])))
    converged = bool(status[best] in (CONVERGED, NO_DESCENT))

    at_best = finite & (f_all <= f_best + best_rtol * abs(f_best))
    others = finite & ~at_best
    diagnostics: dict[str, Any] = {
        "free": free,
        "held": {name: v for name, v in (("alpha", alpha_held), ("beta", beta_held)) if v is not None},
        "n_starts": len(start_grid),
        "n_at_best": int(at_best.sum()),
        "best_rtol": best_rtol,
        "best_start": start_grid[best].tolist(),
        "others_relative_excess_median": (
            float(np.median((f_all[others] - f_best) / abs(f_best))) if others.any() and f_best else None
        ),
        "status_counts": {STATUS_NAMES[s]: int((status == s).sum()) for s in STATUS_NAMES},
        "best_status": STATUS_NAMES[int(status[best])],
        "best_iterations": int(run.iterations[best]),
        "objectives": f_all,
        "thetas": theta_all,
        "huber_delta": huber_delta,
    }
    notes: list[str] = [f"{name} held at {v:.6g}" for name, v in diagnostics["held"].items()]
    if not converged:
        msg = f"the best start stopped at the iteration limit ({max_iter}) without converging"
        notes.append(msg)
        warnings.warn(f"fit_fp_quant: {msg}", RuntimeWarning, stacklevel=2)
    if at_best.sum() == 1 and len(start_grid) > 1:
        notes.append("only one start reached the best optimum: the landscape is rugged, try more starts")

    law = None
    bad = [name for name in ("delta", "nu", "alpha", "beta") if not params[name] > 0]
    if bad:
        msg = (f"the best fit has a non-positive {', '.join(bad)} "
               f"({', '.join(f'{b}={params[b]:.4g}' for b in bad)}): outside the law's domain; law is None")
        notes.append(msg)
        warnings.warn(f"fit_fp_quant: {msg}", RuntimeWarning, stacklevel=2)
    else:
        law = FPQuantLaw(alpha=params["alpha"], beta=params["beta"], gamma=params["gamma"],
                         delta=params["delta"], nu=params["nu"]).precision_penalty

    with np.errstate(divide="ignore"):
        rho = np.exp(np.clip(x @ theta_best + offset, None, 700.0))
    residuals = np.log(l_arr) - np.log(base + rho)

    ci: dict[str, tuple[float, float]] = {}
    boot = None
    if n_boot:
        # Resample runs (or groups); a replicate must keep two distinct E and two distinct M.
        em_codes = np.unique(np.column_stack([e_arr, m_arr]), axis=0, return_inverse=True)[1].ravel()
        weights = _bootstrap_weights(em_codes.astype(float), codes, n_boot, seed,
                                     min_distinct=min(3, len(np.unique(em_codes))))
        order = np.where(finite, f_all, np.inf)
        seeds = _distinct_best(theta_all, order, bootstrap_starts)

        def problem_for(w_rows: np.ndarray) -> _PenaltyProblem:
            return _PenaltyProblem(tt(x), tt(offset), tt(base), tt(np.log(l_arr)), tt(w_rows),
                                   huber_delta)

        btheta, bstatus = refit_replicates(problem_for, weights, seeds, max_iter)
        boot = to_params(btheta)
        ci = _percentile_ci(boot, list(NAMES))
        for name in diagnostics["held"]:
            ci.pop(name)
        n_failed = int((bstatus == MAX_ITER).sum())
        diagnostics["bootstrap_not_converged"] = n_failed
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
        method=f"fit_fp_quant (Huber δ={huber_delta:g} on log residuals, batched L-BFGS)",
        law=law,
        bootstrap_params=boot,
        n_starts=len(start_grid),
        notes=notes,
        objective="Huber sum",
        diagnostics=diagnostics,
        evaluate=_precision_value,
    )


def fp_quant_law(fit: FitResult, base: ChinchillaLaw) -> FPQuantLaw:
    """The whole law: ``base``'s high-precision part (E, A, B as epsilon, n, d) with the fitted
    precision term's gamma, delta, nu and the fit's alpha, beta (which then also serve as the
    exponents of the N and D terms, as in Sun et al.'s law; hold them at ``base.alpha`` and
    ``base.beta`` in :func:`fit_fp_quant` to keep the two parts consistent)."""
    if not isinstance(base, ChinchillaLaw):
        raise ValueError(f"base must be a ChinchillaLaw, got {type(base).__name__}")
    if not isinstance(fit, FitResult) or set(fit.params) != set(NAMES):
        raise ValueError("fit must be a FitResult from fit_fp_quant")
    p = fit.params
    return FPQuantLaw(n=base.A, alpha=p["alpha"], d=base.B, beta=p["beta"], epsilon=base.E,
                      gamma=p["gamma"], delta=p["delta"], nu=p["nu"])
