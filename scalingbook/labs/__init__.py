"""ipywidgets labs: controls that rerun a chapter's experiment in a live kernel."""

from .learning_curves import LabResult, LearningCurveLab, learning_curve_lab, run_learning_curve_experiment

__all__ = ["LabResult", "LearningCurveLab", "learning_curve_lab", "run_learning_curve_experiment"]
