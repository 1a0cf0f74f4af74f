"""Numbers quoted from Sun et al. (2025), "Scaling Laws for Floating-Point Quantization Training".

The paper trains LLaMA-style models of 41M to 679M parameters on 10B to 100B tokens of Dolma
(366 runs, 358 of them used in the fit) with simulated floating-point formats of ``E`` exponent
and ``M`` mantissa bits and one high-precision scale per block of ``B`` elements, and fits the
"Capybara" law (its Eq. 1, 18 and 26)

    L(N, D, E, M, B) = n/N^alpha + d/D^beta + epsilon
                       + (D^beta / N^alpha) * log2(B) / (gamma (E + 0.5)^delta (M + 0.5)^nu),

with ``N`` the non-embedding parameters and ``D`` the training tokens. :data:`TABLE_2` holds the
fitted constants; :class:`~scalingbook.laws.FPQuantLaw` uses them as its defaults. The other
values here are statements the paper derives from that law; the chapter recomputes each one
from the constants with the package's code and checks that it lands on the printed value.

Source check (where we read each number). All of them in the text of arXiv:2501.02423v3 (4 June
2025, the ICML 2025 version, PMLR 267:57544-57570) as stored in the code-search index (the paper's
PDF text, index file id 61299382587): Table 2 in appendix B.1; the form of the law in Eq. (1),
(17), (18) and (26); the optimal mantissa ``M_opt = nu P / (delta + nu) - 0.5`` in Eq. (19) and
appendix C; the optimal layouts E2M1, E4M3 and E8M7 for 4, 8 and 16 bits in section 4.2; the
critical data size formula, Eq. (21), and the 1730T / 27T / 0.4T values in section 4.3; the
size of the experiments (366 runs, 41M to 679M parameters, 10B to 100B tokens) in section 3.2; the
equivalent channel-wise block size ``log2 B ≈ 13.1567`` in section 3.6; and the 4-8 bit range of
cost-optimal precision (``B = 128``, ``k = 6/16``) in section 4.4. Table 2 was cross-checked
digit for digit against a second stored copy, a summary page rendered from the paper's arXiv HTML
(ai-paper-reviewer.com/2501.02423, index file id 4149902675). The abstract is also in
``../shared/seeds``.

One inference of ours, marked as such: the paper does not print the block size next to its
critical data sizes. ``B = 128``, the block size of its compute-optimality figures, reproduces all
three printed values to their printed digits (``tests/test_papers_sun2025.py``), so we take it.
"""

from __future__ import annotations

__all__ = [
    "ARXIV_ID",
    "CHANNEL_LOG2_BLOCK",
    "CITATION",
    "COST_OPTIMAL_BUDGETS",
    "COST_OPTIMAL_K",
    "COST_OPTIMAL_PRECISION_RANGE",
    "CRITICAL_DATA_BLOCK",
    "CRITICAL_DATA_N",
    "CRITICAL_DATA_TOKENS",
    "OPTIMAL_LAYOUTS",
    "PARAMETER_RANGE",
    "RUNS",
    "SOURCES",
    "TABLE_2",
    "TOKEN_RANGE",
]

ARXIV_ID = "2501.02423"
CITATION = (
    "Xingwu Sun, Shuaipeng Li, Ruobing Xie, Weidong Han, Kan Wu, Zhen Yang, Yixing Li, An Wang, "
    "Shuai Li, Jinbao Xue, Yu Cheng, Yangyu Tao, Zhanhui Kang, Chengzhong Xu, Di Wang, Jie Jiang "
    "(2025). Scaling Laws for Floating-Point Quantization Training. ICML 2025 (PMLR 267). "
    "arXiv:2501.02423."
)

#: Where each quoted number was read (see the module docstring for the full note).
SOURCES = {
    "paper": "https://arxiv.org/abs/2501.02423 (v3, 4 June 2025)",
    "checked_in": "stored PDF text of arXiv:2501.02423v3 (code-search index file 61299382587)",
    "cross_checked_in": "ai-paper-reviewer.com/2501.02423, Table 2 from the arXiv HTML "
                        "(code-search index file 4149902675)",
}

#: Table 2 (appendix B.1): the fitted constants of Eq. (26), as printed (four decimals).
#: Units: the loss is the paper's validation cross-entropy (nats per token), ``N`` counts
#: non-embedding parameters, ``D`` tokens; ``n``, ``d`` carry units of nats x N^alpha and
#: nats x D^beta; ``gamma`` is dimensionless once N and D are counts.
TABLE_2 = {
    "n": 69.2343,
    "alpha": 0.2368,
    "d": 68973.0621,
    "beta": 0.5162,
    "epsilon": 1.9061,
    "gamma": 11334.5197,
    "delta": 3.1926,
    "nu": 2.9543,
}

#: Section 3.2: the experiments. 366 runs of LLaMA-style models with N in {41, 85, 154, 679}
#: million parameters and D in {10, 20, 50, 100} billion tokens (as printed; Table 3 lists the
#: exact N, e.g. 40,894,464, and D = 10 x 2^30 and so on).
RUNS = 366
PARAMETER_RANGE = (41e6, 679e6)
TOKEN_RANGE = (10e9, 100e9)

#: Section 4.2: the optimal float layouts (E, M) of FP4, FP8 and FP16, by total bits P.
OPTIMAL_LAYOUTS = {4: (2, 1), 8: (4, 3), 16: (8, 7)}

#: Section 4.3: critical data sizes (tokens) of a 1-billion-parameter model, by format
#: ("1730T", "27T", "0.4T" as printed: T = 10^12 tokens).
CRITICAL_DATA_N = 1e9
CRITICAL_DATA_TOKENS = {(8, 7): 1730e12, (4, 3): 27e12, (2, 1): 0.4e12}
#: Our inference, not printed beside those values (see the module docstring).
CRITICAL_DATA_BLOCK = 128

#: Section 3.6: the equivalent block size of channel-wise scaling, log2 B_channel.
CHANNEL_LOG2_BLOCK = 13.1567

#: Section 4.4 and Figure 7: for compute budgets between 1e21 and 1e31 FLOPs, with B = 128 and
#: C = k P N D at k = 6/16, the cost-optimal precision lies between 4 and 8 bits.
COST_OPTIMAL_PRECISION_RANGE = (4.0, 8.0)
COST_OPTIMAL_BUDGETS = (1e21, 1e31)
COST_OPTIMAL_K = 6.0 / 16.0
