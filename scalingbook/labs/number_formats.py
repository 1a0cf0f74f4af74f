"""The lab of the chapter on number formats: pick a format and a rounding, rerun the stagnation
sum and the Lorenz climate in it.

:func:`run_number_formats_experiment` adds a constant increment many times in the chosen format
(:func:`~scalingbook.precision.low_precision_sum`) and integrates a Lorenz ensemble in it
(:func:`~scalingbook.precision.lorenz_precision_study`); :class:`NumberFormatsLab` puts the
choices on ipywidgets controls.
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

from .._validate import positive_int, positive_scalar
from ..precision._common import ROUNDING_MODES, check_rounding
from ..precision.emulate import SumTrace, low_precision_sum, stagnation_value
from ..precision.formats import FloatFormat
from ..precision.lorenz import LorenzStudy, lorenz_precision_study

__all__ = ["NumberFormatsLab", "NumberFormatsLabResult", "number_formats_lab", "run_number_formats_experiment"]


@dataclass
class NumberFormatsLabResult:
    fmt: FloatFormat
    rounding: str
    sum_trace: SumTrace
    stall_theory: float | None
    lorenz: LorenzStudy | None

    def report(self) -> str:
        t = self.sum_trace
        lines = [f"format {self.fmt.name}: largest {self.fmt.max:.6g}, unit roundoff 2^-{self.fmt.man_bits + 1}",
                 (f"running sum of {int(t.steps[-1]):,} × {float(t.exact_total) / t.steps[-1]:.6g} with "
                  f"{self.rounding}: {float(t.total):.6g} (exact {float(t.exact_total):.6g}, relative error "
                  f"{float(t.relative_error):+.2%})")]
        if self.stall_theory is not None and self.rounding in ("nearest_even", "nearest_away"):
            lines.append(f"theory: round to nearest stalls at {self.stall_theory:.6g}")
        if self.lorenz is not None:
            row = self.lorenz.summary.iloc[0]
            lines.append(f"Lorenz, {self.lorenz.samples:,} states: Wasserstein distance of z from float64 "
                         f"{row['w_z']:.3f} (float64 noise floor {self.lorenz.floor[2]:.3f})")
        return "\n".join(lines)


def run_number_formats_experiment(
    *,
    exp_bits: int = 8,
    man_bits: int = 7,
    specials: str = "ieee",
    rounding: str = "nearest_even",
    increment: float = 1e-4,
    additions: int = 10_000,
    lorenz: bool = True,
    members: int = 32,
    steps: int = 600,
    seed: int = 0,
) -> NumberFormatsLabResult:
    """Sum ``additions`` copies of ``increment`` in the format EeMm (``specials``) with
    ``rounding``, and (if ``lorenz``) integrate ``members`` Lorenz starts for ``steps`` RK4 steps
    of 0.01 in it, measuring the climate's distance from float64."""
    fmt = FloatFormat(exp_bits, man_bits, specials)
    check_rounding(rounding)
    increment = positive_scalar("increment", increment)
    additions = positive_int("additions", additions)
    if increment * additions > fmt.max:
        raise ValueError(f"increment * additions = {increment * additions:.4g} exceeds the largest value of {fmt.name}")
    trace = low_precision_sum(np.full(additions, increment), fmt, rounding=rounding, seed=seed,
                              record_every=max(1, additions // 400))
    try:
        stall = stagnation_value(increment, fmt)
    except ValueError:
        stall = None
    study = None
    if lorenz:
        steps = positive_int("steps", steps, minimum=200)
        study = lorenz_precision_study([fmt], [rounding], members=members, steps=steps, burn_in=steps // 3,
                                       record_every=4, seed=seed)
    return NumberFormatsLabResult(fmt=fmt, rounding=rounding, sum_trace=trace, stall_theory=stall, lorenz=study)


def _charts(result: NumberFormatsLabResult) -> alt.HConcatChart:
    t = result.sum_trace
    sums = pd.concat([pd.DataFrame({"step": t.steps, "sum": t.partial, "run": result.rounding}),
                      pd.DataFrame({"step": t.steps, "sum": t.exact, "run": "exact"})])
    left = alt.Chart(sums).mark_line().encode(x=alt.X("step:Q", title="additions"),
                                              y=alt.Y("sum:Q", title="running sum"), color="run:N"
                                              ).properties(width=300, height=220, title="running sum")
    if result.lorenz is None:
        return alt.hconcat(left)
    h = result.lorenz.histograms
    right = alt.Chart(h).mark_line(interpolate="step-after").encode(
        x=alt.X("z:Q"), y=alt.Y("density:Q"), color=alt.Color("rounding:N", title=None)
    ).properties(width=300, height=220, title="Lorenz: distribution of z")
    return alt.hconcat(left, right)


class NumberFormatsLab:
    """ipywidgets controls that rerun :func:`run_number_formats_experiment`.

    ``lab.widget`` is what a notebook displays; ``lab.run_button.click()`` runs it, and
    ``lab.result`` holds the last :class:`NumberFormatsLabResult`.
    """

    def __init__(self) -> None:
        import ipywidgets as w

        style = {"description_width": "150px"}
        self.exp_bits = w.IntSlider(value=8, min=1, max=8, description="exponent bits E", style=style)
        self.man_bits = w.IntSlider(value=7, min=0, max=23, description="mantissa bits M", style=style)
        self.specials = w.Dropdown(options=["ieee", "fn", "none"], value="ieee", description="specials", style=style)
        self.rounding = w.Dropdown(options=list(ROUNDING_MODES), value="nearest_even", description="rounding",
                                   style=style)
        self.log10_increment = w.FloatSlider(value=-4.0, min=-6.0, max=-1.0, step=0.25,
                                             description="log10 increment", style=style)
        self.additions = w.IntSlider(value=10_000, min=1_000, max=50_000, step=1_000, description="additions",
                                     style=style)
        self.lorenz = w.Checkbox(value=True, description="also integrate Lorenz", style=style)
        self.members = w.IntSlider(value=32, min=8, max=256, step=8, description="Lorenz members", style=style)
        self.seed = w.IntSlider(value=0, min=0, max=20, description="seed", style=style)
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.output = w.Output()
        self.result: NumberFormatsLabResult | None = None
        self.run_button.on_click(self._on_click)
        controls = w.VBox([self.exp_bits, self.man_bits, self.specials, self.rounding, self.log10_increment,
                           self.additions, self.lorenz, self.members, self.seed])
        self.widget = w.VBox([controls, self.run_button, self.output])

    def settings(self) -> dict:
        return dict(exp_bits=self.exp_bits.value, man_bits=self.man_bits.value, specials=self.specials.value,
                    rounding=self.rounding.value, increment=10.0 ** self.log10_increment.value,
                    additions=self.additions.value, lorenz=self.lorenz.value, members=self.members.value,
                    seed=self.seed.value)

    def _on_click(self, _button) -> None:
        self.output.clear_output()
        self.output.outputs = ()  # also without a kernel (clear_output needs one)
        self.run_button.disabled = True
        try:
            try:
                self.result = run_number_formats_experiment(**self.settings())
            except ValueError as err:  # an impossible format or sum: say why instead of a traceback
                self.output.append_stdout(f"cannot run: {err}\n")
                return
            self.output.append_stdout(self.result.report() + "\n")
            self.output.append_display_data(_charts(self.result))
        finally:
            self.run_button.disabled = False

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def number_formats_lab() -> NumberFormatsLab:
    """Build the lab (display the returned object in a notebook)."""
    return NumberFormatsLab()
