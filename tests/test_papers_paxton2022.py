"""Paxton et al. (2022): the citation, and the abstract's sbit counts against our formats."""

from scalingbook.papers import paxton2022 as p
from scalingbook.precision import fp16, fp32


def test_citation_names_the_paper():
    for part in ("Paxton", "Chantry", "Klöwer", "Saffin", "Palmer", "2022", "Journal of Climate",
                 "arXiv:2104.15076"):
        assert part in p.CITATION
    assert p.ARXIV_ID == "2104.15076" and p.SOURCE.startswith("https://")


def test_sbits_are_our_mantissa_bits():
    # the paper's "sbits" are the stored significand bits: fp16 has 10, fp32 23, float64 52
    assert p.HALF_SBITS == fp16.man_bits and p.SINGLE_SBITS == fp32.man_bits and p.DOUBLE_SBITS == 52
    assert p.HALF_SBITS < p.SPEEDY_SBITS < p.SINGLE_SBITS
    assert len(p.FINDINGS) >= 3
