"""How far can a fitted law be trusted? Refit on growing ranges of model sizes and extrapolate.

:func:`extrapolation_study` takes runs (N, D, loss), fits the Chinchilla law to the runs with
``N <= n_max`` for each ``n_max`` in a list, and predicts a target scale and a curve of
compute-optimal-ish models (a fixed tokens-per-parameter ratio) with each fit. Against a known
law (planted data) it measures the absolute relative error (ARE) of each extrapolation; the
chapter on estimation draws the result with :func:`scalingbook.viz.extrapolation_explorer`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scalingbook._validate import as_positive_array, positive_int, positive_scalar, same_length
from scalingbook.fit.chinchilla import fit_chinchilla

__all__ = ["ExtrapolationStudy", "extrapolation_study"]


@dataclass
class ExtrapolationStudy:
    """Outcome of :func:`extrapolation_study`.

    summary : one row per fit range: fit_id, n_max, n_runs, decades (log10 of the largest over
        the smallest N fitted), predicted (loss at the target), low, high (its 95% band, NaN
        without bootstrap), actual (the reference law at the target), are (|pred - actual| /
        actual), converged, alpha, beta, a (= beta / (alpha + beta)).
    curves : one row per fit range and curve point: fit_id, N, D, fitted, low, high, actual.
    target : (N, D) of the extrapolation target.
    """

    summary: pd.DataFrame
    curves: pd.DataFrame
    target: tuple[float, float]


def extrapolation_study(
    N: Any,
    D: Any,
    loss: Any,
    *,
    n_max: Any,
    target: tuple[float, float],
    reference: Callable[[Any, Any], Any],
    tokens_per_parameter: float = 20.0,
    curve_points: int = 40,
    bootstrap: int = 0,
    seed: int = 0,
    starts: Any = None,
) -> ExtrapolationStudy:
    """Fit on runs with ``N <= n_max`` (for each ``n_max``) and extrapolate to ``target``.

    Parameters
    ----------
    N, D, loss : array-like, shape (n,)
        The runs (strictly positive; loss in nats).
    n_max : array-like
        Largest model size fitted, one study row per value; each must leave at least 6 runs.
    target : (N, D)
        The scale to extrapolate to (usually beyond every run).
    reference : callable (N, D) -> loss
        The law the predictions are compared with, e.g. the planted law's ``loss``.
    tokens_per_parameter : float
        The curve of predictions runs along D = tokens_per_parameter * N, from the smallest
        run's N to the target's N.
    curve_points : int
        Points on that curve.
    bootstrap, seed, starts :
        Passed to :func:`~scalingbook.fit.chinchilla.fit_chinchilla` for every fit.
    """
    n_arr, d_arr, l_arr = (as_positive_array(k, v) for k, v in (("N", N), ("D", D), ("loss", loss)))
    same_length(N=n_arr, D=d_arr, loss=l_arr)
    limits = np.unique(as_positive_array("n_max", np.atleast_1d(n_max)))
    if len(target) != 2:
        raise ValueError(f"target must be a pair (N, D), got {target!r}")
    t_n, t_d = positive_scalar("target N", target[0]), positive_scalar("target D", target[1])
    if not callable(reference):
        raise ValueError("reference must be callable as reference(N, D)")
    ratio = positive_scalar("tokens_per_parameter", tokens_per_parameter)
    curve_points = positive_int("curve_points", curve_points, minimum=2)
    grid_n = np.geomspace(n_arr.min(), t_n, curve_points)
    grid_d = ratio * grid_n
    actual_t = float(reference(t_n, t_d))
    actual_curve = np.asarray(reference(grid_n, grid_d), dtype=float)

    rows, curves = [], []
    for fit_id, limit in enumerate(limits):
        keep = n_arr <= limit * (1 + 1e-12)
        if keep.sum() < 6:
            raise ValueError(f"n_max={limit:.4g} leaves {keep.sum()} runs; the fit needs at least 6")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fit = fit_chinchilla(n_arr[keep], d_arr[keep], l_arr[keep], bootstrap=bootstrap,
                                 seed=seed, starts=starts)
        at_t = fit.predict(t_n, t_d)
        along = fit.predict(grid_n, grid_d)
        p = fit.params
        rows.append({
            "fit_id": fit_id, "n_max": float(limit), "n_runs": int(keep.sum()),
            "decades": float(np.log10(n_arr[keep].max() / n_arr[keep].min())),
            "predicted": float(at_t.value),
            "low": np.nan if at_t.low is None else float(at_t.low),
            "high": np.nan if at_t.high is None else float(at_t.high),
            "actual": actual_t, "are": abs(float(at_t.value) - actual_t) / actual_t,
            "converged": fit.converged, "alpha": p["alpha"], "beta": p["beta"],
            "a": p["beta"] / (p["alpha"] + p["beta"]),
        })
        curves.append(pd.DataFrame({
            "fit_id": fit_id, "N": grid_n, "D": grid_d, "fitted": np.asarray(along.value, float),
            "low": np.nan if along.low is None else along.low,
            "high": np.nan if along.high is None else along.high, "actual": actual_curve,
        }))
    return ExtrapolationStudy(pd.DataFrame(rows), pd.concat(curves, ignore_index=True), (t_n, t_d))
