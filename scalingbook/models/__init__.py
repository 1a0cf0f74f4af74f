"""Small models whose variants are switches in their arguments.

- ``mlp``: :class:`MLP`, the fully connected student of the teacher-student sweeps.
- ``mamba``: a Mamba block and a small Mamba language model on the package's selective scan,
  with parameter and FLOP counts.
"""

from scalingbook.models.mamba import (
    MambaBlock,
    MambaConfig,
    MambaLM,
    RMSNorm,
    mamba_flops_per_token,
    mamba_param_count,
)
from scalingbook.models.mlp import MLP

__all__ = [
    "MLP",
    "MambaBlock",
    "MambaConfig",
    "MambaLM",
    "RMSNorm",
    "mamba_flops_per_token",
    "mamba_param_count",
]
