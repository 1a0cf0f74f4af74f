"""Numbers quoted from Kaplan et al. (2020), "Scaling Laws for Neural Language Models".

Kaplan et al.'s conventions differ from Hoffmann et al.'s, and a reader comparing the two must
keep them apart:

- ``N`` counts **non-embedding** parameters (Hoffmann et al. count all of them);
- compute is ``C ≈ 6 N B S`` in **PF-days** (1 PF-day = 1e15 FLOP/s for a day, 8.64e19 FLOPs),
  again without the embedding, and the allocation rule is stated for ``C_min``, the compute a
  loss would need at a batch far below the critical batch size;
- losses are per-token cross-entropy in nats **with their tokenizer** on WebText2, so their
  ``N_c`` and ``D_c`` "do not have a fundamental meaning" outside that setting;
- every run of the allocation study used one learning-rate schedule length, so shorter runs
  were read off the middle of a schedule (the point Hoffmann et al. 2022 argue biased the
  exponent upward).

Where each number was checked (with the ``search`` tool, June 2026 index): the abstract and
section 1.2 summaries (Eqs. 1.1-1.3, 1.5) and Table 2 as transcribed in several independent
notes on the paper in the code corpus, one of them quoting the sentence of section 4.2 that
gives the ``L(N, D)`` fit; the compute-efficient rule ``N ≈ 1.3e9 C_min^0.73`` (section 6.1,
Figure 14) in three independent transcriptions, and the exponent 0.73 also in Hoffmann et al.'s
Table 2 and in Pearce & Song (2024, arXiv:2406.12907), whose abstract restates it.
"""

from __future__ import annotations

from scalingbook.laws.allocation_rule import AllocationRule
from scalingbook.laws.kaplan import KaplanLaw

__all__ = [
    "ALLOCATION",
    "ALPHA_C_MIN",
    "ALPHA_D",
    "ALPHA_N",
    "ARXIV_ID",
    "CITATION",
    "C_C_MIN",
    "D_C",
    "JOINT_FIT",
    "N_C",
    "N_OPT_EXPONENT",
    "N_OPT_PER_PF_DAY",
    "PF_DAY",
]

ARXIV_ID = "2001.08361"
CITATION = (
    "Jared Kaplan, Sam McCandlish, Tom Henighan, Tom B. Brown, Benjamin Chess, Rewon Child, "
    "Scott Gray, Alec Radford, Jeffrey Wu, Dario Amodei (2020). Scaling Laws for Neural Language "
    "Models. arXiv:2001.08361."
)

#: One PF-day in FLOPs: 1e15 FLOP/s for 86,400 s (a definition, not a fit).
PF_DAY = 8.64e19

# Eq. 1.1: L(N) = (N_c / N)^alpha_N for converged models (non-embedding N).
ALPHA_N = 0.076
N_C = 8.8e13
# Eq. 1.2: L(D) = (D_c / D)^alpha_D for large models stopped early (D in tokens).
ALPHA_D = 0.095
D_C = 5.4e13
# Eq. 1.3: L(C_min) = (C_c / C_min)^alpha_C with C_c in PF-days.
ALPHA_C_MIN = 0.050
C_C_MIN = 3.1e8

#: Table 2: the fit of Eq. 1.5, L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D.
JOINT_FIT = KaplanLaw(alpha_N=0.076, alpha_D=0.103, N_c=6.4e13, D_c=1.8e13)

# Section 6.1 (Figure 14): compute-efficient training uses N ≈ 1.3e9 (C_min / 1 PF-day)^0.73
# non-embedding parameters.
N_OPT_PER_PF_DAY = 1.3e9
N_OPT_EXPONENT = 0.73

#: The compute-efficient rule as an :class:`~scalingbook.laws.AllocationRule` with C in FLOPs
#: (C_ref = 1 PF-day). Its D* = C / (6 N*) is derived under C = 6ND, not quoted.
ALLOCATION = AllocationRule(N_ref=N_OPT_PER_PF_DAY, a=N_OPT_EXPONENT, C_ref=PF_DAY)
