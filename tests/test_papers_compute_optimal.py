"""Numbers quoted for the compute-optimal chapter: Kaplan 2020, Hoffmann 2022 (tables 2, 3), Gadre 2024."""

import numpy as np
import pytest

from scalingbook.papers import gadre2024, hoffmann2022, kaplan2020


def test_citations():
    for module, parts in ((kaplan2020, ("Kaplan", "Scaling Laws for Neural Language Models", "2020", "arXiv:2001.08361")),
                          (gadre2024, ("Gadre", "over-training", "2024", "arXiv:2403.08540"))):
        for part in parts:
            assert part in module.CITATION
        assert module.ARXIV_ID in module.CITATION


def test_kaplan_allocation_rule_is_the_quoted_one():
    assert kaplan2020.PF_DAY == 1e15 * 86400
    rule = kaplan2020.ALLOCATION
    assert rule.a == 0.73 and rule.N_ref == 1.3e9 and rule.C_ref == kaplan2020.PF_DAY
    assert rule.compute_optimal(kaplan2020.PF_DAY)[0] == pytest.approx(1.3e9)
    # The L(N, D) fit of Table 2 is a different object: its own optimum under C = 6ND grows as
    # C^(alpha_D / (alpha_N + alpha_D)), not C^0.73.
    assert kaplan2020.JOINT_FIT.a == pytest.approx(0.103 / 0.179)
    assert kaplan2020.JOINT_FIT.alpha_N == kaplan2020.ALPHA_N


def test_hoffmann_table_3_is_about_20_tokens_per_parameter_and_a_is_half():
    ratios = [D / N for N, C, D in hoffmann2022.TABLE_3]
    assert min(ratios) > 19.9 and max(ratios) < 22.5
    # The table is consistent with C = 6ND to a few per cent (rounded entries).
    for N, C, D in hoffmann2022.TABLE_3:
        assert 6 * N * D / C == pytest.approx(1.0, abs=0.05)
    rule = hoffmann2022.APPROACH_1_TABLE
    assert rule.a == pytest.approx(hoffmann2022.ALLOCATION_EXPONENTS["approach 1"], abs=0.005)
    assert rule.tokens_per_parameter(hoffmann2022.GOPHER_FLOPS) == pytest.approx(21.0, abs=1.0)
    assert hoffmann2022.ALLOCATION_EXPONENTS["approach 3"] == pytest.approx(hoffmann2022.APPROACH_3.a, abs=0.01)
    # The approach-3 constants as printed put the optimum far from 20 tokens per parameter.
    assert hoffmann2022.APPROACH_3.tokens_per_parameter(hoffmann2022.GOPHER_FLOPS) > 80


def test_gadre_quoted_numbers_are_well_formed():
    assert set(gadre2024.REPORTED_RELATIVE_ERROR) == {"1.4B, M=640", "6.9B, M=20"}
    assert all(0 < e < 0.01 for e in gadre2024.REPORTED_RELATIVE_ERROR.values())
    assert gadre2024.COMPUTE_FACTOR == 300
