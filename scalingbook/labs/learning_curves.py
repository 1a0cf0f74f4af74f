"""The chapter-1 lab: rerun the learning-curve experiment with settings of your own.

:func:`run_learning_curve_experiment` is the experiment (plain Python, tested on its own);
:class:`LearningCurveLab` puts ipywidgets controls in front of it. The lab needs a live kernel
(Jupyter, Binder, Colab); the static book shows the chapter's own run instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .._validate import positive_int, positive_scalar
from ..data import TeacherStudentTask
from ..fit import fit_learning_curve
from ..fit.result import FitResult
from ..train import HESTNESS_QUICK, best_by_validation, run_learning_curve

_DEFAULT = HESTNESS_QUICK  # the lab starts from the chapter's quick configuration


@dataclass
class LabResult:
    """What one run of the lab produced: every trained student, the chosen ones, and the fit."""

    runs: pd.DataFrame
    chosen: pd.DataFrame
    fit: FitResult


def run_learning_curve_experiment(
    *,
    input_dim: int = _DEFAULT.input_dim,
    teacher_width: int = _DEFAULT.teacher_width,
    noise_std: float = _DEFAULT.noise_std,
    weight_scale: float = _DEFAULT.weight_scale,
    max_log2_size: int = 12,
    n_seeds: int = len(_DEFAULT.seeds),
    widths: tuple[int, ...] = _DEFAULT.widths,
    steps: int = _DEFAULT.steps,
    bootstrap: int = 200,
    seed: int = 0,
    progress: bool = False,
) -> LabResult:
    """Train students at m = 1, 2, 4, …, 2^max_log2_size examples and fit the learning curve.

    For each size and seed the width with the lowest validation error is kept (Hestness et al.'s
    model selection); the three-region curve is fitted to those points with a bootstrap over
    seeds. ``seed`` fixes the teacher; the runs use seeds 0 … n_seeds−1.
    """
    max_log2_size = positive_int("max_log2_size", max_log2_size, minimum=3)
    n_seeds = positive_int("n_seeds", n_seeds, minimum=2)
    noise_std = positive_scalar("noise_std", noise_std)
    if not widths:
        raise ValueError("widths must name at least one student width")
    task = TeacherStudentTask(
        input_dim=input_dim, teacher_width=teacher_width, noise_std=noise_std, seed=seed,
        weight_scale=weight_scale,
    )
    sizes = [2**k for k in range(max_log2_size + 1)]
    runs = run_learning_curve(
        task, sizes, list(range(n_seeds)), list(widths), steps=steps, progress=progress
    )
    chosen = best_by_validation(runs)
    fit = fit_learning_curve(
        chosen["m"].to_numpy(float),
        chosen["test_error"].to_numpy(float),
        groups=chosen["seed"].to_numpy(),
        bootstrap=bootstrap,
        seed=seed,
    )
    return LabResult(runs=runs, chosen=chosen, fit=fit)


class LearningCurveLab:
    """ipywidgets controls that rerun :func:`run_learning_curve_experiment` and plot the result.

    ``lab.widget`` is what a notebook displays; ``lab.run_button.click()`` runs it (as a click in
    the page does), and ``lab.result`` holds the last :class:`LabResult`.
    """

    def __init__(self) -> None:
        import ipywidgets as w

        style = {"description_width": "150px"}
        d = _DEFAULT
        self.noise = w.FloatSlider(value=d.noise_std, min=0.05, max=1.0, step=0.05, description="label noise σ", style=style)
        self.input_dim = w.IntSlider(value=d.input_dim, min=2, max=64, description="input dimension", style=style)
        self.teacher_width = w.IntSlider(value=d.teacher_width, min=1, max=128, description="teacher width", style=style)
        self.weight_scale = w.FloatSlider(
            value=d.weight_scale, min=0.5, max=6.0, step=0.25, description="teacher sharpness", style=style
        )
        self.max_log2 = w.IntSlider(value=12, min=5, max=14, description="largest m = 2^k, k", style=style)
        self.seeds = w.IntSlider(value=len(d.seeds), min=2, max=8, description="seeds", style=style)
        self.widths = w.SelectMultiple(
            options=[2, 4, 8, 16, 32, 64, 128], value=d.widths, description="student widths", style=style
        )
        self.steps = w.IntSlider(value=d.steps, min=200, max=6000, step=100, description="max steps", style=style)
        self.run_button = w.Button(description="Run experiment", button_style="primary", icon="play")
        self.output = w.Output()
        self.result: LabResult | None = None
        self.run_button.on_click(self._on_click)
        controls = w.VBox(
            [self.noise, self.input_dim, self.teacher_width, self.weight_scale, self.max_log2, self.seeds,
             self.widths, self.steps]
        )
        self.widget = w.VBox([controls, self.run_button, self.output])

    def settings(self) -> dict:
        return dict(
            input_dim=self.input_dim.value,
            teacher_width=self.teacher_width.value,
            noise_std=self.noise.value,
            weight_scale=self.weight_scale.value,
            max_log2_size=self.max_log2.value,
            n_seeds=self.seeds.value,
            widths=tuple(self.widths.value),
            steps=self.steps.value,
        )

    def _on_click(self, _button) -> None:
        from ..viz import learning_curve_chart

        # append_* rather than `with self.output:` so that a click works (and is testable)
        # whether or not a kernel is capturing output.
        self.output.clear_output()
        self.run_button.disabled = True
        try:
            self.result = run_learning_curve_experiment(**self.settings())
            fit = self.result.fit
            lo, hi = fit.ci["beta"]
            self.output.append_stdout(
                f"exponent β = {fit.params['beta']:.3f} (95% interval {lo:.3f} to {hi:.3f}); "
                f"small-data region ends near m = {fit.law.small_data_boundary:.3g}, "
                f"irreducible region begins near m = {fit.law.irreducible_boundary:.3g}\n"
            )
            points = self.result.chosen.rename(columns={"test_error": "error"})
            self.output.append_display_data(learning_curve_chart(points[["m", "error", "seed"]], fit.law))
        finally:
            self.run_button.disabled = False

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def learning_curve_lab() -> LearningCurveLab:
    """Build the lab (display the returned object in a notebook)."""
    return LearningCurveLab()


__all__ = ["LabResult", "LearningCurveLab", "learning_curve_lab", "run_learning_curve_experiment"]
