"""Estimating a scaling law's parameters from measured runs, with uncertainty.

- ``result``: :class:`FitResult`, what every fitter returns.
- ``least_squares``: log-space least squares for power laws and learning curves, with a
  seeded (optionally group-wise) bootstrap.
"""

from scalingbook.fit.least_squares import (
    fit_learning_curve,
    fit_power_law,
    fit_power_law_with_offset,
)
from scalingbook.fit.result import FitResult

__all__ = ["FitResult", "fit_learning_curve", "fit_power_law", "fit_power_law_with_offset"]
