"""What a sequence of L tokens costs a Mamba model and a transformer: FLOPs and memory against L.

Per sequence of ``seq_len`` = L tokens, forward pass, batch 1:

==========================  ==========================================  ==========================
quantity                    Mamba (:func:`scan_cost`)                   transformer (:func:`attention_cost`)
==========================  ==========================================  ==========================
``flops``                   L * mamba_flops_per_token(cfg)["total"]     L * transformer_flops_per_token(cfg, L)
``mixer_flops``             L * n_layers * 7 E N  (the scan)            L * n_layers * 4 L d  (QK^T and AV)
``state_bytes``             n_layers * E (N + d_conv - 1) * b           n_layers * 2 L d * b  (the KV cache)
``materialized_bytes``      n_layers * L E N * b  (expanded states)     n_layers * heads * L^2 * b  (scores)
==========================  ==========================================  ==========================

with E = d_inner = expand * d_model, N = d_state, d = d_model and b bytes per element.

- ``mixer_flops`` is the part that mixes along the sequence: linear in L for the scan, quadratic
  for attention. Every other FLOP (projections, MLP, head) is a fixed amount per token for both.
- ``state_bytes`` is what generation keeps between tokens: the SSM state and the convolution's
  last d_conv - 1 inputs per channel (constant in L) against keys and values of every past
  token (linear in L).
- ``materialized_bytes`` is the largest intermediate a naive implementation writes to memory:
  the states x_t of every step, (L, E, N) per layer, against the (heads, L, L) score matrix per
  layer. Mamba's fused kernel and FlashAttention both avoid writing these (they keep them in
  on-chip memory and recompute them for the backward pass); these are what they avoid.

Attention FLOPs count the full L x L score matrix, as dense SDPA kernels compute it
(``attention="causal"`` counts only the unmasked half, Kaplan et al.'s convention).
"""

from __future__ import annotations

import dataclasses

from scalingbook._validate import one_of, positive_int
from scalingbook.models.mamba import MambaConfig, mamba_flops_per_token
from scalingbook.models.transformer import (
    TransformerConfig,
    transformer_flops_per_token,
)

__all__ = ["attention_cost", "mixer_crossover_length", "scan_cost"]


def _bytes(bytes_per_element) -> int:
    return positive_int("bytes_per_element", bytes_per_element)


def scan_cost(seq_len: int, cfg: MambaConfig, *, bytes_per_element: int = 4) -> dict[str, float]:
    """Forward cost of ``MambaLM(cfg)`` on one sequence of ``seq_len`` tokens (see the module
    table): ``flops``, ``mixer_flops`` (FLOPs), ``state_bytes``, ``materialized_bytes`` (bytes
    at ``bytes_per_element``, 4 for float32, 2 for bfloat16)."""
    L = positive_int("seq_len", seq_len)
    if not isinstance(cfg, MambaConfig):
        raise ValueError(f"cfg must be a MambaConfig, got {type(cfg).__name__}")
    b = _bytes(bytes_per_element)
    E, N = cfg.d_inner, cfg.d_state
    return {
        "flops": float(L * mamba_flops_per_token(cfg)["total"]),
        "mixer_flops": float(L * cfg.n_layers * 7 * E * N),
        "state_bytes": float(cfg.n_layers * E * (N + cfg.d_conv - 1) * b),
        "materialized_bytes": float(cfg.n_layers * L * E * N * b),
    }


def attention_cost(seq_len: int, cfg: TransformerConfig, *, bytes_per_element: int = 4,
                   attention: str = "dense") -> dict[str, float]:
    """Forward cost of ``Transformer(cfg)`` on one sequence of ``seq_len`` tokens (see the
    module table), with the same keys as :func:`scan_cost`. ``seq_len`` may exceed
    ``cfg.context``: the cost is the same model's at a longer context. ``attention`` is
    "dense" (the full score matrix, as SDPA computes it) or "causal" (its unmasked half)."""
    L = positive_int("seq_len", seq_len)
    if not isinstance(cfg, TransformerConfig):
        raise ValueError(f"cfg must be a TransformerConfig, got {type(cfg).__name__}")
    b = _bytes(bytes_per_element)
    one_of("attention", attention, ("dense", "causal"))
    longer = dataclasses.replace(cfg, context=max(cfg.context, L))
    d, layers = cfg.d_model, cfg.n_layers
    per_token_mixer = (4 if attention == "dense" else 2) * layers * L * d
    return {
        "flops": float(L * transformer_flops_per_token(longer, L, training=False,
                                                       attention=attention)),
        "mixer_flops": float(L * per_token_mixer),
        "state_bytes": float(layers * 2 * L * d * b),
        "materialized_bytes": float(layers * cfg.n_heads * L * L * b),
    }


def mixer_crossover_length(mamba: MambaConfig, transformer: TransformerConfig, *,
                           attention: str = "dense") -> float:
    """The length L (tokens, not rounded) at which attention's sequence-mixing FLOPs equal the
    scan's: ``4 L d n_t = 7 E N n_m`` (dense; 2 instead of 4 for "causal"), so
    ``L* = 7 E N n_m / (4 d n_t)`` with n_m, n_t the two models' layer counts. Beyond it
    attention's mixing costs more FLOPs, and the gap grows like L."""
    if not isinstance(mamba, MambaConfig):
        raise ValueError(f"mamba must be a MambaConfig, got {type(mamba).__name__}")
    if not isinstance(transformer, TransformerConfig):
        raise ValueError(f"transformer must be a TransformerConfig, got {type(transformer).__name__}")
    one_of("attention", attention, ("dense", "causal"))
    per = 4 if attention == "dense" else 2
    return (7 * mamba.d_inner * mamba.d_state * mamba.n_layers
            / (per * transformer.d_model * transformer.n_layers))
