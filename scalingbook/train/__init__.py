"""Training loops and experiment sweeps that return tidy records (one row per run or checkpoint).

- ``learning_curve``: Hestness-style learning-curve sweeps on teacher-student tasks (vectorized
  over students), the OLS control, and the chapter's named presets.
- ``lm``: a deterministic language-model training run (AdamW, warm-up then cosine or linear
  decay, clipping) on a known-entropy source, logging loss against tokens and FLOPs to a
  results file written atomically.
- ``sweep``: many runs through any ``concurrent.futures``-style executor (local processes or a
  Dask ``Client``), resuming finished runs and reporting failed ones with their tracebacks.
- ``synthetic``: a small deterministic loop for the synthetic tasks (selective copying,
  induction heads): loss on the scored positions, accuracy on held-out samples.
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
from scalingbook.train.lm import (
    EVAL_STREAM_SEED,
    RECORD_COLUMNS,
    SCHEDULES,
    RunConfig,
    code_fingerprint,
    cpu_capability,
    execution_context,
    build_model,
    load_records,
    model_counts,
    model_kind,
    records_path,
    results_dir,
    scheduled_lr,
    train_run,
)
from scalingbook.train.sweep import RunFailure, SweepResult, sweep
from scalingbook.train.synthetic import (
    SyntheticResult,
    evaluate_task,
    task_model,
    train_synthetic,
)

__all__ = [
    "EVAL_STREAM_SEED",
    "HESTNESS_FULL",
    "HESTNESS_QUICK",
    "LearningCurvePreset",
    "RECORD_COLUMNS",
    "RunConfig",
    "RunFailure",
    "SCHEDULES",
    "SweepResult",
    "SyntheticResult",
    "TrainResult",
    "best_by_validation",
    "code_fingerprint",
    "cpu_capability",
    "execution_context",
    "evaluate_task",
    "load_records",
    "records_path",
    "results_dir",
    "build_model",
    "model_counts",
    "model_kind",
    "run_learning_curve",
    "run_ols_learning_curve",
    "run_preset",
    "scheduled_lr",
    "sweep",
    "task_model",
    "train_regressor",
    "train_run",
    "train_synthetic",
]
