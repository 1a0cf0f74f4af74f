"""Numbers quoted from Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models".

Approach 3 of the paper fits ``L(N, D) = E + A/N^alpha + B/D^beta`` to the final losses of its
runs (Huber loss with delta = 1e-3 on log residuals, L-BFGS from a grid of starts) and reports
the rounded estimates kept in :data:`APPROACH_3`. The allocation exponents ``a = beta / (alpha +
beta)`` and ``b = alpha / (alpha + beta)`` are *derived* from those constants by
:class:`~scalingbook.laws.ChinchillaLaw`, not quoted.

Source check: these are the values the replication by Besiroglu et al. (2024) tests and the ones
the Chinchilla law is usually quoted with; see :mod:`scalingbook.papers.besiroglu2024` for what
the replication found wrong with them. The paper's confidence intervals and its approach-1 and
approach-2 exponents are not included: we could not check them against a source in our look-ups.
"""

from __future__ import annotations

from scalingbook.laws.chinchilla import ChinchillaLaw

__all__ = ["APPROACH_3", "ARXIV_ID", "CITATION", "CHINCHILLA_N", "CHINCHILLA_D",
           "EQUAL_SCALING_EXPONENT"]

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
