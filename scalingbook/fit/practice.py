"""Fitting practices of Choshen et al. (2024), "A Hitchhiker's Guide to Scaling Law Estimation".

Their question is practical: given a family of smaller training runs, which way of fitting
``L(N, D) = E + A/N^alpha + B/D^beta`` best predicts the loss of the largest model? Their measure
of a fit is the absolute relative error (ARE) of that prediction, ``|predicted - actual| / actual``,
on a model held out of the fit. The practices they study, and the switches here:

- *Intermediate checkpoints* (``checkpoints=True``): fit every evaluated checkpoint of each run as
  a point ``(N, tokens seen so far, loss)``, not only the final loss of each run.
- *Dropping the start of each run* (``drop_fraction``, or :func:`drop_early` by tokens): the first
  part of training is not described by the law.
- *Weighting by model family or run* (``weighting``): a run with many checkpoints, or a family
  with many runs, should not outvote the rest; each gets the same total weight
  (:func:`family_weights`, passed to ``fit_chinchilla(weights=...)``).
- *Holding out the largest scale* (:func:`holdout_largest`): train on every model but the largest
  and score the prediction of the largest one's final loss.

The fitter is :func:`~scalingbook.fit.chinchilla.fit_chinchilla` (Hoffmann et al.'s Huber
objective in log space). Choshen et al. fit with plain squared error on the raw loss, and they
score the largest model's checkpoints from the last part of its training, not only its final one;
see ``/work/shared/external/hitchhiker/README.md`` for their choices in our words. This module
implements the practices, not their paper's numbers: run it on planted curves
(:func:`~scalingbook.data.planted.planted_training_curves`) to see each practice's effect where
the truth is known.

Frames are pandas DataFrames with the columns of ``planted_training_curves``: ``run``,
``family``, ``N`` (parameters), ``D`` (tokens seen), ``fraction`` (of the run), ``loss`` (nats),
``final`` (bool). A frame of final losses only (``planted_runs``) works where a function says so.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalingbook._validate import (
    as_float_array,
    as_positive_array,
    nonnegative_scalar,
    one_of,
)
from scalingbook.fit.chinchilla import fit_chinchilla
from scalingbook.fit.result import FitResult

__all__ = [
    "PracticeResult",
    "absolute_relative_error",
    "compare_practices",
    "drop_early",
    "evaluate_practice",
    "family_weights",
    "holdout_largest",
]

WEIGHTINGS = ("none", "family", "run")


def absolute_relative_error(predicted: Any, actual: Any) -> np.ndarray | float:
    """``|predicted - actual| / actual``, elementwise (dimensionless; 0.05 is a 5% miss).

    Parameters
    ----------
    predicted : scalar or array-like
        Predicted losses (nats, or any positive quantity), finite.
    actual : scalar or array-like
        Measured values in the same units, strictly positive; same shape as ``predicted``.

    Returns
    -------
    float if both are scalars, else an ndarray of their shape.

    Raises
    ------
    ValueError
        NaN or infinite values, non-positive ``actual``, shapes that differ.
    """
    pred = as_float_array("predicted", predicted, ndim=None)
    act = as_positive_array("actual", actual, ndim=None)
    if pred.shape != act.shape:
        raise ValueError(f"predicted has shape {pred.shape} but actual has shape {act.shape}")
    out = np.abs(pred - act) / act
    return float(out) if out.ndim == 0 else out


def _check_frame(frame: Any, columns: Iterable[str], name: str = "frame") -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        word = "column" if len(missing) == 1 else "columns"
        raise ValueError(f"{name} lacks the {word} {', '.join(map(repr, missing))}")
    if len(frame) == 0:
        raise ValueError(f"{name} has no rows")
    return frame


def drop_early(frame: pd.DataFrame, cutoff: float, *, column: str = "fraction") -> pd.DataFrame:
    """Drop the checkpoints taken before ``cutoff``: keep the rows with ``frame[column] >= cutoff``.

    With the default ``column="fraction"``, ``cutoff`` is a fraction of each run in [0, 1]
    (0.1 drops the first 10% of every run); with ``column="D"`` it is a token count (1e10 drops
    each run's first 10B tokens, Choshen et al.'s choice for large models). Final checkpoints have
    fraction 1 and are never dropped by a fraction.

    Parameters
    ----------
    frame : DataFrame
        Checkpoints, with the column ``column``.
    cutoff : float
        Threshold, zero or more (a fraction must be at most 1).
    column : str
        The column compared with ``cutoff``.

    Returns
    -------
    DataFrame
        A new frame with the kept rows, in their original order and with their original index.

    Raises
    ------
    ValueError
        A frame that is not a DataFrame, lacks ``column`` or is empty; a negative or non-finite
        ``cutoff``; a fraction above 1; a cutoff that would drop every row.
    """
    _check_frame(frame, [column])
    cutoff = nonnegative_scalar("cutoff", cutoff)
    if column == "fraction" and cutoff > 1:
        raise ValueError(f"cutoff is a fraction of the run when column='fraction'; got {cutoff}")
    values = as_float_array(f"frame[{column!r}]", frame[column].to_numpy())
    keep = values >= cutoff
    if not keep.any():
        raise ValueError(f"cutoff {cutoff:g} drops every row: the largest {column} is {values.max():g}")
    return frame.loc[keep].copy()


def family_weights(families: Any, *, scheme: str = "equal") -> np.ndarray:
    """Per-row weights that give every family (or run) the same total weight.

    Pass the ``family`` column to balance families, or the ``run`` column to balance runs (a run
    with 20 checkpoints then weighs as much as one with 5). Weights are scaled to average 1, so
    each of ``k`` labels has total weight ``n / k``; ``fit_chinchilla`` is scale-free in them.

    Parameters
    ----------
    families : array-like, shape (n,)
        A label per row (strings or any hashable values, no None or NaN).
    scheme : "equal" or "none"
        "equal": the same total weight per label; "none": every row weight 1.

    Returns
    -------
    ndarray, shape (n,), float
    """
    one_of("scheme", scheme, ("equal", "none"))
    labels = np.asarray(families, dtype=object)
    if labels.ndim != 1:
        raise ValueError(f"families must be 1-dimensional, got shape {labels.shape}")
    if len(labels) == 0:
        raise ValueError("families is empty")
    if any(label is None or (isinstance(label, float) and np.isnan(label)) for label in labels):
        raise ValueError("families contains a missing label (None or NaN)")
    n = len(labels)
    if scheme == "none":
        return np.ones(n)
    _, codes, counts = np.unique(labels.astype(str), return_inverse=True, return_counts=True)
    return n / (len(counts) * counts[codes.ravel()].astype(float))


def holdout_largest(frame: pd.DataFrame, *, by: str = "N") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into (train, target): the target is the largest scale's final checkpoint(s).

    Every row of the largest value of ``by`` (all of its runs and all their checkpoints) leaves the
    training part, so nothing of the target leaks into the fit; the target rows are that scale's
    final checkpoints (rows with ``final`` True; every row if the frame has no ``final`` column,
    as a frame of final losses from ``planted_runs``).

    Parameters
    ----------
    frame : DataFrame
        Runs or checkpoints, with the column ``by``.
    by : str
        The column that orders scale, usually "N" (parameters) or "C" (FLOPs).

    Returns
    -------
    (DataFrame, DataFrame)
        Copies of the training rows and of the target rows.

    Raises
    ------
    ValueError
        A frame without ``by`` or empty; a single scale (nothing left to train on).
    """
    _check_frame(frame, [by])
    scale = as_float_array(f"frame[{by!r}]", frame[by].to_numpy())
    largest = scale == scale.max()
    if largest.all():
        raise ValueError(
            f"frame has a single value of {by} ({scale.max():g}); nothing is left to train on"
        )
    if "final" in frame.columns:
        final = frame["final"].to_numpy(dtype=bool)
    else:
        final = np.ones(len(frame), dtype=bool)
    if not (largest & final).any():
        raise ValueError(f"the largest {by} ({scale.max():g}) has no final checkpoint to predict")
    return frame.loc[~largest].copy(), frame.loc[largest & final].copy()


@dataclass
class PracticeResult:
    """One practice's fit on the training runs and its prediction of the held-out largest runs.

    Attributes
    ----------
    checkpoints : bool
        Whether intermediate checkpoints were fitted (else final losses only).
    drop_fraction : float
        Fraction of each run dropped from its start before fitting (0: none).
    weighting : str
        "none", "family" or "run" (see :func:`family_weights`).
    params : dict[str, float]
        The fitted E, A, B, alpha, beta (as in ``FitResult.params``).
    predicted, actual : ndarray, shape (k,)
        Predicted and measured final loss (nats) of each held-out target run.
    are : float
        Mean absolute relative error over the target runs (dimensionless).
    are_per_target : ndarray, shape (k,)
        ARE of each target run.
    are_true : float
        Mean ARE against the targets' noise-free loss (the ``loss_true`` column of a planted
        frame): the fit's own error, without the target's measurement noise. NaN without that column.
    low, high : ndarray, shape (k,), or None
        The 95% bootstrap band of each prediction (``FitResult.predict``); None without bootstrap.
    n_points : int
        Points (checkpoints or runs) the fit used.
    n_runs : int
        Training runs those points came from.
    converged : bool
        Whether the fit converged (``FitResult.converged``).
    notes : list[str]
        The fit's notes.
    fit : FitResult
        The fit itself.
    """

    checkpoints: bool
    drop_fraction: float
    weighting: str
    params: dict[str, float]
    predicted: np.ndarray
    actual: np.ndarray
    are: float
    are_per_target: np.ndarray
    are_true: float
    low: np.ndarray | None
    high: np.ndarray | None
    n_points: int
    n_runs: int
    converged: bool
    notes: list[str] = field(default_factory=list)
    fit: FitResult | None = field(default=None, repr=False)

    def as_row(self) -> dict[str, Any]:
        """A flat dict for a table: settings, counts, prediction, ARE and the five parameters."""
        row: dict[str, Any] = {
            "checkpoints": self.checkpoints,
            "drop_fraction": self.drop_fraction,
            "weighting": self.weighting,
            "n_points": self.n_points,
            "n_runs": self.n_runs,
            "predicted": float(self.predicted.mean()),
            "actual": float(self.actual.mean()),
            "are": self.are,
            "are_max": float(self.are_per_target.max()),
            "are_true": self.are_true,
            "converged": self.converged,
        }
        row.update(self.params)
        return row


def _runs_column(frame: pd.DataFrame) -> pd.Series:
    """Run labels: the ``run`` column, or one run per row for a frame of final losses."""
    if "run" in frame.columns:
        return frame["run"]
    return pd.Series(np.arange(len(frame)), index=frame.index)


def evaluate_practice(
    frame: pd.DataFrame,
    *,
    checkpoints: bool = True,
    drop_fraction: float = 0.0,
    weighting: str = "none",
    by: str = "N",
    starts: Any = None,
    delta: float = 1e-3,
    bootstrap: int = 0,
    seed: int = 0,
    group_by: str | None = "run",
    **fit_options: Any,
) -> PracticeResult:
    """Fit under one practice on all but the largest scale, and score the prediction of the largest.

    Steps: :func:`holdout_largest` splits the frame; without ``checkpoints`` only final rows are
    kept; ``drop_fraction`` drops each run's first part (:func:`drop_early` on ``fraction``); the
    weights follow ``weighting``; :func:`~scalingbook.fit.chinchilla.fit_chinchilla` fits the
    rest; its law predicts each target run's final loss at its ``N`` and ``D``.

    Parameters
    ----------
    frame : DataFrame
        Checkpoints (``planted_training_curves`` columns) or final losses (``N``, ``D``, ``loss``).
    checkpoints : bool
        Fit every checkpoint (True) or only each run's final loss (False).
    drop_fraction : float
        Fraction of each run to drop from its start, in [0, 1). Needs a ``fraction`` column when
        positive.
    weighting : "none", "family" or "run"
        Every point weight 1, the same total weight per ``family``, or per ``run``.
    by : str
        Column that orders scale for the held-out split (default "N").
    starts : array-like, shape (S, 5), optional
        Starting grid for ``fit_chinchilla`` (default: its 4,500 starts; pass a small grid for speed).
    delta : float
        Huber threshold of ``fit_chinchilla``.
    bootstrap : int
        Bootstrap refits of ``fit_chinchilla`` (0: none), for a band around each prediction.
    seed : int
        Bootstrap seed.
    group_by : str or None
        Column whose labels the bootstrap resamples as whole groups: "run" (default; the
        checkpoints of one run share its luck and move together), "family", or None to resample
        single points. Ignored without bootstrap or when the column is absent.
    **fit_options
        Passed on to ``fit_chinchilla`` (e.g. ``max_iter``).

    Returns
    -------
    PracticeResult

    Raises
    ------
    ValueError
        A frame without ``N``, ``D`` and ``loss`` (or without ``fraction``, ``family`` or ``run``
        when the practice needs it); a bad ``drop_fraction`` or ``weighting``; too few points left
        for ``fit_chinchilla`` (it names what is short).
    """
    _check_frame(frame, ["N", "D", "loss", by])
    if not isinstance(checkpoints, (bool, np.bool_)):
        raise ValueError(f"checkpoints must be True or False, got {checkpoints!r}")
    drop_fraction = nonnegative_scalar("drop_fraction", drop_fraction)
    if drop_fraction >= 1:
        raise ValueError(
            f"drop_fraction must be below 1 (the final checkpoint is kept), got {drop_fraction}"
        )
    one_of("weighting", weighting, WEIGHTINGS)
    train, target = holdout_largest(frame, by=by)
    if not checkpoints and "final" in train.columns:
        train = train.loc[train["final"].to_numpy(dtype=bool)]
    if drop_fraction > 0:
        _check_frame(train, ["fraction"])
        train = drop_early(train, drop_fraction)
    if weighting == "none":
        weights = None
    elif weighting == "family":
        _check_frame(train, ["family"])
        weights = family_weights(train["family"].to_numpy())
    else:
        weights = family_weights(_runs_column(train).to_numpy())

    groups = None
    if bootstrap and group_by is not None and group_by in train.columns:
        groups = train[group_by].to_numpy()

    fit = fit_chinchilla(train["N"].to_numpy(), train["D"].to_numpy(), train["loss"].to_numpy(),
                         weights=weights, starts=starts, delta=delta, bootstrap=bootstrap,
                         seed=seed, groups=groups, **fit_options)
    prediction = fit.predict(target["N"].to_numpy(), target["D"].to_numpy())
    predicted = np.atleast_1d(np.asarray(prediction.value, dtype=float))
    actual = target["loss"].to_numpy(dtype=float)
    are = np.atleast_1d(absolute_relative_error(predicted, actual))
    are_true = np.nan
    if "loss_true" in target.columns:
        truth = target["loss_true"].to_numpy(dtype=float)
        are_true = float(np.mean(absolute_relative_error(predicted, truth)))
    low = None if prediction.low is None else np.atleast_1d(np.asarray(prediction.low, dtype=float))
    high = None if prediction.high is None else np.atleast_1d(np.asarray(prediction.high, dtype=float))
    return PracticeResult(
        checkpoints=bool(checkpoints),
        drop_fraction=drop_fraction,
        weighting=weighting,
        params=dict(fit.params),
        predicted=predicted,
        actual=actual,
        are=float(are.mean()),
        are_per_target=are,
        are_true=are_true,
        low=low,
        high=high,
        n_points=len(train),
        n_runs=int(_runs_column(train).nunique()),
        converged=fit.converged,
        notes=list(fit.notes),
        fit=fit,
    )


def _expand_settings(settings: Any) -> list[dict[str, Any]]:
    """A list of setting dicts, or a dict of lists expanded as their product."""
    allowed = {"checkpoints", "drop_fraction", "weighting"}
    if isinstance(settings, Mapping):
        keys = list(settings)
        values = [list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v]
                  for v in settings.values()]
        out = [dict(zip(keys, combo)) for combo in itertools.product(*values)]
    else:
        try:
            out = [dict(s) for s in settings]
        except (TypeError, ValueError):
            raise ValueError(
                "settings must be a list of dicts or a dict of lists of practice settings"
            ) from None
    if not out:
        raise ValueError("settings holds no practice")
    for s in out:
        unknown = set(s) - allowed
        if unknown:
            raise ValueError(
                f"settings has unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
            )
    return out


def compare_practices(frame: pd.DataFrame, settings: Any, **options: Any) -> pd.DataFrame:
    """Evaluate several practices on one frame: a tidy table, one row per practice.

    Parameters
    ----------
    frame : DataFrame
        As for :func:`evaluate_practice`.
    settings : list of dict, or dict of lists
        Each dict sets some of ``checkpoints``, ``drop_fraction``, ``weighting`` (the rest keep
        :func:`evaluate_practice`'s defaults). A dict of lists is expanded to every combination,
        e.g. ``{"checkpoints": [True], "drop_fraction": [0.0, 0.1, 0.3]}``.
    **options
        Passed to every :func:`evaluate_practice` (``starts``, ``by``, ``delta``, ...).

    Returns
    -------
    DataFrame
        Columns ``checkpoints``, ``drop_fraction``, ``weighting``, ``n_points``, ``n_runs``,
        ``predicted`` and ``actual`` (mean over targets, nats), ``are`` (mean ARE), ``are_max``,
        ``are_true`` (against the noise-free loss, NaN without ``loss_true``), ``converged``,
        then ``E``, ``A``, ``B``, ``alpha``, ``beta``.
    """
    practices = _expand_settings(settings)
    rows = [evaluate_practice(frame, **practice, **options).as_row() for practice in practices]
    return pd.DataFrame(rows)
