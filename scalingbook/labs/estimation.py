"""The lab of the chapter on estimation: fit a planted Chinchilla law your way and extrapolate.

:func:`run_estimation_experiment` draws noisy runs from a planted law, fits
:func:`~scalingbook.fit.fit_chinchilla` on the runs up to a chosen model size with a chosen Huber
threshold, grid of starts and bootstrap, and extrapolates to a target scale.
:class:`EstimationLab` puts those choices on ipywidgets controls.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

from .._validate import nonnegative_scalar, one_of, positive_int, positive_scalar
from ..data.planted import planted_runs
from ..fit.chinchilla import fit_chinchilla, hoffmann_grid
from ..fit.extrapolation import ExtrapolationStudy, extrapolation_study
from ..fit.result import FitResult
from ..laws.chinchilla import ChinchillaLaw
from ..papers.hoffmann2022 import APPROACH_3

__all__ = ["EstimationLabResult", "EstimationLab", "estimation_lab", "run_estimation_experiment", "START_GRIDS"]

#: Named grids of starts: Hoffmann et al.'s 4,500, every 10th of them, and every 100th.
START_GRIDS = {"4,500 (Hoffmann)": 1, "450 (every 10th)": 10, "45 (every 100th)": 100}


@dataclass
class EstimationLabResult:
    runs: pd.DataFrame
    fit: FitResult
    study: ExtrapolationStudy
    law: ChinchillaLaw


def run_estimation_experiment(
    *,
    law: ChinchillaLaw = APPROACH_3,
    noise: float = 0.02,
    n_sizes: int = 8,
    ratios: int = 5,
    log10_n_max: float = 10.3,
    delta: float = 1e-3,
    starts: str = "450 (every 10th)",
    bootstrap: int = 50,
    seed: int = 0,
    target: tuple[float, float] = (70e9, 1.4e12),
) -> EstimationLabResult:
    """Runs on a grid of ``n_sizes`` model sizes (7e7 to 1.6e10 parameters) by ``ratios``
    tokens-per-parameter ratios (5 to 100), log-normal noise ``noise``; fit the runs with
    ``N <= 10**log10_n_max``; predict ``target`` (default: Chinchilla, 70B parameters on 1.4T tokens).
    """
    noise = nonnegative_scalar("noise", noise)
    n_sizes = positive_int("n_sizes", n_sizes, minimum=3)
    ratios = positive_int("ratios", ratios, minimum=2)
    delta = positive_scalar("delta", delta)
    one_of("starts", starts, tuple(START_GRIDS))
    sizes = np.geomspace(7e7, 1.6e10, n_sizes)
    N = sizes[:, None]
    D = N * np.geomspace(5.0, 100.0, ratios)[None, :]
    runs = planted_runs(law, N, D, noise=noise, seed=seed)
    n_max = 10.0 ** float(log10_n_max)
    if (sizes <= n_max).sum() < 2:
        raise ValueError(f"log10_n_max={log10_n_max} keeps fewer than 2 model sizes; "
                         f"the smallest size is {sizes[0]:.3g}")
    grid = hoffmann_grid()[:: START_GRIDS[starts]]
    kept = runs[runs["N"] <= n_max * (1 + 1e-12)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = fit_chinchilla(kept["N"], kept["D"], kept["loss"], delta=delta, bootstrap=bootstrap,
                             seed=seed, starts=grid)
    study = extrapolation_study(runs["N"], runs["D"], runs["loss"], n_max=[n_max], target=target,
                                reference=law.loss, bootstrap=bootstrap, seed=seed, starts=grid)
    return EstimationLabResult(runs=runs, fit=fit, study=study, law=law)


def _chart(result: EstimationLabResult) -> alt.LayerChart:
    curves = result.study.curves
    runs = result.runs.assign(used=np.where(result.runs["N"] <= result.study.summary["n_max"].iloc[0]
                                            * (1 + 1e-12), "fitted", "held out"))
    x = alt.X("N:Q", scale=alt.Scale(type="log"), title="parameters N", axis=alt.Axis(format="~s"))
    y_scale = alt.Scale(type="log", zero=False, nice=False)
    long = curves.melt(id_vars=["N"], value_vars=["fitted", "actual"], var_name="curve", value_name="loss")
    long["curve"] = long["curve"].map({"fitted": "fitted law", "actual": "planted law"})
    lines = alt.Chart(long).mark_line().encode(
        x=x, y=alt.Y("loss:Q", scale=y_scale, title="loss (nats)"),
        strokeDash=alt.StrokeDash("curve:N", title="along D = 20 N"))
    dots = alt.Chart(runs).mark_point(size=25).encode(
        x=x, y=alt.Y("loss:Q", scale=y_scale),
        color=alt.Color("used:N", scale=alt.Scale(domain=["fitted", "held out"], range=["black", "#bbbbbb"]),
                        title="runs"))
    return alt.layer(dots, lines).properties(width=480, height=260)


class EstimationLab:
    """ipywidgets controls that rerun :func:`run_estimation_experiment`.

    ``lab.widget`` is what a notebook displays; ``lab.run_button.click()`` runs it, and
    ``lab.result`` holds the last :class:`EstimationLabResult`.
    """

    def __init__(self) -> None:
        import ipywidgets as w

        style = {"description_width": "170px"}
        self.noise = w.FloatSlider(value=0.02, min=0.0, max=0.1, step=0.005, readout_format=".3f",
                                   description="noise (log-normal σ)", style=style)
        self.log10_n_max = w.FloatSlider(value=10.3, min=8.5, max=10.3, step=0.1,
                                         description="log10 largest N fitted", style=style)
        self.delta = w.Dropdown(options=[("1e-3 (Hoffmann)", 1e-3), ("1e-2", 1e-2), ("0.1 (least squares)", 0.1)],
                                value=1e-3, description="Huber δ", style=style)
        self.starts = w.Dropdown(options=list(START_GRIDS), value="450 (every 10th)",
                                 description="starts", style=style)
        self.bootstrap = w.IntSlider(value=50, min=0, max=300, step=10, description="bootstrap refits", style=style)
        self.seed = w.IntSlider(value=0, min=0, max=20, description="noise seed", style=style)
        self.run_button = w.Button(description="Fit", button_style="primary", icon="play")
        self.output = w.Output()
        self.result: EstimationLabResult | None = None
        self.run_button.on_click(self._on_click)
        controls = w.VBox([self.noise, self.log10_n_max, self.delta, self.starts, self.bootstrap, self.seed])
        self.widget = w.VBox([controls, self.run_button, self.output])

    def settings(self) -> dict:
        return dict(noise=self.noise.value, log10_n_max=self.log10_n_max.value, delta=self.delta.value,
                    starts=self.starts.value, bootstrap=self.bootstrap.value, seed=self.seed.value)

    def _on_click(self, _button) -> None:
        self.output.clear_output()
        self.run_button.disabled = True
        try:
            self.result = run_estimation_experiment(**self.settings())
            row = self.result.study.summary.iloc[0]
            band = "" if np.isnan(row["low"]) else f" (95% band {row['low']:.4f} to {row['high']:.4f})"
            self.output.append_stdout(
                self.result.fit.summary()
                + f"\n\nplanted law: {self.result.law}\n"
                f"loss at the target: predicted {row['predicted']:.4f}{band}, planted "
                f"{row['actual']:.4f}; relative error {row['are']:.2%}\n")
            self.output.append_display_data(_chart(self.result))
        finally:
            self.run_button.disabled = False

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def estimation_lab() -> EstimationLab:
    """Build the lab (display the returned object in a notebook)."""
    return EstimationLab()
