"""Do the bootstrap intervals hold the truth as often as they claim? A coverage study on planted laws.

A 95% interval is only as good as its coverage: over many data sets drawn from one planted law,
the fraction of intervals that contain the planted value. :func:`chinchilla_coverage` measures it
for :func:`~scalingbook.fit.chinchilla.fit_chinchilla`'s percentile-bootstrap intervals: it draws
``replicates`` noisy data sets from a planted :class:`~scalingbook.laws.ChinchillaLaw` at the
same design (N, D), fits each with a bootstrap, and counts hits for every parameter, for the
compute-optimal allocation exponent ``a = beta / (alpha + beta)`` and, optionally, for the loss
at a target scale.

Why this needs measuring. Hoffmann et al.'s loss (Huber with delta = 1e-3 on log residuals) is
almost an L1 loss: its optimum sits on kinks, where only a handful of residuals are inside the
quadratic zone. A bootstrap refit starts at the full-data optimum, which is a kink point of the
resampled objective too. A quasi-Newton method with the usual absolute tolerances and
finite-difference gradients (``scipy.optimize.minimize(..., method="L-BFGS-B")`` as commonly
called) sees a tiny, unreliable gradient there and stops after a few iterations, so every
replicate stays near the full-data optimum and the intervals come out far too narrow.
``refit="scipy-default"`` reproduces that practice on the same resamples, so the two can be
compared: :func:`fit_chinchilla`'s refits use the exact gradient, scale-free stopping tests
and several starts per replicate (see :mod:`scalingbook.fit.huber`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.stats import norm

from scalingbook._validate import (
    as_positive_array,
    nonnegative_scalar,
    one_of,
    positive_int,
    positive_scalar,
    same_length,
)
from scalingbook.fit.chinchilla import NAMES, chinchilla_objective, fit_chinchilla
from scalingbook.laws.chinchilla import ChinchillaLaw

__all__ = ["CoverageStudy", "chinchilla_coverage", "scipy_default_refits", "wilson_interval"]

QUANTITIES = (*NAMES, "a")


def wilson_interval(hits: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``hits / trials``."""
    trials = positive_int("trials", trials)
    if not 0 <= hits <= trials:
        raise ValueError(f"hits must lie in [0, trials={trials}], got {hits}")
    z = float(norm.ppf(0.5 + level / 2))
    p = hits / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def scipy_default_refits(N: Any, D: Any, loss: Any, weights: np.ndarray, theta_start: Any, *,
                         delta: float = 1e-3, reduction: str = "mean",
                         scale: float = 1.0) -> np.ndarray:
    """Bootstrap refits the common way: one default scipy L-BFGS-B call per resample.

    Each row of ``weights`` (B, n) is one resample (counts per run). Each refit minimizes the
    weighted Huber objective (averaged by default, as in Hoffmann et al.'s description) with
    ``scipy.optimize.minimize(fun, theta_start, method="L-BFGS-B")``: finite-difference
    gradient and scipy's default tolerances, starting from ``theta_start`` = (a, b, e, alpha,
    beta), the full-data optimum. ``scale`` multiplies the objective (1: as written), which
    shows how scipy's absolute tolerances make the answer depend on the objective's scale.
    Returns (B, 5) parameters (E, A, B, alpha, beta).
    This is the baseline the coverage study compares against, not a recommended fitter.
    """
    ln, ld = np.log(as_positive_array("N", N)), np.log(as_positive_array("D", D))
    ll = np.log(as_positive_array("loss", loss))
    same_length(N=ln, D=ld, loss=ll)
    w_all = np.asarray(weights, dtype=np.float64)
    if w_all.ndim != 2 or w_all.shape[1] != len(ln):
        raise ValueError(f"weights must have shape (B, {len(ln)}), got {w_all.shape}")
    one_of("reduction", reduction, ("sum", "mean"))
    scale_factor = positive_scalar("scale", scale)
    x0 = np.asarray(theta_start, dtype=np.float64)

    def objective(theta: np.ndarray, w: np.ndarray, scale: float) -> float:
        a, b, e, alpha, beta = theta
        lse = np.logaddexp(np.logaddexp(a - alpha * ln, b - beta * ld), e)
        r = np.abs(ll - lse)
        huber = np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta))
        return scale * float(w @ huber)

    out = np.empty((len(w_all), 5))
    for i, w in enumerate(w_all):
        factor = scale_factor * (1.0 if reduction == "sum" else 1.0 / w.sum())
        res = minimize(objective, x0, args=(w, factor), method="L-BFGS-B")
        a, b, e, alpha, beta = res.x
        out[i] = (np.exp(e), np.exp(a), np.exp(b), alpha, beta)
    return out


@dataclass
class CoverageStudy:
    """Outcome of a coverage study.

    Attributes
    ----------
    level : float
        Nominal coverage of the intervals (0.95).
    replicates : int
        Data sets drawn from the planted law.
    coverage : dict[str, float]
        Per quantity, the fraction of replicates whose interval held the planted value.
    coverage_interval : dict[str, tuple[float, float]]
        Wilson 95% interval of each coverage (the study's own sampling error).
    median_width : dict[str, float]
        Median interval width per quantity, in the quantity's units.
    records : pandas.DataFrame
        One row per replicate and quantity: replicate, quantity, truth, estimate, low, high, hit.
    refit : str
        How bootstrap replicates were refitted ("batched" or "scipy-default").
    """

    level: float
    replicates: int
    coverage: dict[str, float]
    coverage_interval: dict[str, tuple[float, float]]
    median_width: dict[str, float]
    records: pd.DataFrame
    refit: str

    def summary(self) -> str:
        lines = [f"coverage of {self.level:.0%} percentile-bootstrap intervals over "
                 f"{self.replicates} planted data sets (refits: {self.refit})"]
        for q, c in self.coverage.items():
            lo, hi = self.coverage_interval[q]
            lines.append(f"  {q:<14} {c:6.1%}  (Wilson 95% [{lo:.1%}, {hi:.1%}])  "
                         f"median width {self.median_width[q]:.4g}")
        return "\n".join(lines)


def chinchilla_coverage(
    law: ChinchillaLaw,
    N: Any,
    D: Any,
    *,
    noise: float,
    replicates: int = 100,
    bootstrap: int = 100,
    seed: int = 0,
    starts: Any = None,
    bootstrap_starts: int = 3,
    target: tuple[float, float] | None = None,
    refit: str | tuple[str, ...] = "batched",
    delta: float = 1e-3,
) -> CoverageStudy | dict[str, CoverageStudy]:
    """Measure how often :func:`fit_chinchilla`'s 95% bootstrap intervals hold the planted values.

    Parameters
    ----------
    law : ChinchillaLaw
        The planted law.
    N, D : array-like, shape (n,)
        The design: parameters and tokens of each run (the same in every replicate).
    noise : float
        Standard deviation of the multiplicative log-normal noise on each run's loss
        (0.02 is a 2% scatter, about what repeated training runs show).
    replicates : int
        Data sets to draw (≥ 2). The coverage's own sampling error is about
        ``sqrt(0.95 * 0.05 / replicates)``; it is reported as a Wilson interval.
    bootstrap : int
        Bootstrap refits per data set (≥ 2).
    seed : int
        Seeds both the noise (replicate r uses ``seed + r``) and each bootstrap.
    starts : array-like, optional
        Starts for each full fit (default: Hoffmann's 4,500-start grid).
    bootstrap_starts : int
        Distinct full-data optima each bootstrap replicate is refitted from.
    target : (N, D), optional
        Also measure coverage of the band of the predicted loss at this scale.
    refit : "batched", "scipy-default", or a tuple of both
        "batched": :func:`fit_chinchilla`'s own bootstrap. "scipy-default": the same resamples
        refitted by :func:`scipy_default_refits` from the full-data optimum. With a tuple, both
        are measured on the same data sets and resamples, and a dict of studies is returned.
    delta : float
        Huber threshold.

    Returns
    -------
    CoverageStudy
    """
    if not isinstance(law, ChinchillaLaw):
        raise ValueError(f"law must be a ChinchillaLaw, got {type(law).__name__}")
    n_arr = as_positive_array("N", N)
    d_arr = as_positive_array("D", D)
    same_length(N=n_arr, D=d_arr)
    noise = nonnegative_scalar("noise", noise)
    replicates = positive_int("replicates", replicates)
    if replicates < 2:
        raise ValueError(f"replicates must be at least 2, got {replicates}")
    bootstrap = positive_int("bootstrap", bootstrap)
    methods = (refit,) if isinstance(refit, str) else tuple(refit)
    if not methods:
        raise ValueError("refit must name at least one method")
    for method in methods:
        one_of("refit", method, ("batched", "scipy-default"))
    if target is not None:
        if len(target) != 2:
            raise ValueError(f"target must be a pair (N, D), got {target!r}")
        target = (positive_scalar("target N", target[0]), positive_scalar("target D", target[1]))
    truth = {"E": law.E, "A": law.A, "B": law.B, "alpha": law.alpha, "beta": law.beta,
             "a": law.a}
    if target is not None:
        truth["loss_at_target"] = float(law.loss(*target))

    clean = law.loss(n_arr, d_arr)
    rows: dict[str, list[dict[str, Any]]] = {method: [] for method in methods}
    for r in range(replicates):
        rng = np.random.default_rng(seed + r)
        loss = clean * np.exp(rng.normal(0.0, noise, len(n_arr)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fit = fit_chinchilla(n_arr, d_arr, loss, bootstrap=bootstrap, seed=seed + r,
                                 starts=starts, bootstrap_starts=bootstrap_starts, delta=delta)
        estimates = dict(fit.params)
        estimates["a"] = fit.params["beta"] / (fit.params["alpha"] + fit.params["beta"])
        if target is not None:
            estimates["loss_at_target"] = float(fit.evaluate(fit.params, *target))
        for method in methods:
            boot = fit.bootstrap_params
            if method == "scipy-default":
                p = fit.params
                theta = [np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"]]
                boot = scipy_default_refits(n_arr, d_arr, loss, fit.diagnostics["bootstrap_weights"],
                                            theta, delta=delta)
            with np.errstate(divide="ignore", invalid="ignore"):
                a_b = boot[:, 4] / (boot[:, 3] + boot[:, 4])
            draws = {name: boot[:, i] for i, name in enumerate(NAMES)}
            draws["a"] = a_b
            if target is not None:
                tN, tD = target
                draws["loss_at_target"] = (boot[:, 0] + boot[:, 1] * tN ** -boot[:, 3]
                                           + boot[:, 2] * tD ** -boot[:, 4])
            for q, values in draws.items():
                low, high = np.nanpercentile(values, [2.5, 97.5])
                rows[method].append({
                    "replicate": r, "quantity": q, "truth": truth[q], "estimate": estimates[q],
                    "low": float(low), "high": float(high), "hit": bool(low <= truth[q] <= high)})
    studies = {}
    for method in methods:
        records = pd.DataFrame(rows[method])
        coverage, interval, width = {}, {}, {}
        for q, group in records.groupby("quantity", sort=False):
            hits = int(group["hit"].sum())
            coverage[q] = hits / replicates
            interval[q] = wilson_interval(hits, replicates)
            width[q] = float((group["high"] - group["low"]).median())
        studies[method] = CoverageStudy(0.95, replicates, coverage, interval, width, records, method)
    return studies[refit] if isinstance(refit, str) else studies
