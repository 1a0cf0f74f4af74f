"""Estimating a scaling law's parameters from measured runs, with uncertainty.

- ``result``: :class:`FitResult`, what every fitter returns.
- ``least_squares``: log-space least squares for power laws and learning curves, with a
  seeded (optionally group-wise) bootstrap.
- ``chinchilla``: Hoffmann et al.'s approach 3, multistart Huber fits vectorized over starts
  (the batched L-BFGS lives in ``huber``), with a seeded bootstrap.
"""

from scalingbook.fit.chinchilla import (
    chinchilla_objective,
    fit_chinchilla,
    hoffmann_grid,
)
from scalingbook.fit.least_squares import (
    fit_learning_curve,
    fit_power_law,
    fit_power_law_with_offset,
)
from scalingbook.fit.result import FitResult, Prediction

__all__ = [
    "FitResult",
    "Prediction",
    "chinchilla_objective",
    "fit_chinchilla",
    "fit_learning_curve",
    "fit_power_law",
    "fit_power_law_with_offset",
    "hoffmann_grid",
]
