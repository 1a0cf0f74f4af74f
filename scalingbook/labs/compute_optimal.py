"""The lab of the compute-optimal chapter: choose a law and a budget, see its allocation, and see
how well an isoFLOP sweep (approach 2) and a parametric fit (approach 3) recover it.

:func:`run_compute_optimal_experiment` takes the constants of a law
``L(N, D) = E + A/N^alpha + B/D^beta`` and a budget, computes the law's compute-optimal ``N*``,
``D*`` and tokens per parameter there (beside the published allocations of Kaplan et al. and
Hoffmann et al. at the same budget), plants a noisy isoFLOP sweep from the law around that
budget (:func:`~scalingbook.data.isoflop_runs`), and fits it both ways
(:func:`~scalingbook.fit.fit_isoflop`, :func:`~scalingbook.fit.fit_chinchilla`).
:class:`ComputeOptimalLab` puts the choices on ipywidgets controls.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._validate import nonnegative_scalar, positive_int, positive_scalar
from ..data.planted import isoflop_runs
from ..fit.chinchilla import fit_chinchilla, hoffmann_grid
from ..fit.isoflop import IsoFLOPResult, fit_isoflop
from ..fit.result import FitResult
from ..laws.chinchilla import ChinchillaLaw
from ..papers import besiroglu2024, hoffmann2022, kaplan2020
from ..viz.allocation import allocation_table

__all__ = ["ComputeOptimalLab", "ComputeOptimalLabResult", "compute_optimal_lab",
           "run_compute_optimal_experiment"]


@dataclass
class ComputeOptimalLabResult:
    """What one run of the lab produced.

    ``allocation``: N*, D*, D*/N* at the budget under the chosen law and the published ones.
    ``sweep``: the planted isoFLOP runs (columns N, D, C, loss). ``isoflop`` and ``parametric``:
    the two fits. ``a_true``: the chosen law's allocation exponent.
    """

    law: ChinchillaLaw
    budget: float
    allocation: pd.DataFrame
    sweep: pd.DataFrame
    isoflop: IsoFLOPResult
    parametric: FitResult
    a_true: float

    @property
    def a_parametric(self) -> float:
        p = self.parametric.params
        return p["beta"] / (p["alpha"] + p["beta"])

    def summary(self) -> str:
        lines = [f"law: {self.law}", f"budget C = {self.budget:.3g} FLOPs", ""]
        for _, row in self.allocation.iterrows():
            lines.append(f"{row['law']:<34} N* = {row['N_opt']:.3g}  D* = {row['D_opt']:.3g}  "
                         f"D*/N* = {row['tokens_per_parameter']:.3g}")
        iso, lo_hi = self.isoflop, self.isoflop.ci.get("a")
        band = f" (95% interval {lo_hi[0]:.3f} to {lo_hi[1]:.3f})" if lo_hi else ""
        lines += ["", f"allocation exponent a of the chosen law: {self.a_true:.3f}",
                  f"approach 2 (isoFLOP parabolas) on the planted sweep: {iso.a:.3f}{band}",
                  f"approach 3 (parametric fit) on the same sweep: {self.a_parametric:.3f}"]
        return "\n".join(lines)


def run_compute_optimal_experiment(
    *,
    E: float = 1.69,
    A: float = 406.4,
    B: float = 410.7,
    alpha: float = 0.34,
    beta: float = 0.28,
    budget: float = 5.76e23,
    sweep_decades: float = 3.0,
    n_budgets: int = 5,
    per_budget: int = 7,
    span: float = 2.0,
    noise: float = 0.01,
    bootstrap: int = 50,
    seed: int = 0,
    starts_every: int = 30,
) -> ComputeOptimalLabResult:
    """The chosen law's allocation at ``budget`` and a planted isoFLOP sweep fitted two ways.

    Parameters
    ----------
    E, A, B, alpha, beta : float
        The law ``E + A/N^alpha + B/D^beta`` (nats; N parameters, D tokens).
    budget : float
        FLOPs at which to report ``N*``, ``D*`` and tokens per parameter.
    sweep_decades : float
        The planted budgets run from ``budget 10^-sweep_decades`` to ``budget`` (strictly positive).
    n_budgets, per_budget : int
        Budgets in the sweep (≥ 2) and model sizes per budget (≥ 3).
    span : float
        Decades of model size per budget, centered on the law's ``N*``.
    noise : float
        Log-normal noise of each planted loss (≥ 0).
    bootstrap : int
        Bootstrap refits of the isoFLOP fit (0 or ≥ 2).
    seed : int
        Seed of the noise and of the bootstrap.
    starts_every : int
        The parametric fit starts from every ``starts_every``-th point of Hoffmann et al.'s grid.
    """
    law = ChinchillaLaw(E, A, B, alpha, beta)
    budget = positive_scalar("budget", budget)
    sweep_decades = positive_scalar("sweep_decades", sweep_decades)
    n_budgets = positive_int("n_budgets", n_budgets, minimum=2)
    per_budget = positive_int("per_budget", per_budget, minimum=3)
    span = positive_scalar("span", span)
    noise = nonnegative_scalar("noise", noise)
    starts_every = positive_int("starts_every", starts_every)
    budgets = np.geomspace(budget / 10**sweep_decades, budget, n_budgets)
    sweep = isoflop_runs(law, budgets, per_budget=per_budget, span=span, noise=noise, seed=seed)
    laws = {"your law": law,
            "Kaplan et al. 2020": kaplan2020.ALLOCATION,
            "Hoffmann et al. 2022, approach 1": hoffmann2022.APPROACH_1_TABLE,
            "Hoffmann et al. 2022, approach 3": hoffmann2022.APPROACH_3,
            "Besiroglu et al. 2024": besiroglu2024.REPLICATION}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # reported in the fits' notes
        iso = fit_isoflop(sweep["N"], sweep["D"], sweep["loss"], C=sweep["C"], bootstrap=bootstrap,
                          seed=seed)
        direct = fit_chinchilla(sweep["N"], sweep["D"], sweep["loss"],
                                starts=hoffmann_grid()[::starts_every])
    return ComputeOptimalLabResult(law=law, budget=budget, allocation=allocation_table(laws, budget),
                                   sweep=sweep, isoflop=iso, parametric=direct, a_true=law.a)


class ComputeOptimalLab:
    """ipywidgets controls that rerun :func:`run_compute_optimal_experiment`.

    ``lab.widget`` is what a notebook displays; ``lab.run_button.click()`` runs it, and
    ``lab.result`` holds the last :class:`ComputeOptimalLabResult`.
    """

    def __init__(self) -> None:
        import ipywidgets as w

        style = {"description_width": "190px"}
        slider = lambda **kw: w.FloatSlider(style=style, continuous_update=False, **kw)  # noqa: E731
        self.E = slider(value=1.69, min=0.0, max=4.0, step=0.01, description="E (nats)")
        self.log10_A = slider(value=2.61, min=0.0, max=5.0, step=0.01, description="log10 A")
        self.log10_B = slider(value=2.61, min=0.0, max=5.0, step=0.01, description="log10 B")
        self.alpha = slider(value=0.34, min=0.05, max=1.0, step=0.01, description="alpha (parameters)")
        self.beta = slider(value=0.28, min=0.05, max=1.0, step=0.01, description="beta (tokens)")
        self.log10_budget = slider(value=23.76, min=18.0, max=26.0, step=0.05,
                                   description="log10 budget C (FLOPs)")
        self.noise = slider(value=0.01, min=0.0, max=0.05, step=0.0025, readout_format=".4f",
                            description="noise of the planted sweep")
        self.seed = w.IntSlider(value=0, min=0, max=20, description="noise seed", style=style)
        self.run_button = w.Button(description="Allocate and fit", button_style="primary", icon="play")
        self.output = w.Output()
        self.result: ComputeOptimalLabResult | None = None
        self.run_button.on_click(self._on_click)
        controls = w.VBox([self.E, self.log10_A, self.log10_B, self.alpha, self.beta,
                           self.log10_budget, self.noise, self.seed])
        self.widget = w.VBox([controls, self.run_button, self.output])

    def settings(self) -> dict:
        return dict(E=self.E.value, A=10.0**self.log10_A.value, B=10.0**self.log10_B.value,
                    alpha=self.alpha.value, beta=self.beta.value,
                    budget=10.0**self.log10_budget.value, noise=self.noise.value, seed=self.seed.value)

    def _on_click(self, _button) -> None:
        from ..viz.isoflop import isoflop_chart

        self.output.clear_output()
        self.run_button.disabled = True
        try:
            self.result = run_compute_optimal_experiment(**self.settings())
            self.output.append_stdout(self.result.summary() + "\n")
            self.output.append_display_data(isoflop_chart(self.result.sweep, self.result.isoflop))
        except ValueError as err:  # a law or budget the controls allow but the fit refuses
            self.output.append_stderr(f"error: {err}\n")
        finally:
            self.run_button.disabled = False

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def compute_optimal_lab() -> ComputeOptimalLab:
    """Build the lab (display the returned object in a notebook)."""
    return ComputeOptimalLab()
