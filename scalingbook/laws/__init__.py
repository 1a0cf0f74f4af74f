"""Functional forms of scaling laws, vectorized over sizes, with their units in the docstrings.

- ``power``: pure power laws, power laws with a floor, and Hestness et al.'s three-region
  learning curve (small-data, power-law, irreducible), and the data multiplier a power law
  implies for a given error reduction.
- ``chinchilla``: Hoffmann et al.'s ``E + A/N^alpha + B/D^beta`` and its compute-optimal allocation.
- ``kaplan``: Kaplan et al.'s ``[(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D``.
- ``broken``: Caballero et al.'s smoothly broken power law with one break.
- ``fp_quant``: Sun et al.'s law of loss in N, D, exponent and mantissa bits and block size.
- ``allocation_rule``: allocations stated as power laws in compute (Kaplan's rule, Hoffmann's Table 3).
- ``overtraining``: Gadre et al.'s law of loss in compute and tokens per parameter.
"""

from scalingbook.laws.allocation_rule import AllocationRule
from scalingbook.laws.broken import SmoothlyBrokenPowerLaw
from scalingbook.laws.chinchilla import ChinchillaLaw
from scalingbook.laws.fp_quant import FPQuantLaw
from scalingbook.laws.kaplan import KaplanLaw
from scalingbook.laws.overtraining import OvertrainingLaw
from scalingbook.laws.power import (
    LearningCurve,
    data_multiplier,
    power_law,
    power_law_with_offset,
)

__all__ = [
    "AllocationRule",
    "ChinchillaLaw",
    "FPQuantLaw",
    "KaplanLaw",
    "LearningCurve",
    "OvertrainingLaw",
    "SmoothlyBrokenPowerLaw",
    "data_multiplier",
    "power_law",
    "power_law_with_offset",
]
