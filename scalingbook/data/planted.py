"""Training runs whose scaling law we know, because we plant it: the data of the estimation chapters.

Every generator takes a law ``L(N, D)`` (any object with a ``loss(N, D)`` method, such as
:class:`~scalingbook.laws.chinchilla.ChinchillaLaw` or :class:`~scalingbook.laws.kaplan.KaplanLaw`),
evaluates it at the runs it lays out, and multiplies by log-normal noise:

    loss = loss_true * exp(noise * z),   z ~ N(0, 1) independent per row,

so ``noise`` is the standard deviation of ``log loss`` (0.01 is about a 1% scatter). A fitter that
recovers the planted parameters from these frames has done its job; how far off it lands at a given
noise is the estimation error the book measures.

Units: ``N`` parameters, ``D`` tokens, ``C = 6 N D`` training FLOPs, losses in nats per token.

Randomness: ``seed`` alone decides the noise. Each kind of noise has its own stream derived from
``(seed, stream label)`` with ``numpy.random.SeedSequence``, so the same seed gives the same frame
and different seeds give independent ones.

These are planted models for teaching, not claims about real training. In particular the
training-curve generator's early transient and learning-rate-schedule gap are simple shapes
chosen to show why practitioners drop the start of a run and why a checkpoint of a long cosine
run is not the final loss of a shorter one; real curves have their own shapes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scalingbook._validate import (
    as_float_array,
    as_positive_array,
    nonnegative_scalar,
    positive_int,
    positive_scalar,
)

__all__ = ["isoflop_runs", "planted_runs", "planted_training_curves"]

# Stream labels mixed into SeedSequence so the kinds of noise never share a stream.
_RUN_NOISE, _CHECKPOINT_NOISE = 0, 1
# FLOPs per parameter per training token (forward and backward), as in C = 6ND.
FLOPS_PER_PARAM_TOKEN = 6.0


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(stream)]))


def _check_law(law: Any, *methods: str) -> Any:
    for method in ("loss", *methods):
        if not callable(getattr(law, method, None)):
            raise ValueError(
                f"law must have a {method}() method (e.g. a ChinchillaLaw), got {type(law).__name__}"
            )
    return law


def _check_seed(seed: Any) -> int:
    return positive_int("seed", seed, minimum=0)


def _true_loss(law: Any, N: np.ndarray, D: np.ndarray) -> np.ndarray:
    values = np.asarray(law.loss(N, D), dtype=np.float64)
    if not np.all(np.isfinite(values)) or (values <= 0).any():
        raise ValueError("law gives a non-finite or non-positive loss at these N and D")
    return np.broadcast_to(values, N.shape).astype(np.float64)


def _positive_pair(x_name: str, x: Any, y_name: str, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Two strictly positive arrays broadcast together and flattened (C order), as copies."""
    x_arr = as_positive_array(x_name, x, ndim=None)
    y_arr = as_positive_array(y_name, y, ndim=None)
    try:
        x_arr, y_arr = np.broadcast_arrays(x_arr, y_arr)
    except ValueError:
        raise ValueError(
            f"{x_name} and {y_name} must broadcast together, got shapes {x_arr.shape} and {y_arr.shape}"
        ) from None
    return x_arr.ravel().copy(), y_arr.ravel().copy()


def planted_runs(law: Any, N: Any, D: Any, *, noise: float = 0.01, seed: int = 0) -> pd.DataFrame:
    """Final losses of runs with ``N`` parameters trained on ``D`` tokens, drawn from a planted law.

    Parameters
    ----------
    law : ChinchillaLaw or any object with ``loss(N, D)``
        The planted law; its loss is in nats.
    N : array-like
        Parameters of each run, strictly positive. Broadcast against ``D``, then flattened in C
        order: ``planted_runs(law, N[:, None], D[None, :])`` lays out the full grid.
    D : array-like
        Training tokens of each run, strictly positive.
    noise : float
        Standard deviation of the multiplicative log-normal noise (of ``log loss``), zero or more.
    seed : int
        Seed of the noise, zero or more.

    Returns
    -------
    DataFrame, one row per run, columns
        ``N`` (parameters), ``D`` (tokens), ``C`` (FLOPs, 6ND), ``loss`` (nats, with noise),
        ``loss_true`` (nats, the law's value).

    Raises
    ------
    ValueError
        NaN, infinite or non-positive ``N`` or ``D``; shapes that do not broadcast; negative or
        non-finite ``noise``; a negative or non-integer ``seed``; a ``law`` without ``loss``.
    """
    _check_law(law)
    n_arr, d_arr = _positive_pair("N", N, "D", D)
    noise = nonnegative_scalar("noise", noise)
    seed = _check_seed(seed)
    true = _true_loss(law, n_arr, d_arr)
    z = _rng(seed, _CHECKPOINT_NOISE).standard_normal(len(n_arr))
    return pd.DataFrame({
        "N": n_arr,
        "D": d_arr,
        "C": FLOPS_PER_PARAM_TOKEN * n_arr * d_arr,
        "loss": true * np.exp(noise * z),
        "loss_true": true,
    })


def isoflop_runs(
    law: Any,
    budgets: Any,
    *,
    per_budget: int = 7,
    span: float = 2.0,
    center: Any = None,
    noise: float = 0.01,
    seed: int = 0,
) -> pd.DataFrame:
    """An isoFLOP sweep (Hoffmann et al. 2022, approach 2): several model sizes at each budget.

    For each budget ``C`` the model sizes are ``per_budget`` values log-spaced over ``span``
    decades centered on the compute-optimal size ``N*(C)`` of ``center`` (by default of ``law``
    itself), from ``N* 10^(-span/2)`` to ``N* 10^(span/2)``, and each run gets the tokens the budget
    leaves it, ``D = C / (6 N)``. The default, two decades, runs from N*/10 to 10 N*: the loss
    rises enough across it (about 0.1 to 0.5 nats for Hoffmann et al.'s law) to pin a parabola at 1%
    noise, where one decade often does not (see :mod:`scalingbook.fit.isoflop`).

    Parameters
    ----------
    law : ChinchillaLaw or any object with ``loss(N, D)`` and ``compute_optimal(C)``
        The planted law.
    budgets : array-like, shape (k,)
        Training compute of each isoFLOP profile in FLOPs, strictly positive.
    per_budget : int
        Model sizes per budget, at least 1.
    span : float
        Width of each profile in decades of ``N``, strictly positive.
    center : law-like, optional
        A law whose ``compute_optimal(C)`` centers the sizes instead of ``law``'s: your prior guess.
        A guess whose allocation exponent is wrong plants a sweep that drifts off the true optimum
        as the budget grows, the situation in which an isoFLOP fit is most biased.
    noise : float
        Standard deviation of the log-normal noise (of ``log loss``), zero or more.
    seed : int
        Seed of the noise.

    Returns
    -------
    DataFrame, ``k * per_budget`` rows ordered by budget then size, columns
        ``N`` (parameters), ``D`` (tokens), ``C`` (FLOPs: the budget itself, exactly, so runs of
        one profile share it), ``loss`` (nats, with noise), ``loss_true`` (nats).

    Raises
    ------
    ValueError
        NaN, infinite or non-positive ``budgets``; bad ``per_budget``, ``span``, ``noise`` or
        ``seed``; a ``law`` (or ``center``) without ``loss`` and ``compute_optimal``.
    """
    _check_law(law, "compute_optimal")
    if center is None:
        center = law
    elif not callable(getattr(center, "compute_optimal", None)):
        raise ValueError(f"center must have a compute_optimal() method, got {type(center).__name__}")
    c_arr = as_positive_array("budgets", budgets)
    per_budget = positive_int("per_budget", per_budget)
    span = positive_scalar("span", span)
    noise = nonnegative_scalar("noise", noise)
    seed = _check_seed(seed)

    n_star = np.asarray(center.compute_optimal(c_arr)[0], dtype=np.float64).reshape(len(c_arr))
    offsets = np.linspace(-span / 2, span / 2, per_budget) if per_budget > 1 else np.zeros(1)
    n_arr = (n_star[:, None] * 10.0 ** offsets[None, :]).ravel()
    c_rep = np.repeat(c_arr, per_budget)
    d_arr = c_rep / (FLOPS_PER_PARAM_TOKEN * n_arr)
    true = _true_loss(law, n_arr, d_arr)
    z = _rng(seed, _CHECKPOINT_NOISE).standard_normal(len(n_arr))
    return pd.DataFrame({
        "N": n_arr,
        "D": d_arr,
        "C": c_rep,
        "loss": true * np.exp(noise * z),
        "loss_true": true,
    })


def _check_checkpoints(checkpoints: Any) -> np.ndarray:
    """Fractions of the run at which a checkpoint is evaluated, sorted, ending at exactly 1."""
    if isinstance(checkpoints, (int, np.integer)) and not isinstance(checkpoints, bool):
        k = positive_int("checkpoints", checkpoints)
        return np.arange(1, k + 1) / k
    fractions = as_float_array("checkpoints", checkpoints)
    if len(fractions) == 0:
        raise ValueError("checkpoints must hold at least one fraction")
    if (fractions <= 0).any() or (fractions > 1).any():
        bad = fractions[(fractions <= 0) | (fractions > 1)][0]
        raise ValueError(f"checkpoints must be fractions of the run in (0, 1], got {bad!r}")
    fractions = np.unique(fractions)
    if fractions[-1] != 1.0:
        fractions = np.append(fractions, 1.0)  # the final checkpoint is always there
    return fractions


def _check_transient(early_transient: Any) -> tuple[float, float]:
    if early_transient is None:
        return 0.0, 1.0
    try:
        amplitude, tokens = early_transient
    except (TypeError, ValueError):
        raise ValueError(
            "early_transient must be None or (amplitude in nats, decay in tokens), "
            f"got {early_transient!r}"
        ) from None
    return (nonnegative_scalar("early_transient amplitude", amplitude),
            positive_scalar("early_transient decay tokens", tokens))


def planted_training_curves(
    law: Any,
    N: Any,
    D_final: Any,
    *,
    checkpoints: Any = 20,
    noise: float = 0.01,
    run_noise: float = 0.0,
    seed: int = 0,
    family: Any = None,
    early_transient: Any = (1.0, 2e7),
    schedule_gap: float = 0.0,
) -> pd.DataFrame:
    """Intermediate checkpoints of planted training runs: the loss at the tokens seen so far.

    A planted model for teaching, not a claim about real training. The loss of run ``r`` (with
    ``N`` parameters and ``D_final`` tokens in all) after ``D = f * D_final`` tokens is

        loss_true = law.loss(N, D)                          the law at the tokens seen so far
                  + amplitude * exp(-D / decay_tokens)      early transient
                  + schedule_gap * (1 + cos(pi f)) / 2      learning-rate-schedule gap
        loss      = loss_true * exp(run_noise * u_r + noise * z)

    - The *early transient* stands for everything at the start of training that the law does not
      describe (warm-up, the fast fall from the loss of a uniform guess). It decays with tokens
      seen, not with the fraction of the run, so it fills a larger part of a short run: the
      reason practitioners drop the first part of each run (or its first tokens) before fitting.
    - The *schedule gap* plants Hoffmann et al.'s (2022) observation that an intermediate
      checkpoint of a cosine run sits above the loss of a run whose schedule ended there: at the
      fraction ``f`` of a cosine schedule the learning rate is still ``(1 + cos(pi f)) / 2`` of its
      peak, and the planted gap is proportional to it, so it is ``schedule_gap`` nats at the start
      and exactly 0 at the final checkpoint. The default 0 plants none: every checkpoint is then a
      run annealed there.
    - ``noise`` scatters every checkpoint independently (evaluation noise); ``run_noise`` shifts
      all checkpoints of a run together (the luck of its seed).

    With ``noise = run_noise = 0`` the final checkpoint is the law up to the transient left
    after ``D_final`` tokens, ``amplitude * exp(-D_final / decay_tokens)`` (below 1e-8 nats for the
    default once ``D_final`` exceeds 4e8 tokens), and exactly the law with ``early_transient=None``.

    Parameters
    ----------
    law : ChinchillaLaw or any object with ``loss(N, D)``
        The planted law (nats).
    N : array-like
        Parameters of each run, strictly positive; broadcast against ``D_final`` and flattened.
    D_final : array-like
        Tokens each run is trained on in all, strictly positive.
    checkpoints : int or array-like
        An int ``k`` evaluates each run after ``1/k, 2/k, ..., 1`` of its tokens (evenly spaced,
        as checkpoints saved every so many steps); an array gives the fractions in (0, 1] itself
        (1 is added if absent: every run has its final checkpoint).
    noise : float
        Standard deviation of the per-checkpoint log-normal noise (of ``log loss``).
    run_noise : float
        Standard deviation of the per-run log-normal factor shared by all checkpoints of a run.
    seed : int
        Seed of both noises.
    family : str or array-like of str, optional
        Model family of each run (one label, or one per run after broadcasting); default
        ``"planted"``. Frames from different planted laws with different family labels can be
        concatenated into a multi-family data set.
    early_transient : (float, float) or None
        ``(amplitude, decay_tokens)``: nats added at the start of training and the tokens over
        which that excess falls by a factor e. ``None`` plants no transient.
    schedule_gap : float
        Nats a checkpoint at the start of a cosine run sits above the annealed law (see above).

    Returns
    -------
    DataFrame, one row per checkpoint (runs in order, checkpoints by tokens), columns
        ``run`` (str, ``"{family}/{index}"``), ``family`` (str), ``N`` (parameters), ``D``
        (tokens seen), ``D_final`` (tokens of the whole run), ``fraction`` (``D / D_final``),
        ``loss`` (nats, with noise), ``loss_true`` (nats, including transient and schedule gap),
        ``final`` (bool, the run's last checkpoint).

    Raises
    ------
    ValueError
        NaN, infinite or non-positive ``N`` or ``D_final``; shapes that do not broadcast; bad
        ``checkpoints``, ``noise``, ``run_noise``, ``seed``, ``early_transient`` or
        ``schedule_gap``; a ``family`` array of the wrong length.
    """
    _check_law(law)
    n_runs_arr, d_runs = _positive_pair("N", N, "D_final", D_final)
    n_runs = len(n_runs_arr)
    fractions = _check_checkpoints(checkpoints)
    noise = nonnegative_scalar("noise", noise)
    run_noise = nonnegative_scalar("run_noise", run_noise)
    seed = _check_seed(seed)
    amplitude, decay_tokens = _check_transient(early_transient)
    schedule_gap = nonnegative_scalar("schedule_gap", schedule_gap)
    if family is None:
        families = np.full(n_runs, "planted", dtype=object)
    elif isinstance(family, str):
        families = np.full(n_runs, family, dtype=object)
    else:
        families = np.asarray(family, dtype=object).ravel()
        if len(families) != n_runs:
            raise ValueError(f"family must be one label or one per run ({n_runs}), got {len(families)}")
        if any(label is None for label in families):
            raise ValueError("family contains None")
        families = np.array([str(label) for label in families], dtype=object)

    k = len(fractions)
    n_col = np.repeat(n_runs_arr, k)
    d_final_col = np.repeat(d_runs, k)
    f_col = np.tile(fractions, n_runs)
    d_col = f_col * d_final_col
    true = _true_loss(law, n_col, d_col)
    true = true + amplitude * np.exp(-d_col / decay_tokens)
    true = true + schedule_gap * 0.5 * (1.0 + np.cos(np.pi * f_col))
    per_run = np.repeat(_rng(seed, _RUN_NOISE).standard_normal(n_runs), k)
    per_point = _rng(seed, _CHECKPOINT_NOISE).standard_normal(n_runs * k)
    fam_col = np.repeat(families, k)
    run_col = np.array([f"{fam}/{i}" for i, fam in enumerate(families)], dtype=object)
    return pd.DataFrame({
        "run": np.repeat(run_col, k),
        "family": fam_col,
        "N": n_col,
        "D": d_col,
        "D_final": d_final_col,
        "fraction": f_col,
        "loss": true * np.exp(run_noise * per_run + noise * per_point),
        "loss_true": true,
        "final": f_col == 1.0,
    })
