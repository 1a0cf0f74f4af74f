"""ipywidgets labs: controls that rerun a chapter's experiment in a live kernel."""

from .compute_optimal import (
    ComputeOptimalLab,
    ComputeOptimalLabResult,
    compute_optimal_lab,
    run_compute_optimal_experiment,
)
from .estimation import EstimationLab, EstimationLabResult, estimation_lab, run_estimation_experiment
from .fp4_training import FP4LabResult, FP4TrainingLab, fp4_training_lab, run_fp4_experiment
from .generative_modeling import (
    GenerativeModelingLab,
    generative_modeling_lab,
    run_generative_experiment,
)
from .learning_curves import LabResult, LearningCurveLab, learning_curve_lab, run_learning_curve_experiment
from .mamba import MambaLab, MambaLabResult, mamba_lab, run_mamba_experiment
from .precision_laws import (
    PrecisionLabResult,
    PrecisionLawsLab,
    PrecisionSweep,
    precision_laws_lab,
    run_precision_laws_experiment,
)
from .number_formats import (
    NumberFormatsLab,
    NumberFormatsLabResult,
    number_formats_lab,
    run_number_formats_experiment,
)

__all__ = [
    "ComputeOptimalLab",
    "ComputeOptimalLabResult",
    "EstimationLab",
    "EstimationLabResult",
    "FP4LabResult",
    "FP4TrainingLab",
    "GenerativeModelingLab",
    "LabResult",
    "LearningCurveLab",
    "MambaLab",
    "MambaLabResult",
    "PrecisionLabResult",
    "PrecisionLawsLab",
    "PrecisionSweep",
    "NumberFormatsLab",
    "NumberFormatsLabResult",
    "compute_optimal_lab",
    "estimation_lab",
    "fp4_training_lab",
    "generative_modeling_lab",
    "run_generative_experiment",
    "learning_curve_lab",
    "mamba_lab",
    "precision_laws_lab",
    "number_formats_lab",
    "run_compute_optimal_experiment",
    "run_estimation_experiment",
    "run_fp4_experiment",
    "run_learning_curve_experiment",
    "run_mamba_experiment",
    "run_precision_laws_experiment",
    "run_number_formats_experiment",
]
