"""Training loops and experiment sweeps that return tidy records (one row per run).

- ``learning_curve``: Hestness-style learning-curve sweeps on teacher-student tasks (vectorized
  over students), the OLS control, and the chapter's named presets.
"""

from scalingbook.train.learning_curve import (
    HESTNESS_FULL,
    HESTNESS_QUICK,
    LearningCurvePreset,
    TrainResult,
    best_by_validation,
    run_learning_curve,
    run_ols_learning_curve,
    run_preset,
    train_regressor,
)

__all__ = [
    "HESTNESS_FULL",
    "HESTNESS_QUICK",
    "LearningCurvePreset",
    "TrainResult",
    "best_by_validation",
    "run_learning_curve",
    "run_ols_learning_curve",
    "run_preset",
    "train_regressor",
]
