"""Numbers quoted from Sun et al. (2025): citation, constants, and the values the paper derives."""

import numpy as np
import pytest

from scalingbook.laws import FPQuantLaw
from scalingbook.papers import sun2025 as s


def test_citation_names_the_paper():
    for part in ("Xingwu Sun", "Scaling Laws for Floating-Point Quantization Training", "2025",
                 "arXiv:2501.02423"):
        assert part in s.CITATION
    assert s.ARXIV_ID == "2501.02423"
    assert s.SOURCES["paper"].startswith("https://arxiv.org/abs/2501.02423")
    assert "61299382587" in s.SOURCES["checked_in"] and "4149902675" in s.SOURCES["cross_checked_in"]


def test_table_2_is_complete_and_the_laws_default():
    assert set(s.TABLE_2) == {"n", "alpha", "d", "beta", "epsilon", "gamma", "delta", "nu"}
    assert all(v > 0 for v in s.TABLE_2.values())
    assert FPQuantLaw() == FPQuantLaw(**s.TABLE_2)
    # the paper's own remark on its constants: exponent bits count slightly more than mantissa bits
    assert s.TABLE_2["delta"] > s.TABLE_2["nu"]


def test_the_laws_optimal_layouts_are_the_papers():
    law = FPQuantLaw()
    for P, layout in s.OPTIMAL_LAYOUTS.items():
        assert law.best_layout(P) == layout
        assert sum(layout) + 1 == P


@pytest.mark.parametrize("layout", list(s.CRITICAL_DATA_TOKENS))
def test_the_printed_critical_data_sizes_follow_from_table_2_at_block_128(layout):
    printed = s.CRITICAL_DATA_TOKENS[layout]
    digits = 0.05e12 if printed < 1e12 else 0.5e12  # printed as 0.4T, 27T, 1730T
    law = FPQuantLaw()
    ours = law.critical_data(s.CRITICAL_DATA_N, *layout, s.CRITICAL_DATA_BLOCK)
    assert abs(ours - printed) <= digits
    # the inference that B = 128 is meant: neighbouring block sizes miss the printed digits
    for other in (64, 256):
        assert abs(law.critical_data(s.CRITICAL_DATA_N, *layout, other) - printed) > digits


def test_cost_optimal_precision_stays_in_the_printed_range():
    low, high = s.COST_OPTIMAL_PRECISION_RANGE
    _, _, p = FPQuantLaw().cost_optimal(np.geomspace(*s.COST_OPTIMAL_BUDGETS, 21), 128, k=s.COST_OPTIMAL_K)
    assert low <= p.min() and p.max() <= high


def test_experiment_size_is_as_printed():
    assert s.RUNS == 366
    assert s.PARAMETER_RANGE == (41e6, 679e6) and s.TOKEN_RANGE == (10e9, 100e9)
    assert 13 < s.CHANNEL_LOG2_BLOCK < 14
