"""Estimating a scaling law's parameters from measured runs, with uncertainty.

- ``result``: :class:`FitResult`, what every fitter returns, and :class:`Prediction`.
- ``least_squares``: log-space least squares for power laws and learning curves, with a
  seeded (optionally group-wise) bootstrap.
- ``chinchilla``: Hoffmann et al.'s approach 3, multistart Huber fits vectorized over starts
  (the batched L-BFGS lives in ``huber``), with a seeded bootstrap and per-run weights.
- ``isoflop``: Hoffmann et al.'s approach 2, parabolas per compute budget, then power laws.
- ``practice``: the practices of Choshen et al. (2024): checkpoints, dropping early training,
  family weights, and the absolute relative error of held-out predictions.
- ``extrapolation``: refit on growing ranges of sizes and measure the extrapolation error.
- ``coverage``: how often the bootstrap intervals hold planted values.
- ``fp_quant``: the precision term of Sun et al.'s floating-point law, fitted with the
  high-precision part held (the same batched multistart Huber machinery).
"""

from scalingbook.fit.chinchilla import (
    chinchilla_objective,
    fit_chinchilla,
    hoffmann_grid,
)
from scalingbook.fit.coverage import CoverageStudy, chinchilla_coverage
from scalingbook.fit.extrapolation import ExtrapolationStudy, extrapolation_study
from scalingbook.fit.frontier import ComputeFrontier, compute_frontier
from scalingbook.fit.fp_quant import fit_fp_quant, fp_quant_grid, fp_quant_law
from scalingbook.fit.isoflop import IsoFLOPResult, fit_isoflop, group_budgets
from scalingbook.fit.overtraining import fit_overtraining
from scalingbook.fit.least_squares import (
    fit_learning_curve,
    fit_power_law,
    fit_power_law_with_offset,
)
from scalingbook.fit.practice import (
    PracticeResult,
    absolute_relative_error,
    compare_practices,
    drop_early,
    evaluate_practice,
    family_weights,
    holdout_largest,
)
from scalingbook.fit.result import FitResult, Prediction

__all__ = [
    "ComputeFrontier",
    "compute_frontier",
    "CoverageStudy",
    "ExtrapolationStudy",
    "FitResult",
    "IsoFLOPResult",
    "PracticeResult",
    "Prediction",
    "absolute_relative_error",
    "chinchilla_coverage",
    "chinchilla_objective",
    "compare_practices",
    "drop_early",
    "evaluate_practice",
    "extrapolation_study",
    "family_weights",
    "fit_chinchilla",
    "fit_fp_quant",
    "fit_isoflop",
    "fit_learning_curve",
    "fit_overtraining",
    "fit_power_law",
    "fit_power_law_with_offset",
    "fp_quant_grid",
    "fp_quant_law",
    "group_budgets",
    "hoffmann_grid",
    "holdout_largest",
]
