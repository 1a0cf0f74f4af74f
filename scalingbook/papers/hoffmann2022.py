"""Numbers quoted from Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models".

Approach 3 of the paper fits ``L(N, D) = E + A/N^alpha + B/D^beta`` to the final losses of its
runs (Huber loss with delta = 1e-3 on log residuals, L-BFGS from a grid of starts) and reports
the rounded estimates kept in :data:`APPROACH_3`. The allocation exponents ``a = beta / (alpha +
beta)`` and ``b = alpha / (alpha + beta)`` are *derived* from those constants by
:class:`~scalingbook.laws.ChinchillaLaw`, not quoted.

Source check: these are the values the replication by Besiroglu et al. (2024) tests and the ones
the Chinchilla law is usually quoted with; see :mod:`scalingbook.papers.besiroglu2024` for what
the replication found wrong with them. The paper's confidence intervals are not included: we
could not check them against a source in our look-ups. The allocation exponents of all three
approaches (Table 2) and approach 1's projections (Table 3) were checked later and are below.
"""

from __future__ import annotations

from scalingbook.laws.allocation_rule import AllocationRule
from scalingbook.laws.chinchilla import ChinchillaLaw

__all__ = ["APPROACH_3", "ARXIV_ID", "CITATION", "CHINCHILLA_N", "CHINCHILLA_D",
           "EQUAL_SCALING_EXPONENT", "ALLOCATION_EXPONENTS", "TABLE_3", "GOPHER_FLOPS",
           "APPROACH_1_TABLE"]

ARXIV_ID = "2203.15556"
CITATION = (
    "Jordan Hoffmann, Sebastian Borgeaud, Arthur Mensch, Elena Buchatskaya, Trevor Cai, "
    "Eliza Rutherford, Diego de Las Casas, Lisa Anne Hendricks, Johannes Welbl, Aidan Clark, "
    "et al. (2022). Training Compute-Optimal Large Language Models. arXiv:2203.15556."
)

# Section 3.3 (approach 3), as rounded in the body of the paper.
APPROACH_3 = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)

# The Chinchilla model itself: 70 billion parameters trained on 1.4 trillion tokens (abstract).
CHINCHILLA_N = 70e9
CHINCHILLA_D = 1.4e12

# The abstract's conclusion: "the model size and the number of training tokens should be scaled
# equally: for every doubling of model size the number of training tokens should also be
# doubled", that is N_opt ∝ C^0.5 and D_opt ∝ C^0.5 under C = 6ND.
EQUAL_SCALING_EXPONENT = 0.5

# Table 2: the exponent a of N_opt ∝ C^a by each approach (Kaplan et al. 2020's 0.73 is in the
# same table; it lives in scalingbook.papers.kaplan2020). Checked in several transcriptions of
# Table 2 in the code corpus (search tool), which agree on 0.50, 0.49, 0.46.
ALLOCATION_EXPONENTS = {"approach 1": 0.50, "approach 2": 0.49, "approach 3": 0.46}

# Table 3: approach 1's projections of the compute-optimal budget (FLOPs) and tokens for model
# sizes (parameters), as (N, C, D). "The estimates for Approach 2 & 3 are similar" (its caption).
# Checked against several verbatim copies of the table in the code corpus (search tool). The
# roughly 20 tokens per parameter usually quoted for Chinchilla is D/N in these rows.
TABLE_3 = (
    (400e6, 1.92e19, 8.0e9),
    (1e9, 1.21e20, 20.2e9),
    (10e9, 1.23e22, 205.1e9),
    (67e9, 5.76e23, 1.5e12),
    (175e9, 3.85e24, 3.7e12),
    (280e9, 9.90e24, 5.9e12),
    (520e9, 3.43e25, 11.0e12),
    (1e12, 1.27e26, 21.2e12),
    (10e12, 1.30e28, 216.2e12),
)

#: Gopher's training budget, the "1" of Table 3's FLOPs-in-Gopher-units column (FLOPs).
GOPHER_FLOPS = 5.76e23

#: Approach 1 as a power law through Table 3's (C, N) rows: N* ∝ C^a with a fitted (derived, not
#: quoted; it comes out at 0.50, Table 2's approach-1 value, to two digits).
APPROACH_1_TABLE = AllocationRule.through([row[1] for row in TABLE_3], [row[0] for row in TABLE_3])
