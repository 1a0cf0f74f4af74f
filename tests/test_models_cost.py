"""Costs against sequence length: consistent with the FLOP counters, linear against quadratic."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalingbook.models import (
    MambaConfig,
    TransformerConfig,
    mamba_flops_per_token,
    transformer_flops_per_token,
)
from scalingbook.models.cost import attention_cost, mixer_crossover_length, scan_cost

MAMBA = MambaConfig(vocab_size=100, d_model=64, n_layers=4, d_state=16)
TRANSFORMER = TransformerConfig(vocab_size=100, d_model=64, n_layers=2, n_heads=4, context=128)


@given(L=st.integers(1, 4096), d=st.sampled_from([16, 32, 48, 64]), N=st.integers(1, 32),
       layers=st.integers(1, 4), expand=st.integers(1, 3))
@settings(max_examples=60, deadline=None)
def test_scan_cost_agrees_with_the_flop_counter_and_is_linear(L, d, N, layers, expand):
    cfg = MambaConfig(vocab_size=50, d_model=d, n_layers=layers, d_state=N, expand=expand)
    one, two = scan_cost(L, cfg), scan_cost(2 * L, cfg)
    per_token = mamba_flops_per_token(cfg)
    assert one["flops"] == L * per_token["total"]
    assert one["mixer_flops"] == L * per_token["scan"]
    assert two["flops"] == 2 * one["flops"] and two["mixer_flops"] == 2 * one["mixer_flops"]
    assert two["state_bytes"] == one["state_bytes"]  # the generation state does not grow
    assert two["materialized_bytes"] == 2 * one["materialized_bytes"]
    E = expand * d
    assert one["state_bytes"] == layers * E * (N + cfg.d_conv - 1) * 4
    assert scan_cost(L, cfg, bytes_per_element=2)["materialized_bytes"] == layers * L * E * N * 2


@given(L=st.integers(1, 2048), heads=st.sampled_from([1, 2, 4]), layers=st.integers(1, 4))
@settings(max_examples=60, deadline=None)
def test_attention_cost_agrees_with_the_flop_counter_and_its_mixer_is_quadratic(L, heads, layers):
    cfg = TransformerConfig(vocab_size=50, d_model=32, n_layers=layers, n_heads=heads, context=16)
    one, two = attention_cost(L, cfg), attention_cost(2 * L, cfg)
    longer = TransformerConfig(vocab_size=50, d_model=32, n_layers=layers, n_heads=heads,
                               context=max(16, L))
    assert one["flops"] == pytest.approx(L * transformer_flops_per_token(longer, L, training=False))
    assert one["mixer_flops"] == 4 * layers * L * L * 32
    assert two["mixer_flops"] == 4 * one["mixer_flops"]
    assert two["state_bytes"] == 2 * one["state_bytes"] == 2 * layers * 2 * L * 32 * 4
    assert two["materialized_bytes"] == 4 * one["materialized_bytes"]
    assert one["materialized_bytes"] == layers * heads * L * L * 4
    # the FLOPs beyond the mixer are a fixed amount per token
    rest = lambda c, n: (c["flops"] - c["mixer_flops"]) / n  # noqa: E731
    assert rest(two, 2 * L) == pytest.approx(rest(one, L))
    causal = attention_cost(L, cfg, attention="causal")
    assert causal["mixer_flops"] == one["mixer_flops"] / 2


def test_mixer_crossover_is_where_the_mixers_cost_the_same():
    L_star = mixer_crossover_length(MAMBA, TRANSFORMER)
    assert L_star == pytest.approx(7 * 128 * 16 * 4 / (4 * 64 * 2))
    below, above = int(L_star) - 1, int(L_star) + 2
    assert attention_cost(below, TRANSFORMER)["mixer_flops"] < scan_cost(below, MAMBA)["mixer_flops"]
    assert attention_cost(above, TRANSFORMER)["mixer_flops"] > scan_cost(above, MAMBA)["mixer_flops"]
    assert mixer_crossover_length(MAMBA, TRANSFORMER, attention="causal") == pytest.approx(2 * L_star)


def test_bad_input():
    with pytest.raises(ValueError, match="seq_len must be at least 1"):
        scan_cost(0, MAMBA)
    with pytest.raises(ValueError, match="seq_len must be an integer"):
        attention_cost(10.5, TRANSFORMER)
    with pytest.raises(ValueError, match="cfg must be a MambaConfig"):
        scan_cost(8, TRANSFORMER)
    with pytest.raises(ValueError, match="cfg must be a TransformerConfig"):
        attention_cost(8, MAMBA)
    with pytest.raises(ValueError, match="bytes_per_element must be at least 1"):
        scan_cost(8, MAMBA, bytes_per_element=0)
    with pytest.raises(ValueError, match="attention must be one of"):
        attention_cost(8, TRANSFORMER, attention="sparse")
    with pytest.raises(ValueError, match="mamba must be a MambaConfig"):
        mixer_crossover_length(TRANSFORMER, TRANSFORMER)
    with pytest.raises(ValueError, match="transformer must be a TransformerConfig"):
        mixer_crossover_length(MAMBA, MAMBA)
