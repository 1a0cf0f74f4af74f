"""The lab of the chapter on generative modeling: a size sweep on a source of known entropy.

:func:`size_sweep_configs` names the runs (one transformer per width, the same source, the same
token budget), :func:`run_size_sweep` trains them (resuming finished runs from a results
directory), and :func:`analyze_size_sweep` fits what Henighan et al. fit: the final loss against
model size, L(N) = L_inf + (N0/N)^alpha, and the compute-efficient frontier of the learning
curves with its optimal model size N_opt(C) ∝ C^k. :class:`GenerativeModelingLab` puts the
source and the sweep on ipywidgets controls.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from .._validate import nonnegative_scalar, positive_int
from ..data.markov import MarkovSource
from ..fit.frontier import ComputeFrontier, compute_frontier
from ..fit.least_squares import fit_power_law_with_offset
from ..fit.result import FitResult
from ..models.transformer import TransformerConfig
from ..train.lm import RunConfig
from ..train.sweep import sweep

__all__ = [
    "GenerativeModelingLab",
    "SizeSweepAnalysis",
    "analyze_size_sweep",
    "generative_modeling_lab",
    "run_generative_experiment",
    "run_size_sweep",
    "size_sweep_configs",
]


def size_sweep_configs(
    widths: list[int] | tuple[int, ...] = (4, 6, 8, 12, 16, 24, 32, 48, 64),
    *,
    vocab_size: int = 64,
    order: int = 1,
    zipf_exponent: float = 1.0,
    data_seed: int = 0,
    n_layers: int = 1,
    steps: int = 1500,
    batch_size: int = 32,
    seq_len: int = 32,
    lr: float = 1e-2,
    eval_every: int = 50,
    eval_tokens: int = 8192,
    seed: int = 0,
) -> list[RunConfig]:
    """One run per model width: transformers of ``n_layers`` blocks and width ``d_model`` in
    ``widths`` (one head below width 16, two from 16 on), all trained on the same Markov source
    for ``steps`` updates of ``batch_size`` windows of ``seq_len`` tokens (so every run sees the
    same tokens and larger models spend more FLOPs), with a 5% warm-up and a cosine decay to a
    tenth of ``lr``, evaluated every ``eval_every`` steps on the same held-out windows.
    """
    widths = [positive_int("widths", w, minimum=2) for w in widths]
    if len(widths) < 2 or len(set(widths)) != len(widths):
        raise ValueError(f"widths must hold at least 2 distinct widths, got {widths!r}")
    configs = []
    for d in sorted(widths):
        heads = 1 if d < 16 else 2
        if (d // heads) % 2:
            raise ValueError(f"widths must be even (RoPE needs an even head dimension), got {d}")
        model = TransformerConfig(vocab_size=vocab_size, d_model=d, n_layers=n_layers,
                                  n_heads=heads, context=seq_len)
        configs.append(RunConfig(model=model, order=order, zipf_exponent=zipf_exponent,
                                 data_seed=data_seed, seq_len=seq_len, batch_size=batch_size,
                                 steps=steps, lr=lr, warmup_fraction=0.05, eval_every=eval_every,
                                 eval_tokens=eval_tokens, seed=seed, name=f"gen-d{d}"))
    return configs


def run_size_sweep(configs: list[RunConfig], *, out_dir: str | Path | None = None,
                   executor=None) -> pd.DataFrame:
    """Train ``configs`` (skipping those already finished in ``out_dir``) and return their
    records, one row per checkpoint. A failed run raises with its traceback."""
    if out_dir is None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            return run_size_sweep(configs, out_dir=tmp, executor=executor)
    result = sweep(configs, executor=executor, out_dir=out_dir)
    result.raise_if_failed()
    return result.records


@dataclass
class SizeSweepAnalysis:
    """What :func:`analyze_size_sweep` finds in a size sweep's records.

    Attributes
    ----------
    final : DataFrame
        One row per run (its last checkpoint): ``params``, ``eval_loss``, ``eval_source_nll``,
        ``kl`` (= eval_loss - eval_source_nll, the reducible loss measured on the held-out
        windows, nats/token) and ``flops``.
    size_fit : FitResult
        L(N) = e + a N^-alpha on the final losses against total parameters N (embedding
        included); Henighan et al.'s L_inf = e and N0 = a^(1/alpha).
    frontier : ComputeFrontier
        The lower envelope of the learning curves against training FLOPs.
    compute_fit : FitResult
        L(C) = e + a C^-alpha on the frontier's points.
    optimal_size_fit : FitResult
        N_opt = a C^(-alpha) fitted to the frontier's transitions, so k = -alpha.
    entropy_rate : float
        The source's entropy rate S(True), nats/token (from its transition table).
    irreducible_loss : float
        The floor for windows of this length (first positions see less context).
    """

    final: pd.DataFrame
    size_fit: FitResult
    frontier: ComputeFrontier
    compute_fit: FitResult
    optimal_size_fit: FitResult
    entropy_rate: float
    irreducible_loss: float

    @property
    def l_inf(self) -> float:
        return float(self.size_fit.params["e"])

    @property
    def n0(self) -> float:
        p = self.size_fit.params
        return float(p["a"] ** (1.0 / p["alpha"]))

    @property
    def k(self) -> float:
        """Exponent of N_opt ∝ C^k."""
        return -float(self.optimal_size_fit.params["alpha"])


def analyze_size_sweep(records: pd.DataFrame, *, bootstrap: int = 0, seed: int = 0) -> SizeSweepAnalysis:
    """Fit L(N), the compute frontier L(C) and N_opt(C) to a size sweep's records (all runs on
    one source: their ``irreducible_loss`` must agree)."""
    need = {"run_id", "step", "params", "flops", "eval_loss", "eval_source_nll", "irreducible_loss"}
    if not isinstance(records, pd.DataFrame) or not need <= set(records.columns):
        raise ValueError(f"records must be a DataFrame with columns {sorted(need)}")
    if records["irreducible_loss"].nunique() != 1:
        raise ValueError("records must come from one source (their irreducible_loss differs)")
    last = records.loc[records.groupby("run_id")["step"].idxmax()].sort_values("params")
    if len(last) < 4:
        raise ValueError(f"records must hold at least 4 runs to fit L(N), got {len(last)}")
    final = pd.DataFrame({
        "params": last["params"].to_numpy(float), "eval_loss": last["eval_loss"].to_numpy(float),
        "eval_source_nll": last["eval_source_nll"].to_numpy(float),
        "kl": (last["eval_loss"] - last["eval_source_nll"]).to_numpy(float),
        "flops": last["flops"].to_numpy(float),
    })
    size_fit = fit_power_law_with_offset(final["params"], final["eval_loss"], bootstrap=bootstrap,
                                         seed=seed)
    frontier = compute_frontier(records["flops"], records["eval_loss"], records["params"])
    compute_fit = fit_power_law_with_offset(frontier.points["flops"], frontier.points["loss"],
                                            bootstrap=bootstrap, seed=seed)
    optimal_size_fit = frontier.fit_optimal_size(bootstrap=bootstrap, seed=seed)
    cfg_entropy = float(records["irreducible_loss"].iloc[0])
    return SizeSweepAnalysis(final=final, size_fit=size_fit, frontier=frontier,
                             compute_fit=compute_fit, optimal_size_fit=optimal_size_fit,
                             entropy_rate=_entropy_rate_of(records), irreducible_loss=cfg_entropy)


def _entropy_rate_of(records: pd.DataFrame) -> float:
    row = records.iloc[0]
    source = MarkovSource(int(row["vocab_size"]), int(row["order"]),
                          zipf_exponent=float(row["zipf_exponent"]),
                          logit_noise=float(row["logit_noise"]), seed=int(row["data_seed"]))
    return float(source.entropy_rate())


def run_generative_experiment(
    *,
    zipf_exponent: float = 1.0,
    vocab_size: int = 64,
    order: int = 1,
    widths: tuple[int, ...] = (4, 8, 16, 32),
    steps: int = 300,
    seed: int = 0,
    out_dir: str | Path | None = None,
) -> tuple[pd.DataFrame, SizeSweepAnalysis]:
    """Train a small size sweep on a Markov source with the given Zipf exponent (0: uniform
    rows, the entropy rate is log V; larger: more predictable text) and analyze it. Returns the
    records and the :class:`SizeSweepAnalysis`. About 2 s per run of 300 steps on one core."""
    zipf_exponent = nonnegative_scalar("zipf_exponent", zipf_exponent)
    steps = positive_int("steps", steps, minimum=40)
    configs = size_sweep_configs(widths, vocab_size=vocab_size, order=order,
                                 zipf_exponent=zipf_exponent, steps=steps,
                                 eval_every=max(steps // 20, 1), eval_tokens=4096, seed=seed)
    records = run_size_sweep(configs, out_dir=out_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        analysis = analyze_size_sweep(records)
    return records, analysis


class GenerativeModelingLab:
    """ipywidgets controls that rerun :func:`run_generative_experiment`.

    ``lab.widget`` is what a notebook displays; ``lab.run_button.click()`` runs it; ``lab.result``
    holds the last ``(records, analysis)``.
    """

    def __init__(self) -> None:
        import ipywidgets as w

        style = {"description_width": "170px"}
        self.zipf = w.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1,
                                  description="Zipf exponent of rows", style=style)
        self.vocab = w.Dropdown(options=[16, 32, 64], value=64, description="vocabulary", style=style)
        self.order = w.Dropdown(options=[1, 2], value=1, description="Markov order", style=style)
        self.widths = w.SelectMultiple(options=[4, 6, 8, 12, 16, 24, 32, 48, 64],
                                       value=(4, 8, 16, 32), description="widths d_model",
                                       style=style)
        self.steps = w.IntSlider(value=300, min=40, max=2000, step=20, description="steps per run",
                                 style=style)
        self.seed = w.IntSlider(value=0, min=0, max=10, description="seed", style=style)
        self.run_button = w.Button(description="Train and fit", button_style="primary", icon="play")
        self.output = w.Output()
        self.result: tuple[pd.DataFrame, SizeSweepAnalysis] | None = None
        self.run_button.on_click(self._on_click)
        controls = w.VBox([self.zipf, self.vocab, self.order, self.widths, self.steps, self.seed])
        self.widget = w.VBox([controls, self.run_button, self.output])

    def settings(self) -> dict:
        return dict(zipf_exponent=self.zipf.value, vocab_size=self.vocab.value,
                    order=self.order.value, widths=tuple(self.widths.value),
                    steps=self.steps.value, seed=self.seed.value)

    def _on_click(self, _button) -> None:
        from ..viz.frontier import entropy_decomposition_chart

        self.output.clear_output()
        self.run_button.disabled = True
        try:
            self.result = run_generative_experiment(**self.settings())
            _, analysis = self.result
            self.output.append_stdout(
                f"entropy rate of the source S(True) = {analysis.entropy_rate:.4f} nats/token\n"
                f"fitted L(N) = {analysis.l_inf:.4f} + ({analysis.n0:.3g}/N)^"
                f"{analysis.size_fit.params['alpha']:.3f}\n"
                f"fitted L_inf - S(True) = {analysis.l_inf - analysis.entropy_rate:+.4f} nats\n")
            self.output.append_display_data(entropy_decomposition_chart(analysis))
        except ValueError as err:  # e.g. too few widths for a fit: say so in the lab
            self.output.append_stdout(f"cannot fit: {err}\n")
        finally:
            self.run_button.disabled = False

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def generative_modeling_lab() -> GenerativeModelingLab:
    """Build the lab (display the returned object in a notebook)."""
    return GenerativeModelingLab()
