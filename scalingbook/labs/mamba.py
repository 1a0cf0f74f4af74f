"""The lab of the Mamba chapter: train a small SSM on selective copying (or induction heads).

:func:`run_mamba_experiment` builds a small Mamba language model, selective or time-invariant,
trains it on a synthetic task with :func:`~scalingbook.train.synthetic.train_synthetic` and
returns its held-out accuracy and training history. :class:`MambaLab` puts the switches on
ipywidgets controls: selection on or off, the state size, the number of steps, the task and its
length. It needs a live kernel (Jupyter, Binder, Colab); the static book shows the chapter's run.
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import pandas as pd

from .._validate import one_of, positive_int, positive_scalar
from ..data.synthetic_tasks import InductionHeads, SelectiveCopying
from ..train.synthetic import SyntheticResult, task_model, train_synthetic

__all__ = ["MambaLab", "MambaLabResult", "TASKS", "mamba_lab", "run_mamba_experiment"]

TASKS = ("selective copying", "induction heads")


@dataclass
class MambaLabResult:
    """One run of the lab: the task, the settings, and what training produced."""

    task: SelectiveCopying | InductionHeads
    selective: bool
    d_state: int
    result: SyntheticResult

    @property
    def accuracy(self) -> float:
        """Held-out accuracy at the end (share of scored positions right)."""
        return self.result.accuracy


def run_mamba_experiment(*, task: str = "selective copying", selective: bool = True,
                         d_state: int = 8, steps: int = 300, length: int = 32, n_data: int = 4,
                         n_symbols: int = 8, d_model: int = 32, n_layers: int = 2,
                         lr: float = 2e-2, batch_size: int = 32, eval_every: int | None = None,
                         seed: int = 0) -> MambaLabResult:
    """Train a selective (``selective=True``) or time-invariant Mamba LM on ``task``.

    ``task`` is "selective copying" (``n_data`` data tokens among ``length`` noise positions,
    ``n_symbols`` symbols) or "induction heads" (``length`` tokens, ``n_symbols`` symbols). The
    model has ``n_layers`` blocks of width ``d_model`` and state size ``d_state``, initialized
    from ``seed``; training as in :func:`~scalingbook.train.synthetic.train_synthetic`.
    """
    one_of("task", task, TASKS)
    if not isinstance(selective, bool):
        raise ValueError(f"selective must be True or False, got {selective!r}")
    positive_int("d_state", d_state)
    steps = positive_int("steps", steps, minimum=2)
    positive_scalar("lr", lr)
    if task == "selective copying":
        spec: SelectiveCopying | InductionHeads = SelectiveCopying(length, n_data, n_symbols)
    else:
        spec = InductionHeads(length, n_symbols)
    model = task_model(spec, "mamba" if selective else "lti", d_model=d_model,
                       n_layers=n_layers, d_state=d_state, seed=seed)
    result = train_synthetic(model, spec, steps=steps, batch_size=batch_size, lr=lr,
                             warmup_steps=min(20, steps // 5), eval_every=eval_every, seed=seed)
    return MambaLabResult(task=spec, selective=selective, d_state=d_state, result=result)


def _chart(runs: list[MambaLabResult]) -> alt.Chart:
    rows = []
    for i, run in enumerate(runs):
        label = (f"run {i + 1}: {'selective' if run.selective else 'time-invariant'}, "
                 f"N={run.d_state}")
        rows.append(run.result.history.assign(run=label))
    data = pd.concat(rows, ignore_index=True)
    return alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("step:Q", title="training steps"),
        y=alt.Y("eval_accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="held-out accuracy"),
        color=alt.Color("run:N", title=None, legend=alt.Legend(orient="bottom", columns=1)),
    ).properties(width=420, height=240)


class MambaLab:
    """ipywidgets controls that rerun :func:`run_mamba_experiment`.

    ``lab.widget`` is what a notebook displays; ``lab.run_button.click()`` trains one model with
    the current settings, ``lab.result`` holds the latest :class:`MambaLabResult` and
    ``lab.runs`` every run so far (the chart compares them; ``lab.clear_button`` forgets them).
    """

    def __init__(self) -> None:
        import ipywidgets as w

        style = {"description_width": "150px"}
        self.task = w.Dropdown(options=list(TASKS), value=TASKS[0], description="task", style=style)
        self.selective = w.ToggleButtons(options=[("selective", True), ("time-invariant", False)],
                                         value=True, description="SSM", style=style)
        self.d_state = w.IntSlider(value=8, min=1, max=32, description="state size N", style=style)
        self.steps = w.IntSlider(value=300, min=20, max=1500, step=20, description="training steps",
                                 style=style)
        self.length = w.IntSlider(value=32, min=8, max=128, step=8, description="sequence length",
                                  style=style)
        self.seed = w.IntSlider(value=0, min=0, max=20, description="seed", style=style)
        self.run_button = w.Button(description="Train", button_style="primary", icon="play")
        self.clear_button = w.Button(description="Forget runs", icon="trash")
        self.output = w.Output()
        self.result: MambaLabResult | None = None
        self.runs: list[MambaLabResult] = []
        self.run_button.on_click(self._on_click)
        self.clear_button.on_click(self._on_clear)
        controls = w.VBox([self.task, self.selective, self.d_state, self.steps, self.length,
                           self.seed])
        self.widget = w.VBox([controls, w.HBox([self.run_button, self.clear_button]),
                              self.output])

    def settings(self) -> dict:
        steps = self.steps.value
        return dict(task=self.task.value, selective=self.selective.value,
                    d_state=self.d_state.value, steps=steps, length=self.length.value,
                    eval_every=max(1, steps // 10), seed=self.seed.value)

    def _on_click(self, _button) -> None:
        self.run_button.disabled = True
        try:
            self.result = run_mamba_experiment(**self.settings())
            self.runs.append(self.result)
            r = self.result
            self.output.outputs = ()  # the latest run's text and the chart of every run
            self.output.append_stdout(
                f"{'selective' if r.selective else 'time-invariant'} SSM, N = {r.d_state}, "
                f"{r.result.params:,} parameters, {r.result.history['step'].iloc[-1]} steps in "
                f"{r.result.seconds:.1f} s: held-out accuracy {r.accuracy:.3f} "
                f"(chance {r.task.chance_accuracy:.3f}), whole sequences right "
                f"{r.result.sequence_accuracy:.3f}\n")
            self.output.append_display_data(_chart(self.runs))
        finally:
            self.run_button.disabled = False

    def _on_clear(self, _button) -> None:
        self.runs = []
        self.output.outputs = ()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def mamba_lab() -> MambaLab:
    """Build the lab (display the returned object in a notebook)."""
    return MambaLab()
