"""The lab of the chapter on FP4 training: train a tiny transformer under an FP4 recipe and
compare its loss with float32's, run for run.

The study. :data:`SCHEMES` names the recipes the chapter compares (every
:class:`~scalingbook.precision.QuantScheme` fake-quantizes the three GEMMs of every linear layer
in the transformer's blocks; the embedding and the output head stay in float32).
:class:`FP4Setup` fixes everything else about a run (the model, the Markov source, the budget),
:func:`fp4_sweep` trains the (scheme, seed) grid through :func:`scalingbook.train.sweep`, resuming
finished runs, and :func:`paired_gaps` compares each scheme with float32 *seed by seed*: a run and
its float32 twin share the initialization, the order of the training windows and the held-out
text, so their difference is far less noisy than either loss. :func:`rank_schemes` names the
best FP4 recipe and says whether its lead over the runner-up exceeds the seed-to-seed spread.

The lab. :func:`run_fp4_experiment` trains one scheme and its float32 twin for a few hundred
steps; :class:`FP4TrainingLab` puts the choices on ipywidgets controls.
"""

from __future__ import annotations

import concurrent.futures
import re
import tempfile
from dataclasses import dataclass
from typing import Iterable

import altair as alt
import numpy as np
import pandas as pd
import torch

from .._validate import positive_int, positive_scalar
from ..models.transformer import TransformerConfig
from ..precision.fake_quant import QuantScheme
from ..train.lm import RunConfig, build_model, scheduled_lr, train_run
from ..train.sweep import sweep

__all__ = [
    "BASELINE",
    "FP4LabResult",
    "FP4Setup",
    "FP4TrainingLab",
    "PairComparison",
    "QUICK_SCHEMES",
    "Ranking",
    "SCHEMES",
    "compare_pair",
    "fp4_configs",
    "fp4_sweep",
    "fp4_training_lab",
    "paired_gap_curves",
    "paired_gaps",
    "rank_schemes",
    "run_fp4_experiment",
    "trained_model",
]

BASELINE = "float32"

# E8M0 scales use the "rceil" rule everywhere (never clips), so stochastic rounding of the
# gradients is unbiased; the OCP spec's "floor" rule clips the largest entries of some blocks.
_MX = dict(scale_mode="rceil")

#: The recipes of the chapter, by display name. ``None`` trains in float32.
SCHEMES: dict[str, QuantScheme | None] = {
    "float32": None,
    "bf16": QuantScheme.elementwise("bf16"),
    "MXFP4 RTN": QuantScheme.mxfp4(grad_rounding="nearest_even", **_MX),
    "MXFP4 SR": QuantScheme.mxfp4(**_MX),
    "MXFP4 +RHT SR": QuantScheme.mxfp4(hadamard=True, **_MX),
    "UE5M3 +RHT SR": QuantScheme.mxfp4(scale_format="ue5m3", per_tensor_scale=True, hadamard=True),
    "NVFP4 SR": QuantScheme.nvfp4(),
    "NVFP4 +RHT SR": QuantScheme.nvfp4(hadamard=True, hadamard_block_size=16),
    "Quartet": QuantScheme.quartet(),
}

#: The short list the chapter's quick mode trains.
QUICK_SCHEMES = ("float32", "bf16", "MXFP4 SR", "MXFP4 +RHT SR", "NVFP4 SR", "Quartet")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()


def _scheme_names(schemes: Iterable[str]) -> tuple[str, ...]:
    names = tuple(schemes)
    if not names:
        raise ValueError("schemes must name at least one scheme")
    for n in names:
        if n not in SCHEMES:
            raise ValueError(f"schemes: unknown scheme {n!r}; choose from {', '.join(map(repr, SCHEMES))}")
    if len(set(names)) != len(names):
        raise ValueError(f"schemes has repeated names: {names}")
    return names


@dataclass(frozen=True)
class FP4Setup:
    """Everything about a run except its scheme and seed.

    A ``d_model``-wide, ``n_layers``-deep transformer (``n_heads`` heads, tied embeddings, GELU
    MLP of width 4 * d_model) trained on a k-th order Markov source over ``vocab_size`` tokens
    (``order``, ``zipf_exponent``; the table seeded by ``data_seed``), windows of ``seq_len``
    tokens, ``batch_size`` windows per step, ``steps`` AdamW steps at peak ``lr`` after
    ``warmup_steps``, cosine decay to a tenth, evaluated every ``eval_every`` steps on
    ``eval_tokens`` held-out tokens (the same text for every run).
    """

    vocab_size: int = 32
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    order: int = 1
    zipf_exponent: float = 1.0
    data_seed: int = 0
    seq_len: int = 64
    batch_size: int = 8
    steps: int = 300
    lr: float = 3e-3
    warmup_steps: int = 20
    eval_every: int = 30
    eval_tokens: int = 4096

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "seq_len", "batch_size", "steps",
                     "eval_every", "eval_tokens"):
            positive_int(name, getattr(self, name))
        positive_int("warmup_steps", self.warmup_steps, minimum=0)
        positive_scalar("lr", self.lr)
        if self.warmup_steps >= self.steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be below steps ({self.steps})")

    def config(self, scheme: str, seed: int = 0) -> RunConfig:
        """The :class:`~scalingbook.train.RunConfig` of ``scheme`` (a key of :data:`SCHEMES`)."""
        (scheme,) = _scheme_names([scheme])
        model = TransformerConfig(vocab_size=self.vocab_size, d_model=self.d_model, n_layers=self.n_layers,
                                  n_heads=self.n_heads, context=self.seq_len)
        return RunConfig(
            model=model, order=self.order, zipf_exponent=self.zipf_exponent, data_seed=self.data_seed,
            seq_len=self.seq_len, batch_size=self.batch_size, steps=self.steps, lr=self.lr,
            warmup_steps=self.warmup_steps, eval_every=min(self.eval_every, self.steps),
            eval_tokens=self.eval_tokens, seed=seed, quant=SCHEMES[scheme], name=f"fp4-{_slug(scheme)}",
        )


def fp4_configs(setup: FP4Setup, schemes: Iterable[str], seeds: Iterable[int]) -> list[RunConfig]:
    """One config per (scheme, seed), schemes outermost."""
    if not isinstance(setup, FP4Setup):
        raise ValueError(f"setup must be an FP4Setup, got {type(setup).__name__}")
    names = _scheme_names(schemes)
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    seeds = tuple(positive_int(f"seeds[{i}]", s, minimum=0) for i, s in enumerate(seeds))
    return [setup.config(n, s) for n in names for s in seeds]


def trained_model(setup: FP4Setup, scheme: str = BASELINE, seed: int = 0) -> torch.nn.Module:
    """The model of the run ``(scheme, seed)``, trained and returned (no records, no cache).

    The same initialization, training windows, AdamW groups, learning-rate schedule and
    clipping as :func:`scalingbook.train.train_run`, for looking inside the trained model (its
    GEMM operands, with :func:`scalingbook.precision.capture_gemm_operands`).
    """
    if not isinstance(setup, FP4Setup):
        raise ValueError(f"setup must be an FP4Setup, got {type(setup).__name__}")
    cfg = setup.config(scheme, positive_int("seed", seed, minimum=0))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = build_model(cfg)
        model.train()
        decay = [p for p in model.parameters() if p.ndim >= 2]
        rest = [p for p in model.parameters() if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                 {"params": rest, "weight_decay": 0.0}],
                                lr=scheduled_lr(cfg, 0), betas=cfg.betas)
        stream = cfg.source().batches(cfg.batch_size, cfg.seq_len, seed=cfg.seed + 1)
        for step in range(cfg.n_steps):
            for group in opt.param_groups:
                group["lr"] = scheduled_lr(cfg, step)
            batch = next(stream)
            loss = model.loss(batch[:, :-1], batch[:, 1:])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
    opt.zero_grad(set_to_none=True)
    return model


class _InlineExecutor:
    """Runs each submitted call at once, in this process; returns a finished Future."""

    def submit(self, fn, *args, **kwargs) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as exc:  # the sweep records it as the run's failure
            fut.set_exception(exc)
        return fut


def fp4_sweep(setup: FP4Setup, schemes: Iterable[str], seeds: Iterable[int], *, out_dir,
              max_workers: int = 1, progress: bool = False) -> pd.DataFrame:
    """Train (or load from ``out_dir``) every (scheme, seed) run; return their records with a
    ``scheme`` column (the :data:`SCHEMES` name) in front. Raises if any run failed."""
    names = _scheme_names(schemes)
    seeds = tuple(seeds)
    configs = fp4_configs(setup, names, seeds)
    max_workers = positive_int("max_workers", max_workers)
    # One worker: train in this process (no pool to spawn); more: the sweep's process pool.
    executor = _InlineExecutor() if max_workers == 1 else None
    result = sweep(configs, executor, out_dir=out_dir, max_workers=max_workers, progress=progress)
    result.raise_if_failed()
    scheme_of = {setup.config(n, s).run_id: n for n in names for s in seeds}
    records = result.records
    records.insert(0, "scheme", records["run_id"].map(scheme_of))
    return records


def paired_gaps(records: pd.DataFrame, *, baseline: str = BASELINE, step: int | None = None) -> pd.DataFrame:
    """Each scheme's eval loss minus the baseline's, seed by seed, at checkpoint ``step`` (the
    last by default).

    ``records`` needs columns ``scheme``, ``seed``, ``step``, ``eval_loss`` and
    ``irreducible_loss`` (as :func:`fp4_sweep` returns). Returns one row per scheme (the
    baseline included, with gaps of 0), in order of appearance, with ``loss`` (mean over seeds,
    nats/token), ``gap`` (mean paired difference), ``gap_low``/``gap_high`` (smallest and largest
    paired difference), ``spread`` (half their range: the seed-to-seed noise), ``n_seeds``, and
    ``reducible_ratio``: mean over seeds of (loss - irreducible) / (baseline loss - irreducible).
    Only seeds the baseline also ran are paired; a scheme with none raises ``ValueError``.
    """
    needed = {"scheme", "seed", "step", "eval_loss", "irreducible_loss"}
    if not isinstance(records, pd.DataFrame) or not needed <= set(records.columns):
        raise ValueError(f"records must be a DataFrame with columns {sorted(needed)}")
    if records.empty:
        raise ValueError("records is empty")
    if step is None:
        step = int(records["step"].max())
    at = records[records["step"] == step]
    if at.empty:
        raise ValueError(f"step {step} is not a checkpoint of these records")
    if baseline not in set(at["scheme"]):
        raise ValueError(f"baseline {baseline!r} has no runs at step {step}")
    if at.duplicated(["scheme", "seed"]).any():
        raise ValueError("records hold two runs of one (scheme, seed)")
    base = at[at["scheme"] == baseline].set_index("seed")
    rows = []
    for scheme in dict.fromkeys(at["scheme"]):
        mine = at[at["scheme"] == scheme].set_index("seed")
        seeds = sorted(set(mine.index) & set(base.index))
        if not seeds:
            raise ValueError(f"scheme {scheme!r} shares no seed with the baseline")
        gaps = np.array([mine.loc[s, "eval_loss"] - base.loc[s, "eval_loss"] for s in seeds])
        red = np.array([(mine.loc[s, "eval_loss"] - mine.loc[s, "irreducible_loss"])
                        / (base.loc[s, "eval_loss"] - base.loc[s, "irreducible_loss"]) for s in seeds])
        rows.append({"scheme": scheme, "step": step, "loss": float(mine.loc[seeds, "eval_loss"].mean()),
                     "gap": float(gaps.mean()), "gap_low": float(gaps.min()), "gap_high": float(gaps.max()),
                     "spread": float((gaps.max() - gaps.min()) / 2), "n_seeds": len(seeds),
                     "reducible_ratio": float(red.mean())})
    return pd.DataFrame(rows)


def paired_gap_curves(records: pd.DataFrame, *, baseline: str = BASELINE) -> pd.DataFrame:
    """Per (scheme, seed, checkpoint): ``gap`` = eval loss minus the baseline's at the same seed
    and step (nats/token), with ``tokens``, ``eval_loss`` and ``reducible`` (eval loss minus
    the source's entropy floor). The baseline's own rows are included (gap 0). Records as for
    :func:`paired_gaps`, with a ``tokens`` column too."""
    needed = {"scheme", "seed", "step", "tokens", "eval_loss", "irreducible_loss"}
    if not isinstance(records, pd.DataFrame) or not needed <= set(records.columns):
        raise ValueError(f"records must be a DataFrame with columns {sorted(needed)}")
    if baseline not in set(records["scheme"]):
        raise ValueError(f"baseline {baseline!r} has no runs in records")
    cols = ["scheme", "seed", "step", "tokens", "eval_loss", "irreducible_loss"]
    df = records[cols].copy()
    base = df[df["scheme"] == baseline][["seed", "step", "eval_loss"]].rename(columns={"eval_loss": "base"})
    out = df.merge(base, on=["seed", "step"], how="inner")
    out["gap"] = out["eval_loss"] - out["base"]
    out["reducible"] = out["eval_loss"] - out["irreducible_loss"]
    return out.drop(columns=["base", "irreducible_loss"]).reset_index(drop=True)


@dataclass(frozen=True)
class Ranking:
    """The best FP4 scheme by mean paired gap, the runner-up, and whether the lead is real.

    ``margin`` = runner-up's gap - best's gap (nats/token); ``noise`` = the sum of the two
    schemes' seed spreads; ``separated`` is ``margin > noise`` (their seed ranges do not
    overlap), and needs two seeds or more.
    """

    best: str
    best_gap: float
    runner_up: str
    runner_up_gap: float
    margin: float
    noise: float
    separated: bool


def rank_schemes(gaps: pd.DataFrame, *, exclude: Iterable[str] = (BASELINE, "bf16")) -> Ranking:
    """Rank the schemes of a :func:`paired_gaps` table, leaving out ``exclude``."""
    if not isinstance(gaps, pd.DataFrame) or not {"scheme", "gap", "spread", "n_seeds"} <= set(gaps.columns):
        raise ValueError("gaps must be a paired_gaps table")
    pool = gaps[~gaps["scheme"].isin(set(exclude))].sort_values("gap", kind="stable")
    if len(pool) < 2:
        raise ValueError("ranking needs at least two schemes besides the excluded ones")
    a, b = pool.iloc[0], pool.iloc[1]
    margin = float(b["gap"] - a["gap"])
    noise = float(a["spread"] + b["spread"])
    separated = bool(min(a["n_seeds"], b["n_seeds"]) >= 2 and margin > noise)
    return Ranking(a["scheme"], float(a["gap"]), b["scheme"], float(b["gap"]), margin, noise, separated)


@dataclass(frozen=True)
class PairComparison:
    """Scheme ``b`` against scheme ``a`` in a :func:`paired_gaps` table.

    ``difference`` = b's mean gap - a's (nats/token; positive: ``b`` loses more), ``noise`` =
    the sum of their seed spreads, ``separated`` = ``|difference| > noise`` with two seeds or more.
    """

    a: str
    b: str
    difference: float
    noise: float
    separated: bool


def compare_pair(gaps: pd.DataFrame, a: str, b: str) -> PairComparison:
    """Compare two schemes of a :func:`paired_gaps` table (see :class:`PairComparison`)."""
    if not isinstance(gaps, pd.DataFrame) or not {"scheme", "gap", "spread", "n_seeds"} <= set(gaps.columns):
        raise ValueError("gaps must be a paired_gaps table")
    g = gaps.set_index("scheme")
    for name in (a, b):
        if name not in g.index:
            raise ValueError(f"scheme {name!r} is not in the gaps table")
    diff = float(g.loc[b, "gap"] - g.loc[a, "gap"])
    noise = float(g.loc[a, "spread"] + g.loc[b, "spread"])
    separated = bool(min(g.loc[a, "n_seeds"], g.loc[b, "n_seeds"]) >= 2 and abs(diff) > noise)
    return PairComparison(a, b, diff, noise, separated)


# ---- the lab -----------------------------------------------------------------------------------


@dataclass
class FP4LabResult:
    """One lab run: the records of the scheme and its float32 twin, and their paired gaps."""

    records: pd.DataFrame
    gaps: pd.DataFrame
    scheme: str


def run_fp4_experiment(
    scheme: str = "MXFP4 SR",
    *,
    steps: int = 120,
    seed: int = 0,
    lr: float = 3e-3,
    d_model: int = 64,
    out_dir=None,
) -> FP4LabResult:
    """Train ``scheme`` and float32 with the chapter's setup but ``steps``, ``lr`` and ``d_model``
    of your choice (same seed, so the pair is comparable). ``out_dir`` caches the runs (a
    temporary directory by default, so nothing is kept)."""
    (scheme,) = _scheme_names([scheme])
    steps = positive_int("steps", steps, minimum=10)
    setup = FP4Setup(steps=steps, lr=lr, d_model=d_model, warmup_steps=max(1, steps // 15),
                     eval_every=max(1, steps // 10))
    names = (BASELINE,) if scheme == BASELINE else (BASELINE, scheme)
    if out_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            records = _train_pair(setup, names, seed, tmp)
    else:
        records = _train_pair(setup, names, seed, out_dir)
    return FP4LabResult(records, paired_gaps(records), scheme)


def _train_pair(setup: FP4Setup, names, seed, out_dir) -> pd.DataFrame:
    frames = []
    for n in names:
        r = train_run(setup.config(n, seed), out_dir=out_dir)
        frames.append(r.assign(scheme=n))
    return pd.concat(frames, ignore_index=True)


def _lab_chart(result: FP4LabResult) -> alt.Chart:
    df = result.records.assign(reducible=lambda d: d["eval_loss"] - d["irreducible_loss"])
    return alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("tokens:Q", title="training tokens"),
        y=alt.Y("reducible:Q", scale=alt.Scale(type="log"), title="eval loss − entropy floor (nats)"),
        color=alt.Color("scheme:N", title=None),
        tooltip=["scheme:N", "step:Q", "eval_loss:Q"],
    ).properties(width=420, height=240)


class FP4TrainingLab:
    """ipywidgets controls that rerun :func:`run_fp4_experiment`.

    ``lab.widget`` is what a notebook displays; ``lab.run_button.click()`` runs it, and
    ``lab.result`` holds the last :class:`FP4LabResult`.
    """

    def __init__(self) -> None:
        import ipywidgets as w

        style = {"description_width": "120px"}
        self.scheme = w.Dropdown(options=[s for s in SCHEMES if s != BASELINE], value="MXFP4 SR",
                                 description="scheme", style=style)
        self.steps = w.IntSlider(value=120, min=20, max=600, step=20, description="steps", style=style)
        self.lr = w.Dropdown(options=[("1e-3", 1e-3), ("3e-3", 3e-3), ("1e-2", 1e-2)], value=3e-3,
                             description="peak lr", style=style)
        self.d_model = w.Dropdown(options=[32, 64, 128], value=64, description="d_model", style=style)
        self.seed = w.IntSlider(value=0, min=0, max=9, description="seed", style=style)
        self.run_button = w.Button(description="Train", button_style="primary", icon="play")
        self.output = w.Output()
        self.result: FP4LabResult | None = None
        self.run_button.on_click(self._on_click)
        controls = w.VBox([self.scheme, self.steps, self.lr, self.d_model, self.seed])
        self.widget = w.VBox([controls, self.run_button, self.output])

    def settings(self) -> dict:
        return dict(scheme=self.scheme.value, steps=self.steps.value, lr=self.lr.value,
                    d_model=self.d_model.value, seed=self.seed.value)

    def _on_click(self, _button) -> None:
        self.output.clear_output()
        self.run_button.disabled = True
        try:
            self.result = run_fp4_experiment(**self.settings())
            row = self.result.gaps.set_index("scheme").loc[self.result.scheme]
            base = self.result.gaps.set_index("scheme").loc[BASELINE]
            self.output.append_stdout(
                f"float32: final eval loss {base['loss']:.4f} nats/token\n"
                f"{self.result.scheme}: {row['loss']:.4f} nats/token, {row['gap']:+.4f} against float32; "
                f"reducible loss {row['reducible_ratio']:.2f}x float32's\n")
            self.output.append_display_data(_lab_chart(self.result))
        finally:
            self.run_button.disabled = False

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def fp4_training_lab() -> FP4TrainingLab:
    """Build the lab (display the returned object in a notebook)."""
    return FP4TrainingLab()
