"""The tiny model ladder and the sweeps built on it (isoFLOP profiles, token multipliers)."""

import numpy as np
import pandas as pd
import pytest

from scalingbook.models import TransformerConfig, transformer_flops_per_token, transformer_param_count
from scalingbook.train import train_run
from scalingbook.train.ladder import TINY_LADDER, Ladder, final_losses


def test_the_named_ladder_counts_every_parameter_and_exact_flops():
    counts = TINY_LADDER.counts()
    assert (np.diff(counts["params"]) > 0).all()
    assert (counts["params"] > counts["non_embedding_params"]).all()
    # Attention and the head make the exact count exceed 6N, most for the smallest model.
    assert (counts["flops_ratio_6N"] > 1.0).all()
    assert (np.diff(counts["flops_ratio_6N"]) < 0).all()
    assert counts["flops_ratio_6N"].iloc[0] > 1.3 > 1.05 > counts["flops_ratio_6N"].iloc[-1]


def test_isoflop_configs_spend_the_budget_within_half_a_step():
    budgets = [1e10, 1e11]
    configs = TINY_LADDER.isoflop_configs(budgets, min_steps=50, max_steps=2000)
    assert configs and all(50 <= c.n_steps <= 2000 for c in configs)
    for c in configs:
        C = 1e10 if c.name.startswith("iso-1e10-") else 1e11
        fpt = transformer_flops_per_token(c.model, c.seq_len)
        assert abs(fpt * c.n_steps * c.tokens_per_step - C) <= 0.5 * fpt * c.tokens_per_step
        assert c.schedule == "cosine" and c.warmup_fraction == TINY_LADDER.warmup_fraction
    # Larger budgets reach larger models.
    widths = {C: {c.model.d_model for c in configs if c.name.startswith(f"iso-{C}-")} for C in ("1e10", "1e11")}
    assert max(widths["1e11"]) > max(widths["1e10"])


def test_isoflop_windows_around_a_guess_and_per_budget():
    guess = lambda C: 1e4 * (C / 1e10) ** 0.5  # noqa: E731
    configs = TINY_LADDER.isoflop_configs([1e10], center=guess, half_span=0.3, min_steps=1, max_steps=10**6)
    sizes = [transformer_param_count(c.model) for c in configs]
    assert sizes and all(abs(np.log10(n / 1e4)) <= 0.3 for n in sizes)
    three = TINY_LADDER.isoflop_configs([1e10], per_budget=3, min_steps=1, max_steps=10**6)
    assert len(three) == 3


def test_multiplier_configs_hit_tokens_per_parameter():
    models = TINY_LADDER.models[:2]
    configs = TINY_LADDER.multiplier_configs(models, [5, 20, 80])
    assert len(configs) == 6
    for c in configs:
        M = float(c.name.split("-")[1])
        N = transformer_param_count(c.model)
        assert abs(c.n_steps * c.tokens_per_step / N - M) <= 0.5 * c.tokens_per_step / N
    assert configs[0].name == "mult-5-d8l1"


def test_final_losses_from_real_runs():
    ladder = Ladder(models=(TransformerConfig(vocab_size=16, d_model=8, n_layers=1, n_heads=2, context=16),
                            TransformerConfig(vocab_size=16, d_model=16, n_layers=1, n_heads=2, context=16)),
                    seq_len=16, batch_size=4, eval_tokens=64)
    configs = ladder.multiplier_configs(ladder.models, [2.0])
    records = pd.concat([train_run(c) for c in configs])
    table = final_losses(records)
    assert len(table) == 2 and table["name"].tolist() == ["mult-2-d8l1", "mult-2-d16l1"]
    np.testing.assert_allclose(table["M"], table["D"] / table["N"])
    np.testing.assert_allclose(table["C_6ND"], 6 * table["N"] * table["D"])
    assert (table["C"] > table["C_6ND"]).all()  # the exact count exceeds 6ND at these sizes
    assert (table["loss"] > table["irreducible"]).all()


@pytest.mark.parametrize("call, match", [
    (lambda: Ladder(models=()), "at least one"),
    (lambda: Ladder(models=("gpt",)), "TransformerConfig"),
    (lambda: Ladder(models=(TINY_LADDER.models[1], TINY_LADDER.models[0])), "increasing parameters"),
    (lambda: Ladder(models=(TransformerConfig(vocab_size=16, d_model=8, n_heads=2),
                            TransformerConfig(vocab_size=32, d_model=16, n_heads=2))), "vocab_size"),
    (lambda: Ladder(models=TINY_LADDER.models, lr=0.0), "lr"),
    (lambda: Ladder(models=TINY_LADDER.models, seq_len=64), "seq_len"),
    (lambda: TINY_LADDER.isoflop_configs([1e10, -1.0]), "budgets"),
    (lambda: TINY_LADDER.isoflop_configs([1e10], min_steps=100, max_steps=50), "max_steps"),
    (lambda: TINY_LADDER.isoflop_configs([1e10], center=3.0), "center must be a callable"),
    (lambda: TINY_LADDER.isoflop_configs([1e10], per_budget=2), "per_budget"),
    (lambda: TINY_LADDER.multiplier_configs([TransformerConfig(vocab_size=64, d_model=10, n_heads=1)], [20]),
     "not a size of this ladder"),
    (lambda: TINY_LADDER.multiplier_configs(TINY_LADDER.models[:1], [0.0]), "multipliers"),
    (lambda: final_losses(pd.DataFrame({"x": [1]})), "missing"),
])
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
