"""ipywidgets labs: controls that rerun a chapter's experiment in a live kernel."""

from .estimation import EstimationLab, EstimationLabResult, estimation_lab, run_estimation_experiment
from .generative_modeling import (
    GenerativeModelingLab,
    generative_modeling_lab,
    run_generative_experiment,
)
from .learning_curves import LabResult, LearningCurveLab, learning_curve_lab, run_learning_curve_experiment

__all__ = [
    "EstimationLab",
    "EstimationLabResult",
    "GenerativeModelingLab",
    "LabResult",
    "LearningCurveLab",
    "estimation_lab",
    "generative_modeling_lab",
    "run_generative_experiment",
    "learning_curve_lab",
    "run_estimation_experiment",
    "run_learning_curve_experiment",
]
