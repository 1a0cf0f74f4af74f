"""Small models whose variants are switches in their arguments.

- ``mlp``: :class:`MLP`, the fully connected student of the teacher-student sweeps.
- ``mamba``: a Mamba block and a small Mamba language model on the package's selective scan,
  with parameter and FLOP counts.
- ``transformer``: a decoder-only transformer whose variants are config switches (activation,
  gated attention, Primer's convolution, RoPE), with exact parameter and FLOP counts.
- ``cost``: FLOPs and memory of a Mamba model and a transformer against the sequence length.
"""

from scalingbook.models.cost import attention_cost, mixer_crossover_length, scan_cost

from scalingbook.models.mamba import (
    MambaBlock,
    MambaConfig,
    MambaLM,
    RMSNorm,
    mamba_flops_per_token,
    mamba_param_count,
)
from scalingbook.models.mlp import MLP
from scalingbook.models.transformer import (
    Transformer,
    TransformerConfig,
    transformer_flops_per_token,
    transformer_param_count,
)

__all__ = [
    "MLP",
    "MambaBlock",
    "MambaConfig",
    "MambaLM",
    "RMSNorm",
    "Transformer",
    "TransformerConfig",
    "attention_cost",
    "mamba_flops_per_token",
    "mamba_param_count",
    "mixer_crossover_length",
    "scan_cost",
    "transformer_flops_per_token",
    "transformer_param_count",
]
