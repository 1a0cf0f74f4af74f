"""A named ladder of tiny transformers, and the sweeps the compute-optimal chapter trains on it.

A *ladder* is a family of model sizes trained the same way on one source: same data, sequence
length, batch, optimizer, peak learning rate and schedule shape, so that loss differences come
from size and tokens alone. Each run gets its own cosine schedule that ends exactly at its own
budget (Hoffmann et al.'s point against reading shorter runs off one long schedule).

- :meth:`Ladder.isoflop_configs`: isoFLOP profiles (Hoffmann et al.'s approach 2): at each
  compute budget ``C`` every model size gets the number of steps that spends ``C`` by our exact
  FLOP count, ``flops_per_token * tokens``.
- :meth:`Ladder.multiplier_configs`: fixed sizes trained at a list of token multipliers
  ``M = D / N`` (tokens per parameter), for the over-training study (Gadre et al. 2024).
- :func:`final_losses`: one row per finished run, with ``N``, ``D``, ``C``, ``M`` and the loss.

``TINY_LADDER`` is the ladder the chapter uses: one-layer transformers of width 8 to 128 on an
order-1 Markov source over 64 tokens (entropy rate 3.3714 nats). Sizes count every parameter,
the tied embedding included: at these widths the embedding is also the output head, and a
quarter to a third of the parameters of the smallest models.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from scalingbook._validate import as_positive_array, positive_int, positive_scalar
from scalingbook.models.transformer import (
    TransformerConfig,
    transformer_flops_per_token,
    transformer_param_count,
)
from scalingbook.train.lm import RunConfig

__all__ = ["Ladder", "TINY_LADDER", "final_losses"]


@dataclass(frozen=True)
class Ladder:
    """Model sizes and the training recipe they share; invalid values raise ``ValueError``.

    Parameters
    ----------
    models : tuple of TransformerConfig
        The sizes, one vocabulary and a context of at least ``seq_len``; ordered by parameters.
    order, zipf_exponent, data_seed : int, float, int
        The :class:`~scalingbook.data.MarkovSource` every run learns.
    seq_len, batch_size : int
        Tokens per window and windows per step: a step is ``seq_len * batch_size`` tokens.
    lr, warmup_fraction, min_lr_ratio : float
        Peak learning rate, warm-up as a fraction of each run's steps, and the cosine schedule's
        final fraction of ``lr``.
    eval_tokens : int
        Held-out tokens each run is scored on at its end (the same text for every run; 32,768
        by default, so that two sizes' losses near an isoFLOP minimum, a few thousandths of a
        nat apart, are not lost in the sampling error of the held-out text).
    seed : int
        Initialization and data-order seed of every run.
    """

    models: tuple[TransformerConfig, ...]
    order: int = 1
    zipf_exponent: float = 1.0
    data_seed: int = 0
    seq_len: int = 32
    batch_size: int = 32
    lr: float = 0.03
    warmup_fraction: float = 0.05
    min_lr_ratio: float = 0.1
    eval_tokens: int = 32768
    seed: int = 0

    def __post_init__(self) -> None:
        models = tuple(self.models)
        if not models:
            raise ValueError("models must hold at least one TransformerConfig")
        for i, m in enumerate(models):
            if not isinstance(m, TransformerConfig):
                raise ValueError(f"models[{i}] must be a TransformerConfig, got {type(m).__name__}")
        if len({m.vocab_size for m in models}) != 1:
            raise ValueError("models must share one vocab_size (they learn one source)")
        params = [transformer_param_count(m) for m in models]
        if any(b <= a for a, b in zip(params, params[1:])):
            raise ValueError(f"models must be ordered by strictly increasing parameters, got {params}")
        object.__setattr__(self, "models", models)
        positive_int("seq_len", self.seq_len)
        positive_int("batch_size", self.batch_size)
        positive_scalar("lr", self.lr)
        # Everything else is checked when a RunConfig is made; make one now so a bad ladder fails here.
        self.run_config(models[0], steps=1)

    @property
    def tokens_per_step(self) -> int:
        return self.seq_len * self.batch_size

    def counts(self) -> pd.DataFrame:
        """One row per size: ``d_model``, ``n_layers``, ``params`` (all), ``non_embedding_params``,
        ``flops_per_token`` (training, exact) and ``flops_ratio_6N`` = flops_per_token / (6 params)."""
        rows = []
        for m in self.models:
            n = transformer_param_count(m)
            fpt = transformer_flops_per_token(m, self.seq_len)
            rows.append({"d_model": m.d_model, "n_layers": m.n_layers, "params": n,
                         "non_embedding_params": transformer_param_count(m, embedding=False),
                         "flops_per_token": fpt, "flops_ratio_6N": fpt / (6.0 * n)})
        return pd.DataFrame(rows)

    def run_config(self, model: TransformerConfig, *, steps: int, name: str = "") -> RunConfig:
        """The ladder's recipe for ``model`` trained for ``steps`` updates (own cosine schedule)."""
        return RunConfig(model=model, order=self.order, zipf_exponent=self.zipf_exponent,
                         data_seed=self.data_seed, seq_len=self.seq_len, batch_size=self.batch_size,
                         steps=positive_int("steps", steps), lr=self.lr,
                         warmup_fraction=self.warmup_fraction, schedule="cosine",
                         min_lr_ratio=self.min_lr_ratio, eval_tokens=self.eval_tokens,
                         seed=self.seed, name=name)

    def isoflop_configs(self, budgets: Any, *, min_steps: int = 40, max_steps: int = 4000,
                        per_budget: int | None = None, center: Any = None,
                        half_span: float = 0.5) -> list[RunConfig]:
        """Runs that spend each budget on every size whose step count falls in the limits.

        Each size gets ``round(C / (flops_per_token * tokens_per_step))`` steps, so its exact
        compute is within half a step of ``C`` (FLOPs). Sizes needing fewer than ``min_steps``
        (too large for the budget) or more than ``max_steps`` (too small, and slow) are skipped.
        ``center``, a callable from a budget (FLOPs) to a guess of the compute-optimal size
        (parameters), keeps only sizes within ``half_span`` decades of the guess. ``per_budget``
        then keeps at most that many sizes per budget, those nearest the middle of the admissible
        ones. Runs are named ``iso-<C>-d<width>l<layers>``.
        """
        c_arr = as_positive_array("budgets", budgets)
        min_steps = positive_int("min_steps", min_steps)
        max_steps = positive_int("max_steps", max_steps, minimum=min_steps)
        if per_budget is not None:
            per_budget = positive_int("per_budget", per_budget, minimum=3)
        if center is not None and not callable(center):
            raise ValueError(f"center must be a callable from a budget to a size, got {center!r}")
        half_span = positive_scalar("half_span", half_span)
        configs = []
        for C in c_arr:
            guess = None if center is None else positive_scalar("center(C)", center(float(C)))
            chosen = []
            for m in self.models:
                fpt = transformer_flops_per_token(m, self.seq_len)
                steps = int(round(C / (fpt * self.tokens_per_step)))
                if guess is not None and abs(np.log10(transformer_param_count(m) / guess)) > half_span:
                    continue
                if min_steps <= steps <= max_steps:
                    chosen.append((m, steps))
            if per_budget is not None and len(chosen) > per_budget:
                start = (len(chosen) - per_budget) // 2
                chosen = chosen[start:start + per_budget]
            for m, steps in chosen:
                configs.append(self.run_config(m, steps=steps,
                                               name=f"iso-{_label(C)}-d{m.d_model}l{m.n_layers}"))
        return configs

    def multiplier_configs(self, models: Any, multipliers: Any) -> list[RunConfig]:
        """Each of ``models`` (sizes of this ladder) trained at each token multiplier ``M``.

        A run of ``N`` parameters at multiplier ``M`` gets ``round(M N / tokens_per_step)`` steps
        (at least one), so ``D / N`` is within half a step of ``M``. Runs are named
        ``mult-<M>-d<width>l<layers>``.
        """
        m_arr = as_positive_array("multipliers", multipliers)
        models = list(models)
        for i, m in enumerate(models):
            if m not in self.models:
                raise ValueError(f"models[{i}] is not a size of this ladder: {m!r}")
        configs = []
        for model in models:
            n = transformer_param_count(model)
            for M in m_arr:
                steps = max(1, int(round(M * n / self.tokens_per_step)))
                configs.append(self.run_config(model, steps=steps,
                                               name=f"mult-{_label(M)}-d{model.d_model}l{model.n_layers}"))
        return configs

    def with_models(self, models: Any) -> Ladder:
        """The same recipe on other sizes."""
        return replace(self, models=tuple(models))


def _label(x: float) -> str:
    """A number as run names allow it: ``3e10`` for 3e+10, ``0.5``, ``20``."""
    text = f"{x:.0e}" if x >= 1e4 else f"{x:g}"
    return text.replace("+", "")


def _tiny(d: int, layers: int = 1) -> TransformerConfig:
    heads = 2 if d < 48 else 4
    return TransformerConfig(vocab_size=64, d_model=d, n_layers=layers, n_heads=heads, context=32)


#: One-layer transformers of width 8 to 128 (1.3 thousand to 205 thousand parameters) on an
#: order-1 Markov source over 64 tokens with Zipf exponent 1, windows of 32 tokens, 32 windows
#: per step, AdamW at peak learning rate 0.03 with 5% warm-up and cosine decay to 0.003.
TINY_LADDER = Ladder(models=tuple(_tiny(d) for d in (8, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128)))


def final_losses(records: pd.DataFrame) -> pd.DataFrame:
    """One row per finished run from training records (:func:`~scalingbook.train.train_run`).

    Columns: ``name``, ``run_id``, ``N`` (parameters, embedding included), ``N_nonemb``,
    ``D`` (training tokens), ``C`` (training FLOPs, exact), ``C_6ND`` (6 N D), ``M`` (D / N),
    ``loss`` (held-out loss at the end, nats), ``irreducible`` (the source's floor, nats),
    ``d_model``, ``n_layers``, ``wall_time`` (seconds). Sorted by ``C`` then ``N``.
    """
    need = {"run_id", "step", "n_steps", "tokens", "flops", "eval_loss", "params",
            "non_embedding_params", "irreducible_loss", "model_d_model", "model_n_layers",
            "wall_time", "name"}
    if not isinstance(records, pd.DataFrame) or not need <= set(records.columns):
        missing = sorted(need - set(getattr(records, "columns", [])))
        raise ValueError(f"records must be training records with columns {sorted(need)}; "
                         f"missing {missing}")
    last = records[records["step"] == records["n_steps"]]
    if last.empty:
        raise ValueError("records hold no finished run (no row with step == n_steps)")
    out = pd.DataFrame({
        "name": last["name"].to_numpy(), "run_id": last["run_id"].to_numpy(),
        "N": last["params"].to_numpy(float), "N_nonemb": last["non_embedding_params"].to_numpy(float),
        "D": last["tokens"].to_numpy(float), "C": last["flops"].to_numpy(float),
        "loss": last["eval_loss"].to_numpy(float),
        "irreducible": last["irreducible_loss"].to_numpy(float),
        "d_model": last["model_d_model"].to_numpy(int), "n_layers": last["model_n_layers"].to_numpy(int),
        "wall_time": last["wall_time"].to_numpy(float),
    })
    out["C_6ND"] = 6.0 * out["N"] * out["D"]
    out["M"] = out["D"] / out["N"]
    return out.sort_values(["C", "N"], kind="stable").reset_index(drop=True)
